//! Reading a JSON body with a size limit, a time limit, and errors that say exactly what is
//! wrong. The body must be declared JSON: a browser can send a form or plain text to any site
//! without asking, but not `application/json`, so this also keeps cross-site forms out.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::AppState;

pub async fn read_json<T: DeserializeOwned>(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<T, ApiError> {
    let media = req
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or_default().split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
    if !media.as_deref().is_some_and(|m| m == "application/json" || m.ends_with("+json")) {
        let got = media.map_or("no Content-Type".to_string(), |m| format!("`{m}`"));
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("expected Content-Type: application/json, got {got}"),
        ));
    }
    let too_large = || {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", format!("the body exceeds {limit} bytes"))
            .with("limit", limit)
    };
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    let timeout = req.app_data::<web::Data<AppState>>().expect("state is registered").config.body_timeout;
    let read = async {
        let mut body = web::BytesMut::with_capacity(declared.unwrap_or(0));
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| ApiError::bad_request("unreadable_body", e.to_string()))?;
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    let body = actix_web::rt::time::timeout(timeout, read).await.map_err(|_| {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!("the request body did not arrive within {} s", timeout.as_secs()),
        )
    })??;
    if body.is_empty() {
        return Err(ApiError::bad_request("malformed_json", "the body is empty; expected a JSON object"));
    }
    let text = std::str::from_utf8(&body).map_err(|e| {
        ApiError::bad_request("invalid_utf8", format!("the body is not valid UTF-8 (byte {})", e.valid_up_to()))
            .with("byte", e.valid_up_to())
    })?;
    let refusal = |e: serde_json::Error| {
        let code = if e.is_data() { "invalid_body" } else { "malformed_json" };
        ApiError::bad_request(code, e.to_string()).with("line", e.line()).with("column", e.column())
    };
    // Every body is a JSON object: serde would also read a struct from an array of its fields.
    if !text.trim_start().starts_with('{') {
        serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(refusal)?;
        return Err(ApiError::bad_request("invalid_body", "the body must be a JSON object"));
    }
    serde_json::from_str(text).map_err(refusal)
}
