//! KPIs of the closed loop: of the follow-ups whose outcome is known (the customer was reached,
//! or the due time passed), the share reached in time, with its 95 % interval, and the median
//! time to reach them, by rule or owner.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::stats::share;
use crate::domain::FollowUp;

/// What follow-up KPIs are counted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopGroupBy {
    Rule,
    Owner,
}

impl LoopGroupBy {
    pub fn parse(name: &str) -> Option<LoopGroupBy> {
        match name {
            "rule" => Some(LoopGroupBy::Rule),
            "owner" => Some(LoopGroupBy::Owner),
            _ => None,
        }
    }

    fn key(self, follow_up: &FollowUp) -> Option<String> {
        match self {
            LoopGroupBy::Rule => Some(follow_up.rule_id.to_string()),
            LoopGroupBy::Owner => follow_up.owner.clone(),
        }
    }
}

/// The loop's KPIs over a set of follow-ups.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoopKpis {
    /// The group's value (`null`: the total, or follow-ups without an owner).
    pub key: Option<String>,
    pub follow_ups: u64,
    /// Open and not yet due: no outcome yet.
    pub pending: u64,
    /// Not reached, past due.
    pub overdue: u64,
    /// Reached (contacted or resolved) before their due time.
    pub reached_in_time: u64,
    /// Reached after it.
    pub reached_late: u64,
    /// Share of the follow-ups with an outcome reached in time, in percent; `null` without any.
    pub in_time: Option<f64>,
    pub in_time_ci: Option<[f64; 2]>,
    /// Median hours from the alert to reaching the customer; `null` when none was reached.
    pub median_hours_to_contact: Option<f64>,
}

impl LoopKpis {
    fn of(key: Option<String>, follow_ups: &[&FollowUp], now: DateTime<Utc>) -> LoopKpis {
        let mut kpis = LoopKpis {
            key,
            follow_ups: follow_ups.len() as u64,
            pending: 0,
            overdue: 0,
            reached_in_time: 0,
            reached_late: 0,
            in_time: None,
            in_time_ci: None,
            median_hours_to_contact: None,
        };
        let mut hours = Vec::new();
        for f in follow_ups {
            match f.contacted_at {
                Some(at) => {
                    hours.push((at - f.created_at).num_seconds() as f64 / 3600.0);
                    match at <= f.due_at {
                        true => kpis.reached_in_time += 1,
                        false => kpis.reached_late += 1,
                    }
                }
                None if f.overdue(now) => kpis.overdue += 1,
                None => kpis.pending += 1,
            }
        }
        let known = kpis.reached_in_time + kpis.reached_late + kpis.overdue;
        if let Some(estimate) = share(kpis.reached_in_time, known) {
            kpis.in_time = Some(estimate.value);
            kpis.in_time_ci = estimate.interval;
        }
        hours.sort_by(f64::total_cmp);
        kpis.median_hours_to_contact = match hours.len() {
            0 => None,
            n if n % 2 == 1 => Some(hours[n / 2]),
            n => Some((hours[n / 2 - 1] + hours[n / 2]) / 2.0),
        };
        kpis
    }
}

/// The loop's KPIs over `follow_ups`: the total, and per group when asked (largest first).
pub fn loop_kpis(
    follow_ups: &[FollowUp],
    group_by: Option<LoopGroupBy>,
    now: DateTime<Utc>,
) -> (LoopKpis, Vec<LoopKpis>) {
    let all: Vec<&FollowUp> = follow_ups.iter().collect();
    let total = LoopKpis::of(None, &all, now);
    let Some(group_by) = group_by else { return (total, Vec::new()) };
    let mut groups: BTreeMap<Option<String>, Vec<&FollowUp>> = BTreeMap::new();
    for f in follow_ups {
        groups.entry(group_by.key(f)).or_default().push(f);
    }
    let mut groups: Vec<LoopKpis> = groups.into_iter().map(|(key, members)| LoopKpis::of(key, &members, now)).collect();
    groups.sort_by(|a, b| b.follow_ups.cmp(&a.follow_ups).then_with(|| a.key.cmp(&b.key)));
    (total, groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::FollowUpStatus;

    fn follow_up(owner: &str, created_hours_ago: i64, due_in_hours: i64, contacted_after: Option<i64>) -> FollowUp {
        let now = Utc::now();
        let created_at = now - chrono::Duration::hours(created_hours_ago);
        FollowUp {
            id: 1,
            alert_id: 1,
            rule_id: 7,
            verbatim_id: "v".into(),
            customer_id: None,
            status: if contacted_after.is_some() { FollowUpStatus::Contacted } else { FollowUpStatus::Open },
            owner: Some(owner.into()),
            note: None,
            due_at: created_at + chrono::Duration::hours(due_in_hours),
            contacted_at: contacted_after.map(|h| created_at + chrono::Duration::hours(h)),
            created_at,
            updated_at: created_at,
        }
    }

    #[test]
    fn counts_in_time_late_overdue_and_pending_with_the_median_time_to_contact() {
        let set = vec![
            follow_up("lyon", 100, 48, Some(10)),
            follow_up("lyon", 100, 48, Some(30)),
            follow_up("lyon", 100, 48, Some(60)),
            follow_up("paris", 100, 48, None),
            follow_up("paris", 10, 48, None),
        ];
        let (total, groups) = loop_kpis(&set, Some(LoopGroupBy::Owner), Utc::now());
        assert_eq!(
            (total.follow_ups, total.reached_in_time, total.reached_late, total.overdue, total.pending),
            (5, 2, 1, 1, 1)
        );
        // 2 in time of 4 with an outcome.
        assert_eq!(total.in_time, Some(50.0));
        assert_eq!(total.median_hours_to_contact, Some(30.0));
        assert_eq!(groups[0].key.as_deref(), Some("lyon"));
        assert_eq!(groups[0].median_hours_to_contact, Some(30.0));
        assert_eq!(groups[1].in_time, Some(0.0));
        let (empty, _) = loop_kpis(&[], None, Utc::now());
        assert_eq!((empty.in_time, empty.median_hours_to_contact), (None, None));
    }
}
