//! Per-app (or per-route) limits: a deadline for handlers and a cap on request bodies tighter
//! than the parser's global one.

use std::time::Duration;

use crate::forge::middleware::{Middleware, Next};
use crate::forge::request::Request;
use crate::forge::response::{BoxFuture, Response};

/// Answers 503 when the inner layers take longer than the deadline (the handler is dropped).
pub struct RequestTimeout(pub Duration);

impl Middleware for RequestTimeout {
    fn handle<'a>(&'a self, req: Request, next: Next<'a>) -> BoxFuture<'a, Response> {
        Box::pin(async move {
            match tokio::time::timeout(self.0, next.run(req)).await {
                Ok(res) => res,
                Err(_) => Response::error(503).with_header("retry-after", "1"),
            }
        })
    }
}

/// Answers 413 when a request body is larger than the limit.
pub struct BodyLimit(pub usize);

impl Middleware for BodyLimit {
    fn handle<'a>(&'a self, req: Request, next: Next<'a>) -> BoxFuture<'a, Response> {
        if req.body().len() > self.0 {
            return Box::pin(async { Response::error(413) });
        }
        next.run(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::{App, Router};

    fn req(raw: &str) -> Request {
        Request::from_raw(raw.as_bytes()).unwrap().unwrap()
    }

    #[tokio::test]
    async fn slow_handler_times_out_with_503_and_big_body_gets_413() {
        let mut r = Router::new();
        r.get("/slow", |_r: Request| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Response::text("late")
        });
        r.post("/up", |_r: Request| async { Response::text("ok") });
        let app = App::new(r)
            .wrap(RequestTimeout(Duration::from_millis(20)))
            .wrap(BodyLimit(3));
        let slow = app
            .handle(req("GET /slow HTTP/1.1\r\nHost: h\r\n\r\n"))
            .await;
        assert_eq!(slow.status(), 503);
        let big = app
            .handle(req(
                "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nabcd",
            ))
            .await;
        assert_eq!(big.status(), 413);
        let small = app
            .handle(req(
                "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
            ))
            .await;
        assert_eq!(small.status(), 200);
    }
}
