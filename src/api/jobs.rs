//! `/v1/jobs`: background jobs other systems submit without holding a request open (see
//! [`crate::jobs`]): create, follow, list, delete (cancelling a running one), and fetch a file
//! job's results.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::analyze::model_refusal;
use super::body::read_json;
use super::error::ApiError;
use super::stream::{streamed, take_stream_place};
use super::AppState;
use crate::jobs::{JobError, JobSpec};

/// Jobs `GET /v1/jobs` lists, newest first.
const LISTED: usize = 100;

impl From<JobError> for ApiError {
    fn from(err: JobError) -> ApiError {
        match err {
            JobError::Spec(e) => ApiError::bad_request(e.code, e.message).with("field", e.field),
            JobError::NotFound(_) => ApiError::not_found(err.to_string()),
            JobError::NotFinished(..) => ApiError::new(StatusCode::CONFLICT, "job_not_finished", err.to_string()),
            JobError::NoResultsFile(_) => ApiError::new(StatusCode::CONFLICT, "no_results_file", err.to_string()),
            JobError::Service(e) => ApiError::from(e),
            JobError::Other(e) => ApiError::internal("internal", &format!("{e:#}")),
        }
    }
}

/// 202 with the job queued, and its address in `Location`.
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: Value = read_json(&req, payload, state.config.max_body_bytes).await?;
    let spec = JobSpec::from_json(&body).map_err(JobError::from)?;
    // A job for a model that cannot load would only fail later: refuse it now. The first
    // `accurate` job loads the encoder (about a second): off the async workers.
    if let Some(tier) = spec.model() {
        let analyzer = state.analyzer.clone();
        web::block(move || analyzer.model(tier).map(|_| ()))
            .await?
            .map_err(|e| model_refusal(&e).with("model", tier.as_str()))?;
    }
    submitted(&state, spec).await
}

/// Records `spec` as a queued job: 202 with the job, and its address in `Location`.
pub(super) async fn submitted(state: &AppState, spec: JobSpec) -> Result<HttpResponse, ApiError> {
    let jobs = state.jobs.clone();
    let job = web::block(move || jobs.submit(&spec)).await??;
    Ok(HttpResponse::Accepted().insert_header((header::LOCATION, format!("/v1/jobs/{}", job.row.id))).json(job))
}

/// The job a resource's own route stands for: its body, with `kind` and the fields the path
/// gives (`given`) added; a body naming any of them is refused.
pub(super) fn routed_job(mut body: Value, kind: &str, given: &[(&'static str, Value)]) -> Result<JobSpec, ApiError> {
    let fields =
        body.as_object_mut().ok_or_else(|| ApiError::bad_request("invalid_type", "the body is a JSON object"))?;
    let implied = std::iter::once("kind").chain(given.iter().map(|(key, _)| *key));
    for key in implied {
        if fields.contains_key(key) {
            return Err(ApiError::bad_request(
                "unknown_field",
                format!("unknown field `{key}`: this route says it (a `{kind}` job)"),
            ));
        }
    }
    fields.insert("kind".into(), kind.into());
    fields.extend(given.iter().map(|(key, value)| (key.to_string(), value.clone())));
    Ok(JobSpec::from_json(&body).map_err(JobError::from)?)
}

pub async fn get(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let jobs = state.jobs.clone();
    Ok(HttpResponse::Ok().json(web::block(move || jobs.get(&id)).await??))
}

pub async fn list(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    if !req.query_string().is_empty() {
        return Err(ApiError::bad_request("invalid_parameter", "this endpoint takes no parameters"));
    }
    let jobs = state.jobs.clone();
    let listed = web::block(move || jobs.list(LISTED)).await??;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "jobs": listed })))
}

/// Deletes a job with its results files; a running job is cancelled (204).
pub async fn remove(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let jobs = state.jobs.clone();
    web::block(move || jobs.remove(&id)).await??;
    Ok(HttpResponse::NoContent().finish())
}

/// The results of a finished `analyze_file` job, as JSONL.
pub async fn results(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    job_file(state, id.into_inner(), false).await
}

/// The rejected lines of a finished `analyze_file` job, as JSONL.
pub async fn rejected(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    job_file(state, id.into_inner(), true).await
}

async fn job_file(state: web::Data<AppState>, id: String, rejected: bool) -> Result<HttpResponse, ApiError> {
    let jobs = state.jobs.clone();
    let path = web::block(move || jobs.results(&id, rejected)).await??;
    let place = take_stream_place(&state)?;
    let body = streamed("job results", place, move |sink| {
        if let Some(path) = path {
            std::io::copy(&mut std::fs::File::open(path)?, sink)?;
        }
        Ok(())
    })?;
    Ok(HttpResponse::Ok().content_type("application/x-ndjson").streaming(body))
}
