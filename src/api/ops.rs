//! Operations endpoints: liveness, readiness, metrics and the API description.
//!
//! The description follows the configuration: a server with API keys declares them (security
//! requirements with scopes, 401 and 403 answers), one without keys declares none, so that a
//! client or a contract tester reading `/v1/openapi.json` is told what this server does.

use std::sync::LazyLock;

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::error::ApiError;
use super::AppState;

/// The OpenAPI 3.1 description of this API as a server with API keys serves it, kept beside the
/// handlers it describes.
pub const OPENAPI: &str = include_str!("openapi.json");

/// The shared answers that exist only when keys are configured (the other 403, `cross_origin`,
/// stays).
const KEYED_RESPONSES: [&str; 2] = ["Unauthorized", "Forbidden"];

fn is_keyed_response(reference: &str) -> bool {
    reference.strip_prefix("#/components/responses/").is_some_and(|name| KEYED_RESPONSES.contains(&name))
}

/// The description as a server without API keys serves it, derived once from [`OPENAPI`].
static WITHOUT_KEYS: LazyLock<String> = LazyLock::new(|| {
    let document = serde_json::from_str(OPENAPI).expect("the embedded OpenAPI document is JSON");
    without_authentication(document).to_string()
});

/// Drops the security requirements, the scheme and the 401/403-for-scope answers.
fn without_authentication(mut document: Value) -> Value {
    if let Some(components) = document.get_mut("components").and_then(Value::as_object_mut) {
        components.remove("securitySchemes");
        if let Some(responses) = components.get_mut("responses").and_then(Value::as_object_mut) {
            responses.retain(|name, _| !KEYED_RESPONSES.contains(&name.as_str()));
        }
    }
    document.as_object_mut().expect("the document is an object").remove("security");
    let paths = document.get_mut("paths").and_then(Value::as_object_mut).into_iter().flat_map(|p| p.values_mut());
    // A path item holds its operations and maybe shared `parameters` (an array, skipped here).
    for operation in paths.filter_map(Value::as_object_mut).flat_map(|item| item.values_mut()) {
        let Some(operation) = operation.as_object_mut() else { continue };
        operation.remove("security");
        if let Some(responses) = operation.get_mut("responses").and_then(Value::as_object_mut) {
            responses
                .retain(|_, response| !response.get("$ref").and_then(Value::as_str).is_some_and(is_keyed_response));
        }
    }
    document
}

/// Alive: the process answers.
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Ready: the store answers (the index was repaired before the server started listening).
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let service = state.service.clone();
    web::block(move || service.reader().ping()).await?.map_err(|e| {
        tracing::warn!(error = %e, "not ready: the store does not answer");
        ApiError::new(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the store does not answer; the server log has the details",
        )
    })?;
    Ok(HttpResponse::Ok().json(json!({ "status": "ready" })))
}

pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let state = state.into_inner();
    let text = web::block(move || state.metrics.render(&state.service)).await?;
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(text))
}

pub async fn openapi(state: web::Data<AppState>) -> HttpResponse {
    let document = if state.config.api_keys.is_empty() { WITHOUT_KEYS.as_str() } else { OPENAPI };
    HttpResponse::Ok().content_type("application/json").body(document)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyed() -> Value {
        serde_json::from_str(OPENAPI).unwrap()
    }

    /// Every `(path, method, operation)` of a document.
    fn operations(document: &Value) -> Vec<(String, String, Value)> {
        let mut found = Vec::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                if method != "parameters" {
                    found.push((path.clone(), method.clone(), operation.clone()));
                }
            }
        }
        found
    }

    /// Every `$ref` in `value`, depth first.
    fn references(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    found.push(target.clone());
                }
                map.values().for_each(|v| references(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| references(v, found)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves_in_both_variants() {
        for document in [keyed(), serde_json::from_str(&WITHOUT_KEYS).unwrap()] {
            let mut targets = Vec::new();
            references(&document, &mut targets);
            assert!(!targets.is_empty());
            for target in targets {
                let pointer = target.strip_prefix('#').expect("local reference");
                assert!(document.pointer(pointer).is_some(), "{target} does not resolve");
            }
        }
    }

    #[test]
    fn protected_operations_declare_a_scope_and_401_only_with_keys() {
        for (path, method, operation) in operations(&keyed()) {
            let scopes = operation["security"][0]["bearer"].as_array().cloned().unwrap_or_default();
            if super::super::middleware::is_public(&path) {
                assert!(operation.get("security").is_none(), "{method} {path} is public");
                assert!(operation["responses"].get("401").is_none(), "{method} {path} is public");
            } else {
                assert_eq!(scopes.len(), 1, "{method} {path} names one scope");
                assert!(operation["responses"].get("401").is_some(), "{method} {path} documents 401");
                assert!(operation["responses"].get("403").is_some(), "{method} {path} documents 403");
            }
        }
        let open: Value = serde_json::from_str(&WITHOUT_KEYS).unwrap();
        assert!(!WITHOUT_KEYS.contains("\"security\""), "no security requirement without keys");
        assert!(open["components"].get("securitySchemes").is_none());
        for (path, method, operation) in operations(&open) {
            assert!(operation["responses"].get("401").is_none(), "{method} {path}: no 401 without keys");
            // A foreign Origin is refused on writes with or without keys.
            let writes = ["post", "put", "patch", "delete"].contains(&method.as_str());
            assert_eq!(operation["responses"].get("403").is_some(), writes, "{method} {path}: 403 only for writes");
        }
    }

    /// Schemathesis tests the documented operations only: a route mounted in `routes` (mod.rs,
    /// and the workspace's in ui.rs) without a description here would escape the contract test.
    #[test]
    fn every_mounted_path_is_documented() {
        let document = keyed();
        for (file, source, at_least) in [("mod.rs", include_str!("mod.rs"), 8), ("ui.rs", include_str!("ui.rs"), 5)] {
            let body = &source[source.find("pub fn routes").expect("routes()")..];
            let body = &body[..body.find("\n}\n").expect("end of routes()")];
            let mounted: Vec<&str> = body.split('"').skip(1).step_by(2).filter(|s| s.starts_with('/')).collect();
            assert!(mounted.len() >= at_least, "found only {mounted:?} in {file}'s routes()");
            for path in mounted {
                // `{name:regex}` is `{name}` in the description.
                let documented = path.replace(":.*}", "}");
                assert!(document["paths"].get(&documented).is_some(), "{path} is mounted but not in openapi.json");
            }
        }
    }
}
