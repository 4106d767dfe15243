//! The aspects a stored verbatim judges (see `crate::nlp::aspects`), as search filters and
//! counts them.

use serde::{Deserialize, Serialize};

use super::SentimentLabel;

/// An aspect of a stored verbatim: where it is named, and how it is judged. The span is kept,
/// not its text, so the text lives only in the verbatim (and goes with it at an erasure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JudgedAspect {
    /// In Unicode code points.
    pub offset: usize,
    pub length: usize,
    pub polarity: SentimentLabel,
}

/// The form an aspect is filtered and counted by: lower case, single spaces, so "Livraison"
/// and "livraison" are one aspect.
pub fn aspect_key(term: &str) -> String {
    term.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>().join(" ")
}

impl JudgedAspect {
    /// Its [`aspect_key`] in `text`, the verbatim's.
    pub fn key(&self, text: &str) -> String {
        aspect_key(&text.chars().skip(self.offset).take(self.length).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_aspect_is_keyed_by_its_lower_case_words() {
        let aspect = JudgedAspect { offset: 4, length: 15, polarity: SentimentLabel::Negative };
        assert_eq!(aspect.key("Le  Service  Client était lent"), "service client");
        assert_eq!(aspect_key(" Délai\tde livraison "), "délai de livraison");
    }
}
