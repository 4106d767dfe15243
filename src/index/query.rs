//! Turns a [`SearchRequest`] into a Tantivy query: the analyst's text, AND every filter.

use std::ops::Bound;

use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, QueryParser, RangeQuery, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DateTime, Index, Term};

use super::schema::Fields;
use super::IndexError;
use crate::search::{ScoreRange, SearchRequest};

/// Parses the text part. Words are ANDed (what analysts expect from a search box); Tantivy's
/// syntax gives phrases, `OR`, `-exclusion` and `field:value`.
pub fn text_query(index: &Index, fields: &Fields, text: Option<&str>) -> Result<Box<dyn Query>, IndexError> {
    let Some(text) = text else { return Ok(Box::new(AllQuery)) };
    let mut parser = QueryParser::for_index(index, fields.texts());
    parser.set_conjunction_by_default();
    parser.parse_query(text).map_err(|err| IndexError::InvalidQuery(err.to_string()))
}

pub fn with_filters(fields: &Fields, text: Box<dyn Query>, request: &SearchRequest) -> Box<dyn Query> {
    let mut must: Vec<Box<dyn Query>> = vec![text];
    let any_of = |field: Field, values: Vec<String>| -> Option<Box<dyn Query>> {
        (!values.is_empty()).then(|| {
            let terms = values.iter().map(|v| term_query(Term::from_field_text(field, v))).collect();
            Box::new(BooleanQuery::union(terms)) as Box<dyn Query>
        })
    };
    must.extend(any_of(fields.language, request.languages.clone()));
    must.extend(any_of(fields.channel, request.channels.iter().map(|c| c.as_str().to_string()).collect()));
    must.extend(any_of(fields.customer_id, request.customer_id.iter().cloned().collect()));
    must.extend(any_of(fields.sentiment, request.sentiments.iter().map(|s| s.as_str().to_string()).collect()));
    if request.sentiment_score_min.is_some() || request.sentiment_score_max.is_some() {
        let bound = |v: Option<f64>| {
            v.map_or(Bound::Unbounded, |v| Bound::Included(Term::from_field_f64(fields.sentiment_score, v)))
        };
        must.push(Box::new(RangeQuery::new(bound(request.sentiment_score_min), bound(request.sentiment_score_max))));
    }
    for (key, value) in &request.metadata {
        must.push(term_query(Term::from_field_text(fields.metadata, &format!("{key}={value}"))));
    }
    if !request.nps_groups.is_empty() {
        let groups = request
            .nps_groups
            .iter()
            .map(|g| {
                let (min, max) = g.score_range();
                score_range(fields.nps, ScoreRange { min: Some(min), max: Some(max) })
            })
            .collect();
        must.push(Box::new(BooleanQuery::union(groups)));
    }
    for (field, range) in [(fields.nps, request.nps), (fields.csat, request.csat), (fields.ces, request.ces)] {
        if !range.is_open() {
            must.push(score_range(field, range));
        }
    }
    if request.from.is_some() || request.to.is_some() {
        let bound = |ts: chrono::DateTime<chrono::Utc>| {
            Term::from_field_date_for_search(fields.created_at, DateTime::from_timestamp_micros(ts.timestamp_micros()))
        };
        let lower = request.from.map_or(Bound::Unbounded, |ts| Bound::Included(bound(ts)));
        let upper = request.to.map_or(Bound::Unbounded, |ts| Bound::Excluded(bound(ts)));
        must.push(Box::new(RangeQuery::new(lower, upper)));
    }
    if must.len() == 1 {
        return must.pop().expect("one clause");
    }
    Box::new(BooleanQuery::new(must.into_iter().map(|q| (Occur::Must, q)).collect()))
}

fn term_query(term: Term) -> Box<dyn Query> {
    Box::new(TermQuery::new(term, IndexRecordOption::Basic))
}

fn score_range(field: Field, range: ScoreRange) -> Box<dyn Query> {
    let bound =
        |v: Option<u8>| v.map_or(Bound::Unbounded, |v| Bound::Included(Term::from_field_u64(field, u64::from(v))));
    Box::new(RangeQuery::new(bound(range.min), bound(range.max)))
}
