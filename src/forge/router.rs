//! A radix-trie router: static path pieces share compressed prefixes, `:name` matches one
//! segment, `*name` matches the rest of the path. Each leaf keeps one handler per method, so a
//! path that exists without the requested method is a 405 with `Allow`, and one that does not
//! exist is a 404. Static children win over parameters, parameters over wildcards.

use std::sync::Arc;

use super::middleware::Handler;
use super::request::{Method, Request, percent_decode};

/// One route's handlers, by method.
struct Endpoint {
    pattern: Arc<str>,
    handlers: [Option<Arc<dyn Handler>>; Method::ALL.len()],
}

impl Endpoint {
    fn new(pattern: &str) -> Endpoint {
        Endpoint {
            pattern: Arc::from(pattern),
            handlers: Default::default(),
        }
    }

    /// The `Allow` value: registered methods, HEAD implied by GET, OPTIONS always.
    fn allow(&self) -> String {
        let has = |m: Method| self.handlers[m as usize].is_some();
        Method::ALL
            .into_iter()
            .filter(|&m| has(m) || (m == Method::Head && has(Method::Get)) || m == Method::Options)
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[derive(Default)]
struct Node {
    /// The static bytes this node consumes (compressed).
    prefix: String,
    /// Static children; no two share a first byte.
    children: Vec<Node>,
    /// A `:name` child.
    param: Option<(Arc<str>, Box<Node>)>,
    /// A `*name` catch-all.
    wildcard: Option<(Arc<str>, Endpoint)>,
    /// Handlers for a path ending exactly here.
    endpoint: Option<Endpoint>,
}

enum Piece<'a> {
    Static(&'a str),
    Param(&'a str),
    Wildcard(&'a str),
}

fn pieces(pattern: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = pattern;
    while !rest.is_empty() {
        let special = rest.find([':', '*']).unwrap_or(rest.len());
        if special > 0 {
            out.push(Piece::Static(&rest[..special]));
            rest = &rest[special..];
            continue;
        }
        let end = rest.find('/').unwrap_or(rest.len());
        let name = &rest[1..end];
        assert!(
            !name.is_empty(),
            "route {pattern:?}: parameter without a name"
        );
        if rest.starts_with('*') {
            assert!(
                end == rest.len(),
                "route {pattern:?}: wildcard must be last"
            );
            out.push(Piece::Wildcard(name));
        } else {
            out.push(Piece::Param(name));
        }
        rest = &rest[end..];
    }
    out
}

impl Node {
    fn insert(&mut self, pieces: &[Piece<'_>], pattern: &str) -> &mut Endpoint {
        match pieces.split_first() {
            None => self.endpoint.get_or_insert_with(|| Endpoint::new(pattern)),
            Some((Piece::Static(s), rest)) => self.insert_static(s, rest, pattern),
            Some((Piece::Param(name), rest)) => {
                let (existing, child) = self
                    .param
                    .get_or_insert_with(|| (Arc::from(*name), Box::default()));
                assert!(
                    &**existing == *name,
                    "route {pattern:?}: parameter :{name} conflicts with :{existing}"
                );
                child.insert(rest, pattern)
            }
            Some((Piece::Wildcard(name), _)) => {
                let (existing, ep) = self
                    .wildcard
                    .get_or_insert_with(|| (Arc::from(*name), Endpoint::new(pattern)));
                assert!(
                    &**existing == *name,
                    "route {pattern:?}: wildcard *{name} conflicts with *{existing}"
                );
                ep
            }
        }
    }

    fn insert_static(&mut self, s: &str, rest: &[Piece<'_>], pattern: &str) -> &mut Endpoint {
        let first = s.as_bytes()[0];
        let Some(i) = self
            .children
            .iter()
            .position(|c| c.prefix.as_bytes()[0] == first)
        else {
            self.children.push(Node {
                prefix: s.to_owned(),
                ..Node::default()
            });
            let child = self.children.last_mut().expect("just pushed");
            return child.insert(rest, pattern);
        };
        let child = &mut self.children[i];
        let common = child
            .prefix
            .bytes()
            .zip(s.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        if common < child.prefix.len() {
            // Split: the child keeps the tail of its prefix under a new shared parent.
            let tail = child.prefix.split_off(common);
            let old = std::mem::take(child);
            child.prefix = old.prefix.clone();
            child.children.push(Node {
                prefix: tail,
                ..old
            });
            child.children[0].prefix.shrink_to_fit();
        }
        if common == s.len() {
            child.insert(rest, pattern)
        } else {
            child.insert_static(&s[common..], rest, pattern)
        }
    }

    fn lookup<'n>(
        &'n self,
        path: &'n str,
        params: &mut Vec<(Arc<str>, &'n str)>,
    ) -> Option<&'n Endpoint> {
        if let (true, Some(ep)) = (path.is_empty(), &self.endpoint) {
            return Some(ep);
        }
        if let Some(first) = path.as_bytes().first() {
            for child in &self.children {
                if child.prefix.as_bytes()[0] == *first && path.starts_with(&child.prefix) {
                    if let Some(ep) = child.lookup(&path[child.prefix.len()..], params) {
                        return Some(ep);
                    }
                    break;
                }
            }
        }
        if let Some((name, child)) = &self.param {
            let end = path.find('/').unwrap_or(path.len());
            if end > 0 {
                params.push((name.clone(), &path[..end]));
                if let Some(ep) = child.lookup(&path[end..], params) {
                    return Some(ep);
                }
                params.pop();
            }
        }
        if let Some((name, ep)) = &self.wildcard {
            params.push((name.clone(), path));
            return Some(ep);
        }
        None
    }
}

/// Where a request goes after routing.
pub enum Resolved {
    /// A handler for the path and method.
    Route(Arc<dyn Handler>),
    /// No route matches the path.
    NotFound,
    /// A parameter had broken percent-encoding.
    BadPath,
    /// An OPTIONS request on a path without an OPTIONS handler: 204 with this `Allow`.
    Options(String),
    /// The path exists but not for this method: 405 with this `Allow`.
    MethodNotAllowed(String),
}

/// The radix-trie router.
#[derive(Default)]
pub struct Router {
    root: Node,
}

impl Router {
    /// An empty router (everything is 404).
    pub fn new() -> Router {
        Router::default()
    }

    /// Registers `handler` for `method` on `pattern` (`/users/:id`, `/static/*path`).
    ///
    /// # Panics
    /// When the pattern is malformed or conflicts with an earlier one (a programming error
    /// caught at startup, never on request input).
    pub fn route(&mut self, method: Method, pattern: &str, handler: impl Handler) -> &mut Router {
        assert!(
            pattern.starts_with('/'),
            "route {pattern:?} must start with /"
        );
        let ps = pieces(pattern);
        let ep = self.root.insert(&ps, pattern);
        ep.handlers[method as usize] = Some(Arc::new(handler));
        self
    }

    /// Shorthand for a GET route.
    pub fn get(&mut self, pattern: &str, handler: impl Handler) -> &mut Router {
        self.route(Method::Get, pattern, handler)
    }

    /// Shorthand for a POST route.
    pub fn post(&mut self, pattern: &str, handler: impl Handler) -> &mut Router {
        self.route(Method::Post, pattern, handler)
    }

    /// Shorthand for a PUT route.
    pub fn put(&mut self, pattern: &str, handler: impl Handler) -> &mut Router {
        self.route(Method::Put, pattern, handler)
    }

    /// Shorthand for a DELETE route.
    pub fn delete(&mut self, pattern: &str, handler: impl Handler) -> &mut Router {
        self.route(Method::Delete, pattern, handler)
    }

    /// Finds the handler for `req`, filling its path parameters and matched route.
    pub fn resolve(&self, req: &mut Request) -> Resolved {
        let mut raw = Vec::new();
        // The head is reference-counted: clone the handle so the path can outlive `&mut req`.
        let head = req.head.clone();
        let path = head
            .get(req.path.start as usize..req.path.end as usize)
            .and_then(|p| std::str::from_utf8(p).ok())
            .filter(|p| !p.is_empty())
            .unwrap_or("/");
        if path == "*" && req.method() == Method::Options {
            // `OPTIONS *` asks about the server, not a resource.
            let all: Vec<&str> = Method::ALL.into_iter().map(Method::as_str).collect();
            return Resolved::Options(all.join(", "));
        }
        let Some(ep) = self.root.lookup(path, &mut raw) else {
            return Resolved::NotFound;
        };
        let mut params = Vec::with_capacity(raw.len());
        for (name, value) in raw {
            match percent_decode(value) {
                Some(v) => params.push((name, v.into_owned())),
                None => return Resolved::BadPath,
            }
        }
        let method = req.method();
        let handler = ep.handlers[method as usize].as_ref().or_else(|| {
            (method == Method::Head)
                .then(|| ep.handlers[Method::Get as usize].as_ref())
                .flatten()
        });
        let resolved = match handler {
            Some(h) => Resolved::Route(h.clone()),
            None if method == Method::Options => Resolved::Options(ep.allow()),
            None => Resolved::MethodNotAllowed(ep.allow()),
        };
        req.route = Some(ep.pattern.clone());
        req.params = params;
        resolved
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::response::Response;

    fn router() -> Router {
        let mut r = Router::new();
        let h = |tag: &'static str| move |_req: Request| async move { Response::text(tag) };
        r.get("/", h("root"))
            .get("/users", h("users"))
            .get("/users/:id", h("user"))
            .route(Method::Delete, "/users/:id", h("del"))
            .get("/users/:id/posts/:post", h("post"))
            .get("/users/me", h("me"))
            .get("/usage", h("usage"))
            .get("/static/*path", h("static"));
        r
    }

    fn resolve(r: &Router, method: &str, path: &str) -> (Request, Resolved) {
        let raw = format!("{method} {path} HTTP/1.1\r\nHost: h\r\n\r\n");
        let mut req = Request::from_raw(raw.as_bytes()).unwrap().unwrap();
        let res = r.resolve(&mut req);
        (req, res)
    }

    #[test]
    fn static_routes_win_over_params_and_share_prefixes() {
        let r = router();
        let (req, res) = resolve(&r, "GET", "/users/me");
        assert!(matches!(res, Resolved::Route(_)));
        assert_eq!(req.route(), Some("/users/me"));
        let (req, _) = resolve(&r, "GET", "/usage");
        assert_eq!(req.route(), Some("/usage"));
        let (req, _) = resolve(&r, "GET", "/users");
        assert_eq!(req.route(), Some("/users"));
    }

    #[test]
    fn params_and_wildcards_are_captured_and_decoded() {
        let r = router();
        let (req, _) = resolve(&r, "GET", "/users/a%20b/posts/7");
        assert_eq!(req.route(), Some("/users/:id/posts/:post"));
        assert_eq!(req.param("id"), Some("a b"));
        assert_eq!(req.param("post"), Some("7"));
        let (req, _) = resolve(&r, "GET", "/static/css/site.css");
        assert_eq!(req.param("path"), Some("css/site.css"));
    }

    #[test]
    fn unknown_path_is_404_and_wrong_method_is_405_with_allow() {
        let r = router();
        assert!(matches!(resolve(&r, "GET", "/nope").1, Resolved::NotFound));
        assert!(matches!(
            resolve(&r, "GET", "/users/").1,
            Resolved::NotFound
        ));
        match resolve(&r, "POST", "/users/1").1 {
            Resolved::MethodNotAllowed(allow) => assert_eq!(allow, "GET, HEAD, DELETE, OPTIONS"),
            _ => panic!("expected 405"),
        }
        assert!(matches!(
            resolve(&r, "HEAD", "/users/1").1,
            Resolved::Route(_)
        ));
        assert!(matches!(
            resolve(&r, "OPTIONS", "/users").1,
            Resolved::Options(_)
        ));
    }

    #[test]
    fn broken_percent_encoding_in_a_param_is_a_bad_path() {
        let r = router();
        assert!(matches!(
            resolve(&r, "GET", "/users/%zz").1,
            Resolved::BadPath
        ));
    }
}
