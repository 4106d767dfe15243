//! verbatim: text analytics for customer feedback.
//!
//! Data flows one way: read → validate → analyse → store → index → search.
//!
//! - [`domain`]: the shared vocabulary (a verbatim, a channel, a sentiment, a tier), types only;
//! - [`input`]: file readers (JSONL, CSV) and validation of raw items into domain types;
//! - [`pipeline`]: analysis as ordered stages, inline at ingestion or deferred to jobs, over the
//!   models of [`nlp`] and the transformer [`engine`] (whose weights [`models`] installs);
//! - [`service`]: the one write path (a writer thread, group commit) into the [`store`]
//!   (SQLite, the system of record) and the [`index`] (Tantivy, derived, rebuildable), and the
//!   read side; [`consumers`] are the views derived from the store that follow it by `seq`;
//! - [`topics`]: what verbatims talk about, found without labels (clustering, names, stable
//!   ids);
//! - [`root_causes`]: why customers are unhappy, stated causes and negative aspects grouped
//!   across verbatims and languages, ranked by volume and NPS impact;
//! - [`search`]: what a query asks and what comes back;
//! - [`api`]: the HTTP API; [`ingest`], [`analyze`] and [`reprocess`]: the file-based commands;
//!   [`backup`]: copies of the store, out and back in; [`durable`]: files written whole;
//! - `training` (cargo feature `training`): the labeled data readers training and evaluation use.

pub mod alerts;
pub mod analyze;
pub mod api;
pub mod backup;
pub mod config;
pub mod consumers;
pub mod domain;
pub mod durable;
pub mod engine;
pub mod export;
pub mod index;
pub mod ingest;
pub mod input;
pub mod jobs;
pub mod kpi;
pub mod models;
pub mod nlp;
pub mod pipeline;
pub mod reprocess;
pub mod retention;
pub mod root_causes;
pub mod search;
pub mod service;
pub mod store;
pub mod tabular;
pub mod topics;
#[cfg(feature = "training")]
pub mod training;
