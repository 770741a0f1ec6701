//! The operators' dashboard: `GET /` (the page), `GET /ui/app.js` and `GET /ui/app.css`, compiled
//! into the binary from `services/api/ui/` so it works on a machine with no outside access (no CDN,
//! no fonts, no build step). The page is read only and reads the same `/v1/` routes any client
//! reads ([`crate::dashboard`] adds the funnel, the burn-down, the decision times and the
//! exceptions); it renders in German or English (`?lang=de|en`, a switch on the page, remembered
//! in the browser).

use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

/// The page.
pub const INDEX_HTML: &str = include_str!("../ui/index.html");
/// Its script.
pub const APP_JS: &str = include_str!("../ui/app.js");
/// Its style sheet.
pub const APP_CSS: &str = include_str!("../ui/app.css");

/// Only this origin's own script, style sheet and API; no inline script, nothing from outside.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, content_type),
            (CONTENT_SECURITY_POLICY, POLICY),
            (CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// `GET /`.
pub async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

/// `GET /ui/app.js`.
pub async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

/// `GET /ui/app.css`.
pub async fn app_css() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}
