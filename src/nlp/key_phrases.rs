//! Key phrases: the few phrases of one text that say what it is about, ranked, with offsets
//! (what Azure's and AWS's key phrase extraction return), for `/v1/analyze`.
//!
//! RAKE (Rose et al., 2010), which needs no corpus: candidates are runs of content words cut
//! at stop words and punctuation; a word scores its degree (the words it shares candidates
//! with, itself included) over its frequency, a candidate the sum of its words' scores, so
//! words that come in phrases rise over words that stand alone. Two changes for verbatims: a
//! single French or English linking word between two content words stays in the phrase
//! ("retard de livraison", "lack of communication"), and a phrase holds at most four words.

use serde::Serialize;
use tantivy::tokenizer::{LowerCaser, SimpleTokenizer, TextAnalyzer, TokenStream};

use super::offsets::CodePoints;
use super::stop_words::is_content_word;

/// Phrases returned per text, at most.
pub const MAX_KEY_PHRASES: usize = 5;
/// Content words in a phrase, at most.
const MAX_WORDS: usize = 4;
/// Words that may link two content words inside a phrase.
const LINKS: [&str; 8] = ["de", "du", "des", "d", "en", "à", "of", "for"];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyPhrase {
    /// As written in the text.
    pub text: String,
    /// In code points.
    pub offset: usize,
    pub length: usize,
    /// Relative to the text's best phrase, which scores 1.
    pub score: f32,
}

/// A word of the text: its lower-cased form, byte range, and whether it is a content word.
struct Word {
    lower: String,
    from: usize,
    to: usize,
    content: bool,
}

/// A candidate: its words (indices into the text's words), and those of them that are
/// content words (a linking word is not).
struct Candidate {
    words: Vec<usize>,
    content: Vec<usize>,
}

/// The key phrases of `text`, best first.
pub fn key_phrases(text: &str) -> Vec<KeyPhrase> {
    let words = words(text);
    let candidates = candidates(text, &words);
    if candidates.is_empty() {
        return Vec::new();
    }
    // RAKE's word scores: degree over frequency, over content words only.
    let mut frequency: std::collections::HashMap<&str, f32> = std::collections::HashMap::new();
    let mut degree: std::collections::HashMap<&str, f32> = std::collections::HashMap::new();
    for candidate in &candidates {
        for &w in &candidate.content {
            *frequency.entry(&words[w].lower).or_default() += 1.0;
            *degree.entry(&words[w].lower).or_default() += candidate.content.len() as f32;
        }
    }
    let mut points = CodePoints::new(text);
    let mut scored: Vec<KeyPhrase> = candidates
        .iter()
        .map(|candidate| {
            let score: f32 = candidate
                .content
                .iter()
                .map(|&w| degree[words[w].lower.as_str()] / frequency[words[w].lower.as_str()])
                .sum();
            let (from, to) = (words[candidate.words[0]].from, words[*candidate.words.last().expect("non-empty")].to);
            let (offset, length) = points.span(from..to);
            KeyPhrase { text: text[from..to].to_string(), offset, length, score }
        })
        .collect();
    scored.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.offset.cmp(&b.offset)));
    let mut seen = std::collections::HashSet::new();
    scored.retain(|phrase| seen.insert(phrase.text.to_lowercase()));
    scored.truncate(MAX_KEY_PHRASES);
    let best = scored[0].score.max(f32::EPSILON);
    for phrase in &mut scored {
        phrase.score /= best;
    }
    scored
}

fn words(text: &str) -> Vec<Word> {
    let mut analyzer = TextAnalyzer::builder(SimpleTokenizer::default()).filter(LowerCaser).build();
    let mut stream = analyzer.token_stream(text);
    let mut words = Vec::new();
    while stream.advance() {
        let token = stream.token();
        let content = is_content_word(&token.text);
        words.push(Word { lower: token.text.clone(), from: token.offset_from, to: token.offset_to, content });
    }
    words
}

/// Runs of content words, cut at other words and at anything but spaces between two words;
/// a linking word between two content words stays in.
fn candidates(text: &str, words: &[Word]) -> Vec<Candidate> {
    let mut candidates = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut content_words = 0;
    let close = |current: &mut Vec<usize>, content_words: &mut usize, candidates: &mut Vec<Candidate>| {
        // A phrase never ends on a linking word.
        while current.last().is_some_and(|&w| !words[w].content) {
            current.pop();
        }
        if !current.is_empty() {
            let content = current.iter().copied().filter(|&w| words[w].content).collect();
            candidates.push(Candidate { words: std::mem::take(current), content });
        }
        *content_words = 0;
    };
    for (i, word) in words.iter().enumerate() {
        let joined = i > 0 && text[words[i - 1].to..word.from].chars().all(char::is_whitespace);
        if !joined || content_words == MAX_WORDS {
            close(&mut current, &mut content_words, &mut candidates);
        }
        if word.content {
            current.push(i);
            content_words += 1;
        } else if LINKS.contains(&word.lower.as_str()) && current.last().is_some_and(|&w| words[w].content) {
            current.push(i);
        } else {
            close(&mut current, &mut content_words, &mut candidates);
        }
    }
    close(&mut current, &mut content_words, &mut candidates);
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_keep_linking_words_and_offsets_count_code_points() {
        let text = "Très déçu : retard de livraison, et le service client ne répond pas.";
        let phrases = key_phrases(text);
        let texts: Vec<&str> = phrases.iter().map(|p| p.text.as_str()).collect();
        assert!(texts.contains(&"retard de livraison"), "{texts:?}");
        assert!(texts.contains(&"service client"), "{texts:?}");
        for phrase in &phrases {
            let by_code_points: String = text.chars().skip(phrase.offset).take(phrase.length).collect();
            assert_eq!(by_code_points, phrase.text);
            assert!(phrase.score > 0.0 && phrase.score <= 1.0);
        }
        assert_eq!(phrases[0].score, 1.0);
        assert!(key_phrases("et le de").is_empty());
        assert!(key_phrases("").is_empty());
    }

    #[test]
    fn english_phrases_rank_multi_word_phrases_first() {
        let phrases = key_phrases("Great product, but the delivery was late and there was a lack of communication.");
        let top: Vec<&str> = phrases.iter().take(2).map(|p| p.text.as_str()).collect();
        assert_eq!(top, ["Great product", "lack of communication"], "{phrases:?}");
        assert!(phrases[2].score < 1.0, "{phrases:?}");
    }
}
