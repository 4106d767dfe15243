//! Names for topics a person understands: the words and phrases that set each topic apart.
//!
//! Class-based TF-IDF (as BERTopic names its topics): all of a topic's verbatims are read as
//! one document, and a term weighs `tf(term, topic) · ln(1 + A / f(term))`, with `A` the mean
//! number of terms per topic and `f` the term's frequency over every topic, so a word frequent
//! everywhere ("commande", "account") sinks and a word frequent in one topic rises. Terms are
//! stems (the stemmers the index uses), stop words removed; each is shown as its most frequent
//! spelling. Phrases are pairs of adjacent kept words, weighed the same way. A topic holding
//! French and English gets a label in each language.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, TextAnalyzer, Token, TokenStream,
};

use crate::nlp::stop_words::is_content_word;

/// Words shown in a label, at most.
const LABEL_WORDS: usize = 3;
/// Phrases listed per topic, at most.
const PHRASES: usize = 5;
/// Terms listed per topic, at most (the label's words first).
const TERMS: usize = 10;
/// A term names a topic only if at least this many verbatims hold it: a name is what several
/// customers say, never one verbatim's own words (so an erased verbatim leaves nothing of its
/// own in a saved model).
const MIN_VERBATIMS: usize = 2;

/// How a topic is named: `label` joins its strongest words ("livraison · retard · colis");
/// `labels` has one per language when the topic holds more than one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TopicNames {
    pub label: String,
    /// Language code → label, for each language holding at least a fifth of the topic.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
    /// The strongest words, best first.
    pub terms: Vec<String>,
    /// The strongest two-word phrases, best first.
    pub phrases: Vec<String>,
}

/// One verbatim as the namer reads it.
pub struct Named<'t> {
    pub text: &'t str,
    pub language: Option<&'t str>,
    /// Index of its topic, or `None` when it has none.
    pub topic: Option<usize>,
}

/// Names each of `topics` topics from the verbatims assigned to it.
pub fn name_topics(verbatims: &[Named<'_>], topics: usize) -> Vec<TopicNames> {
    let mut reader = TermReader::new();
    // Per language (and "*" for all): per topic, term → count; surface spellings per stem.
    let mut counts: HashMap<&str, Vec<HashMap<String, f64>>> = HashMap::new();
    let mut spellings: HashMap<String, HashMap<String, u32>> = HashMap::new();
    let mut languages: Vec<HashMap<&str, usize>> = vec![HashMap::new(); topics];
    let mut holders: HashMap<String, usize> = HashMap::new();
    for verbatim in verbatims {
        let Some(topic) = verbatim.topic else { continue };
        let language = verbatim.language.unwrap_or("other");
        *languages[topic].entry(language).or_default() += 1;
        let terms = reader.terms(verbatim.text, verbatim.language);
        let distinct: std::collections::HashSet<&str> = terms.iter().map(|t| t.key.as_str()).collect();
        for key in distinct {
            *holders.entry(key.to_string()).or_default() += 1;
        }
        for term in terms {
            *spellings.entry(term.key.clone()).or_default().entry(term.spelling).or_default() += 1;
            for scope in ["*", language] {
                let per_topic = counts.entry(scope).or_insert_with(|| vec![HashMap::new(); topics]);
                *per_topic[topic].entry(term.key.clone()).or_default() += 1.0;
            }
        }
    }
    let shared = |key: &&String| holders.get(key.as_str()).is_some_and(|n| *n >= MIN_VERBATIMS);
    let spelling = |key: &str| -> String {
        spellings[key].iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(s, _)| s.clone()).unwrap_or_default()
    };
    let all = counts.get("*").map(|c| c_tf_idf(c)).unwrap_or_else(|| vec![Vec::new(); topics]);
    let per_language: HashMap<&str, Vec<Vec<(String, f64)>>> =
        counts.iter().filter(|(scope, _)| **scope != "*").map(|(scope, c)| (*scope, c_tf_idf(c))).collect();
    (0..topics)
        .map(|topic| {
            let ranked = &all[topic];
            let words: Vec<String> = ranked
                .iter()
                .filter(|(k, _)| !k.contains(' ') && shared(&k))
                .take(TERMS)
                .map(|(k, _)| spelling(k))
                .collect();
            let phrases: Vec<String> = ranked
                .iter()
                .filter(|(k, _)| k.contains(' ') && shared(&k))
                .take(PHRASES)
                .map(|(k, _)| spelling(k))
                .collect();
            let size: usize = languages[topic].values().sum();
            let mut labels = std::collections::BTreeMap::new();
            let present: Vec<&&str> =
                languages[topic].iter().filter(|(_, n)| **n * 5 >= size.max(1)).map(|(l, _)| l).collect();
            if present.len() > 1 {
                // A language whose verbatims yielded no word (emoji, "10/10") has no label.
                for language in present.into_iter().filter(|l| per_language.contains_key(**l)) {
                    let words: Vec<String> = per_language[*language][topic]
                        .iter()
                        .filter(|(k, _)| !k.contains(' ') && shared(&k))
                        .take(LABEL_WORDS)
                        .map(|(k, _)| spelling(k))
                        .collect();
                    labels.insert(language.to_string(), words.join(" · "));
                }
            }
            TopicNames {
                label: words.iter().take(LABEL_WORDS).cloned().collect::<Vec<_>>().join(" · "),
                labels,
                terms: words,
                phrases,
            }
        })
        .collect()
}

/// Each topic's terms ranked by class-based TF-IDF, best first (ties by term, for the same
/// order on every run).
fn c_tf_idf(per_topic: &[HashMap<String, f64>]) -> Vec<Vec<(String, f64)>> {
    let mut frequency: HashMap<&str, f64> = HashMap::new();
    for counts in per_topic {
        for (term, n) in counts {
            *frequency.entry(term).or_default() += n;
        }
    }
    let total: f64 = frequency.values().sum();
    let average = total / per_topic.len().max(1) as f64;
    per_topic
        .iter()
        .map(|counts| {
            let mut ranked: Vec<(String, f64)> = counts
                .iter()
                .filter(|(_, n)| **n >= 2.0 || counts.len() < 20)
                .map(|(term, n)| (term.clone(), n * (1.0 + average / frequency[term.as_str()]).ln()))
                .collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            ranked
        })
        .collect()
}

/// A word or a two-word phrase: `key` is its stem(s), `spelling` as the customer wrote it
/// (lower-cased).
struct Term {
    key: String,
    spelling: String,
}

/// A kept word: its position in the text, its lower-cased spelling, its stem.
pub(crate) type Word = (usize, String, String);

/// Cuts texts into terms: lower-cased words without stop words, stemmed by language.
pub(crate) struct TermReader {
    words: TextAnalyzer,
    stems: HashMap<(String, Language), String>,
    french: TextAnalyzer,
    english: TextAnalyzer,
}

impl TermReader {
    pub(crate) fn new() -> TermReader {
        let stem = |language| {
            TextAnalyzer::builder(tantivy::tokenizer::RawTokenizer::default())
                .filter(tantivy::tokenizer::AsciiFoldingFilter)
                .filter(Stemmer::new(language))
                .build()
        };
        TermReader {
            words: TextAnalyzer::builder(SimpleTokenizer::default())
                .filter(RemoveLongFilter::limit(40))
                .filter(LowerCaser)
                .build(),
            stems: HashMap::new(),
            french: stem(Language::French),
            english: stem(Language::English),
        }
    }

    /// The kept words of `text` with their positions, each with its stem.
    pub(crate) fn words(&mut self, text: &str, language: Option<&str>) -> Vec<Word> {
        let mut tokens: Vec<Token> = Vec::new();
        {
            let mut stream = self.words.token_stream(text);
            while stream.advance() {
                tokens.push(stream.token().clone());
            }
        }
        let language = match language {
            Some("fr") => Some(Language::French),
            Some("en") => Some(Language::English),
            _ => None,
        };
        tokens.retain(|t| is_content_word(&t.text));
        tokens
            .into_iter()
            .map(|t| {
                let stem = match language {
                    Some(language) => self.stem(&t.text, language),
                    None => t.text.clone(),
                };
                (t.position, t.text, stem)
            })
            .collect()
    }

    fn stem(&mut self, word: &str, language: Language) -> String {
        if let Some(stem) = self.stems.get(&(word.to_string(), language)) {
            return stem.clone();
        }
        let analyzer = if language == Language::French { &mut self.french } else { &mut self.english };
        let mut stream = analyzer.token_stream(word);
        let stem = if stream.advance() { stream.token().text.clone() } else { word.to_string() };
        self.stems.insert((word.to_string(), language), stem.clone());
        stem
    }

    fn terms(&mut self, text: &str, language: Option<&str>) -> Vec<Term> {
        let words = self.words(text, language);
        let mut terms: Vec<Term> =
            words.iter().map(|(_, word, stem)| Term { key: stem.clone(), spelling: word.clone() }).collect();
        for (first, second) in adjacent_pairs(&words) {
            terms
                .push(Term { key: format!("{} {}", first.2, second.2), spelling: format!("{} {}", first.1, second.1) });
        }
        terms
    }
}

/// Pairs of kept words that stood next to each other (no stop word between them) and are not
/// the same stem twice: the candidate phrases.
pub(crate) fn adjacent_pairs(words: &[Word]) -> impl Iterator<Item = (&Word, &Word)> {
    words.windows(2).filter(|p| p[1].0 == p[0].0 + 1 && p[0].2 != p[1].2).map(|p| (&p[0], &p[1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinctive_words_name_each_topic_in_each_language() {
        let texts = [
            ("Livraison en retard, colis perdu pendant dix jours", "fr", 0),
            ("Encore un retard de livraison, colis perdu", "fr", 0),
            ("The parcel delivery was late again", "en", 0),
            ("Late delivery, my parcel came a week after", "en", 0),
            ("Colis perdu, livraison en retard", "fr", 0),
            ("Parcel delivery late, as usual", "en", 0),
            ("Le remboursement n'est jamais arrivé", "fr", 1),
            ("J'attends toujours mon remboursement", "fr", 1),
            ("Still waiting for my refund", "en", 1),
            ("The refund never came", "en", 1),
            ("Remboursement refusé sans explication", "fr", 1),
            ("No refund after a month", "en", 1),
        ];
        // Each word that names a topic is in at least two verbatims.
        let named: Vec<Named<'_>> = texts
            .iter()
            .map(|(text, language, topic)| Named { text, language: Some(language), topic: Some(*topic) })
            .collect();
        let names = name_topics(&named, 2);
        assert!(names[0].labels["fr"].contains("livraison") || names[0].labels["fr"].contains("colis"), "{names:?}");
        assert!(names[0].labels["en"].contains("delivery") || names[0].labels["en"].contains("parcel"), "{names:?}");
        assert!(names[1].label.contains("remboursement") || names[1].label.contains("refund"), "{names:?}");
        assert!(!names[1].terms.iter().any(|t| t == "the" || t == "le" || t == "mon"), "{names:?}");
        assert_eq!(names[0].phrases.first().map(String::as_str), Some("colis perdu"), "{names:?}");
        assert!(!names[0].terms.iter().any(|t| t == "dix" || t == "week"), "a word of one verbatim: {names:?}");
    }
}
