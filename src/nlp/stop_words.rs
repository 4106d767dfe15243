//! Words that say nothing about what a text is about, French and English together (verbatims
//! mix them, and neither list holds a content word of the other language): NLTK's lists,
//! through the `stop-words` crate, and the French determiners and adverbs they lack, which
//! otherwise head key phrases ("cette boutique", "très déçu"). Key phrases and topic names
//! skip them.

use std::collections::HashSet;
use std::sync::LazyLock;

/// What NLTK's French list lacks.
const FRENCH_SUPPLEMENT: [&str; 14] = [
    "cette", "cet", "ceci", "cela", "ça", "très", "trop", "tout", "tous", "toute", "toutes", "aussi", "déjà",
    "vraiment",
];

static STOP_WORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    stop_words::get("en").iter().chain(stop_words::get("fr")).chain(FRENCH_SUPPLEMENT.iter()).copied().collect()
});

/// Whether the lower-cased `word` is a stop word.
pub fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.contains(word)
}

/// Whether the lower-cased `word` can name a theme: not a stop word, two letters at least, and
/// no digit ("2", "x" and "42eur" say nothing about a theme).
pub fn is_content_word(word: &str) -> bool {
    !is_stop_word(word)
        && word.chars().filter(|c| c.is_alphabetic()).count() >= 2
        && !word.chars().any(|c| c.is_ascii_digit())
}
