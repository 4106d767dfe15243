//! Stated causes: the reason a customer gives for what they feel, after a causal cue
//! ("because the parcel was lost", "à cause du retard", "suite à mon appel"). The span runs
//! from the cue to the end of its clause: a comma, a sentence end or a contrast word.
//!
//! Cues are per language (English `car` is a vehicle). Cues that are often something else are
//! kept only where they read as causes: French `car` not after a determiner (`le car`, a
//! coach), English `since` not before a date or a number (`since Monday`).

use std::ops::Range;

use super::clauses::starts_contrast;
use super::clauses::starts_with_cue;
use super::words::{words, Word};

/// Folded English words that open a stated cause, longest first where one extends another.
const ENGLISH_CUES: [&[&str]; 6] =
    [&["as", "a", "result", "of"], &["because"], &["due", "to"], &["owing", "to"], &["caused", "by"], &["since"]];
/// Folded French words that open a stated cause.
const FRENCH_CUES: [&[&str]; 18] = [
    &["parce", "que"],
    &["parce", "qu"],
    &["a", "cause"],
    &["car"],
    &["suite", "a"],
    &["suite", "au"],
    &["suite", "aux"],
    &["depuis", "que"],
    &["depuis", "qu"],
    &["en", "raison"],
    &["du", "fait"],
    &["vu", "que"],
    &["vu", "qu"],
    &["puisque"],
    &["puisqu"],
    &["faute", "de"],
    &["faute", "d"],
    &["la", "faute"],
];
/// Linking words between a cue and its cause ("because *of*", "à cause *du*"): not the cause.
const LINKS: [&str; 6] = ["of", "de", "du", "des", "d", "a"];
/// Words before `car` that make it a noun.
const DETERMINERS: [&str; 8] = ["le", "un", "du", "ce", "en", "mon", "notre", "au"];
/// Words after `since` that make it a time.
const TIMES: [&str; 21] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "yesterday",
    "last",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
/// Longest cause, in words.
const MAX_WORDS: usize = 25;

/// A stated cause: its words' byte range in the text, and the cue's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatedCause {
    pub bytes: Range<usize>,
    pub cue: Range<usize>,
}

/// The cues of a language: French, English, or both for any other (`car` and `a cause` are
/// English words too, so a text known to be English never reads them as cues).
fn cues(language: &str) -> Vec<&'static [&'static str]> {
    match language {
        "fr" => FRENCH_CUES.to_vec(),
        "en" => ENGLISH_CUES.to_vec(),
        _ => ENGLISH_CUES.iter().chain(&FRENCH_CUES).copied().collect(),
    }
}

/// The causes `text`, written in `language` (`fr`, `en` or other), states, in text order.
pub fn stated_causes(text: &str, language: &str) -> Vec<StatedCause> {
    let cues = cues(language);
    let cue_at = |words: &[Word], i: usize| {
        cues.iter().find(|cue| starts_with_cue(words, i, cue)).filter(|cue| reads_as_cause(words, i, cue)).copied()
    };
    let words = words(text);
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let Some(cue) = cue_at(&words, i) else {
            i += 1;
            continue;
        };
        let cue_end = i + cue.len();
        let mut first = cue_end;
        while words.get(first).is_some_and(|w| LINKS.contains(&w.folded.as_str())) {
            first += 1;
        }
        let mut last = first;
        while last < words.len()
            && last - first < MAX_WORDS
            && (last == first
                || !(ends_clause(text, &words, last)
                    || starts_contrast(&words, last)
                    || cue_at(&words, last).is_some()))
        {
            last += 1;
        }
        if last > first {
            out.push(StatedCause {
                bytes: words[first].bytes.start..words[last - 1].bytes.end,
                cue: words[i].bytes.start..words[cue_end - 1].bytes.end,
            });
        }
        i = last.max(cue_end);
    }
    out
}

fn reads_as_cause(words: &[Word], i: usize, cue: &[&str]) -> bool {
    match cue {
        ["car"] => i == 0 || !DETERMINERS.contains(&words[i - 1].folded.as_str()),
        ["since"] => words.get(i + 1).is_some_and(|w| {
            !TIMES.contains(&w.folded.as_str()) && !w.folded.chars().next().is_some_and(|c| c.is_ascii_digit())
        }),
        _ => true,
    }
}

/// Punctuation before word `i` ends the cause.
fn ends_clause(text: &str, words: &[Word], i: usize) -> bool {
    text[words[i - 1].bytes.end..words[i].bytes.start].contains(['.', '!', '?', ';', ',', '\n', '…', '(', ')'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn causes(text: &str) -> Vec<&str> {
        stated_causes(text, crate::nlp::language::detect(text)).into_iter().map(|c| &text[c.bytes]).collect()
    }

    #[test]
    fn finds_french_and_english_causes_to_the_end_of_their_clause() {
        assert_eq!(
            causes("I'm cancelling because the parcel arrived 5 days late, again."),
            ["the parcel arrived 5 days late"]
        );
        assert_eq!(causes("Annulé à cause du retard de livraison. Merci"), ["retard de livraison"]);
        assert_eq!(causes("Déçu car le colis est arrivé abîmé mais le SAV a réagi"), ["le colis est arrivé abîmé"]);
        assert_eq!(causes("Delayed due to weather and then cancelled"), ["weather and then cancelled"]);
        assert_eq!(causes("Remboursé suite à mon appel"), ["mon appel"]);
    }

    #[test]
    fn keeps_cues_that_are_something_else_out() {
        assert!(causes("Le car est arrivé en retard").is_empty());
        assert!(causes("Waiting since Monday for a refund").is_empty());
        assert!(causes("since 3 weeks nothing").is_empty());
        assert_eq!(causes("I left since nobody answered"), ["nobody answered"]);
        assert!(stated_causes("The car was late and the driver rude", "en").is_empty());
        let towed = "Late because my car was towed";
        assert_eq!(
            stated_causes(towed, "en").iter().map(|c| &towed[c.bytes.clone()]).collect::<Vec<_>>(),
            ["my car was towed"]
        );
    }
}
