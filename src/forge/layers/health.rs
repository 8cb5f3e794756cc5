//! `/healthz`: answers `ok` while the process serves requests.

use crate::forge::middleware::Handler;
use crate::forge::request::Request;
use crate::forge::response::Response;

/// A handler that answers `200 ok`.
pub fn healthz() -> impl Handler {
    |_req: Request| async { Response::text("ok\n").with_header("cache-control", "no-store") }
}
