//! `POST /v1/analyze`: language and sentiment for a batch of documents, nothing stored.
//! The shape follows Azure AI Language's: per-document results and per-document errors.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::body::read_json;
use super::error::ApiError;
use super::{check_batch_size, AppState, ItemRejection};
use crate::analysis::{AnalysisError, AnalyzedDocument, Document};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnalyzeRequest {
    documents: Vec<Value>,
    #[serde(default = "default_model")]
    model: String,
}

fn default_model() -> String {
    "fast".to_string()
}

#[derive(Serialize)]
struct AnalyzeResponse {
    model: String,
    documents: Vec<AnalyzedDocument>,
    errors: Vec<ItemRejection>,
}

pub async fn analyze(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let request: AnalyzeRequest = read_json(&req, payload, state.config.max_body_bytes).await?;
    // The first `accurate` request loads the encoder (about a second): off the async workers.
    let analyzer = state.service.analyzer().clone();
    let model = request.model.clone();
    let max_documents = web::block(move || analyzer.model(&model).map(|m| m.max_documents())).await?.map_err(|e| {
        let code = match e {
            AnalysisError::UnknownModel(_) => "unknown_model",
            AnalysisError::ModelUnavailable(_) => "model_unavailable",
        };
        ApiError::bad_request(code, e.to_string()).with("model", request.model.clone())
    })?;
    check_batch_size("documents", request.documents.len(), max_documents)?;
    let mut valid = Vec::with_capacity(request.documents.len());
    let mut errors = Vec::new();
    for (index, item) in request.documents.iter().enumerate() {
        match Document::from_json(item) {
            Ok(document) => valid.push(document),
            Err(error) => errors.push(ItemRejection::new(index, item, error)),
        }
    }
    let analyzer = state.service.analyzer().clone();
    let model = request.model.clone();
    let documents = web::block(move || {
        let engine = analyzer.model(&model).expect("checked above");
        analyzer.analyze(engine, &valid)
    })
    .await?
    .map_err(|e| {
        tracing::error!(error = %format!("{e:#}"), "analysis failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "analysis_failed", format!("{e:#}"))
    })?;
    Ok(HttpResponse::Ok().json(AnalyzeResponse { model: request.model, documents, errors }))
}
