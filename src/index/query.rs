//! Turns a [`SearchRequest`] into a Tantivy query: the analyst's text, AND every filter.
//!
//! The text goes through Tantivy's query grammar, after the size checks of
//! [`super::limits`]; its tree is then rewritten so that `word*` is a prefix match (Tantivy
//! would look the word up whole), and only then built into a query.

use std::ops::Bound;

use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, QueryParser, QueryParserError, RangeQuery, TermQuery};
use tantivy::query_grammar::{self, Delimiter, UserInputAst, UserInputLeaf, UserInputLiteral};
use tantivy::schema::{Field, IndexRecordOption, Schema};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{DateTime, Index, Term};

use super::limits;
use super::schema::{Fields, TextField};
use super::IndexError;
use crate::search::{CategoryRule, ScoreRange, SearchRequest};

/// The analyst's text as a query, and the prefixes it asked for.
pub struct TextQuery {
    pub query: Box<dyn Query>,
    /// `(field, prefix)` for every `word*`: highlighting expands them to the words they matched.
    pub prefixes: Vec<(Field, String)>,
}

/// Parses the text part. Words are ANDed (what analysts expect from a search box); Tantivy's
/// syntax gives phrases, `OR`, `-exclusion` and `field:value`; `word*` matches a prefix.
pub fn text_query(index: &Index, fields: &Fields, text: Option<&str>) -> Result<TextQuery, IndexError> {
    let Some(text) = text else { return Ok(TextQuery { query: Box::new(AllQuery), prefixes: Vec::new() }) };
    limits::check_text(text)?;
    let ast = query_grammar::parse_query(text)
        .map_err(|_| IndexError::InvalidQuery(QueryParserError::SyntaxError(text.to_string()).to_string()))?;
    limits::check_clauses(&ast)?;
    let mut prefixes = Vec::new();
    let ast = rewrite_prefixes(ast, fields, &index.schema(), &mut prefixes)?;
    let mut parser = QueryParser::for_index(index, fields.texts());
    parser.set_conjunction_by_default();
    // The prefix matches built below are regular expressions; the analyst's own are refused.
    parser.allow_regexes();
    let query = parser.build_query_from_user_input_ast(ast).map_err(|err| IndexError::InvalidQuery(err.to_string()))?;
    Ok(TextQuery { query, prefixes })
}

/// Replaces every `word*` leaf with prefix matches, and refuses `/regex/` leaves and
/// `field:*` where the field has no column to say whether a verbatim has a value (Tantivy
/// would fail only when the search runs).
fn rewrite_prefixes(
    ast: UserInputAst,
    fields: &Fields,
    schema: &Schema,
    prefixes: &mut Vec<(Field, String)>,
) -> Result<UserInputAst, IndexError> {
    Ok(match ast {
        UserInputAst::Clause(children) => UserInputAst::Clause(
            children
                .into_iter()
                .map(|(occur, child)| Ok((occur, rewrite_prefixes(child, fields, schema, prefixes)?)))
                .collect::<Result<_, IndexError>>()?,
        ),
        UserInputAst::Boost(inner, boost) => {
            UserInputAst::Boost(Box::new(rewrite_prefixes(*inner, fields, schema, prefixes)?), boost)
        }
        UserInputAst::Leaf(leaf) => match *leaf {
            UserInputLeaf::Regex { .. } => {
                return Err(IndexError::InvalidQuery(
                    "regular expressions are not supported; write `word*` to match a prefix".to_string(),
                ))
            }
            UserInputLeaf::Literal(literal) => prefix_match(literal, fields, prefixes),
            UserInputLeaf::Exists { field }
                if !schema.find_field(&field).is_some_and(|(f, _)| schema.get_field_entry(f).is_fast()) =>
            {
                return Err(IndexError::InvalidQuery(format!(
                    "`{field}:*` cannot be searched: `{field}` is not a field that records whether a verbatim has a value"
                )))
            }
            other => UserInputAst::Leaf(Box::new(other)),
        },
    })
}

/// `livr*` (or `"livr"*`) as, on each text field it targets, a match of the indexed words
/// (stems) that start with its folded form or with its own stem. The folded form alone would
/// miss `livraisons*` (indexed as `livraison`) and `happy*` (indexed as `happi`); the stem
/// alone would miss `happyhour` for `happy*`. Several words (`l'appli*`) keep Tantivy's
/// phrase-prefix meaning.
fn prefix_match(literal: UserInputLiteral, fields: &Fields, prefixes: &mut Vec<(Field, String)>) -> UserInputAst {
    let unchanged = |literal| UserInputAst::Leaf(Box::new(UserInputLeaf::Literal(literal)));
    let word = match (literal.delimiter, literal.prefix, literal.phrase.strip_suffix('*')) {
        (Delimiter::None, false, Some(word)) if !word.is_empty() && !word.contains('*') => word.to_string(),
        (Delimiter::SingleQuotes | Delimiter::DoubleQuotes, true, _) => literal.phrase.clone(),
        _ => return unchanged(literal),
    };
    let targets: Vec<TextField> = TextField::ALL
        .into_iter()
        .filter(|text| literal.field_name.as_deref().is_none_or(|name| name == text.field_name()))
        .collect();
    let folded = analyse(TextField::Plain.analyzer(), &word);
    if targets.is_empty() || folded.is_empty() {
        return unchanged(literal);
    }
    if folded.len() > 1 {
        return unchanged(UserInputLiteral {
            phrase: word,
            delimiter: Delimiter::DoubleQuotes,
            prefix: true,
            ..literal
        });
    }
    let mut clauses = Vec::new();
    for text in targets {
        let mut starts = folded.clone();
        starts.extend(analyse(text.analyzer(), &word).into_iter().filter(|stem| *stem != folded[0]));
        for start in starts {
            let pattern = format!("{}.*", escape_regex(&start));
            prefixes.push((fields.text(text), start));
            let leaf = UserInputLeaf::Regex { field: Some(text.field_name().to_string()), pattern };
            clauses.push((Some(query_grammar::Occur::Should), UserInputAst::Leaf(Box::new(leaf))));
        }
    }
    UserInputAst::Clause(clauses)
}

fn analyse(mut analyzer: TextAnalyzer, text: &str) -> Vec<String> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    stream.process(&mut |token| out.push(token.text.clone()));
    out
}

/// Analysed words are mostly letters and digits, but compatibility decomposition can yield
/// punctuation (`⑴` is `(1)`): escape what the regular-expression syntax reserves.
fn escape_regex(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The analyst's text AND every filter of `request` (its categories' rules read).
pub fn with_filters(
    index: &Index,
    fields: &Fields,
    text: Box<dyn Query>,
    request: &SearchRequest,
) -> Result<Box<dyn Query>, IndexError> {
    let mut must: Vec<Box<dyn Query>> = vec![text];
    if request.categories.len() != request.category_rules.len() {
        return Err(IndexError::InvalidQuery("categories whose rules were not read".into()));
    }
    if !request.category_rules.is_empty() {
        let rules = request
            .category_rules
            .iter()
            .map(|rule| category_query(index, fields, rule))
            .collect::<Result<Vec<_>, IndexError>>()?;
        must.push(Box::new(BooleanQuery::union(rules)));
    }
    let any_of = |field: Field, values: Vec<String>| -> Option<Box<dyn Query>> {
        (!values.is_empty()).then(|| {
            let terms = values.iter().map(|v| term_query(Term::from_field_text(field, v))).collect();
            Box::new(BooleanQuery::union(terms)) as Box<dyn Query>
        })
    };
    must.extend(any_of(fields.language, request.languages.clone()));
    must.extend(any_of(fields.channel, request.channels.iter().map(|c| c.as_str().to_string()).collect()));
    must.extend(any_of(fields.customer_id, request.customer_id.iter().cloned().collect()));
    must.extend(any_of(fields.sentiment, request.sentiments.iter().map(|s| s.as_str().to_string()).collect()));
    must.extend(any_of(fields.emotion, request.emotions.clone()));
    must.extend(any_of(fields.topic, request.topics.iter().map(i64::to_string).collect()));
    must.extend(any_of(fields.root_cause, request.root_causes.iter().map(i64::to_string).collect()));
    must.extend(any_of(fields.aspect, request.aspects.clone()));
    if request.sentiment_score_min.is_some() || request.sentiment_score_max.is_some() {
        let bound = |v: Option<f64>| {
            v.map_or(Bound::Unbounded, |v| Bound::Included(Term::from_field_f64(fields.sentiment_score, v)))
        };
        must.push(Box::new(RangeQuery::new(bound(request.sentiment_score_min), bound(request.sentiment_score_max))));
    }
    for (key, value) in &request.metadata {
        must.push(term_query(Term::from_field_text(fields.metadata, &format!("{key}={value}"))));
    }
    if !request.nps_groups.is_empty() {
        let groups = request
            .nps_groups
            .iter()
            .map(|g| {
                let (min, max) = g.score_range();
                score_range(fields.nps, ScoreRange { min: Some(min), max: Some(max) })
            })
            .collect();
        must.push(Box::new(BooleanQuery::union(groups)));
    }
    for (field, range) in [(fields.nps, request.nps), (fields.csat, request.csat), (fields.ces, request.ces)] {
        if !range.is_open() {
            must.push(score_range(field, range));
        }
    }
    if request.from.is_some() || request.to.is_some() {
        let bound = |ts: chrono::DateTime<chrono::Utc>| {
            Term::from_field_date_for_search(fields.created_at, DateTime::from_timestamp_micros(ts.timestamp_micros()))
        };
        let lower = request.from.map_or(Bound::Unbounded, |ts| Bound::Included(bound(ts)));
        let upper = request.to.map_or(Bound::Unbounded, |ts| Bound::Excluded(bound(ts)));
        must.push(Box::new(RangeQuery::new(lower, upper)));
    }
    if must.len() == 1 {
        return Ok(must.pop().expect("one clause"));
    }
    Ok(Box::new(BooleanQuery::new(must.into_iter().map(|q| (Occur::Must, q)).collect())))
}

/// A category's rule as a query: its French query on French verbatims, its English one on the
/// others; a single query on all.
pub fn category_query(index: &Index, fields: &Fields, rule: &CategoryRule) -> Result<Box<dyn Query>, IndexError> {
    let text = |query: &str| text_query(index, fields, Some(query)).map(|q| q.query);
    Ok(match (&rule.fr, &rule.en) {
        (Some(fr), Some(en)) => {
            let french = || term_query(Term::from_field_text(fields.language, "fr"));
            Box::new(BooleanQuery::union(vec![
                Box::new(BooleanQuery::new(vec![(Occur::Must, french()), (Occur::Must, text(fr)?)])),
                Box::new(BooleanQuery::new(vec![
                    (Occur::Must, Box::new(AllQuery) as Box<dyn Query>),
                    (Occur::MustNot, french()),
                    (Occur::Must, text(en)?),
                ])),
            ]))
        }
        (Some(only), None) | (None, Some(only)) => text(only)?,
        (None, None) => return Err(IndexError::InvalidQuery("a category needs a query".into())),
    })
}

fn term_query(term: Term) -> Box<dyn Query> {
    Box::new(TermQuery::new(term, IndexRecordOption::Basic))
}

fn score_range(field: Field, range: ScoreRange) -> Box<dyn Query> {
    let bound =
        |v: Option<u8>| v.map_or(Bound::Unbounded, |v| Bound::Included(Term::from_field_u64(field, u64::from(v))));
    Box::new(RangeQuery::new(bound(range.min), bound(range.max)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::schema::{register_analyzers, schema};

    fn prefixes_of(text: &str) -> Vec<String> {
        let index = Index::create_in_ram(schema());
        register_analyzers(&index);
        let fields = Fields::resolve(&index.schema()).unwrap();
        let query = text_query(&index, &fields, Some(text)).unwrap();
        let mut starts: Vec<String> = query.prefixes.into_iter().map(|(_, start)| start).collect();
        starts.sort();
        starts.dedup();
        starts
    }

    #[test]
    fn a_prefix_is_folded_and_stemmed_and_reserved_characters_are_escaped() {
        assert_eq!(prefixes_of("Livraisons*"), ["livraison", "livraisons"]);
        assert_eq!(prefixes_of("happy* OR e\u{301}te\u{301}*"), ["ete", "happi", "happy"]);
        assert_eq!(prefixes_of("text_en:deliver*"), ["deliv", "deliver"]);
        assert_eq!(prefixes_of("\u{2474}*"), ["(1)"]);
        assert!(prefixes_of("\"livraison rap\"* livr").is_empty(), "a phrase prefix stays Tantivy's");
    }
}
