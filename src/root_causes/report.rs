//! What the API shows of root causes (`GET /v1/root-causes`): the model in use and its root
//! causes ranked by impact over the stored verbatims a search filter selects, each figure with
//! the counts it comes from.
//!
//! Everything is counted on the index (facet counts of the filter, and of the filter narrowed
//! to each document sentiment and NPS group), never by loading verbatims: a ranking costs a few
//! searches whatever the corpus. Examples are the newest verbatims citing each root cause,
//! read when asked for (an erased one is gone).

use std::collections::BTreeMap;

use serde::Serialize;

use super::saved::RootCauseModel;
use super::{Impact, Tally};
use crate::domain::{NpsGroup, SentimentLabel};
use crate::nlp::offsets::byte_range;
use crate::search::{SearchRequest, SearchResponse, Sort};
use crate::topics::report::ModelInfo;
use crate::topics::TopicNames;

/// Examples shown for each root cause.
const EXAMPLES: usize = 3;

/// How the ranking is ordered (largest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RootCauseOrder {
    /// Verbatims citing it.
    #[default]
    Volume,
    /// Its share of the negative verbatims.
    Negative,
    /// What it costs the NPS: the most negative impact first.
    NpsImpact,
    Lift,
}

impl RootCauseOrder {
    pub fn parse(name: &str) -> Option<RootCauseOrder> {
        match name {
            "volume" => Some(RootCauseOrder::Volume),
            "negative" => Some(RootCauseOrder::Negative),
            "nps_impact" => Some(RootCauseOrder::NpsImpact),
            "lift" => Some(RootCauseOrder::Lift),
            _ => None,
        }
    }

    fn key(self, impact: &Impact) -> f64 {
        match self {
            RootCauseOrder::Volume => impact.citing.verbatims as f64,
            RootCauseOrder::Negative => impact.share_of_negative,
            RootCauseOrder::NpsImpact => -impact.nps_impact.unwrap_or(0.0),
            RootCauseOrder::Lift => impact.lift.unwrap_or(0.0),
        }
    }
}

/// `GET /v1/root-causes`.
#[derive(Debug, Serialize)]
pub struct RootCausesReport {
    /// The model in use; `null` before the first discovery.
    pub model: Option<ModelInfo>,
    /// The verbatims the filter selects, by document sentiment and NPS group.
    pub totals: Tally,
    /// NPS of the selected verbatims, in points; absent without scores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nps: Option<f64>,
    /// Root causes cited by at least one selected verbatim, in the order asked for.
    pub root_causes: Vec<RankedRootCause>,
}

#[derive(Debug, Serialize)]
pub struct RankedRootCause {
    pub id: i64,
    /// The analyst's name when one was given, else the discovered one.
    pub label: String,
    /// The discovered names (a label per language, terms, phrases).
    pub discovered: TopicNames,
    #[serde(flatten)]
    pub impact: Impact,
    /// The newest selected verbatims citing it, with the span that does.
    pub examples: Vec<RootCauseExample>,
}

#[derive(Debug, Serialize)]
pub struct RootCauseExample {
    /// The verbatim's id.
    pub id: String,
    pub text: String,
    pub offset: usize,
    pub length: usize,
}

/// The facet counts of `facet` under a search.
type Counts = BTreeMap<String, u64>;

/// The ranking of the root causes of `model` over the verbatims `filter` selects, counted with
/// `search` (the service's search, which applies every filter as `GET /v1/search` does); the
/// root causes `shown` are listed even when no selected verbatim cites them.
pub fn root_causes_report(
    model: Option<&RootCauseModel>,
    model_info: Option<ModelInfo>,
    filter: &SearchRequest,
    shown: &[i64],
    order: RootCauseOrder,
    search: &dyn Fn(&SearchRequest) -> anyhow::Result<SearchResponse>,
) -> anyhow::Result<RootCausesReport> {
    let base = SearchRequest { limit: 1, offset: 0, sort: Sort::Newest, ..filter.clone() };
    let all = search(&base)?;
    let count = |facets: &BTreeMap<&'static str, Counts>, facet: &str, value: &str| {
        facets.get(facet).and_then(|counts| counts.get(value)).copied().unwrap_or(0)
    };
    let totals = Tally {
        verbatims: all.total as u64,
        negative: count(&all.facets, "sentiment", SentimentLabel::Negative.as_str()),
        positive: count(&all.facets, "sentiment", SentimentLabel::Positive.as_str()),
        promoters: count(&all.facets, "nps_group", NpsGroup::Promoter.as_str()),
        passives: count(&all.facets, "nps_group", NpsGroup::Passive.as_str()),
        detractors: count(&all.facets, "nps_group", NpsGroup::Detractor.as_str()),
    };
    let Some(model) = model else {
        return Ok(RootCausesReport { model: model_info, totals, nps: totals.nps(), root_causes: Vec::new() });
    };
    // Root-cause counts of the filter narrowed to one sentiment or NPS group (none when the
    // filter already leaves that value out).
    let narrowed = |sentiment: Option<SentimentLabel>, group: Option<NpsGroup>| -> anyhow::Result<Counts> {
        let excluded = sentiment.is_some_and(|s| !filter.sentiments.is_empty() && !filter.sentiments.contains(&s))
            || group.is_some_and(|g| !filter.nps_groups.is_empty() && !filter.nps_groups.contains(&g));
        if excluded {
            return Ok(Counts::new());
        }
        let request = SearchRequest {
            sentiments: sentiment.map_or_else(|| base.sentiments.clone(), |s| vec![s]),
            nps_groups: group.map_or_else(|| base.nps_groups.clone(), |g| vec![g]),
            ..base.clone()
        };
        Ok(search(&request)?.facets.remove("root_cause").unwrap_or_default())
    };
    let citing = all.facets.get("root_cause").cloned().unwrap_or_default();
    let negative = narrowed(Some(SentimentLabel::Negative), None)?;
    let positive = narrowed(Some(SentimentLabel::Positive), None)?;
    let promoters = narrowed(None, Some(NpsGroup::Promoter))?;
    let passives = narrowed(None, Some(NpsGroup::Passive))?;
    let detractors = narrowed(None, Some(NpsGroup::Detractor))?;
    let of = |counts: &Counts, id: &str| counts.get(id).copied().unwrap_or(0);
    let mut root_causes = Vec::new();
    for group in &model.assigner.saved.model.topics {
        let id = group.id.to_string();
        let cited = Tally {
            verbatims: of(&citing, &id),
            negative: of(&negative, &id),
            positive: of(&positive, &id),
            promoters: of(&promoters, &id),
            passives: of(&passives, &id),
            detractors: of(&detractors, &id),
        };
        if cited.verbatims == 0 && !shown.contains(&group.id) {
            continue;
        }
        root_causes.push(RankedRootCause {
            id: group.id,
            label: model.label(group.id).to_string(),
            discovered: group.names.clone(),
            impact: Impact::of(cited, &totals),
            examples: Vec::new(),
        });
    }
    root_causes.sort_by(|a, b| order.key(&b.impact).total_cmp(&order.key(&a.impact)).then(a.id.cmp(&b.id)));
    for ranked in &mut root_causes {
        // Within a filter that names root causes already, the examples are its verbatims that
        // cite this one too (the index answers one of several ids, not all of them).
        let request = match filter.root_causes.is_empty() {
            true => SearchRequest { root_causes: vec![ranked.id], limit: EXAMPLES, ..base.clone() },
            false => SearchRequest { limit: EXAMPLES * 20, ..base.clone() },
        };
        ranked.examples = search(&request)?
            .hits
            .into_iter()
            .filter_map(|hit| {
                let verbatim = hit.verbatim;
                let cause = verbatim.root_causes.as_ref()?.causes.iter().find(|c| c.id == ranked.id).copied()?;
                let bytes = byte_range(&verbatim.text, cause.offset, cause.length);
                Some(RootCauseExample {
                    text: verbatim.text[bytes].to_string(),
                    id: verbatim.id,
                    offset: cause.offset,
                    length: cause.length,
                })
            })
            .take(EXAMPLES)
            .collect();
    }
    Ok(RootCausesReport { model: model_info, totals, nps: totals.nps(), root_causes })
}
