//! `GET /v1/search`: full text, filters, facets and highlights.

use actix_web::{web, HttpRequest, HttpResponse};

use super::error::ApiError;
use super::AppState;
use crate::search::SearchRequest;

pub async fn search(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let params = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map_err(|e| ApiError::bad_request("invalid_parameter", e.to_string()))?;
    let request = SearchRequest::from_params(params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| ApiError::bad_request("invalid_parameter", e.to_string()).with("parameter", e.parameter))?;
    let service = state.service.clone();
    let response = web::block(move || service.reader().search(&request)).await??;
    Ok(HttpResponse::Ok().json(response))
}
