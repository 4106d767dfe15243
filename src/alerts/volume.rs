//! Volume rules: what a filter selects is counted per calendar period (by the index's KPI
//! collector, never by loading verbatims) and tested, on a schedule, for
//!
//! - **spikes**: the period's count against the `baseline_periods` periods before it. Under a
//!   steady rate the count is Poisson with the baseline's mean; daily feedback is usually
//!   more variable than that (weekdays and weekends, campaigns), so when the baseline's
//!   variance exceeds its mean the count is taken as negative binomial with the baseline's
//!   mean and variance instead, which keeps a busy Monday from reading as a spike. The alert
//!   fires when P(X ≥ count) is below the rule's `p_value` and the count reaches `min_count`.
//!   The running period is tested too: its count only grows, so a running day already past
//!   the bar is a spike without waiting for midnight.
//! - **NPS drops**: the last complete period's NPS against the one before, fired when it fell
//!   by at least `points` and the fall is significant (the KPIs' two-sided test on the
//!   adjusted NPS variance, see `crate::kpi`), each period having `min_count` answers.
//!
//! A rule fires once per period ([`crate::store::StoreWriter::fire_volume`]), so evaluating
//! often, or again after a restart, repeats nothing. Nothing is evaluated while the index
//! is behind the store: a half-indexed backfill would look like a spike, and an alert, once
//! fired, stays.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde_json::json;
use statrs::distribution::{DiscreteCDF, NegativeBinomial, Poisson};

use super::rule_filter;
use crate::domain::{day_start, AlertRule, CountDistribution, VolumeFigures, VolumeFinding, VolumeRule, VolumeTest};
use crate::index::SearchIndex;
use crate::kpi::{change, nps, Cells, Tally};
use crate::search::SearchRequest;
use crate::store::{Store, VolumeFiring};

/// A baseline of fewer periods than this (the store is younger) tests nothing: its mean and
/// variance would be noise.
pub const MIN_BASELINE_PERIODS: usize = 3;

/// Evaluates every enabled volume rule at `now`; returns how many alerts fired. A rule whose
/// filter cannot run is skipped and logged, so it does not hold the others back.
pub fn evaluate(store: &Store, index: &SearchIndex, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let rules: Vec<AlertRule> = store.alert_rules()?.into_iter().filter(|r| r.enabled && r.volume.is_some()).collect();
    if rules.is_empty() || index.applied_seq() < store.last_seq()? {
        return Ok(0);
    }
    // Periods before the first verbatim stored are no baseline: the store is younger.
    let Some(stored_from) = store.first_created_at()? else { return Ok(0) };
    let mut findings: Vec<(AlertRule, VolumeFinding)> = Vec::new();
    for rule in rules {
        let Some(volume) = &rule.volume else { continue };
        match rule_filter(store, &rule).and_then(|filter| findings_of(index, &filter, volume, stored_from, now)) {
            Ok(found) => {
                for finding in found {
                    if !store.volume_alert_fired(rule.id, &finding)? {
                        findings.push((rule.clone(), finding));
                    }
                }
            }
            Err(err) => {
                tracing::warn!(rule = rule.id, error = %format!("{err:#}"), "volume rule skipped: it cannot run");
            }
        }
    }
    if findings.is_empty() {
        return Ok(0);
    }
    let (fired, _) = store.write(|writer| {
        let mut fired = 0;
        for (rule, finding) in &findings {
            let payload = |alert_id: i64| payload(rule, finding, alert_id, now);
            let firing = VolumeFiring { rule, finding, fired_at: now, payload: &payload };
            fired += usize::from(writer.fire_volume(&firing)?);
        }
        Ok(fired)
    })?;
    Ok(fired)
}

/// The periods of `volume` that fail its test at `now`, in a store holding verbatims dated
/// from `stored_from`.
fn findings_of(
    index: &SearchIndex,
    filter: &SearchRequest,
    volume: &VolumeRule,
    stored_from: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<VolumeFinding>> {
    let tz: Tz = volume.tz.parse().map_err(|_| anyhow::anyhow!("unknown time zone `{}`", volume.tz))?;
    let period = volume.period;
    let running = period.of(now, tz);
    let last = period.previous(running);
    let bounds = |start: NaiveDate| (instant(start, tz), instant(period.next(start), tz));
    let mut found = Vec::new();
    match volume.test {
        VolumeTest::Spike { baseline_periods } => {
            let baseline_start = |target| (0..baseline_periods).fold(target, |start, _| period.previous(start));
            let first = baseline_start(last);
            let window = SearchRequest {
                from: Some(instant(first, tz)),
                to: Some(instant(period.next(running), tz)),
                ..filter.clone()
            };
            let matching = index.kpi_cells(&window, None, Some((period, tz)))?;
            let stored_from = period.of(stored_from, tz);
            for (target, complete) in [(last, true), (running, false)] {
                let baseline: Vec<u64> = period
                    .starts(baseline_start(target).max(stored_from), target)
                    .map(|start| verbatims(&matching, start))
                    .collect();
                let count = verbatims(&matching, target);
                if baseline.len() < MIN_BASELINE_PERIODS || count < volume.min_count {
                    continue;
                }
                let spike = spike_test(count, &baseline);
                if spike.p_value < volume.p_value {
                    let (period_start, period_end) = bounds(target);
                    found.push(VolumeFinding {
                        period,
                        period_start,
                        period_end,
                        complete,
                        count,
                        p_value: spike.p_value,
                        figures: VolumeFigures::Spike {
                            baseline_mean: spike.mean,
                            baseline_variance: spike.variance,
                            baseline_periods: baseline.len() as u32,
                            distribution: spike.distribution,
                        },
                    });
                }
            }
        }
        VolumeTest::NpsDrop { points } => {
            let previous = period.previous(last);
            let window =
                SearchRequest { from: Some(instant(previous, tz)), to: Some(instant(running, tz)), ..filter.clone() };
            let cells = index.kpi_cells(&window, None, Some((period, tz)))?;
            let tally = |start| cells.total.get(&Some(start)).cloned().unwrap_or_default();
            let (now_tally, before_tally) = (tally(last), tally(previous));
            if let Some(drop) = nps_drop(&now_tally, &before_tally, volume.min_count) {
                if -drop.delta >= points && drop.p_value < volume.p_value {
                    let (period_start, period_end) = bounds(last);
                    found.push(VolumeFinding {
                        period,
                        period_start,
                        period_end,
                        complete: true,
                        count: drop.count,
                        p_value: drop.p_value,
                        figures: VolumeFigures::NpsDrop {
                            nps: drop.nps,
                            previous_nps: drop.previous_nps,
                            previous_count: drop.previous_count,
                        },
                    });
                }
            }
        }
    }
    Ok(found)
}

/// The instant a period starting on `start` begins, in `tz`.
fn instant(start: NaiveDate, tz: Tz) -> DateTime<Utc> {
    day_start(start, tz).with_timezone(&Utc)
}

fn verbatims(cells: &Cells, start: NaiveDate) -> u64 {
    cells.total.get(&Some(start)).map_or(0, |tally| tally.verbatims)
}

/// A count tested against its baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct SpikeTest {
    /// P(X ≥ count) under the baseline.
    pub p_value: f64,
    /// The baseline's counts per period: their mean and (sample) variance.
    pub mean: f64,
    pub variance: f64,
    /// The law X was taken to follow.
    pub distribution: CountDistribution,
}

/// Past this shape parameter the negative binomial is a Poisson law to the precision its
/// incomplete beta function gives (a variance a hair above the mean on large counts).
const MAX_SHAPE: f64 = 1e6;

/// Tests `count` against the counts of the periods before it: P(X ≥ count) for X Poisson with
/// the baseline's mean, or negative binomial with its mean and variance when they say the
/// counts vary more than Poisson ones. A baseline mean below one verbatim over the whole
/// baseline is taken as that (a topic never seen before is not infinitely unlikely).
pub fn spike_test(count: u64, baseline: &[u64]) -> SpikeTest {
    let n = baseline.len().max(1) as f64;
    let mean = baseline.iter().sum::<u64>() as f64 / n;
    let variance = if baseline.len() > 1 {
        baseline.iter().map(|&c| (c as f64 - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    let rate = mean.max(1.0 / n);
    // Mean r(1 − p)/p and variance r(1 − p)/p² give r = m²/(v − m), p = m/v.
    let shape = (variance > rate).then(|| rate * rate / (variance - rate)).filter(|r| *r <= MAX_SHAPE);
    // P(X ≥ count) is the survival function at count − 1.
    let (p_value, distribution) = match (count.checked_sub(1), shape) {
        (None, _) => (1.0, CountDistribution::Poisson),
        (Some(below), Some(r)) => {
            let law = NegativeBinomial::new(r, rate / variance).expect("r > 0 and p in (0, 1)");
            (law.sf(below), CountDistribution::NegativeBinomial)
        }
        (Some(below), None) => (Poisson::new(rate).expect("a positive rate").sf(below), CountDistribution::Poisson),
    };
    SpikeTest { p_value: p_value.clamp(0.0, 1.0), mean, variance, distribution }
}

/// An NPS compared with the previous period's.
#[derive(Debug, Clone, PartialEq)]
pub struct NpsDrop {
    pub nps: f64,
    pub previous_nps: f64,
    /// This NPS less the previous one, in points.
    pub delta: f64,
    /// Two-sided p-value of "no change".
    pub p_value: f64,
    pub count: u64,
    pub previous_count: u64,
}

/// The change of NPS from `previous` to `current`, when both have `min_count` answers.
pub fn nps_drop(current: &Tally, previous: &Tally, min_count: u64) -> Option<NpsDrop> {
    let estimate = |tally: &Tally| Some((nps(tally)?, tally.nps.iter().sum::<u64>()));
    let ((now, count), (then, previous_count)) = (estimate(current)?, estimate(previous)?);
    if count < min_count || previous_count < min_count {
        return None;
    }
    let moved = change(&now, &then)?;
    Some(NpsDrop {
        nps: now.value,
        previous_nps: then.value,
        delta: moved.delta,
        p_value: moved.p_value,
        count,
        previous_count,
    })
}

/// The webhook body of a volume alert: the alert, its rule and filter, and the finding.
fn payload(rule: &AlertRule, finding: &VolumeFinding, alert_id: i64, fired_at: DateTime<Utc>) -> String {
    json!({
        "alert_id": alert_id,
        "idempotency_key": crate::domain::Alert::idempotency_key(alert_id),
        "rule": {"id": rule.id, "name": rule.name, "filter": rule.filter},
        "fired_at": crate::domain::rfc3339::format(&fired_at),
        "volume": finding,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::domain::{rfc3339, Period};

    /// A Poisson draw (Knuth's product of uniforms; rates here are small).
    fn poisson(rng: &mut ChaCha8Rng, rate: f64) -> u64 {
        let (limit, mut product, mut k) = ((-rate).exp(), rng.random::<f64>(), 0);
        while product > limit {
            product *= rng.random::<f64>();
            k += 1;
        }
        k
    }

    /// How often `spike_test` fires at `alpha` over `trials` generated series: 28 baseline
    /// days then the day tested, each day's rate given by `rate(day)`.
    fn firing_rate(seed: u64, trials: usize, alpha: f64, rate: impl Fn(usize) -> f64) -> f64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let fired = (0..trials)
            .filter(|_| {
                let series: Vec<u64> = (0..29).map(|day| poisson(&mut rng, rate(day))).collect();
                spike_test(series[28], &series[..28]).p_value < alpha
            })
            .count();
        fired as f64 / trials as f64
    }

    #[test]
    fn flat_noise_fires_about_as_often_as_the_level_says() {
        // 20 a day, no spike: at 0.001, a handful of false alarms in 4,000 series at most.
        let rate = firing_rate(1, 4000, 0.001, |_| 20.0);
        assert!(rate <= 0.003, "{rate}");
        let rate = firing_rate(2, 4000, 0.05, |_| 20.0);
        assert!((0.01..=0.08).contains(&rate), "{rate}");
    }

    #[test]
    fn known_spikes_are_found() {
        // 20 a day, then a day at 50: nearly always a spike at 0.001; at 30, often, not always.
        let big = firing_rate(3, 2000, 0.001, |day| if day == 28 { 50.0 } else { 20.0 });
        assert!(big >= 0.95, "{big}");
        let small = firing_rate(4, 2000, 0.001, |day| if day == 28 { 30.0 } else { 20.0 });
        assert!((0.02..0.9).contains(&small), "{small}");
    }

    #[test]
    fn weekly_seasons_are_not_spikes() {
        // Weekdays at 40, weekends at 8: a Poisson test at the mean (about 31) would call many
        // weekdays spikes; the negative binomial, fitted to the baseline's spread, does not.
        let rate = |day: usize| if day % 7 >= 5 { 8.0 } else { 40.0 };
        // Day 28 is a weekday, like day 0.
        let weekday = firing_rate(5, 2000, 0.001, rate);
        assert!(weekday <= 0.005, "{weekday}");
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let series: Vec<u64> = (0..28).map(|day| poisson(&mut rng, rate(day))).collect();
        assert_eq!(spike_test(40, &series).distribution, CountDistribution::NegativeBinomial);
        assert!(spike_test(40, &series).p_value > 0.01);
        // Three times a weekday's volume is still a spike.
        assert!(spike_test(120, &series).p_value < 0.001, "{:?}", spike_test(120, &series));
    }

    #[test]
    fn a_first_appearance_is_a_spike_and_nothing_is_not() {
        let quiet = [0; 28];
        assert!(spike_test(10, &quiet).p_value < 1e-6);
        assert_eq!(spike_test(0, &quiet).p_value, 1.0);
        // One verbatim where the baseline had one every few days is no spike.
        assert!(spike_test(1, &[0, 1, 0, 0, 1, 0, 0]).p_value > 0.2);
    }

    #[test]
    fn periods_follow_the_rules_zone_through_a_clock_change() {
        use crate::domain::Verbatim;
        use crate::store::{Durability, RuleDraft};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store.sqlite3"), None, Durability::Full).unwrap();
        let index = SearchIndex::open(&dir.path().join("index")).unwrap();
        // Ten a month from October to March, mid-month; then 40 at 22:30 UTC on 31 March,
        // which is already 1 April in Paris (summer time since the 29th: UTC+2).
        let mut rows = Vec::new();
        for month in ["2025-10", "2025-11", "2025-12", "2026-01", "2026-02", "2026-03"] {
            rows.extend((0..10).map(|n| (format!("{month}-{n}"), format!("{month}-15T12:00:00Z"))));
        }
        rows.extend((0..40).map(|n| (format!("edge-{n}"), "2026-03-31T22:30:00Z".to_string())));
        let mut batch: Vec<Verbatim> = rows
            .iter()
            .map(|(id, at)| {
                let item = json!({"id": id, "text": "Colis perdu", "created_at": at, "channel": "email"});
                Verbatim::from_json(&item, Utc::now()).unwrap()
            })
            .collect();
        let seq = store.upsert(&mut batch).unwrap();
        index.upsert(&batch, seq).unwrap();
        let rule = |tz: &str| {
            let volume = VolumeRule {
                test: VolumeTest::Spike { baseline_periods: 5 },
                period: Period::Month,
                tz: tz.to_string(),
                min_count: 10,
                p_value: 0.001,
            };
            let draft = RuleDraft {
                name: tz.to_string(),
                filter: [("channel".to_string(), "email".to_string())].into(),
                webhook: None,
                follow_up: None,
                volume: Some(volume),
                enabled: true,
            };
            store.create_alert_rule(&draft).unwrap().id
        };
        let (paris, utc) = (rule("Europe/Paris"), rule("UTC"));
        let now = "2026-04-15T10:00:00Z".parse().unwrap();
        assert_eq!(evaluate(&store, &index, now).unwrap(), 2);
        assert_eq!(evaluate(&store, &index, now).unwrap(), 0, "once per period");
        let fired = |rule: i64| {
            let alerts = store.alerts(None, Some(rule), 10).unwrap();
            assert_eq!(alerts.len(), 1, "{alerts:?}");
            alerts[0].volume.clone().unwrap()
        };
        // In Paris, April is running and already holds the 40.
        let april = fired(paris);
        assert_eq!(rfc3339::format(&april.period_start), "2026-03-31T22:00:00.000Z");
        assert_eq!((april.count, april.complete), (40, false));
        // In UTC, they are March's, a complete month of 50 against 10 a month before.
        let march = fired(utc);
        assert_eq!(rfc3339::format(&march.period_start), "2026-03-01T00:00:00.000Z");
        assert_eq!((march.count, march.complete), (50, true));
        assert!(
            matches!(march.figures, VolumeFigures::Spike { baseline_periods: 5, baseline_mean, .. } if baseline_mean == 10.0)
        );
    }

    fn answers(rng: &mut ChaCha8Rng, n: usize, promoters: f64, detractors: f64) -> Tally {
        let mut tally = Tally::default();
        for _ in 0..n {
            let u = rng.random::<f64>();
            let score = if u < promoters {
                10
            } else if u < promoters + detractors {
                3
            } else {
                8
            };
            tally.count(Some(score), None, None, None);
        }
        tally
    }

    #[test]
    fn nps_drops_need_size_and_significance() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        // NPS 40 then 20, 400 answers each: a significant 20-point drop.
        let before = answers(&mut rng, 400, 0.55, 0.15);
        let after = answers(&mut rng, 400, 0.45, 0.25);
        let drop = nps_drop(&after, &before, 30).unwrap();
        assert!(drop.delta < -10.0 && drop.p_value < 0.01, "{drop:?}");
        // The same fall on 30 answers each is within noise.
        let before = answers(&mut rng, 30, 0.55, 0.15);
        let after = answers(&mut rng, 30, 0.45, 0.25);
        assert!(nps_drop(&after, &before, 30).is_none_or(|d| d.p_value > 0.01));
        // Too few answers: no test.
        assert!(nps_drop(&after, &before, 31).is_none());
        // A steady NPS rarely reads as a significant drop of 10 points.
        let false_alarms = (0..1000)
            .filter(|_| {
                let (a, b) = (answers(&mut rng, 200, 0.5, 0.2), answers(&mut rng, 200, 0.5, 0.2));
                nps_drop(&b, &a, 30).is_some_and(|d| d.delta <= -10.0 && d.p_value < 0.05)
            })
            .count();
        assert!(false_alarms <= 40, "{false_alarms}");
    }
}
