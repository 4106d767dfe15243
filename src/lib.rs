//! verbatim: text analytics for customer feedback.
//!
//! Data flows one way: [`ingest`] and [`api`] take verbatims in; [`domain`] validates them;
//! [`service`] writes them to the [`store`] (SQLite, the system of record) and then to the
//! [`index`] (Tantivy, derived and rebuildable); [`search`] describes queries and results.

pub mod analysis;
pub mod api;
pub mod config;
pub mod domain;
pub mod index;
pub mod ingest;
pub mod nlp;
pub mod search;
pub mod service;
pub mod store;
