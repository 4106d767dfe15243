//! `GET /v1/export`: every verbatim a search selects, as JSONL, CSV or Parquet (see
//! [`crate::export`]), streamed as it is read: memory stays bounded whatever the count.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::error::ApiError;
use super::stream::{streamed, take_stream_place};
use super::AppState;
use crate::export::{export as write_export, ExportFormat};
use crate::search::{SearchRequest, PAGING_PARAMETERS};

pub async fn export(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let params = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map_err(|e| ApiError::bad_request("invalid_parameter", e.to_string()))?;
    let mut format = ExportFormat::Jsonl;
    let mut filters = Vec::new();
    for (key, value) in params.iter() {
        match key.as_str() {
            "format" => {
                format = ExportFormat::parse(value).ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_parameter",
                        format!("parameter `format`: `{value}` is not jsonl, csv or parquet"),
                    )
                    .with("parameter", "format")
                })?
            }
            paging if PAGING_PARAMETERS.contains(&paging) => {
                return Err(ApiError::bad_request(
                    "invalid_parameter",
                    format!("parameter `{paging}`: an export has every match, in the order stored; it takes no paging"),
                )
                .with("parameter", paging))
            }
            _ => filters.push((key.as_str(), value.as_str())),
        }
    }
    let request = SearchRequest::from_params(filters)
        .map_err(|e| ApiError::bad_request("invalid_parameter", e.to_string()).with("parameter", e.parameter))?;
    let place = take_stream_place(&state)?;
    // A query the engine refuses is a 400 now, not a cut stream later.
    let (service, checked) = (state.service.clone(), request.clone());
    web::block(move || service.reader().check_query(&checked)).await??;

    let service = state.service.clone();
    let body =
        streamed("export", place, move |sink| write_export(service.reader(), &request, format, sink).map(|_| ()))?;
    let filename = format!("verbatims.{}", format.as_str());
    Ok(HttpResponse::Ok()
        .content_type(format.media_type())
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")))
        .streaming(body))
}
