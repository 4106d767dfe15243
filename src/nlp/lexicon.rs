//! A prior-polarity lexicon: what people generally feel a word or emoticon says, before any
//! training.
//!
//! The fast tier learns word weights from some 28,000 labeled texts; a word it never saw there
//! weighs nothing. The lexicon gives such words a prior: the fast tier's features carry each
//! lexicon word's polarity strength as a feature of its own ([`crate::nlp::features`]), whose
//! weights are learnt from every lexicon word seen in training and so carry over to the ones
//! never seen. This is the classic way lexicons enter a linear sentiment model (NRC-Canada's
//! SemEval systems), and what the fast tier most lacked on general-domain tweets.
//!
//! The lexicon is VADER's (Hutto & Gilbert 2014, MIT; `models/lexicon-en-vader.tsv`, made by
//! `cut -f1,2` of `vaderSentiment/vader_lexicon.txt` in the `vaderSentiment==3.3.2` wheel):
//! 7,500 English words, slang and emoticons rated by people from −4 to +4 and tuned for social
//! media. Where an entry is listed twice the later one wins, as in VADER itself.

use std::collections::HashMap;
use std::sync::LazyLock;

const VADER: &str = include_str!("../../models/lexicon-en-vader.tsv");

/// Entries split by how the features meet them: words as the word tokenizer yields them,
/// emoticons as whitespace-separated chunks of the raw text.
struct Lexicon {
    words: HashMap<&'static str, f32>,
    emoticons: HashMap<&'static str, f32>,
}

static LEXICON: LazyLock<Lexicon> = LazyLock::new(|| parse(VADER));

/// The rating of a lower-cased, accent-folded word, if the lexicon has it.
pub fn word_valence(word: &str) -> Option<f32> {
    LEXICON.words.get(word).copied()
}

/// The rating of an emoticon (`:)`, `</3`, `:-D`), matched as written.
pub fn emoticon_valence(chunk: &str) -> Option<f32> {
    LEXICON.emoticons.get(chunk).copied()
}

/// Entries that are one run of lower-case letters and digits are words; entries with no
/// letter or digit run of two (`:)`, `:-d`, `<3`) are emoticons; multi-word phrases such as
/// "fed up" are left out, since the features look at one token at a time.
fn parse(text: &'static str) -> Lexicon {
    let mut lexicon = Lexicon { words: HashMap::new(), emoticons: HashMap::new() };
    for line in text.lines() {
        let Some((entry, valence)) = line.split_once('\t') else { continue };
        let Ok(valence) = valence.trim().parse::<f32>() else { continue };
        if entry.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()) {
            lexicon.words.insert(entry, valence);
        } else if !entry.contains(' ') && !has_alphanumeric_run(entry) {
            lexicon.emoticons.insert(entry, valence);
        }
    }
    lexicon
}

fn has_alphanumeric_run(entry: &str) -> bool {
    entry.as_bytes().windows(2).any(|pair| pair.iter().all(u8::is_ascii_alphanumeric))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_emoticons_carry_their_ratings() {
        assert_eq!(word_valence("love"), Some(3.2));
        assert!(word_valence("hate").unwrap() < -2.0);
        assert_eq!(word_valence("table"), None);
        assert!(emoticon_valence(":)").unwrap() > 1.0);
        assert!(emoticon_valence(":(").unwrap() < -1.0);
        assert!(emoticon_valence("</3").unwrap() < 0.0);
    }

    #[test]
    fn a_repeated_entry_keeps_its_later_rating_and_phrases_are_left_out() {
        assert_eq!(word_valence("ok"), Some(1.2));
        assert_eq!(word_valence("fed up"), None);
        assert_eq!(emoticon_valence("fed up"), None);
    }
}
