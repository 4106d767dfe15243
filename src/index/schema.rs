//! The index layout and its text analyzers.
//!
//! Text goes into one of three fields according to the verbatim's language, each with its
//! own analyzer (Unicode normalisation and case folding, ASCII folding, then Snowball
//! stemming, so `Livraisons`, `livraison`, `très`, `tres` and a decomposed `tre\u{300}s`
//! meet). A query runs against all three: each field analyses the query words its own way,
//! so one search box serves French and English at once.

use tantivy::schema::{
    DateOptions, DateTimePrecision, FacetOptions, Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions,
    FAST, INDEXED, STRING,
};
use tantivy::tokenizer::{AsciiFoldingFilter, Language, RemoveLongFilter, Stemmer, TextAnalyzer};
use tantivy::Index;

use super::tokenizer::FoldingTokenizer;

/// Tokens longer than this are noise (URLs, hashes) and would bloat the term dictionary.
const MAX_TOKEN_BYTES: usize = 40;

/// The analysed text fields, one per analyzer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextField {
    French,
    English,
    /// Any other or unknown language: folded and lower-cased, not stemmed.
    Plain,
}

impl TextField {
    pub const ALL: [TextField; 3] = [TextField::French, TextField::English, TextField::Plain];

    pub fn for_language(language: Option<&str>) -> TextField {
        match language {
            Some("fr") => TextField::French,
            Some("en") => TextField::English,
            _ => TextField::Plain,
        }
    }

    pub fn field_name(self) -> &'static str {
        match self {
            TextField::French => "text_fr",
            TextField::English => "text_en",
            TextField::Plain => "text",
        }
    }

    /// The version suffix is part of the schema: changing what an analyzer does means a new
    /// name, so `SearchIndex::open` sees another schema and rebuilds the index from the store.
    fn analyzer_name(self) -> &'static str {
        match self {
            TextField::French => "verbatim_fr_v2",
            TextField::English => "verbatim_en_v2",
            TextField::Plain => "verbatim_plain_v2",
        }
    }

    pub fn analyzer(self) -> TextAnalyzer {
        // Fold before stemming: customers often type without accents, and the stemmer must
        // see `très` and `tres` alike (stemmed first, they become `tres` and `tre`).
        // The tokenizer folds case and accents Unicode-wide; ASCII folding then catches the
        // letters with no decomposition (`ø`, `ß`, `œ`).
        let folded = TextAnalyzer::builder(FoldingTokenizer::default())
            .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
            .filter(AsciiFoldingFilter)
            .dynamic();
        match self {
            TextField::French => folded.filter_dynamic(Stemmer::new(Language::French)),
            TextField::English => folded.filter_dynamic(Stemmer::new(Language::English)),
            TextField::Plain => folded,
        }
        .build()
    }
}

/// Handles on every field, resolved once.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    pub id: Field,
    pub customer_id: Field,
    pub language: Field,
    pub channel: Field,
    pub created_at: Field,
    pub nps: Field,
    pub csat: Field,
    pub ces: Field,
    /// Multi-valued `key=value` terms, one per metadata entry.
    pub metadata: Field,
    pub sentiment: Field,
    /// P(positive) - P(negative), in [-1, 1].
    pub sentiment_score: Field,
    /// The topic id under the model in use (`-1`: near no topic).
    pub topic: Field,
    /// The ids of the root causes it states, under the model in use (multi-valued).
    pub root_cause: Field,
    /// The aspects it judges, each as its key (`livraison`) and its key with its polarity
    /// (`livraison:negative`), multi-valued.
    pub aspect: Field,
    /// The emotions it expresses (`anger`), multi-valued.
    pub emotion: Field,
    /// Hierarchical facets (`/channel/email`, `/language/fr`, `/nps_group/detractor`,
    /// `/sentiment/negative`, `/topic/12`, `/root_cause/3`, `/aspect/livraison`,
    /// `/emotion/anger`) for counts.
    pub facets: Field,
    texts: [Field; 3],
}

impl Fields {
    pub fn text(&self, which: TextField) -> Field {
        self.texts[TextField::ALL.iter().position(|t| *t == which).expect("listed")]
    }

    pub fn texts(&self) -> Vec<Field> {
        self.texts.to_vec()
    }

    pub fn resolve(schema: &Schema) -> tantivy::Result<Fields> {
        let f = |name: &str| schema.get_field(name);
        Ok(Fields {
            id: f("id")?,
            customer_id: f("customer_id")?,
            language: f("language")?,
            channel: f("channel")?,
            created_at: f("created_at")?,
            nps: f("nps")?,
            csat: f("csat")?,
            ces: f("ces")?,
            metadata: f("metadata")?,
            sentiment: f("sentiment")?,
            sentiment_score: f("sentiment_score")?,
            topic: f("topic")?,
            root_cause: f("root_cause")?,
            aspect: f("aspect")?,
            emotion: f("emotion")?,
            facets: f("facets")?,
            texts: [f("text_fr")?, f("text_en")?, f("text")?],
        })
    }
}

/// The schema every index of this version has. Any change here means a reindex, which
/// `SearchIndex::open` does by itself when the schema on disk differs.
pub fn schema() -> Schema {
    let mut builder = Schema::builder();
    builder.add_text_field("id", STRING | FAST);
    // Every filter and facet is also a fast (columnar) field, for sorting and aggregations.
    builder.add_text_field("customer_id", STRING | FAST);
    builder.add_text_field("language", STRING | FAST);
    builder.add_text_field("channel", STRING | FAST);
    builder.add_date_field("created_at", DateOptions::from(INDEXED | FAST).set_precision(DateTimePrecision::Seconds));
    for score in ["nps", "csat", "ces"] {
        builder.add_u64_field(score, INDEXED | FAST);
    }
    builder.add_text_field("metadata", STRING | FAST);
    builder.add_text_field("sentiment", STRING | FAST);
    builder.add_f64_field("sentiment_score", INDEXED | FAST);
    builder.add_text_field("topic", STRING | FAST);
    builder.add_text_field("root_cause", STRING | FAST);
    builder.add_text_field("aspect", STRING | FAST);
    builder.add_text_field("emotion", STRING | FAST);
    builder.add_facet_field("facets", FacetOptions::default());
    for text in TextField::ALL {
        let indexing = TextFieldIndexing::default()
            .set_tokenizer(text.analyzer_name())
            .set_index_option(IndexRecordOption::WithFreqsAndPositions);
        builder.add_text_field(text.field_name(), TextOptions::default().set_indexing_options(indexing));
    }
    builder.build()
}

pub fn register_analyzers(index: &Index) {
    for text in TextField::ALL {
        index.tokenizers().register(text.analyzer_name(), text.analyzer());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(field: TextField, text: &str) -> Vec<String> {
        let mut analyzer = field.analyzer();
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while let Some(token) = stream.next() {
            out.push(token.text.clone());
        }
        out
    }

    #[test]
    fn french_plural_case_and_accents_meet() {
        let a = tokens(TextField::French, "Livraisons très rapides, déçue");
        let b = tokens(TextField::French, "livraison tres rapide decue");
        assert_eq!(a, b);
    }

    #[test]
    fn english_stems_and_plain_only_folds() {
        assert_eq!(tokens(TextField::English, "Deliveries delayed"), tokens(TextField::English, "delivery delay"));
        assert_eq!(tokens(TextField::Plain, "Café"), vec!["cafe"]);
    }

    #[test]
    fn decomposed_accents_and_dotted_capital_i_meet_their_plain_forms() {
        for field in TextField::ALL {
            assert_eq!(tokens(field, "e\u{301}te\u{301}"), tokens(field, "ete"), "{field:?}");
            assert_eq!(tokens(field, "été"), tokens(field, "ETE"), "{field:?}");
            assert_eq!(tokens(field, "İstanbul"), tokens(field, "istanbul"), "{field:?}");
            assert_eq!(tokens(field, "Straße Œuvre"), tokens(field, "strasse oeuvre"), "{field:?}");
        }
    }
}
