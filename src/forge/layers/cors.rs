//! CORS: answers preflight requests (`OPTIONS` with `Access-Control-Request-Method`) itself and
//! adds `Access-Control-Allow-Origin` to actual responses for allowed origins.

use crate::forge::middleware::{Middleware, Next};
use crate::forge::request::{Method, Request};
use crate::forge::response::{BoxFuture, Response};

/// CORS policy.
#[derive(Debug, Clone)]
pub struct Cors {
    /// Allowed origins; empty means any origin (`*`).
    pub origins: Vec<String>,
    /// Methods allowed in preflight answers.
    pub methods: String,
    /// Request headers allowed in preflight answers.
    pub headers: String,
    /// Whether credentials are allowed (then the origin is echoed, never `*`).
    pub credentials: bool,
    /// How long browsers may cache a preflight answer, in seconds.
    pub max_age: u32,
}

impl Cors {
    /// Any origin, the common methods, `content-type` and `authorization`.
    pub fn permissive() -> Cors {
        Cors {
            origins: Vec::new(),
            methods: "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS".into(),
            headers: "content-type, authorization".into(),
            credentials: false,
            max_age: 600,
        }
    }

    /// Only the listed origins.
    pub fn with_origins(origins: &[&str]) -> Cors {
        Cors {
            origins: origins.iter().map(|o| (*o).to_owned()).collect(),
            ..Cors::permissive()
        }
    }

    /// The `Access-Control-Allow-Origin` value for `origin`, if allowed.
    fn allow_origin(&self, origin: &str) -> Option<String> {
        if self.origins.is_empty() && !self.credentials {
            Some("*".into())
        } else if self.origins.is_empty() || self.origins.iter().any(|o| o == origin) {
            Some(origin.to_owned())
        } else {
            None
        }
    }

    fn decorate(&self, res: &mut Response, allow: String) {
        res.set_header("access-control-allow-origin", allow);
        if self.credentials {
            res.set_header("access-control-allow-credentials", "true");
        }
        res.append_header("vary", "Origin");
    }
}

impl Middleware for Cors {
    fn handle<'a>(&'a self, req: Request, next: Next<'a>) -> BoxFuture<'a, Response> {
        Box::pin(async move {
            let Some(origin) = req.header("origin").map(str::to_owned) else {
                return next.run(req).await;
            };
            let allow = self.allow_origin(&origin);
            let preflight = req.method() == Method::Options
                && req.header("access-control-request-method").is_some();
            if preflight {
                let mut res = Response::new(204);
                if let Some(allow) = allow {
                    self.decorate(&mut res, allow);
                    res.set_header("access-control-allow-methods", self.methods.clone());
                    res.set_header("access-control-allow-headers", self.headers.clone());
                    res.set_header("access-control-max-age", self.max_age.to_string());
                } else {
                    res.set_status(403);
                }
                return res;
            }
            let mut res = next.run(req).await;
            if let Some(allow) = allow {
                self.decorate(&mut res, allow);
            }
            res
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::{App, Router};

    async fn send(app: &App, raw: &str) -> Response {
        app.handle(Request::from_raw(raw.as_bytes()).unwrap().unwrap())
            .await
    }

    #[tokio::test]
    async fn preflight_is_answered_and_actual_requests_get_allow_origin() {
        let mut r = Router::new();
        r.get("/d", |_r: Request| async { Response::text("d") });
        let app = App::new(r).wrap(Cors::with_origins(&["https://a.test"]));
        let pre = send(
            &app,
            "OPTIONS /d HTTP/1.1\r\nHost: h\r\nOrigin: https://a.test\r\nAccess-Control-Request-Method: PUT\r\n\r\n",
        )
        .await;
        assert_eq!(pre.status(), 204);
        assert_eq!(
            pre.header("access-control-allow-origin"),
            Some("https://a.test")
        );
        assert!(
            pre.header("access-control-allow-methods")
                .unwrap()
                .contains("PUT")
        );
        let actual = send(
            &app,
            "GET /d HTTP/1.1\r\nHost: h\r\nOrigin: https://a.test\r\n\r\n",
        )
        .await;
        assert_eq!(
            actual.header("access-control-allow-origin"),
            Some("https://a.test")
        );
        let other = send(
            &app,
            "GET /d HTTP/1.1\r\nHost: h\r\nOrigin: https://evil.test\r\n\r\n",
        )
        .await;
        assert_eq!(other.header("access-control-allow-origin"), None);
        let bad_pre = send(
            &app,
            "OPTIONS /d HTTP/1.1\r\nHost: h\r\nOrigin: https://evil.test\r\nAccess-Control-Request-Method: GET\r\n\r\n",
        )
        .await;
        assert_eq!(bad_pre.status(), 403);
    }
}
