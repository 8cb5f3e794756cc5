//! Handlers and the onion-model middleware engine.
//!
//! A [`Handler`] turns a request into a response. A [`Middleware`] wraps everything inside it:
//! it gets the request and a [`Next`], and decides whether and how to call `next.run(req).await`,
//! so code before the call sees the request on the way in and code after it sees the response on
//! the way out. [`App`] routes first (so middleware can read the matched route) and then runs its
//! middleware stack around the route's handler.

use std::future::Future;
use std::sync::Arc;

use super::request::Request;
use super::response::{BoxFuture, Response};
use super::router::{Resolved, Router};

/// Something that answers requests. Implemented for `Fn(Request) -> impl Future<Output =
/// Response>` closures and functions.
pub trait Handler: Send + Sync + 'static {
    /// Produces the response to `req`.
    fn call(&self, req: Request) -> BoxFuture<'_, Response>;
}

impl<F, Fut> Handler for F
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    fn call(&self, req: Request) -> BoxFuture<'_, Response> {
        Box::pin(self(req))
    }
}

/// A layer of the onion: sees the request before and the response after the inner layers.
pub trait Middleware: Send + Sync + 'static {
    /// Handles `req`, usually by awaiting `next.run(req)` and adjusting what comes back.
    fn handle<'a>(&'a self, req: Request, next: Next<'a>) -> BoxFuture<'a, Response>;
}

/// The rest of the onion from one middleware's point of view.
#[derive(Clone, Copy)]
pub struct Next<'a> {
    chain: &'a [Arc<dyn Middleware>],
    endpoint: &'a dyn Handler,
}

impl<'a> Next<'a> {
    /// A chain that runs `chain` in order and then `endpoint`.
    pub fn new(chain: &'a [Arc<dyn Middleware>], endpoint: &'a dyn Handler) -> Next<'a> {
        Next { chain, endpoint }
    }

    /// Runs the remaining middleware and the endpoint.
    pub fn run(self, req: Request) -> BoxFuture<'a, Response> {
        match self.chain.split_first() {
            Some((outer, rest)) => outer.handle(
                req,
                Next {
                    chain: rest,
                    endpoint: self.endpoint,
                },
            ),
            None => self.endpoint.call(req),
        }
    }
}

/// A handler with its own middleware (for per-route layers such as JWT on one route).
pub struct Wrapped {
    layers: Vec<Arc<dyn Middleware>>,
    inner: Box<dyn Handler>,
}

impl Wrapped {
    /// Wraps `inner` in `layer`.
    pub fn new(layer: impl Middleware, inner: impl Handler) -> Wrapped {
        Wrapped {
            layers: vec![Arc::new(layer)],
            inner: Box::new(inner),
        }
    }

    /// Adds another layer outside the existing ones.
    pub fn wrap(mut self, layer: impl Middleware) -> Wrapped {
        self.layers.insert(0, Arc::new(layer));
        self
    }
}

impl Handler for Wrapped {
    fn call(&self, req: Request) -> BoxFuture<'_, Response> {
        Next::new(&self.layers, &*self.inner).run(req)
    }
}

/// The application: a router plus the middleware stack every request passes through.
pub struct App {
    router: Router,
    layers: Vec<Arc<dyn Middleware>>,
}

impl App {
    /// An app serving `router` with no middleware.
    pub fn new(router: Router) -> App {
        App {
            router,
            layers: Vec::new(),
        }
    }

    /// Adds `layer` inside the layers added before it (the first added is the outermost).
    pub fn wrap(mut self, layer: impl Middleware) -> App {
        self.layers.push(Arc::new(layer));
        self
    }

    /// Adds a shared layer (when the caller keeps a handle to it, like metrics).
    pub fn wrap_arc(mut self, layer: Arc<dyn Middleware>) -> App {
        self.layers.push(layer);
        self
    }

    /// Routes `req` and runs it through the middleware to its handler.
    pub async fn handle(&self, mut req: Request) -> Response {
        let endpoint = self.router.resolve(&mut req);
        Next::new(&self.layers, &endpoint).run(req).await
    }
}

impl Handler for Resolved {
    fn call(&self, req: Request) -> BoxFuture<'_, Response> {
        match self {
            Resolved::Route(h) => h.call(req),
            Resolved::NotFound => Box::pin(async { Response::error(404) }),
            Resolved::BadPath => Box::pin(async { Response::error(400) }),
            Resolved::Options(allow) => {
                let allow = allow.clone();
                Box::pin(async move { Response::new(204).with_header("allow", allow) })
            }
            Resolved::MethodNotAllowed(allow) => {
                let allow = allow.clone();
                Box::pin(async move { Response::error(405).with_header("allow", allow) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::request::Method;
    use std::sync::Mutex;

    struct Trace {
        name: &'static str,
        log: Arc<Mutex<Vec<String>>>,
    }

    impl Middleware for Trace {
        fn handle<'a>(&'a self, req: Request, next: Next<'a>) -> BoxFuture<'a, Response> {
            Box::pin(async move {
                self.log.lock().unwrap().push(format!("{} in", self.name));
                let mut res = next.run(req).await;
                self.log.lock().unwrap().push(format!("{} out", self.name));
                res.append_header("x-trace", self.name);
                res
            })
        }
    }

    fn req(raw: &str) -> Request {
        Request::from_raw(raw.as_bytes()).unwrap().unwrap()
    }

    #[tokio::test]
    async fn middleware_runs_as_an_onion_around_the_handler() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let inner_log = log.clone();
        let mut router = Router::new();
        router.route(Method::Get, "/", move |_req: Request| {
            let log = inner_log.clone();
            async move {
                log.lock().unwrap().push("handler".into());
                Response::text("ok")
            }
        });
        let app = App::new(router)
            .wrap(Trace {
                name: "outer",
                log: log.clone(),
            })
            .wrap(Trace {
                name: "inner",
                log: log.clone(),
            });
        let res = app.handle(req("GET / HTTP/1.1\r\nHost: h\r\n\r\n")).await;
        assert_eq!(res.status(), 200);
        assert_eq!(
            *log.lock().unwrap(),
            ["outer in", "inner in", "handler", "inner out", "outer out"]
        );
    }

    struct Deny;
    impl Middleware for Deny {
        fn handle<'a>(&'a self, _req: Request, _next: Next<'a>) -> BoxFuture<'a, Response> {
            Box::pin(async { Response::error(403) })
        }
    }

    #[tokio::test]
    async fn middleware_can_short_circuit_and_wrap_single_routes() {
        let mut router = Router::new();
        router.route(Method::Get, "/open", |_r: Request| async {
            Response::text("o")
        });
        router.route(
            Method::Get,
            "/closed",
            Wrapped::new(Deny, |_r: Request| async { Response::text("c") }),
        );
        let app = App::new(router);
        let open = app
            .handle(req("GET /open HTTP/1.1\r\nHost: h\r\n\r\n"))
            .await;
        let closed = app
            .handle(req("GET /closed HTTP/1.1\r\nHost: h\r\n\r\n"))
            .await;
        assert_eq!((open.status(), closed.status()), (200, 403));
    }
}
