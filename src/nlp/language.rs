//! Language identification for routing: `fr`, `en`, or `other`.
//!
//! whatlang (trigram profiles) decides, among French, English and the five other languages
//! most often met in French and English customer feedback (German, Spanish, Italian,
//! Portuguese, Dutch): comparing against all of its 69 languages made detection cost three
//! times the sentiment model itself, for a decision that only needs fr / en / other. On short
//! or ambiguous texts, where whatlang says its guess is unreliable, we pick the likelier of
//! French and English: verbatim's customers write in those two, and a wrong `other` would
//! switch stemming off.

use std::sync::LazyLock;

use whatlang::{Detector, Lang};

pub const FRENCH: &str = "fr";
pub const ENGLISH: &str = "en";
pub use crate::domain::OTHER_LANGUAGE as OTHER;

/// Detects the language of `text` as `fr`, `en` or `other`.
pub fn detect(text: &str) -> &'static str {
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
    fn short_texts_fall_back_to_french_or_english() {
        assert_eq!(detect("Très déçu"), FRENCH);
        assert_eq!(detect("Great service"), ENGLISH);
    }
}
