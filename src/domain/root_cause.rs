//! A verbatim's root causes, as the root-cause model that found them says (see
//! `crate::root_causes`).

use serde::{Deserialize, Serialize};

/// The root causes a verbatim states under one saved root-cause model, strongest first, one
/// per root cause; empty when it states none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootCauseAssignment {
    /// The version of the saved root-cause model that matched them.
    pub model: u32,
    pub causes: Vec<CitedRootCause>,
}

/// One root cause a verbatim states, and where: the span is kept, not its text, so the text
/// lives only in the verbatim (and goes with it at an erasure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CitedRootCause {
    pub id: i64,
    /// In Unicode code points, as every offset the API gives.
    pub offset: usize,
    pub length: usize,
}

impl RootCauseAssignment {
    /// The ids of the root causes stated.
    pub fn ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.causes.iter().map(|c| c.id)
    }

    /// Root cause `from` becomes `into` (merged into it by an analyst); a verbatim citing both
    /// keeps one, at the stronger's place.
    pub fn merge(&mut self, from: i64, into: i64) {
        let mut seen_into = false;
        self.causes.retain_mut(|cause| {
            if cause.id == from {
                cause.id = into;
            }
            let keep = cause.id != into || !seen_into;
            seen_into |= cause.id == into;
            keep
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merge_keeps_one_cause_at_the_stronger_place() {
        let cause = |id| CitedRootCause { id, offset: id as usize, length: 1 };
        let mut found = RootCauseAssignment { model: 1, causes: vec![cause(3), cause(1), cause(2)] };
        found.merge(3, 2);
        assert_eq!(found.causes, vec![CitedRootCause { id: 2, offset: 3, length: 1 }, cause(1)]);
    }
}
