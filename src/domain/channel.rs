//! Where the customer said it: an open vocabulary, because every feedback programme names its
//! own channels (`app`, `sms`, `store`, `web`…). Names are normalised so that one channel has
//! one spelling in facets and filters, and common synonyms fold into the usual names.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use unicode_normalization::UnicodeNormalization;

/// Longest channel name, in characters.
pub const MAX_CHANNEL_CHARS: usize = 32;

/// Synonyms, in English and French, folded into one name each (after normalisation).
const ALIASES: [(&str, &str); 16] = [
    ("phone", "call"),
    ("telephone", "call"),
    ("téléphone", "call"),
    ("voice", "call"),
    ("appel", "call"),
    ("e-mail", "email"),
    ("mail", "email"),
    ("courriel", "email"),
    ("live_chat", "chat"),
    ("livechat", "chat"),
    ("avis", "review"),
    ("reviews", "review"),
    ("questionnaire", "survey"),
    ("enquête", "survey"),
    ("social_media", "social"),
    ("support_ticket", "ticket"),
];

/// A normalised channel name: lower-case letters (any script), digits, `_` and `-`, at most
/// [`MAX_CHANNEL_CHARS`]; inner spaces become `_`; synonyms take their usual name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Channel(String);

impl Channel {
    /// What a verbatim that names no channel is filed under.
    pub fn other() -> Channel {
        Channel("other".to_string())
    }

    /// Normalises a client's channel name, or says why it cannot be one.
    pub fn parse(raw: &str) -> Result<Channel, String> {
        // Composed first: a decomposed "Te\u{301}le\u{301}phone" (macOS exports) is still a letter run.
        let composed: String = raw.nfc().collect();
        let name: String = composed.split_whitespace().collect::<Vec<_>>().join("_").to_lowercase();
        if name.is_empty() {
            return Err("a channel name is empty".to_string());
        }
        if name.chars().count() > MAX_CHANNEL_CHARS
            || !name.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "`{raw}` is not a channel name: at most {MAX_CHANNEL_CHARS} letters, digits, `_` or `-`"
            ));
        }
        let name = ALIASES.iter().find(|(alias, _)| *alias == name).map_or(name, |(_, usual)| usual.to_string());
        Ok(Channel(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Channel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Channel, D::Error> {
        Channel::parse(&String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(raw: &str) -> String {
        Channel::parse(raw).unwrap().as_str().to_string()
    }

    #[test]
    fn any_programme_channel_is_accepted_in_one_spelling() {
        assert_eq!(name("Email"), "email");
        assert_eq!(name(" SMS "), "sms");
        assert_eq!(name("in store"), "in_store");
        assert_eq!(name("Boutique"), "boutique");
        assert_eq!(name("app"), "app");
    }

    #[test]
    fn synonyms_fold_into_the_usual_names() {
        assert_eq!(name("Phone"), "call");
        assert_eq!(name("Téléphone"), "call");
        assert_eq!(name("Te\u{301}le\u{301}phone"), "call");
        assert_eq!(name("e-mail"), "email");
        assert_eq!(name("Live Chat"), "chat");
        assert_eq!(name("avis"), "review");
    }

    #[test]
    fn names_that_cannot_be_facets_are_refused() {
        for bad in ["", "  ", "a/b", "x".repeat(MAX_CHANNEL_CHARS + 1).as_str(), "e.mail", "<script>"] {
            assert!(Channel::parse(bad).is_err(), "{bad:?}");
        }
    }
}
