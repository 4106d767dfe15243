//! Where a query matched inside a verbatim: a display snippet and exact offsets.
//!
//! Both come from Tantivy's snippet generator, which re-analyses the text with the field's
//! analyzer, so highlights agree with what matched (`livraisons` lights up for `livraison`).
//! Offsets come from the tokenizer, which keeps them in the stored text even where folding
//! changed the word (`e` + U+0301 is two code points of the highlight).

use std::collections::{BTreeMap, BTreeSet};

use tantivy::schema::Field;
use tantivy::snippet::SnippetGenerator;
use tantivy::{Score, Searcher, Term};

use super::query::TextQuery;
use super::schema::{Fields, TextField};
use crate::domain::MAX_TEXT_CHARS;
use crate::nlp::offsets::CodePoints;
use crate::search::Highlight;

/// Length of the display snippet, in characters.
const SNIPPET_CHARS: usize = 200;
/// Words a prefix may light up, per index segment, so that `a*` cannot list a whole
/// dictionary; a word past these still matches but is not highlighted.
const MAX_PREFIX_WORDS: usize = 256;

pub struct Highlighter {
    /// Per text field: a generator for the short snippet, one spanning the whole text.
    generators: Vec<(TextField, SnippetGenerator, SnippetGenerator)>,
}

impl Highlighter {
    pub fn new(searcher: &Searcher, query: &TextQuery, fields: &Fields) -> tantivy::Result<Highlighter> {
        let generators = TextField::ALL
            .into_iter()
            .map(|text| {
                let field = fields.text(text);
                let words = words_to_highlight(searcher, query, field)?;
                let analyzer = searcher.index().tokenizer_for_field(field)?;
                let short = SnippetGenerator::new(words.clone(), analyzer.clone(), field, SNIPPET_CHARS);
                // Bytes, so 4 per character covers any text we accept.
                let whole = SnippetGenerator::new(words, analyzer, field, 4 * MAX_TEXT_CHARS);
                Ok((text, short, whole))
            })
            .collect::<tantivy::Result<_>>()?;
        Ok(Highlighter { generators })
    }

    /// The HTML snippet (escaped, matches in `<em>`) and the matched spans in code points.
    pub fn highlight(&self, language: Option<&str>, text: &str) -> (String, Vec<Highlight>) {
        let which = TextField::for_language(language);
        let (_, short, whole) = self.generators.iter().find(|(t, _, _)| *t == which).expect("every text field");
        let mut snippet = short.snippet(text);
        let html = if snippet.is_empty() {
            escape_html(&text.chars().take(SNIPPET_CHARS).collect::<String>())
        } else {
            snippet.set_snippet_prefix_postfix("<em>", "</em>");
            snippet.to_html()
        };
        let full = whole.snippet(text);
        let base = full.fragment_range().start;
        let mut points = CodePoints::new(text);
        let highlights = full
            .highlighted()
            .iter()
            .map(|range| {
                let (offset, length) = points.span(base + range.start..base + range.end);
                Highlight { offset, length }
            })
            .collect();
        (html, highlights)
    }
}

/// What `SnippetGenerator::create` would take (the query's terms on `field`, rarer ones
/// weighing more), plus the indexed words each prefix matched, which a prefix query does not
/// list as terms.
fn words_to_highlight(
    searcher: &Searcher,
    query: &TextQuery,
    field: Field,
) -> tantivy::Result<BTreeMap<String, Score>> {
    let mut terms = BTreeSet::new();
    query.query.query_terms(&mut |term, _| {
        if term.field() == field {
            terms.insert(term.clone());
        }
    });
    for (_, prefix) in query.prefixes.iter().filter(|(f, _)| *f == field) {
        for segment in searcher.segment_readers() {
            let index = segment.inverted_index(field)?;
            let mut words = index.terms().range().ge(prefix.as_bytes()).into_stream()?;
            let mut taken = 0;
            while taken < MAX_PREFIX_WORDS && words.advance() && words.key().starts_with(prefix.as_bytes()) {
                if let Ok(word) = std::str::from_utf8(words.key()) {
                    terms.insert(Term::from_field_text(field, word));
                }
                taken += 1;
            }
        }
    }
    let mut weights = BTreeMap::new();
    for term in terms {
        let Some(word) = term.value().as_str().map(str::to_string) else { continue };
        let doc_freq = searcher.doc_freq(&term)?;
        if doc_freq > 0 {
            weights.insert(word, 1.0 / (1.0 + doc_freq as Score));
        }
    }
    Ok(weights)
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
