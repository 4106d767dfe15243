//! The survey scales, defined once for validation, search filters and KPIs: what a score may be,
//! and which scores count as a promoter, a satisfied customer or an easy experience.

use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

/// NPS 0–10 (the likelihood to recommend), CSAT 1–5 (satisfaction stars), CES 1–7 (customer
/// effort, 7 the easiest).
pub const NPS_SCALE: RangeInclusive<u8> = 0..=10;
pub const CSAT_SCALE: RangeInclusive<u8> = 1..=5;
pub const CES_SCALE: RangeInclusive<u8> = 1..=7;
/// CSAT counts the share of satisfied answers: 4 and 5 of 5.
pub const CSAT_SATISFIED: RangeInclusive<u8> = 4..=5;
/// CES reports, beside its mean, the share of "easy" answers: 5 to 7 of 7.
pub const CES_EASY: RangeInclusive<u8> = 5..=7;

/// The NPS bucket of a 0–10 score: what CX teams filter on to call detractors back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NpsGroup {
    Detractor,
    Passive,
    Promoter,
}

impl NpsGroup {
    pub fn of(nps: u8) -> NpsGroup {
        match nps {
            0..=6 => NpsGroup::Detractor,
            7..=8 => NpsGroup::Passive,
            _ => NpsGroup::Promoter,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NpsGroup::Detractor => "detractor",
            NpsGroup::Passive => "passive",
            NpsGroup::Promoter => "promoter",
        }
    }

    pub fn parse(name: &str) -> Option<NpsGroup> {
        [NpsGroup::Detractor, NpsGroup::Passive, NpsGroup::Promoter].into_iter().find(|g| g.as_str() == name)
    }

    /// The inclusive NPS range this group covers.
    pub fn score_range(self) -> (u8, u8) {
        match self {
            NpsGroup::Detractor => (0, 6),
            NpsGroup::Passive => (7, 8),
            NpsGroup::Promoter => (9, 10),
        }
    }
}
