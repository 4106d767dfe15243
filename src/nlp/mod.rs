//! Text analysis: pure functions over text and models, no I/O beyond loading a model.
//!
//! - [`language`]: French, English or other;
//! - [`sentences`]: sentence boundaries with code-point offsets;
//! - [`features`]: the hashed n-gram features the lightweight models read;
//! - [`linear`]: the hashed linear classifier, its training and its file format;
//! - [`sentiment`]: document and sentence sentiment behind one trait, one engine per tier;
//! - [`corpora`]: readers for the labeled files that training and evaluation use.

pub mod corpora;
pub mod features;
pub mod language;
pub mod linear;
pub mod sentences;
pub mod sentiment;
