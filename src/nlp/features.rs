//! Hashed n-gram features for the lightweight models.
//!
//! A bag of words cannot tell "pas mal du tout" from "mal", or "bien mais trop cher" from
//! "bien". Three cheap marks fix most of that:
//! - **negation scope**: words after a negator (`pas`, `jamais`, `n'`, `not`, `never`, `n't`…),
//!   until punctuation or five words, are *polarity-shifted*: their features carry the
//!   [`FLIPPED`] bit, and the model reads their weights with negative and positive swapped,
//!   so `pas déçu` draws on all the evidence about `déçu`, reversed;
//! - **contrast**: words after `mais`, `but`, `however`… also emit a contrast-marked copy,
//!   so the model can weigh what follows the turn, where the verdict usually is;
//! - **word bigrams and character 3–4-grams** catch idioms ("not bad") and spelling variants;
//! - **lexicon strength**: a word or emoticon in the prior-polarity [`lexicon`] also emits its
//!   rounded rating (−3…+3) as a feature, negation- and contrast-marked like the word, so
//!   words never seen in training still count.
//!
//! Words are lower-cased and accent-folded (`déçu` = `decu`) by Tantivy's filters, the same
//! as in the search index. Each feature is hashed (FNV-1a) into a fixed number of buckets.

use tantivy::tokenizer::{AsciiFoldingFilter, LowerCaser, SimpleTokenizer, TextAnalyzer, TokenStream};

use crate::nlp::lexicon;

/// Set on a feature index whose weights are read with negative and positive swapped.
pub const FLIPPED: u32 = 1 << 31;
/// Words after a negator that take the negation mark, at most.
const NEGATION_SCOPE: usize = 5;
const NEGATORS: [&str; 25] = [
    "ne", "n", "pas", "jamais", "rien", "aucun", "aucune", "ni", "sans", "non", "not", "no", "never", "nothing",
    "nobody", "none", "neither", "nor", "without", "cannot", "t", "dont", "didnt", "doesnt", "isnt",
];
const CONTRASTS: [&str; 9] =
    ["mais", "but", "however", "cependant", "pourtant", "neanmoins", "toutefois", "although", "though"];

/// Feature kinds, hashed in so that a word and a bigram never share a name.
#[derive(Clone, Copy)]
#[repr(u8)]
enum Kind {
    Word = 1,
    ContrastWord,
    Bigram,
    CharGram,
    Symbol,
    LexiconStrength,
    ContrastLexiconStrength,
}

/// Turns a text into bucket indices (with repeats) for a model of `2^buckets_log2` buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureHasher {
    pub buckets_log2: u32,
}

impl FeatureHasher {
    pub fn buckets(&self) -> usize {
        1 << self.buckets_log2
    }

    pub fn features(&self, text: &str) -> Vec<u32> {
        let mask = (1u64 << self.buckets_log2) - 1;
        let mut out = Vec::with_capacity(text.len() * 4);
        let bucket = |hash: u64| (hash & mask) as u32;

        let text = &*without_handles_and_links(text);
        let mut analyzer =
            TextAnalyzer::builder(SimpleTokenizer::default()).filter(LowerCaser).filter(AsciiFoldingFilter).build();
        let mut stream = analyzer.token_stream(text);
        let mut previous: Option<String> = None;
        let mut previous_end = 0;
        let mut negated_left: usize = 0;
        let mut after_contrast = false;
        while let Some(token) = stream.next() {
            let gap = &text[previous_end..token.offset_from];
            if gap.contains(['.', '!', '?', ';']) {
                after_contrast = false;
                negated_left = 0;
            } else if gap.contains([',', ':', '(', ')']) {
                negated_left = 0;
            }
            previous_end = token.offset_to;
            let word = token.text.as_str();

            let flip = if negated_left > 0 { FLIPPED } else { 0 };
            out.push(bucket(hash(Kind::Word, &[word.as_bytes()])) | flip);
            if after_contrast {
                out.push(bucket(hash(Kind::ContrastWord, &[word.as_bytes()])));
            }
            if let Some(previous) = &previous {
                out.push(bucket(hash(Kind::Bigram, &[previous.as_bytes(), b" ", word.as_bytes()])));
            }
            if let Some(strength) = lexicon::word_valence(word).and_then(strength_of) {
                out.push(bucket(hash(Kind::LexiconStrength, &[&[strength]])) | flip);
                if after_contrast {
                    out.push(bucket(hash(Kind::ContrastLexiconStrength, &[&[strength]])));
                }
            }
            let padded = format!("<{word}>");
            let bytes = padded.as_bytes();
            for n in 3..=4 {
                for gram in bytes.windows(n) {
                    out.push(bucket(hash(Kind::CharGram, &[gram])) | flip);
                }
            }

            negated_left = negated_left.saturating_sub(1);
            if NEGATORS.contains(&word) {
                negated_left = NEGATION_SCOPE;
            }
            if CONTRASTS.contains(&word) {
                after_contrast = true;
                negated_left = 0;
            }
            previous = Some(token.text.clone());
        }
        for strength in text.split_whitespace().filter_map(lexicon::emoticon_valence).filter_map(strength_of) {
            out.push(bucket(hash(Kind::LexiconStrength, &[&[strength]])));
        }
        // Exclamation, question marks and emoji carry tone that the word tokenizer drops.
        for symbol in text.chars().filter(|c| !c.is_alphanumeric() && !c.is_whitespace() && !".,;:'\"-()".contains(*c))
        {
            let mut buffer = [0u8; 4];
            out.push(bucket(hash(Kind::Symbol, &[symbol.encode_utf8(&mut buffer).as_bytes()])));
        }
        out
    }
}

/// A lexicon rating (−4…+4) rounded to −3…+3 and offset to a byte; near-neutral words emit nothing.
fn strength_of(valence: f32) -> Option<u8> {
    let rounded = valence.round().clamp(-3.0, 3.0) as i8;
    (rounded != 0).then_some((rounded + 3) as u8)
}

/// `@handles` and URLs name nobody's feelings, and a URL's `t.co` would read as `n't`.
pub fn without_handles_and_links(text: &str) -> std::borrow::Cow<'_, str> {
    let noise =
        |w: &str| w.starts_with('@') || w.starts_with("http://") || w.starts_with("https://") || w.starts_with("www.");
    if !text.split_whitespace().any(noise) {
        return text.into();
    }
    text.split_whitespace().filter(|w| !noise(w)).collect::<Vec<_>>().join(" ").into()
}

/// FNV-1a over the kind and the parts.
fn hash(kind: Kind, parts: &[&[u8]]) -> u64 {
    fnv1a(std::iter::once(&[kind as u8][..]).chain(parts.iter().copied()))
}

/// FNV-1a, 64 bits, over the parts in order: fast, and stable across platforms, runs and
/// releases (unlike the standard library's hasher), so hashed models keep their meaning.
pub fn fnv1a<'p>(parts: impl IntoIterator<Item = &'p [u8]>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in parts.into_iter().flat_map(|p| p.iter().copied()) {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASHER: FeatureHasher = FeatureHasher { buckets_log2: 20 };

    fn word(kind: Kind, w: &str) -> u32 {
        (hash(kind, &[w.as_bytes()]) & ((1 << 20) - 1)) as u32
    }

    #[test]
    fn negation_marks_the_following_words_until_punctuation() {
        let f = HASHER.features("pas mal du tout. Mal");
        assert!(f.contains(&(word(Kind::Word, "mal") | FLIPPED)));
        assert!(f.contains(&word(Kind::Word, "mal")), "the second `Mal` is outside the scope");
        let g = HASHER.features("I don't like it");
        assert!(g.contains(&(word(Kind::Word, "like") | FLIPPED)));
    }

    #[test]
    fn contrast_copies_what_follows_the_turn() {
        let f = HASHER.features("bien mais trop cher");
        assert!(f.contains(&word(Kind::ContrastWord, "cher")));
        assert!(!f.contains(&word(Kind::ContrastWord, "bien")));
    }

    #[test]
    fn lexicon_words_and_emoticons_add_their_strength_negated_words_flipped() {
        let strength = |kind: Kind, s: u8| (hash(kind, &[&[s]]) & ((1 << 20) - 1)) as u32;
        let loved = HASHER.features("loved it :)");
        assert!(loved.contains(&strength(Kind::LexiconStrength, 6)), "love-d is not in the lexicon, loved is");
        assert!(loved.contains(&strength(Kind::LexiconStrength, 5)), "the emoticon");
        let not_happy = HASHER.features("not happy");
        assert!(not_happy.contains(&(strength(Kind::LexiconStrength, 6) | FLIPPED)));
        let plain = HASHER.features("the table");
        assert!((0..=6).all(|s| !plain.contains(&strength(Kind::LexiconStrength, s))));
    }

    #[test]
    fn handles_and_links_are_dropped() {
        assert_eq!(HASHER.features("@AirFrance vol annulé https://t.co/x1"), HASHER.features("vol annulé"));
    }

    #[test]
    fn accents_and_case_do_not_matter() {
        assert_eq!(HASHER.features("Très DÉÇU"), HASHER.features("tres decu"));
    }
}
