//! Where a query matched inside a verbatim: a display snippet and exact offsets.
//!
//! Both come from Tantivy's snippet generator, which re-analyses the text with the field's
//! analyzer, so highlights agree with what matched (`livraisons` lights up for `livraison`).

use tantivy::query::Query;
use tantivy::snippet::SnippetGenerator;
use tantivy::Searcher;

use super::schema::{Fields, TextField};
use crate::domain::MAX_TEXT_CHARS;
use crate::search::Highlight;

/// Length of the display snippet, in characters.
const SNIPPET_CHARS: usize = 200;

pub struct Highlighter {
    /// Per text field: a generator for the short snippet, one spanning the whole text.
    generators: Vec<(TextField, SnippetGenerator, SnippetGenerator)>,
}

impl Highlighter {
    pub fn new(searcher: &Searcher, query: &dyn Query, fields: &Fields) -> tantivy::Result<Highlighter> {
        let generators = TextField::ALL
            .into_iter()
            .map(|text| {
                let field = fields.text(text);
                let mut short = SnippetGenerator::create(searcher, query, field)?;
                short.set_max_num_chars(SNIPPET_CHARS);
                let mut whole = SnippetGenerator::create(searcher, query, field)?;
                // Bytes, so 4 per character covers any text we accept.
                whole.set_max_num_chars(4 * MAX_TEXT_CHARS);
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
        let mut highlights = Vec::with_capacity(full.highlighted().len());
        let mut chars_before = 0;
        let mut scanned = 0;
        for range in full.highlighted() {
            let (start, end) = (base + range.start, base + range.end);
            chars_before += text[scanned..start].chars().count();
            let length = text[start..end].chars().count();
            highlights.push(Highlight { offset: chars_before, length });
            chars_before += length;
            scanned = end;
        }
        (html, highlights)
    }
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
