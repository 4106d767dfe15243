//! `/v1/categories`: rule-based categories, the themes analysts define themselves beside the
//! discovered topics: a name and a saved query per language. What a category holds is a search
//! (`category=ID` filters any search, export or job), so it follows every verbatim ingested or
//! erased and survives every re-discovery; the list shows, per category, what it holds by
//! sentiment, its trend (as topics', see [`crate::topics::report`]) and the topics it spans.

use std::collections::BTreeMap;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::body::read_json;
use super::error::ApiError;
use super::topics::{path_id, query, until, UntilQuery};
use super::AppState;
use crate::search::{CategoryRule, SearchRequest};
use crate::service::{Reader, ServiceError};
use crate::store::{Category, CategoryError, TopicCounts};
use crate::topics::report::{Trend, BASELINE_PERIODS, RECENT_DAYS};

/// Longest category name, in characters.
const MAX_NAME_CHARS: usize = 100;

impl From<CategoryError> for ApiError {
    fn from(err: CategoryError) -> ApiError {
        match err {
            CategoryError::NameTaken(_) => ApiError::new(StatusCode::CONFLICT, "category_exists", err.to_string()),
            CategoryError::Store(e) => ApiError::from(e),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewCategory {
    name: String,
    queries: CategoryRule,
}

/// A category with what it holds now.
#[derive(Serialize)]
struct CategoryView {
    #[serde(flatten)]
    category: Category,
    size: TopicCounts,
    trend: Trend,
    /// Its verbatims per topic of the model in use (`-1`: near no topic).
    topics: BTreeMap<String, u64>,
}

/// What `category` holds now, counted by the index, and its trend to `until`.
fn view(reader: &Reader, category: Category, until: DateTime<Utc>) -> Result<CategoryView, ServiceError> {
    let only = SearchRequest { categories: vec![category.id], limit: 1, ..SearchRequest::default() };
    let all = reader.search(&only)?;
    let count = |facet: &str, value: &str| all.facets.get(facet).and_then(|f| f.get(value)).copied().unwrap_or(0);
    let size = TopicCounts {
        verbatims: all.total as u64,
        negative: count("sentiment", "negative"),
        neutral: count("sentiment", "neutral"),
        positive: count("sentiment", "positive"),
        mixed: count("sentiment", "mixed"),
    };
    let recent_start = until - Duration::days(RECENT_DAYS);
    let between = |from: DateTime<Utc>, to: DateTime<Utc>| -> Result<u64, ServiceError> {
        Ok(reader.search(&SearchRequest { from: Some(from), to: Some(to), ..only.clone() })?.total as u64)
    };
    let recent = between(recent_start, until)?;
    let before = between(recent_start - Duration::days(RECENT_DAYS * BASELINE_PERIODS), recent_start)?;
    Ok(CategoryView {
        category,
        size,
        trend: Trend::of(recent, before),
        topics: all.facets.get("topic").cloned().unwrap_or_default(),
    })
}

/// 201 with the category and its address; 409 if the name is taken.
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let NewCategory { name, queries } = read_json(&req, payload, state.config.max_body_bytes).await?;
    let name = name.trim().to_string();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::bad_request("invalid_value", format!("`name` has 1 to {MAX_NAME_CHARS} characters"))
            .with("field", "name"));
    }
    let queries = CategoryRule {
        fr: queries.fr.map(|q| q.trim().to_string()).filter(|q| !q.is_empty()),
        en: queries.en.map(|q| q.trim().to_string()).filter(|q| !q.is_empty()),
    };
    if queries.fr.is_none() && queries.en.is_none() {
        return Err(
            ApiError::bad_request("invalid_value", "`queries` needs `fr`, `en` or both").with("field", "queries")
        );
    }
    let service = state.service.clone();
    let created = web::block(move || -> Result<CategoryView, ApiError> {
        service.reader().check_category(&queries)?;
        let category = service.store().insert_category(&name, &queries)?;
        Ok(view(service.reader(), category, Utc::now())?)
    })
    .await??;
    let location = format!("/v1/categories/{}", created.category.id);
    Ok(HttpResponse::Created().insert_header((header::LOCATION, location)).json(created))
}

pub async fn list(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let asked: UntilQuery = query(&req)?;
    let until = until(asked.until.as_deref())?;
    let service = state.service.clone();
    let views = web::block(move || -> Result<Vec<CategoryView>, ServiceError> {
        service.store().categories()?.into_iter().map(|category| view(service.reader(), category, until)).collect()
    })
    .await??;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "categories": views })))
}

pub async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let asked: UntilQuery = query(&req)?;
    let until = until(asked.until.as_deref())?;
    let id = path_id(&id, "category")?;
    let service = state.service.clone();
    let found = web::block(move || -> Result<Option<CategoryView>, ServiceError> {
        service.store().category(id)?.map(|category| view(service.reader(), category, until)).transpose()
    })
    .await??;
    Ok(HttpResponse::Ok().json(found.ok_or_else(|| ApiError::not_found(format!("no category {id}")))?))
}

/// 204; the verbatims stay, only the saved query goes.
pub async fn remove(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "category")?;
    let service = state.service.clone();
    if !web::block(move || service.store().delete_category(id)).await?? {
        return Err(ApiError::not_found(format!("no category {id}")));
    }
    Ok(HttpResponse::NoContent().finish())
}
