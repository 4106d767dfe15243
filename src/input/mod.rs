//! The way in: reading records from files ([`records`]) and validating items into domain
//! types ([`validate`]). Nothing here stores or analyses; HTTP bodies are read by the API and
//! validated here too.

pub mod records;
pub mod validate;

pub use records::{jsonl_records, records, validate_record, Format, RawRecord, RecordError};
pub use validate::{item_id, ItemError, TextItem};
