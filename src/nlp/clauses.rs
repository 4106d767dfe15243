//! Clauses: the parts of a sentence that carry one judgement each. "Great product but delivery
//! was a disaster" holds two; an aspect takes the polarity of its own clause, not the
//! sentence's, and a stated cause ends where its clause does.
//!
//! A clause ends at a sentence end, a semicolon or a line break, before a contrast word
//! (`but`, `mais`, `however`, `alors que`…), and at a comma when both sides hold at least
//! [`COMMA_CLAUSE_WORDS`] words (so "the pizza, the pasta and the wine were great" stays one).

use std::ops::Range;

use super::words::{words, Word};

/// Words each side of a comma needs for the comma to end a clause.
const COMMA_CLAUSE_WORDS: usize = 3;
/// Folded words that open a new clause with a turn of judgement.
const CONTRASTS: [&[&str]; 14] = [
    &["but"],
    &["however"],
    &["although"],
    &["though"],
    &["whereas"],
    &["except"],
    &["mais"],
    &["cependant"],
    &["pourtant"],
    &["toutefois"],
    &["sauf"],
    &["neanmoins"],
    &["alors", "que"],
    &["tandis", "que"],
];

/// The clauses of `text`, as byte ranges from a word's start to a word's end, in order.
pub fn clauses(text: &str) -> Vec<Range<usize>> {
    let words = words(text);
    let mut out: Vec<Range<usize>> = Vec::new();
    let mut start = 0;
    for i in 0..words.len() {
        if i > start
            && (hard_break(text, &words, i) || starts_contrast(&words, i) || comma_break(text, &words, start, i))
        {
            out.push(words[start].bytes.start..words[i - 1].bytes.end);
            start = i;
        }
    }
    if start < words.len() {
        out.push(words[start].bytes.start..words[words.len() - 1].bytes.end);
    }
    out
}

/// The gap before word `i` ends a sentence or a clause outright.
fn hard_break(text: &str, words: &[Word], i: usize) -> bool {
    gap(text, words, i).contains(['.', '!', '?', ';', '\n', '…'])
}

fn comma_break(text: &str, words: &[Word], start: usize, i: usize) -> bool {
    if !gap(text, words, i).contains(',') || i - start < COMMA_CLAUSE_WORDS {
        return false;
    }
    let after = words[i..].iter().enumerate().take_while(|(k, _)| *k == 0 || !hard_break(text, words, i + k));
    after.take(COMMA_CLAUSE_WORDS).count() >= COMMA_CLAUSE_WORDS
}

/// Word `i` begins a contrast cue.
pub fn starts_contrast(words: &[Word], i: usize) -> bool {
    CONTRASTS.iter().any(|cue| starts_with_cue(words, i, cue))
}

/// Words `i..` spell `cue`.
pub fn starts_with_cue(words: &[Word], i: usize, cue: &[&str]) -> bool {
    cue.iter().enumerate().all(|(k, part)| words.get(i + k).is_some_and(|w| w.folded == *part))
}

fn gap<'t>(text: &'t str, words: &[Word], i: usize) -> &'t str {
    let from = if i == 0 { 0 } else { words[i - 1].bytes.end };
    &text[from..words[i].bytes.start]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<&str> {
        clauses(text).into_iter().map(|r| &text[r]).collect()
    }

    #[test]
    fn splits_at_contrasts_and_long_comma_clauses_not_lists() {
        assert_eq!(
            texts("Great product but delivery was a disaster"),
            ["Great product", "but delivery was a disaster"]
        );
        assert_eq!(
            texts("Le produit est super, la livraison était très lente. Déçu"),
            ["Le produit est super", "la livraison était très lente", "Déçu"]
        );
        assert_eq!(
            texts("The pizza, the pasta and the wine were great"),
            ["The pizza, the pasta and the wine were great"]
        );
        assert_eq!(
            texts("Bon accueil alors que le repas était froid"),
            ["Bon accueil", "alors que le repas était froid"]
        );
    }
}
