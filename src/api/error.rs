//! Errors as RFC 9457 problem documents with a stable machine-readable `code`.

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde_json::{json, Map, Value};

use crate::index::IndexError;
use crate::service::ServiceError;
use crate::store::StoreError;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    /// Extra members, such as `line` and `column` of a JSON syntax error.
    pub extra: Map<String, Value>,
    /// Response headers the status calls for (`Allow` on 405, `Retry-After` on 429).
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError { status, code, detail: detail.into(), extra: Map::new(), headers: Vec::new() }
    }

    /// 405, naming the methods the resource has in `Allow`.
    pub fn method_not_allowed(allow: &'static str) -> ApiError {
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", format!("this resource allows {allow}"))
            .with_header(header::ALLOW, HeaderValue::from_static(allow))
    }

    /// 500 without the internal error's text (it may name files or internals): the log has it.
    pub fn internal(code: &'static str, logged: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(error = %logged, code, "request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            code,
            "the server failed to complete the request; its log has the details",
        )
    }

    fn shutting_down() -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", "the server is shutting down")
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> ApiError {
        self.headers.push((name, value));
        self
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> ApiError {
        self.extra.insert(key.to_string(), value.into());
        self
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.code, self.detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = json!({
            "type": format!("urn:verbatim:problem:{}", self.code),
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "code": self.code,
            "detail": self.detail,
        });
        body.as_object_mut().expect("object").extend(self.extra.clone());
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        for (name, value) in &self.headers {
            response.insert_header((name.clone(), value.clone()));
        }
        response.body(body.to_string())
    }
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> ApiError {
        match &err {
            ServiceError::Store(StoreError::DiskFull) => {
                ApiError::new(StatusCode::INSUFFICIENT_STORAGE, "storage_full", err.to_string())
            }
            ServiceError::Index(IndexError::InvalidQuery(detail)) => {
                ApiError::bad_request("invalid_query", detail.clone())
            }
            ServiceError::Index(IndexError::QueryTooLarge(too_large)) => {
                ApiError::bad_request("invalid_query", too_large.to_string())
                    .with("query_limit", too_large.limit.name())
                    .with("limit", too_large.limit.max())
            }
            ServiceError::Overloaded => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "overloaded", err.to_string())
                .with_header(header::RETRY_AFTER, HeaderValue::from_static("1")),
            ServiceError::ShuttingDown => ApiError::shutting_down(),
            ServiceError::TooManyPeriods(too_many) => ApiError::bad_request("too_many_periods", too_many.to_string())
                .with("periods", too_many.periods)
                .with("max_periods", crate::kpi::MAX_PERIODS),
            _ => ApiError::internal("internal", &err),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        ApiError::from(ServiceError::from(err))
    }
}

/// The blocking task panicked (or its pool is gone): a bug to find in the log, not a reason
/// for the client to wait.
impl From<actix_web::error::BlockingError> for ApiError {
    fn from(err: actix_web::error::BlockingError) -> ApiError {
        ApiError::internal("internal", &err)
    }
}
