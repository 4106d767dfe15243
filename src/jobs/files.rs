//! The files of `analyze_file` jobs. The input is taken only from the import directory the
//! configuration names, never from any other server path; the results (and the rejected
//! lines, and the run's checkpoint) are kept in the job's folder, `DATA/jobs/<id>/`, until the
//! job is deleted. They hold verbatim ids, texts (in sentences) and customer ids, so erasure
//! reaches them ([`erase_from_results`]).

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::spec::{spec_error, SpecError};
use crate::durable;
use crate::models::sha256_hex;
use crate::reprocess::errors_path;
use crate::store::{JobRow, Store};

/// A job's results, in its folder.
const RESULTS: &str = "results.jsonl";

/// The folder of job `id`.
pub fn job_dir(data_dir: &Path, id: &str) -> PathBuf {
    data_dir.join("jobs").join(id)
}

pub fn results_path(data_dir: &Path, id: &str) -> PathBuf {
    job_dir(data_dir, id).join(RESULTS)
}

/// The rejected lines of job `id` (line numbers, ids and reasons).
pub fn rejected_path(data_dir: &Path, id: &str) -> PathBuf {
    errors_path(&results_path(data_dir, id))
}

/// The file `file` names in the import directory: it must exist there, and stay there once
/// links are followed.
pub fn resolve_import(import_dir: Option<&Path>, file: &str) -> Result<PathBuf, SpecError> {
    let dir = import_dir.ok_or_else(|| {
        spec_error("imports_disabled", "file", "this server has no import directory; set `import_dir` to submit files")
    })?;
    let dir = dir
        .canonicalize()
        .map_err(|_| spec_error("imports_disabled", "file", "the server's import directory does not exist"))?;
    let path = dir
        .join(file)
        .canonicalize()
        .map_err(|_| spec_error("file_not_found", "file", format!("no file `{file}` in the import directory")))?;
    if !path.starts_with(&dir) {
        return Err(spec_error("invalid_path", "file", format!("`{file}` leads out of the import directory")));
    }
    if !path.is_file() {
        return Err(spec_error("file_not_found", "file", format!("`{file}` is not a file")));
    }
    Ok(path)
}

/// Removes from a job's results and rejected lines every line of a verbatim or customer
/// erased since the job was created (earlier erasures do not reach data submitted after
/// them). Idempotent, so it runs whenever it might matter: after each erasure, when a job
/// ends, and at start-up (an erasure the process died before applying to the files); once
/// applied, the job's mark moves past them, so a job already clear is not read again. The
/// caller keeps two from running at once. Returns how many lines it removed.
pub fn erase_from_results(store: &Store, data_dir: &Path, job: &JobRow) -> anyhow::Result<u64> {
    let latest = store.last_erasure()?;
    if latest <= job.erasure_mark {
        return Ok(0);
    }
    let erasures = store.erasures_after(job.erasure_mark)?;
    let subjects = |of_verbatims: bool| -> HashSet<&str> {
        erasures
            .iter()
            .filter(|e| e.kind.names_a_verbatim() == of_verbatims)
            .map(|e| e.subject_sha256.as_str())
            .collect()
    };
    let (ids, customers) = (subjects(true), subjects(false));
    let erased = |line: &str| {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else { return false };
        let hashed = |key: &str| value[key].as_str().map(|s| sha256_hex(s.as_bytes()));
        hashed("id").is_some_and(|h| ids.contains(h.as_str()))
            || hashed("customer_id").is_some_and(|h| customers.contains(h.as_str()))
    };
    let mut removed = 0;
    for path in [results_path(data_dir, &job.id), rejected_path(data_dir, &job.id)] {
        removed += drop_lines(&path, &erased)?;
    }
    if removed > 0 {
        tracing::info!(job = %job.id, lines = removed, "erased verbatims removed from the job's results");
    }
    // Erasures after `latest` (recorded meanwhile) are applied again next time: harmless.
    store.set_job_erasure_mark(&job.id, latest)?;
    Ok(removed)
}

/// Rewrites `path` without the lines `erased` picks (atomically); a missing file has none.
fn drop_lines(path: &Path, erased: &dyn Fn(&str) -> bool) -> anyhow::Result<u64> {
    let open = || std::fs::File::open(path).map(BufReader::new);
    let Ok(reader) = open() else { return Ok(0) };
    let mut found = 0;
    for line in reader.lines() {
        found += u64::from(erased(&line.with_context(|| format!("reading {}", path.display()))?));
    }
    if found == 0 {
        return Ok(0);
    }
    durable::write_streaming(path, |file| {
        let mut out = std::io::BufWriter::new(file);
        for line in open()?.lines() {
            let line = line?;
            if !erased(&line) {
                out.write_all(line.as_bytes())?;
                out.write_all(b"\n")?;
            }
        }
        Ok(out.flush()?)
    })?;
    Ok(found)
}
