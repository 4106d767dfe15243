//! Alerts: rules on single verbatims, evaluated as verbatims arrive, and rules on volumes,
//! evaluated on a schedule ([`volume`]); delivered by signed webhooks from a durable outbox,
//! those about a verbatim opening a follow-up (see `crate::domain::alert`).
//!
//! - **Evaluation** ([`evaluate`]) follows the store by `seq` like every derived view
//!   (`crate::consumers`): after each commit, the verbatims written since the evaluator's
//!   checkpoint are matched against each enabled rule's filter *by the index*, so a rule means
//!   exactly what the same search means; the alerts fired and the new checkpoint are stored in
//!   one transaction. A restart resumes from the checkpoint: no verbatim missed, none twice. A
//!   rule fires once per verbatim ([`crate::store::StoreWriter::fire`]).
//! - **Delivery** ([`deliver`]) POSTs each alert's payload, signed with HMAC-SHA256 over the
//!   timestamp and the body, and records the outcome only after the receiver answered, so a
//!   crash repeats a delivery (with the same `Idempotency-Key`) rather than losing it.
//! - **Targets** ([`target`]) on loopback, private or link-local addresses are refused unless
//!   the configuration allows them.

pub mod deliver;
pub mod rules;
pub mod target;
pub mod volume;

use serde_json::json;

use crate::domain::{AlertRule, Verbatim};
use crate::index::SearchIndex;
use crate::search::SearchRequest;
use crate::store::{Firing, Sequenced, Store};

/// The evaluator's checkpoint name.
const CHECKPOINT: &str = "alerts";
/// Verbatims read per evaluation step.
const PAGE: usize = 1000;

/// Evaluates the enabled rules on single verbatims on each verbatim sent since the
/// evaluator's checkpoint, up to what the index holds; returns how many alerts fired. Only
/// arrivals count: a verbatim whose `seq` moved because an analysis was stored (a reprocess,
/// a topic discovery) was evaluated when it arrived. A rule the index cannot run (a category
/// deleted since) is skipped and logged, so it does not hold the others back.
pub fn evaluate(store: &Store, index: &SearchIndex) -> anyhow::Result<usize> {
    let rules: Vec<AlertRule> = store.alert_rules()?.into_iter().filter(|r| r.enabled && r.volume.is_none()).collect();
    let indexed = index.applied_seq();
    let mut checkpoint = store.checkpoint(CHECKPOINT)?;
    // Rules are not evaluated on what was sent before them.
    let Some(oldest_rule) = rules.iter().map(|r| r.since_seq).min() else { return Ok(0) };
    checkpoint = checkpoint.max(oldest_rule);
    let filters: Vec<(&AlertRule, SearchRequest)> = rules
        .iter()
        .filter_map(|rule| match rule_filter(store, rule) {
            Ok(filter) => Some((rule, filter)),
            Err(err) => {
                tracing::warn!(rule = rule.id, error = %format!("{err:#}"), "alert rule skipped: its filter cannot run");
                None
            }
        })
        .collect();
    let mut fired = 0;
    while checkpoint < indexed {
        let page: Vec<Sequenced> =
            store.page_since(checkpoint, PAGE)?.into_iter().take_while(|row| row.seq <= indexed).collect();
        let Some(last) = page.last().map(|row| row.seq) else { break };
        let mut firings: Vec<(&AlertRule, &Verbatim)> = Vec::new();
        for (rule, filter) in &filters {
            let arrived_after = checkpoint.max(rule.since_seq);
            let candidates: Vec<&Verbatim> =
                page.iter().filter(|row| row.received_seq > arrived_after).map(|row| &row.verbatim).collect();
            if candidates.is_empty() {
                continue;
            }
            let ids: Vec<String> = candidates.iter().map(|v| v.id.clone()).collect();
            let matching = index.matching(filter, &ids)?;
            firings.extend(candidates.into_iter().filter(|v| matching.contains(&v.id)).map(|v| (*rule, v)));
        }
        let now = chrono::Utc::now();
        let (count, _) = store.write(|writer| {
            let mut count = 0;
            for (rule, verbatim) in &firings {
                let payload = |alert_id: i64, follow_up: Option<(i64, chrono::DateTime<chrono::Utc>)>| {
                    payload(rule, verbatim, alert_id, now, follow_up)
                };
                let firing = Firing {
                    rule,
                    verbatim_id: &verbatim.id,
                    customer_id: verbatim.customer_id.as_deref(),
                    fired_at: now,
                    payload: &payload,
                };
                count += usize::from(writer.fire(&firing)?);
            }
            writer.set_checkpoint(CHECKPOINT, last)?;
            Ok(count)
        })?;
        fired += count;
        checkpoint = last;
    }
    Ok(fired)
}

/// The search a rule's filter means, with its categories' queries read from the store.
pub fn rule_filter(store: &Store, rule: &AlertRule) -> anyhow::Result<SearchRequest> {
    let mut filter = SearchRequest::from_filter(&rule.filter)?;
    filter.category_rules = filter
        .categories
        .iter()
        .map(|id| store.category(*id)?.map(|c| c.queries).ok_or_else(|| anyhow::anyhow!("no category {id}")))
        .collect::<anyhow::Result<_>>()?;
    Ok(filter)
}

/// The webhook body: the alert, its rule, the verbatim as stored, and the follow-up opened.
fn payload(
    rule: &AlertRule,
    verbatim: &Verbatim,
    alert_id: i64,
    fired_at: chrono::DateTime<chrono::Utc>,
    follow_up: Option<(i64, chrono::DateTime<chrono::Utc>)>,
) -> String {
    json!({
        "alert_id": alert_id,
        "idempotency_key": crate::domain::Alert::idempotency_key(alert_id),
        "rule": {"id": rule.id, "name": rule.name},
        "fired_at": crate::domain::rfc3339::format(&fired_at),
        "verbatim": verbatim,
        "follow_up": follow_up.map(|(id, due_at)| json!({
            "id": id,
            "due_at": crate::domain::rfc3339::format(&due_at),
            "owner": rule.follow_up.as_ref().and_then(|p| p.owner.clone()),
        })),
    })
    .to_string()
}
