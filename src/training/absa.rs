//! Readers for the aspect data: SemEval-2016 opinion targets (words tagged BIO, French and
//! English) train and score the aspect-term tagger; SemEval-2014 aspect polarities (one
//! instance per aspect, `$T$` marking it) score aspect polarity.
//!
//! The targets' held-out part is a fixed 20 % of each file's sentences (seeded shuffle): the
//! shipped tagger trains on the rest, `eval-aspects` scores on it.

use std::ops::Range;
use std::path::Path;

use anyhow::Context;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::corpora::SPLIT_SEED;
use crate::domain::SentimentLabel;

/// A sentence and its gold aspect terms, as byte ranges of `text`.
#[derive(Debug, Clone)]
pub struct TargetSentence {
    pub text: String,
    pub terms: Vec<Range<usize>>,
    pub language: &'static str,
}

/// The target sentences of one language, split into (train, held out).
pub struct TargetSplit {
    pub train: Vec<TargetSentence>,
    pub held_out: Vec<TargetSentence>,
}

/// Share of each target file held out from training.
const HELD_OUT: f64 = 0.2;

/// `fr` or `en` SemEval-2016 targets, split.
pub fn semeval16_targets(data_dir: &Path, language: &'static str) -> anyhow::Result<TargetSplit> {
    let path = data_dir.join("absa").join(format!("{language}_semeval16_targets_train.tsv"));
    let content = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut sentences = Vec::new();
    for block in content.split("\n\n") {
        let mut text = String::new();
        let mut terms: Vec<Range<usize>> = Vec::new();
        let mut inside = false;
        for line in block.lines().filter(|l| !l.trim().is_empty()) {
            let (token, tag) =
                line.rsplit_once(' ').with_context(|| format!("{}: bad line {line:?}", path.display()))?;
            if !text.is_empty() {
                text.push(' ');
            }
            let start = text.len();
            text.push_str(token);
            match tag.trim() {
                "B-TARGET" => terms.push(start..text.len()),
                "I-TARGET" if inside => terms.last_mut().expect("inside a term").end = text.len(),
                "I-TARGET" => terms.push(start..text.len()),
                _ => {}
            }
            inside = tag.trim() != "O";
        }
        if !text.is_empty() {
            let terms = terms.into_iter().map(|t| trimmed(&text, t)).filter(|t| !t.is_empty()).collect();
            sentences.push(TargetSentence { text, terms, language });
        }
    }
    let mut order: Vec<usize> = (0..sentences.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(SPLIT_SEED));
    let held = (sentences.len() as f64 * HELD_OUT).round() as usize;
    let mut is_held = vec![false; sentences.len()];
    for &i in &order[..held] {
        is_held[i] = true;
    }
    let (held_out, train): (Vec<_>, Vec<_>) = sentences.into_iter().zip(is_held).partition(|(_, held)| *held);
    Ok(TargetSplit {
        train: train.into_iter().map(|(s, _)| s).collect(),
        held_out: held_out.into_iter().map(|(s, _)| s).collect(),
    })
}

/// A term's range without the punctuation glued to it ("food." → "food").
pub fn trimmed(text: &str, range: Range<usize>) -> Range<usize> {
    let span = &text[range.clone()];
    let start = range.start + (span.len() - span.trim_start_matches(|c: char| !c.is_alphanumeric()).len());
    let end = range.end - (span.len() - span.trim_end_matches(|c: char| !c.is_alphanumeric()).len());
    start..end.max(start)
}

/// One SemEval-2014 aspect instance.
#[derive(Debug, Clone)]
pub struct AspectPolarity {
    pub text: String,
    /// The aspect term's bytes in `text`.
    pub term: Range<usize>,
    pub label: SentimentLabel,
    /// Its sentence holds aspects of different polarities: the accurate tier's adapter never
    /// trained on such sentences (it took sentence labels only where aspects agree).
    pub mixed: bool,
    pub source: &'static str,
}

/// The SemEval-2014 restaurant (or laptop) aspect instances.
pub fn semeval14_polarities(data_dir: &Path, file: &'static str) -> anyhow::Result<Vec<AspectPolarity>> {
    let path = data_dir.join("absa").join(file);
    let content = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let lines: Vec<&str> = content.split('\n').map(str::trim).collect();
    let mut out: Vec<AspectPolarity> = Vec::new();
    for instance in lines.chunks_exact(3) {
        let [template, term, polarity] = [instance[0], instance[1], instance[2]];
        let Some(start) = template.find("$T$") else { continue };
        let label = match polarity {
            "-1" => SentimentLabel::Negative,
            "0" => SentimentLabel::Neutral,
            "1" => SentimentLabel::Positive,
            _ => continue,
        };
        let text = template.replacen("$T$", term, 1);
        out.push(AspectPolarity { text, term: start..start + term.len(), label, mixed: false, source: file });
    }
    let mut labels: std::collections::HashMap<&str, std::collections::HashSet<SentimentLabel>> = Default::default();
    for item in &out {
        labels.entry(item.text.as_str()).or_default().insert(item.label);
    }
    let mixed: Vec<bool> = out.iter().map(|item| labels[item.text.as_str()].len() > 1).collect();
    for (item, mixed) in out.iter_mut().zip(mixed) {
        item.mixed = mixed;
    }
    Ok(out)
}

/// Span-level precision, recall and F1 of found terms against gold ones: a term counts when
/// its trimmed byte range is exactly a gold one (SemEval's exact match).
#[derive(Debug, Clone, Copy, Default)]
pub struct TermScores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub gold: usize,
}

impl std::fmt::Display for TermScores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "F1 {:.3} (precision {:.3}, recall {:.3}; {} gold terms)",
            self.f1, self.precision, self.recall, self.gold
        )
    }
}

/// Scores `find` (a text's terms as byte ranges) on `sentences`.
pub fn term_scores(sentences: &[TargetSentence], find: impl Fn(&str) -> Vec<Range<usize>>) -> TermScores {
    let (mut found, mut gold, mut right) = (0usize, 0usize, 0usize);
    for sentence in sentences {
        let mut terms: Vec<Range<usize>> =
            find(&sentence.text).into_iter().map(|t| trimmed(&sentence.text, t)).collect();
        terms.dedup();
        found += terms.len();
        gold += sentence.terms.len();
        right += terms.iter().filter(|t| sentence.terms.contains(t)).count();
    }
    let precision = right as f64 / found.max(1) as f64;
    let recall = right as f64 / gold.max(1) as f64;
    let f1 = if right == 0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
    TermScores { precision, recall, f1, gold }
}
