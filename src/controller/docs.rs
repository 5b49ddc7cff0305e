//! Interactive API docs: Swagger UI at `docs` beside `openapi.json` under each mount
//! (`/api/docs`, and `/docs` for the root paths), unauthenticated like `/health`.
//!
//! The assets are the `swagger-ui-dist` npm package, vendored in `assets/swagger-ui/`
//! (version and licences there) and embedded in the binary, so the page works on an
//! appliance without Internet. Every URL in the page is relative to the mount, and its
//! Content-Security-Policy lets it load and call nothing but this controller.

use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

/// The vendored Swagger UI release (`assets/swagger-ui/package.json`).
pub const SWAGGER_UI_VERSION: &str = "5.35.0";

/// One embedded file, served at `docs/<name>` (and the dashboard's at `/ui/assets/<name>`).
pub(crate) struct Asset {
    pub(crate) name: &'static str,
    pub(crate) content_type: &'static str,
    pub(crate) body: &'static [u8],
}

macro_rules! vendored {
    ($name:literal, $type:literal) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!("../../assets/swagger-ui/", $name)),
        }
    };
}

const ASSETS: &[Asset] = &[
    vendored!("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    vendored!("swagger-ui.css", "text/css; charset=utf-8"),
    vendored!("favicon-32x32.png", "image/png"),
    Asset {
        name: "osapi-docs.js",
        content_type: "text/javascript; charset=utf-8",
        body: INIT_JS.as_bytes(),
    },
];

/// The page. Relative URLs: from `/api/docs`, `docs/x` is `/api/docs/x` and `openapi.json`
/// is `/api/openapi.json`; from `/docs`, the root mount's.
const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>osapi API</title>
<link rel="icon" type="image/png" href="docs/favicon-32x32.png">
<link rel="stylesheet" href="docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script src="docs/osapi-docs.js"></script>
</body>
</html>
"#;

/// Starts Swagger UI on this mount's document. A file rather than an inline script, so
/// that the policy can forbid inline scripts.
const INIT_JS: &str = r##""use strict";
window.ui = SwaggerUIBundle({
  url: new URL("openapi.json", document.baseURI).href,
  dom_id: "#swagger-ui",
  deepLinking: true,
  // The default sends the document to validator.swagger.io for a badge.
  validatorUrl: null,
});
"##;

/// Scripts, styles, images and calls from this origin only; Swagger UI sets inline
/// styles and uses data: images for its icons.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                      img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
                      form-action 'self'; frame-ancestors 'none'";

/// The docs routes, to be mounted beside `openapi.json`.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new()
        .route("/docs", get(page))
        // With a trailing slash the relative URLs would point one level too deep.
        .route("/docs/", get(|| async { Redirect::permanent("../docs") }));
    for asset in ASSETS {
        router = router.route(
            &format!("/docs/{}", asset.name),
            get(move || async move { serve(asset) }),
        );
    }
    router
}

async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        PAGE,
    )
        .into_response()
}

/// An embedded file, cached for a day: it changes only with the binary.
pub(crate) fn serve(asset: &'static Asset) -> Response {
    (
        [
            (header::CONTENT_TYPE, asset.content_type),
            // The files change only with the binary.
            (header::CACHE_CONTROL, "public, max-age=86400"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        asset.body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pinned_version_is_the_vendored_one() {
        let package: serde_json::Value =
            serde_json::from_str(include_str!("../../assets/swagger-ui/package.json"))
                .expect("package.json");
        assert_eq!(package["version"], SWAGGER_UI_VERSION);
    }

    #[test]
    fn the_page_references_only_embedded_files_and_relative_urls() {
        for part in PAGE.split(['"', '\'']) {
            if let Some(name) = part.strip_prefix("docs/") {
                assert!(ASSETS.iter().any(|a| a.name == name), "{name} not embedded");
            }
            assert!(!part.contains("//"), "absolute URL in the page: {part}");
        }
    }
}
