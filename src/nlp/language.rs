//! Language identification for routing: `fr`, `en`, or `other`.
//!
//! whatlang (trigram profiles) decides, among French, English and the five other languages
//! most often met in French and English customer feedback (German, Spanish, Italian,
//! Portuguese, Dutch): comparing against all of its 69 languages made detection cost three
//! times the sentiment model itself, for a decision that only needs fr / en / other. On short
//! or ambiguous texts, where whatlang says its guess is unreliable, we pick the likelier of
//! French and English: verbatim's customers write in those two, and a wrong `other` would
//! switch stemming off. Before any of that, a text whose function words are plainly French or
//! plainly English is taken as such ([`by_function_words`]): that settles most customer texts
//! at a fraction of the cost.

use std::sync::LazyLock;

use whatlang::{Detector, Lang};

pub const FRENCH: &str = "fr";
pub const ENGLISH: &str = "en";
pub use crate::domain::OTHER_LANGUAGE as OTHER;

/// Function words that only French uses among the seven candidate languages (`des`, `du`,
/// `je`, `les`, `pas` and `mais` are German, Spanish, Dutch or Portuguese words too, so they
/// are not here).
const FRENCH_ONLY: [&str; 14] =
    ["est", "et", "avec", "pour", "très", "vous", "nous", "une", "sur", "au", "aux", "cette", "été", "sont"];
/// The same for English (`was`, `is`, `of` and `i` are German or Dutch too).
const ENGLISH_ONLY: [&str; 18] = [
    "the", "and", "with", "this", "that", "my", "you", "it", "for", "have", "not", "but", "are", "they", "your",
    "very", "from", "been",
];

/// French or English when the text's function words say so plainly: two or more distinct words
/// of one language's own, none of the other's. Most customer texts do, and reading their words costs a
/// fraction of trigram profiles; the others go to whatlang.
fn by_function_words(text: &str) -> Option<&'static str> {
    let (mut french, mut english): (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
    let mut lower = String::new();
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty() && w.len() <= 6) {
        lower.clear();
        lower.extend(word.chars().flat_map(char::to_lowercase));
        for (list, found) in [(&FRENCH_ONLY[..], &mut french), (&ENGLISH_ONLY[..], &mut english)] {
            if let Some(word) = list.iter().find(|w| **w == lower) {
                if !found.contains(word) {
                    found.push(word);
                }
            }
        }
    }
    match (french.len(), english.len()) {
        (2.., 0) => Some(FRENCH),
        (0, 2..) => Some(ENGLISH),
        _ => None,
    }
}

/// Detects the language of `text` as `fr`, `en` or `other`.
pub fn detect(text: &str) -> &'static str {
    if let Some(language) = by_function_words(text) {
        return language;
    }
    static CANDIDATES: LazyLock<Detector> = LazyLock::new(|| {
        Detector::with_allowlist(vec![Lang::Fra, Lang::Eng, Lang::Deu, Lang::Spa, Lang::Ita, Lang::Por, Lang::Nld])
    });
    static FRENCH_OR_ENGLISH: LazyLock<Detector> =
        LazyLock::new(|| Detector::with_allowlist(vec![Lang::Fra, Lang::Eng]));
    match CANDIDATES.detect(text) {
        Some(info) if info.lang() == Lang::Fra => FRENCH,
        Some(info) if info.lang() == Lang::Eng => ENGLISH,
        Some(info) if info.is_reliable() => OTHER,
        _ => match FRENCH_OR_ENGLISH.detect_lang(text) {
            Some(Lang::Fra) => FRENCH,
            Some(Lang::Eng) => ENGLISH,
            _ => OTHER,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_french_english_and_other() {
        assert_eq!(detect("La livraison est arrivée en retard et le colis était abîmé"), FRENCH);
        assert_eq!(detect("The delivery was late and the parcel was damaged"), ENGLISH);
        assert_eq!(detect("Die Lieferung kam zu spät und das Paket war beschädigt"), OTHER);
        assert_eq!(detect("El pedido llegó tarde y el paquete estaba dañado"), OTHER);
    }

    #[test]
    fn plain_function_words_decide_and_mixed_ones_do_not() {
        assert_eq!(by_function_words("Les frais sont trop élevés pour ce service"), Some(FRENCH));
        assert_eq!(by_function_words("The app crashes and my order is lost"), Some(ENGLISH));
        // Spanish, Italian, German: none of the two lists' words.
        assert_eq!(by_function_words("El pedido llegó tarde y el paquete estaba dañado"), None);
        assert_eq!(by_function_words("Il pacco è arrivato in ritardo e non funziona"), None);
        assert_eq!(by_function_words("Das Paket war beschädigt und du hast nichts gesagt"), None);
        assert_eq!(by_function_words("Les pedí ayuda y no les importó"), None);
        // One word twice is not two words.
        assert_eq!(by_function_words("Pour pour moi"), None);
        // French with an English word in it: whatlang decides.
        assert_eq!(by_function_words("Le service est top, vraiment the best"), None);
    }

    #[test]
    fn short_texts_fall_back_to_french_or_english() {
        assert_eq!(detect("Très déçu"), FRENCH);
        assert_eq!(detect("Great service"), ENGLISH);
    }
}
