//! Point estimates with 95 % intervals, and the test that says whether a change between two
//! periods is more than noise. Each KPI has its own method because each is another kind of
//! variable:
//!
//! - **NPS and net sentiment** are the mean of a three-valued variable (+1, 0, −1), not a
//!   proportion: their variance is `p₊ + p₋ − (p₊ − p₋)²`. The interval is the adjusted Wald
//!   interval of Rocks (2016, "Interval estimation for the net promoter score", *The American
//!   Statistician* 70:4), which adds ¾ of a +1 and ¾ of a −1 (and 1½ zeros) before the Wald
//!   formula: it keeps its 95 % coverage on small samples, where the plain Wald interval
//!   collapses (one promoter alone would give [100, 100]).
//! - **CSAT and the share of easy CES answers** are proportions: Wilson score interval.
//! - **The CES mean** is a mean on a 1–7 scale: Student's t interval.
//!
//! A change between two periods is tested with the difference of the two estimates over its
//! standard error (the two samples are independent), on the adjusted estimates where the
//! intervals are adjusted: for proportions with the Agresti–Caffo adjustment (one success and
//! one failure added to each), for the net scores with the adjustment above, for the CES mean
//! with Welch's t. The reported change is the difference of the plain estimates. Significant means p < 0.05,
//! two-sided.

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// The confidence level of every interval, and the significance level of every change.
const LEVEL: f64 = 0.95;

/// An estimate and what a change test needs of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub value: f64,
    /// The 95 % interval; `None` where the sample cannot give one (a mean of one answer).
    pub interval: Option<[f64; 2]>,
    /// What a change test reads; `None` where the sample cannot give it.
    test: Option<TestBasis>,
}

/// The centre and standard error a change test compares, in the value's units: the adjusted
/// estimate where the interval is adjusted, so that one answer against one answer is not
/// "significant".
#[derive(Debug, Clone, Copy, PartialEq)]
struct TestBasis {
    centre: f64,
    standard_error: f64,
    /// Degrees of freedom of a t statistic; `None` for a normal one.
    freedom: Option<f64>,
}

/// The change of a KPI from the previous period to this one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Change {
    /// This period's value less the previous one's, in the KPI's units.
    pub delta: f64,
    /// Two-sided p-value of "no change".
    pub p_value: f64,
    /// Whether `p_value` is below 0.05.
    pub significant: bool,
}

fn z() -> f64 {
    Normal::standard().inverse_cdf(1.0 - (1.0 - LEVEL) / 2.0)
}

/// The net score of answers counted as +1, 0 and −1, in points (−100 to 100): NPS from
/// promoters, passives and detractors; net sentiment from positive, other and negative.
pub fn net_score(plus: u64, zero: u64, minus: u64) -> Option<Estimate> {
    let n = (plus + zero + minus) as f64;
    if n == 0.0 {
        return None;
    }
    let value = 100.0 * (plus as f64 - minus as f64) / n;
    let adjusted_n = n + 3.0;
    let (p, m) = ((plus as f64 + 0.75) / adjusted_n, (minus as f64 + 0.75) / adjusted_n);
    let centre = p - m;
    let standard_error = ((p + m - centre * centre) / adjusted_n).sqrt();
    let half = z() * standard_error;
    // On tiny samples the adjusted centre moves away from a ±100 score; the interval still
    // holds the score it is reported with.
    let interval = [(100.0 * (centre - half)).max(-100.0).min(value), (100.0 * (centre + half)).min(100.0).max(value)];
    let test = TestBasis { centre: 100.0 * centre, standard_error: 100.0 * standard_error, freedom: None };
    Some(Estimate { value, interval: Some(interval), test: Some(test) })
}

/// The share of `hits` among `n` answers, in percent.
pub fn share(hits: u64, n: u64) -> Option<Estimate> {
    if n == 0 {
        return None;
    }
    let (hits, n) = (hits as f64, n as f64);
    let p = hits / n;
    let z = z();
    let z2 = z * z;
    let denominator = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denominator;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denominator;
    let adjusted = (hits + 1.0) / (n + 2.0);
    let standard_error = (adjusted * (1.0 - adjusted) / (n + 2.0)).sqrt();
    Some(Estimate {
        value: 100.0 * p,
        interval: Some([100.0 * (centre - half).max(0.0), 100.0 * (centre + half).min(1.0)]),
        test: Some(TestBasis { centre: 100.0 * adjusted, standard_error: 100.0 * standard_error, freedom: None }),
    })
}

/// The mean of answers given as `(value, how many)`, on a scale whose bounds also bound the
/// interval.
pub fn mean(counts: impl IntoIterator<Item = (f64, u64)> + Clone, scale: [f64; 2]) -> Option<Estimate> {
    let n: u64 = counts.clone().into_iter().map(|(_, c)| c).sum();
    if n == 0 {
        return None;
    }
    let n_f = n as f64;
    let value = counts.clone().into_iter().map(|(v, c)| v * c as f64).sum::<f64>() / n_f;
    if n < 2 {
        return Some(Estimate { value, interval: None, test: None });
    }
    let variance = counts.into_iter().map(|(v, c)| (v - value).powi(2) * c as f64).sum::<f64>() / (n_f - 1.0);
    let standard_error = (variance / n_f).sqrt();
    let freedom = n_f - 1.0;
    let t = StudentsT::new(0.0, 1.0, freedom).expect("positive degrees of freedom");
    let half = t.inverse_cdf(1.0 - (1.0 - LEVEL) / 2.0) * standard_error;
    Some(Estimate {
        value,
        interval: Some([(value - half).max(scale[0]), (value + half).min(scale[1])]),
        test: Some(TestBasis { centre: value, standard_error, freedom: Some(freedom) }),
    })
}

/// Tests `current` against `previous`; `None` when either has no standard error, or when
/// both have none to speak of (two constant samples).
pub fn change(current: &Estimate, previous: &Estimate) -> Option<Change> {
    let (now, before) = (current.test?, previous.test?);
    let (a, b) = (now.standard_error, before.standard_error);
    let standard_error = (a * a + b * b).sqrt();
    if standard_error == 0.0 {
        return None;
    }
    let statistic = ((now.centre - before.centre) / standard_error).abs();
    let tail = match (now.freedom, before.freedom) {
        (Some(fa), Some(fb)) => {
            // Welch–Satterthwaite degrees of freedom.
            let freedom = (a * a + b * b).powi(2) / (a.powi(4) / fa + b.powi(4) / fb);
            1.0 - StudentsT::new(0.0, 1.0, freedom).expect("positive degrees of freedom").cdf(statistic)
        }
        _ => 1.0 - Normal::standard().cdf(statistic),
    };
    let p_value = (2.0 * tail).min(1.0);
    Some(Change { delta: current.value - previous.value, p_value, significant: p_value < 1.0 - LEVEL })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CES: [f64; 2] = [1.0, 7.0];

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    #[test]
    fn net_score_matches_a_hand_computed_adjusted_wald_interval() {
        // 50 promoters, 30 passives, 20 detractors: NPS 30.
        // Adjusted: n' = 103, p = 50.75/103 = 0.492718, m = 20.75/103 = 0.201456,
        // d = 0.291262, var = 0.694175 - 0.084833 = 0.609342, se = sqrt(0.609342/103) = 0.076915,
        // half = 1.959964 * 0.076915 = 0.150751: [14.051, 44.201].
        let e = net_score(50, 30, 20).unwrap();
        assert!(close(e.value, 30.0, 1e-9));
        let [low, high] = e.interval.unwrap();
        assert!(close(low, 14.051, 0.01) && close(high, 44.201, 0.01), "{low} {high}");
        // One promoter alone: an interval, not the point [100, 100].
        let [low, high] = net_score(1, 0, 0).unwrap().interval.unwrap();
        assert!(low < 0.0 && high == 100.0, "{low} {high}");
        assert_eq!(net_score(0, 0, 0), None);
    }

    #[test]
    fn share_matches_a_hand_computed_wilson_interval() {
        // 40 of 50: p = 0.8; Wilson [0.6696, 0.8876] (z = 1.96).
        let e = share(40, 50).unwrap();
        assert!(close(e.value, 80.0, 1e-9));
        let [low, high] = e.interval.unwrap();
        assert!(close(low, 66.96, 0.02) && close(high, 88.76, 0.02), "{low} {high}");
        let [low, high] = share(0, 10).unwrap().interval.unwrap();
        assert!(close(low, 0.0, 1e-9) && close(high, 27.75, 0.02), "{low} {high}");
    }

    #[test]
    fn mean_matches_a_hand_computed_t_interval() {
        // 2, 4, 4, 6: mean 4, s² = 8/3, se = sqrt(8/3 / 4) = 0.816497, t(3, 0.975) = 3.182446:
        // [1.4015, 6.5985].
        let e = mean([(2.0, 1), (4.0, 2), (6.0, 1)], CES).unwrap();
        assert!(close(e.value, 4.0, 1e-12));
        let [low, high] = e.interval.unwrap();
        assert!(close(low, 1.4015, 1e-3) && close(high, 6.5985, 1e-3), "{low} {high}");
        assert_eq!(mean([(5.0, 1)], CES).unwrap().interval, None);
        // Bounded by the scale.
        assert_eq!(mean([(1.0, 1), (7.0, 1)], CES).unwrap().interval, Some([1.0, 7.0]));
    }

    #[test]
    fn changes_are_significant_only_beyond_noise() {
        // CSAT 80 % of 1,000 against 70 % of 1,000: z ≈ 5.2.
        let c = change(&share(800, 1000).unwrap(), &share(700, 1000).unwrap()).unwrap();
        assert!(close(c.delta, 10.0, 1e-9) && c.significant && c.p_value < 1e-4, "{c:?}");
        // 8 of 10 against 7 of 10: far from significant.
        let c = change(&share(8, 10).unwrap(), &share(7, 10).unwrap()).unwrap();
        assert!(!c.significant && c.p_value > 0.5, "{c:?}");
        // NPS 30 against 10 on 100 answers each: difference 20 points, se ≈ 11.5, p ≈ 0.08.
        let c = change(&net_score(50, 30, 20).unwrap(), &net_score(40, 30, 30).unwrap()).unwrap();
        assert!(close(c.delta, 20.0, 1e-9) && !c.significant && close(c.p_value, 0.08, 0.02), "{c:?}");
        // Two CES means, Welch: 5.5 (sd ≈ 1) against 4.5 on 40 answers each.
        let high = mean([(4.0, 10), (5.0, 10), (6.0, 10), (7.0, 10)], CES).unwrap();
        let low = mean([(3.0, 10), (4.0, 10), (5.0, 10), (6.0, 10)], CES).unwrap();
        let c = change(&high, &low).unwrap();
        assert!(close(c.delta, 1.0, 1e-12) && c.significant, "{c:?}");
        assert_eq!(change(&mean([(5.0, 3)], CES).unwrap(), &mean([(5.0, 2)], CES).unwrap()), None);
        // One answer against one answer, at opposite ends, is not a significant change.
        let c = change(&net_score(1, 0, 0).unwrap(), &net_score(0, 0, 1).unwrap()).unwrap();
        assert!(close(c.delta, 200.0, 1e-9) && !c.significant, "{c:?}");
        let c = change(&share(1, 1).unwrap(), &share(0, 1).unwrap()).unwrap();
        assert!(!c.significant, "{c:?}");
    }
}
