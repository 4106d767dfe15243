//! Words with their byte ranges, lower-cased and accent-folded by Tantivy's filters (as the
//! search index and the hashed features fold them), for the analyses that reason word by word:
//! aspect tagging, clauses, stated causes.

use std::ops::Range;

use tantivy::tokenizer::{AsciiFoldingFilter, LowerCaser, SimpleTokenizer, TextAnalyzer, TokenStream};

/// A word of the text: lower-cased and accent-folded, with its byte range.
#[derive(Debug, Clone)]
pub struct Word {
    pub folded: String,
    pub bytes: Range<usize>,
    /// Punctuation stands between it and the word before.
    pub after_punctuation: bool,
}

/// The text's words, as the tagger and its training see them.
pub fn words(text: &str) -> Vec<Word> {
    let mut analyzer =
        TextAnalyzer::builder(SimpleTokenizer::default()).filter(LowerCaser).filter(AsciiFoldingFilter).build();
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    let mut previous_end = 0;
    while let Some(token) = stream.next() {
        let gap = &text[previous_end..token.offset_from];
        out.push(Word {
            folded: token.text.clone(),
            bytes: token.offset_from..token.offset_to,
            after_punctuation: gap.chars().any(|c| !c.is_whitespace() && c != '\'' && c != '’' && c != '-'),
        });
        previous_end = token.offset_to;
    }
    out
}
