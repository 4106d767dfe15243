//! Splits text into words and gives each a Unicode-normalised, case-folded form.
//!
//! Tantivy's `SimpleTokenizer` cuts a word at any character that is not alphanumeric, so a
//! decomposed accent (`e` + U+0301, as some keyboards and exports write `é`) split `été` into
//! `e` and `te`, and `İstanbul` lower-cased to `i̇stanbul` (with a dot above) met nothing.
//! Here a word is a run of letters, digits and combining marks; its token text is the word
//! decomposed (NFKD, which also unfolds ligatures and full-width forms), stripped of its
//! combining marks and lower-cased, so every spelling of `été` becomes `ete` and `İstanbul`
//! becomes `istanbul`. Offsets stay those of the original text, so highlights point at what
//! the customer wrote.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

#[derive(Clone, Default)]
pub struct FoldingTokenizer {
    token: Token,
}

pub struct FoldingTokenStream<'a> {
    text: &'a str,
    /// Byte offset where the search for the next word starts.
    cursor: usize,
    token: &'a mut Token,
}

impl Tokenizer for FoldingTokenizer {
    type TokenStream<'a> = FoldingTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> FoldingTokenStream<'a> {
        self.token.reset();
        FoldingTokenStream { text, cursor: 0, token: &mut self.token }
    }
}

fn in_word(c: char) -> bool {
    c.is_alphanumeric() || is_combining_mark(c)
}

/// Writes the folded form of `word` into `out`: decomposed, marks removed, lower-cased.
fn fold_into(word: &str, out: &mut String) {
    out.clear();
    if word.is_ascii() {
        out.extend(word.chars().map(|c| c.to_ascii_lowercase()));
    } else {
        out.extend(word.nfkd().filter(|c| !is_combining_mark(*c)).flat_map(char::to_lowercase));
    }
}

impl TokenStream for FoldingTokenStream<'_> {
    fn advance(&mut self) -> bool {
        // Bounded by the text: each turn consumes at least one character.
        while self.cursor < self.text.len() {
            let rest = &self.text[self.cursor..];
            let Some(start) = rest.find(in_word) else {
                self.cursor = self.text.len();
                return false;
            };
            let end = rest[start..].find(|c: char| !in_word(c)).map_or(rest.len(), |e| start + e);
            let (from, to) = (self.cursor + start, self.cursor + end);
            self.cursor = to;
            fold_into(&self.text[from..to], &mut self.token.text);
            // A run of marks alone (a stray accent) folds to nothing: not a word.
            if !self.token.text.is_empty() {
                self.token.offset_from = from;
                self.token.offset_to = to;
                self.token.position = self.token.position.wrapping_add(1);
                return true;
            }
        }
        false
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<(String, usize, usize, usize)> {
        let mut tokenizer = FoldingTokenizer::default();
        let mut stream = tokenizer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            let t = stream.token();
            out.push((t.text.clone(), t.offset_from, t.offset_to, t.position));
        }
        out
    }

    #[test]
    fn composed_and_decomposed_accents_fold_alike_with_original_offsets() {
        let decomposed = "L'e\u{301}te\u{301} !";
        assert_eq!(
            tokens(decomposed),
            vec![("l".to_string(), 0, 1, 0), ("ete".to_string(), 2, decomposed.len() - 2, 1)]
        );
        assert_eq!(tokens("Été")[0].0, "ete");
    }

    #[test]
    fn dotted_capital_i_ligatures_and_stray_marks() {
        assert_eq!(tokens("İstanbul")[0].0, "istanbul");
        assert_eq!(tokens("ISTANBUL")[0].0, "istanbul");
        assert_eq!(tokens("ﬁnal")[0].0, "final");
        // A mark with no letter is skipped, and positions stay consecutive.
        let t = tokens("a \u{301} b");
        assert_eq!(t.iter().map(|t| (t.0.as_str(), t.3)).collect::<Vec<_>>(), [("a", 0), ("b", 1)]);
    }
}
