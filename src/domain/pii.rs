//! Personal data a verbatim may hold, by kind: what redaction looks for, what replaces it, and
//! what `/v1/analyze` reports having removed.

use serde::{Deserialize, Serialize};

/// A kind of personal data, each with its own detector (see `crate::nlp::pii`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PiiKind {
    Email,
    /// French and international numbers, validated against the numbering plans.
    Phone,
    /// Bank account numbers, with their checksum.
    Iban,
    /// Payment card numbers (Luhn checksum, a card network's prefix and length).
    Card,
    /// French social security numbers (NIR), with their key.
    Nir,
    /// Links carrying a personal token (a session, a key, an e-mail address…).
    Url,
    /// A person's name after a title or an introduction ("M. Dupont", "je m'appelle Léa").
    Person,
}

impl PiiKind {
    pub const ALL: [PiiKind; 7] =
        [PiiKind::Email, PiiKind::Phone, PiiKind::Iban, PiiKind::Card, PiiKind::Nir, PiiKind::Url, PiiKind::Person];

    pub fn as_str(self) -> &'static str {
        match self {
            PiiKind::Email => "email",
            PiiKind::Phone => "phone",
            PiiKind::Iban => "iban",
            PiiKind::Card => "card",
            PiiKind::Nir => "nir",
            PiiKind::Url => "url",
            PiiKind::Person => "person",
        }
    }

    pub fn parse(name: &str) -> Option<PiiKind> {
        PiiKind::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// What takes its place in a redacted text: `[EMAIL]`, `[PHONE]`…
    pub fn placeholder(self) -> &'static str {
        match self {
            PiiKind::Email => "[EMAIL]",
            PiiKind::Phone => "[PHONE]",
            PiiKind::Iban => "[IBAN]",
            PiiKind::Card => "[CARD]",
            PiiKind::Nir => "[NIR]",
            PiiKind::Url => "[URL]",
            PiiKind::Person => "[PERSON]",
        }
    }
}

/// What was removed from a text and where, in Unicode code points of the text as given; the
/// removed value itself is never kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redaction {
    #[serde(rename = "type")]
    pub kind: PiiKind,
    pub offset: usize,
    pub length: usize,
}
