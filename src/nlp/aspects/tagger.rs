//! The aspect-term tagger: which words of a sentence name a thing being judged ("the
//! *delivery*", "le *service client*"). Each word gets a tag, `O` (outside), `B` (begins a term)
//! or `I` (inside one), from the [`HashedLinear`] classifier over a window of words around it
//! and the tag of the word before (greedy, left to right), as in a maximum-entropy tagger.
//!
//! Trained by `train-aspects` on the SemEval-2016 restaurant targets, French and English
//! together (training/README.md); the features are the word, its neighbours, its affixes and
//! shape, whether its neighbours carry an opinion (the sentiment lexicon), since a term is
//! what an opinion word is about, and whether they name what customers judge in any trade
//! ([`super::vocabulary`]).

use std::ops::Range;

use super::vocabulary::is_customer_aspect;
use crate::nlp::features::{fnv1a, FeatureHasher};
use crate::nlp::linear::{Example, HashedLinear, Target};
use crate::nlp::words::{words, Word};
use crate::nlp::{lexicon, stop_words};

/// The shipped model's size: 2^18 hash buckets.
pub const TAGGER_BUCKETS_LOG2: u32 = 18;
/// Words that extend the term they follow ("service client"), and are no term alone.
const QUALIFIERS: [&str; 3] = ["client", "clients", "clientele"];
/// Words either side the features read.
const WINDOW: isize = 2;

/// A word's tag, in the classifier's class order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    Outside = 0,
    Begin = 1,
    Inside = 2,
}

impl Tag {
    const ALL: [Tag; 3] = [Tag::Outside, Tag::Begin, Tag::Inside];

    fn name(self) -> &'static str {
        match self {
            Tag::Outside => "O",
            Tag::Begin => "B",
            Tag::Inside => "I",
        }
    }
}

/// Aspect terms found by the hashed linear tagger.
pub struct AspectTagger {
    model: HashedLinear,
}

impl AspectTagger {
    pub fn new(model: HashedLinear) -> AspectTagger {
        AspectTagger { model }
    }

    pub fn model(&self) -> &HashedLinear {
        &self.model
    }

    /// The aspect terms of `text`, as byte ranges of whole words, in text order.
    pub fn terms(&self, text: &str) -> Vec<Range<usize>> {
        let words = words(text);
        let marks = marks(&words);
        let mut tags = Vec::with_capacity(words.len());
        for i in 0..words.len() {
            let before = tags.last().copied().unwrap_or(Tag::Outside);
            let p = self.model.probabilities(&features(self.model.hasher, &words, &marks, i, before));
            let mut tag = Tag::ALL[argmax(&p)];
            if tag == Tag::Inside && before == Tag::Outside {
                tag = Tag::Begin;
            }
            tags.push(tag);
        }
        // Restaurant reviews never taught it "livraison" or "refund": a word that names what
        // customers judge in any trade is a term, joined to a term it touches ("customer service").
        for i in 0..words.len() {
            let extends = QUALIFIERS.contains(&words[i].folded.as_str());
            if tags[i] == Tag::Outside && (marks[i].customer || extends) {
                let joins = i > 0 && tags[i - 1] != Tag::Outside && !words[i].after_punctuation;
                if extends && !joins {
                    continue;
                }
                tags[i] = if joins { Tag::Inside } else { Tag::Begin };
            }
        }
        spans(&words, &tags)
    }
}

/// Runs of `B I*` as byte ranges.
fn spans(words: &[Word], tags: &[Tag]) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    for (word, tag) in words.iter().zip(tags) {
        match tag {
            Tag::Begin => out.push(word.bytes.clone()),
            Tag::Inside => {
                if let Some(last) = out.last_mut() {
                    last.end = word.bytes.end;
                }
            }
            Tag::Outside => {}
        }
    }
    out
}

/// Training examples from a text and its gold terms (byte ranges): one per word, whose tag is
/// `B` for a term's first word, `I` for its others; the previous tag is the gold one.
pub fn training_examples(hasher: FeatureHasher, text: &str, terms: &[Range<usize>]) -> Vec<Example> {
    let words = words(text);
    let marks = marks(&words);
    let mut tags = Vec::with_capacity(words.len());
    for word in &words {
        let term = terms.iter().find(|t| word.bytes.start < t.end && t.start < word.bytes.end);
        tags.push(match term {
            None => Tag::Outside,
            Some(t) if word.bytes.start <= t.start => Tag::Begin,
            Some(_) if tags.last() == Some(&Tag::Outside) || tags.is_empty() => Tag::Begin,
            Some(_) => Tag::Inside,
        });
    }
    (0..words.len())
        .map(|i| Example {
            features: features(hasher, &words, &marks, i, if i == 0 { Tag::Outside } else { tags[i - 1] }),
            target: Target::Class(tags[i] as usize),
            weight: 1.0,
        })
        .collect()
}

/// What the features read of a word beside its spelling, looked up once per text.
struct Marks {
    stop: bool,
    customer: bool,
    /// The sentiment lexicon's direction, for a word it rates at least 1 either way.
    opinion: Option<bool>,
}

fn marks(words: &[Word]) -> Vec<Marks> {
    words
        .iter()
        .map(|w| Marks {
            stop: stop_words::is_stop_word(&w.folded),
            customer: is_customer_aspect(&w.folded),
            opinion: lexicon::word_valence(&w.folded).filter(|v| v.abs() >= 1.0).map(|v| v > 0.0),
        })
        .collect()
}

fn features(hasher: FeatureHasher, words: &[Word], marks: &[Marks], i: usize, before: Tag) -> Vec<u32> {
    let mask = (1u64 << hasher.buckets_log2) - 1;
    let mut out = Vec::with_capacity(32);
    let mut add = |parts: &[&[u8]]| out.push((fnv1a(parts.iter().copied()) & mask) as u32);
    let at = |offset: isize| -> &str {
        let j = i as isize + offset;
        if j < 0 {
            "<s>"
        } else {
            words.get(j as usize).map_or("</s>", |w| w.folded.as_str())
        }
    };
    let word = at(0);
    add(&[b"bias"]);
    add(&[b"w", word.as_bytes()]);
    for offset in -WINDOW..=WINDOW {
        if offset != 0 {
            add(&[b"n", &offset.to_le_bytes(), at(offset).as_bytes()]);
        }
    }
    add(&[b"b-", at(-1).as_bytes(), b" ", word.as_bytes()]);
    add(&[b"b+", word.as_bytes(), b" ", at(1).as_bytes()]);
    // Affixes as byte slices at character boundaries: no allocation per word.
    let starts: Vec<usize> = word.char_indices().map(|(i, _)| i).collect();
    let length = starts.len();
    for n in 2..=4 {
        if length > n {
            add(&[b"s", &word.as_bytes()[starts[length - n]..]]);
        }
    }
    if length > 3 {
        add(&[b"p", &word.as_bytes()[..starts[3]]]);
    }
    add(&[b"len", &[length.min(12) as u8]]);
    let mark = |offset: isize| {
        let j = i as isize + offset;
        (j >= 0).then(|| marks.get(j as usize)).flatten()
    };
    add(&[b"stop", &[u8::from(marks[i].stop)]]);
    add(&[b"stop-1", &[u8::from(mark(-1).is_some_and(|m| m.stop))]]);
    add(&[b"digit", &[u8::from(word.bytes().any(|b| b.is_ascii_digit()))]]);
    add(&[b"punct", &[u8::from(words[i].after_punctuation)]]);
    add(&[b"punct+1", &[u8::from(words.get(i + 1).is_some_and(|w| w.after_punctuation))]]);
    for offset in -1..=1 {
        if mark(offset).is_some_and(|m| m.customer) {
            add(&[b"cx", &offset.to_le_bytes()]);
        }
    }
    add(&[b"tag-1", before.name().as_bytes()]);
    add(&[b"tag-1w", before.name().as_bytes(), word.as_bytes()]);
    for offset in -WINDOW..=WINDOW {
        if let Some(positive) = mark(offset).and_then(|m| m.opinion) {
            add(&[b"op", &offset.to_le_bytes(), &[u8::from(positive)]]);
        }
    }
    out
}

fn argmax(p: &[f32]) -> usize {
    p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i)
}
