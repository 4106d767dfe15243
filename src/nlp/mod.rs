//! Text analysis: pure functions over text and models, no I/O beyond loading a model.
//!
//! - [`language`]: French, English or other;
//! - [`words`]: folded words with byte ranges; [`clauses`]: the parts of a sentence that each
//!   judge one thing;
//! - [`aspects`]: the things a text judges, their polarity and opinion words;
//! - [`causes`]: the reasons a text states ("because…", "à cause de…");
//! - [`sentences`]: sentence boundaries with code-point offsets ([`offsets`] converts them);
//! - [`features`]: the hashed n-gram features the lightweight models read;
//! - [`stop_words`]: the French and English words that name no theme;
//! - [`key_phrases`]: the few phrases of a text that say what it is about;
//! - [`lexicon`]: prior polarity of English words and emoticons, one of those features;
//! - [`linear`]: the hashed linear classifier, its training and its file format;
//! - [`sentiment`]: document and sentence sentiment behind one trait, one engine per tier;
//! - [`emotions`]: the emotions a document expresses, one engine per tier;
//! - [`encoding`]: what a tier computes from a text once, for its sentiment and emotion models.
//!
//! The labeled data sets that train and evaluate these models are read by `crate::training`,
//! which only the `training` cargo feature builds.

pub mod aspects;
pub mod causes;
pub mod clauses;
pub mod emotions;
pub mod encoding;
pub mod features;
pub mod key_phrases;
pub mod language;
pub mod lexicon;
pub mod linear;
pub mod offsets;
pub mod pii;
pub mod sentences;
pub mod sentiment;
pub mod stop_words;
pub mod words;
