//! verbatim: text analytics for customer feedback.
//!
//! Data flows one way: [`ingest`] and [`api`] take verbatims in; [`domain`] validates them;
//! [`service`] writes them to the [`store`] (SQLite, the system of record) and then to the
//! [`index`] (Tantivy, derived and rebuildable); [`search`] describes queries and results.
//! [`analysis`] runs the [`nlp`] models (and the transformer [`engine`], whose weights [`models`]
//! installs) on the way in and on demand. [`backup`] copies the store out while the server runs,
//! and back into a fresh data directory.

pub mod analysis;
pub mod api;
pub mod backup;
pub mod config;
pub mod domain;
pub mod engine;
pub mod index;
pub mod ingest;
pub mod models;
pub mod nlp;
pub mod search;
pub mod service;
pub mod store;
