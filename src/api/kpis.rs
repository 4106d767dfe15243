//! `GET /v1/kpis`: NPS, CSAT, CES and net sentiment by segment and period (see [`crate::kpi`]),
//! as JSON or, with `format=csv`, as CSV for spreadsheets.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::error::ApiError;
use super::AppState;
use crate::kpi::KpiRequest;

pub async fn kpis(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let params = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map_err(|e| ApiError::bad_request("invalid_parameter", e.to_string()))?;
    let (formats, params): (Vec<_>, Vec<_>) = params.iter().partition(|(key, _)| key == "format");
    let csv = match formats.as_slice() {
        [] => false,
        [(_, value)] if value == "json" => false,
        [(_, value)] if value == "csv" => true,
        _ => {
            return Err(ApiError::bad_request("invalid_parameter", "parameter `format`: expected one of json or csv")
                .with("parameter", "format"))
        }
    };
    let request = KpiRequest::from_params(params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| ApiError::bad_request("invalid_parameter", e.to_string()).with("parameter", e.parameter))?;
    let service = state.service.clone();
    let report = web::block(move || service.reader().kpis(&request)).await??;
    if !csv {
        return Ok(HttpResponse::Ok().json(report));
    }
    let mut body = Vec::new();
    report.write_csv(&mut body).map_err(|err| ApiError::internal("internal", &err))?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CONTENT_DISPOSITION, "attachment; filename=\"kpis.csv\""))
        .body(body))
}
