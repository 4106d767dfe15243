//! The analysts' workspace: a web UI served by the same binary, working on the public API
//! only (what it shows, a client could compute). Its files (`ui/`: one page, its script and
//! style, a vendored charting library) are embedded at build time, so the binary needs
//! nothing beside it and no page loads anything from another origin.
//!
//! Every page path answers the same document, which routes in the browser; the pages hold no
//! data, so they need no API key (the key, typed on the login page, stays in the browser's
//! session storage and goes out only as the API's `Authorization` header).

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use rust_embed::RustEmbed;

use super::{resource, ApiError};

#[derive(RustEmbed)]
#[folder = "src/api/ui/"]
struct Assets;

/// The workspace's pages, as in `/ui/{page}`.
pub const PAGES: [&str; 7] = ["overview", "explore", "themes", "compare", "follow-ups", "analyse", "login"];

/// The page's own script and style only; data from the same origin; no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Whether a path is the workspace's (served without an API key).
pub fn is_ui_path(path: &str) -> bool {
    path == "/" || path == "/ui" || path.starts_with("/ui/")
}

/// Mounts the workspace's paths; like the API's resources, other methods get 405.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/", "GET").get(to_workspace))
        .service(resource("/ui", "GET").get(to_workspace))
        .service(resource("/ui/", "GET").get(page))
        .service(resource("/ui/assets/{path:.*}", "GET").get(asset))
        .service(resource("/ui/{page}", "GET").get(page));
}

async fn to_workspace() -> HttpResponse {
    HttpResponse::Found().insert_header((header::LOCATION, "/ui/overview")).finish()
}

async fn page(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let name = req.match_info().get("page").unwrap_or("overview");
    if !PAGES.contains(&name) {
        return Err(ApiError::not_found(format!("no page `{name}` in the workspace")));
    }
    let mut response = file(&req, "index.html")?;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    Ok(response)
}

async fn asset(req: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    if path.as_str() == "index.html" {
        return Err(ApiError::not_found("the page is served at /ui/"));
    }
    file(&req, &path)
}

/// An embedded file, revalidated by its hash: a new binary's files are never stale.
fn file(req: &HttpRequest, path: &str) -> Result<HttpResponse, ApiError> {
    let found = Assets::get(path).ok_or_else(|| ApiError::not_found(format!("no file `{path}` in the workspace")))?;
    let etag =
        format!("\"{}\"", found.metadata.sha256_hash().iter().take(16).map(|b| format!("{b:02x}")).collect::<String>());
    let unchanged = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
    let mut response = if unchanged { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if unchanged {
        return Ok(response.finish());
    }
    Ok(response.content_type(found.metadata.mimetype()).body(found.data.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_the_page_names_is_embedded() {
        let index = Assets::get("index.html").expect("the page");
        let html = std::str::from_utf8(&index.data).unwrap();
        let named: Vec<&str> =
            html.split("\"/ui/assets/").skip(1).map(|rest| &rest[..rest.find('"').unwrap()]).collect();
        assert!(named.len() >= 4, "{named:?}");
        for path in named {
            assert!(Assets::get(path).is_some(), "{path} is named by the page but not embedded");
        }
        assert!(Assets::get("vendor/uplot/LICENSE").is_some(), "the charting library comes with its licence");
    }
}
