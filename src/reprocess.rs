//! `verbatim reprocess --input FILE --output FILE`: a file of verbatims (JSONL or CSV, gzip or
//! not) through the analysis pipeline into a JSONL file, one analysis per valid line, in input
//! order; resumable after a kill, with every line's result written exactly once.
//!
//! **Exactly once.** Lines are read, analysed and written a batch at a time. A batch's results
//! go to the output file (its rejected lines to the error file), both files are synced, and only
//! then does the checkpoint under the data directory (`jobs/reprocess-KEY.json`, written
//! atomically) move past the batch: the input lines consumed and the two files' lengths. Run
//! again after a kill, the same command truncates both files back to the checkpoint's lengths
//! (dropping a torn last line, or a batch written after the last checkpoint), skips the lines
//! consumed, and goes on. The checkpoint holds paths and counts, never text; it is removed when
//! the job completes.
//!
//! Memory is bounded by a batch, whatever the input's size: the input is streamed.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::domain::{Document, Tier};
use crate::durable::write_atomically;
use crate::input::{records, validate_record, Format, RecordError};
use crate::models::sha256_hex;
use crate::pipeline::Analyzer;

/// Lines analysed, written and checkpointed together.
const BATCH_LINES: usize = 2_000;

/// What to reprocess, and where to.
pub struct ReprocessJob {
    pub input: PathBuf,
    pub output: PathBuf,
    pub tier: Tier,
    /// `None`: CSV for `*.csv` and `*.csv.gz`, else JSONL.
    pub format: Option<Format>,
}

/// How far a job has come, as reported to the progress display.
pub struct Progress {
    /// Input lines consumed (this run and the interrupted ones before it).
    pub lines: u64,
    /// Bytes of the input file read, of `input_bytes`.
    pub read_bytes: u64,
    pub input_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct ReprocessReport {
    pub written: u64,
    pub rejected: u64,
    /// The input line an interrupted run had reached, when this run resumed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed_after_line: Option<u64>,
    pub output: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<PathBuf>,
}

/// Progress saved after each batch (see the module documentation).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Checkpoint {
    /// The input file's size when the job started: a changed input cannot be resumed.
    input_bytes: u64,
    /// Input lines (CSV: records' line numbers) consumed.
    lines: u64,
    output_bytes: u64,
    error_bytes: u64,
    written: u64,
    rejected: u64,
}

/// Runs (or resumes) `job`; `data_dir` keeps its checkpoint. `progress` is called after each batch.
pub fn reprocess(
    analyzer: &Analyzer,
    data_dir: &Path,
    job: &ReprocessJob,
    mut progress: impl FnMut(&Progress),
) -> anyhow::Result<ReprocessReport> {
    let model = analyzer.model(job.tier)?;
    let input_bytes = std::fs::metadata(&job.input).with_context(|| format!("reading {}", job.input.display()))?.len();
    let checkpoint_path = checkpoint_path(data_dir, job)?;
    let errors_path = errors_path(&job.output);
    let mut checkpoint = match std::fs::read(&checkpoint_path) {
        Ok(bytes) => serde_json::from_slice::<Checkpoint>(&bytes)
            .with_context(|| format!("reading the checkpoint {}", checkpoint_path.display()))?,
        Err(_) => Checkpoint { input_bytes, ..Checkpoint::default() },
    };
    if checkpoint.input_bytes != input_bytes {
        bail!(
            "{} changed size since the interrupted run ({} bytes then, {input_bytes} now); delete {} to start over",
            job.input.display(),
            checkpoint.input_bytes,
            checkpoint_path.display()
        );
    }
    let resumed_after_line = (checkpoint.lines > 0).then_some(checkpoint.lines);
    if let Some(line) = resumed_after_line {
        tracing::info!(line, output = %job.output.display(), "resuming an interrupted reprocess");
    }
    let mut output = open_at(&job.output, checkpoint.output_bytes)?;
    let mut errors =
        if checkpoint.error_bytes > 0 { Some(open_at(&errors_path, checkpoint.error_bytes)?) } else { None };
    if errors.is_none() && errors_path.exists() {
        // Left by a run whose errors were never checkpointed: none of them counts.
        std::fs::remove_file(&errors_path).with_context(|| format!("removing {}", errors_path.display()))?;
    }

    let read_bytes = Arc::new(AtomicU64::new(0));
    let input = open_input(&job.input, read_bytes.clone())?;
    let format = job.format.unwrap_or_else(|| Format::guess(job.input.to_string_lossy().trim_end_matches(".gz")));
    let now = Utc::now();
    let mut batch: Vec<(u64, Result<Document, RecordError>)> = Vec::with_capacity(BATCH_LINES);
    let mut records = records(input, format)?;
    loop {
        let record = records.next().transpose()?;
        let finished = record.is_none();
        if let Some((line, item)) = record {
            if line <= checkpoint.lines {
                continue;
            }
            let document = validate_record((line, item), now).map(|verbatim| Document {
                id: verbatim.id,
                text: verbatim.text,
                language: verbatim.language,
            });
            batch.push((line, document));
            if batch.len() < BATCH_LINES {
                continue;
            }
        }
        if !batch.is_empty() {
            let last_line = batch.last().map(|(line, _)| *line).expect("a line");
            write_batch(
                analyzer,
                model,
                std::mem::take(&mut batch),
                &mut output,
                &mut errors,
                &errors_path,
                &mut checkpoint,
            )?;
            checkpoint.lines = last_line;
            write_atomically(&checkpoint_path, &serde_json::to_vec(&checkpoint).expect("checkpoint serialises"))?;
            progress(&Progress { lines: last_line, read_bytes: read_bytes.load(Ordering::Relaxed), input_bytes });
        }
        if finished {
            break;
        }
    }
    std::fs::remove_file(&checkpoint_path).with_context(|| format!("removing {}", checkpoint_path.display()))?;
    Ok(ReprocessReport {
        written: checkpoint.written,
        rejected: checkpoint.rejected,
        resumed_after_line,
        output: job.output.clone(),
        errors: errors.is_some().then_some(errors_path),
    })
}

/// Analyses a batch and appends its results and rejections, both files synced on return.
fn write_batch(
    analyzer: &Analyzer,
    model: &dyn crate::nlp::sentiment::SentimentModel,
    batch: Vec<(u64, Result<Document, RecordError>)>,
    output: &mut File,
    errors: &mut Option<File>,
    errors_path: &Path,
    checkpoint: &mut Checkpoint,
) -> anyhow::Result<()> {
    let mut documents = Vec::with_capacity(batch.len());
    let mut rejected = Vec::new();
    for (_, result) in batch {
        match result {
            Ok(document) => documents.push(document),
            Err(rejection) => rejected.push(rejection),
        }
    }
    let mut lines = Vec::new();
    for encoded in analyzer.analyze_to_json(model, &documents)? {
        lines.extend_from_slice(encoded.as_bytes());
        lines.push(b'\n');
    }
    output.write_all(&lines).and_then(|_| output.sync_data()).context("writing the output file")?;
    checkpoint.output_bytes += lines.len() as u64;
    checkpoint.written += documents.len() as u64;
    if !rejected.is_empty() {
        let file = match errors {
            Some(file) => file,
            None => errors.insert(open_at(errors_path, 0)?),
        };
        let mut bytes = Vec::new();
        for rejection in &rejected {
            serde_json::to_writer(&mut bytes, rejection).expect("rejections serialise");
            bytes.push(b'\n');
        }
        file.write_all(&bytes).and_then(|_| file.sync_data()).context("writing the error file")?;
        checkpoint.error_bytes += bytes.len() as u64;
        checkpoint.rejected += rejected.len() as u64;
    }
    Ok(())
}

/// Opens `path` for appending after its first `length` bytes, dropping anything after them.
fn open_at(path: &Path, length: u64) -> anyhow::Result<File> {
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let found = file.metadata()?.len();
    if found < length {
        bail!("{} has {found} bytes, fewer than the {length} its checkpoint recorded; was it changed?", path.display());
    }
    file.set_len(length).with_context(|| format!("truncating {}", path.display()))?;
    file.seek(std::io::SeekFrom::End(0))?;
    Ok(file)
}

/// The input, decompressed when it is gzip (recognised by its first bytes), counting the
/// file's bytes read for the progress display.
fn open_input(path: &Path, read_bytes: Arc<AtomicU64>) -> anyhow::Result<Box<dyn Read>> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut magic = [0u8; 2];
    let gzip = file.read(&mut magic)? == 2 && magic == [0x1f, 0x8b];
    file.rewind()?;
    let counted = BufReader::new(Counted { inner: file, read_bytes });
    Ok(if gzip { Box::new(BufReader::new(flate2::bufread::MultiGzDecoder::new(counted))) } else { Box::new(counted) })
}

struct Counted<R> {
    inner: R,
    read_bytes: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read_bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// One checkpoint per (input, output, model): the same command finds its own.
fn checkpoint_path(data_dir: &Path, job: &ReprocessJob) -> anyhow::Result<PathBuf> {
    let absolute = |path: &Path| std::path::absolute(path).with_context(|| format!("resolving {}", path.display()));
    let key = format!("{}\n{}\n{}", absolute(&job.input)?.display(), absolute(&job.output)?.display(), job.tier);
    let dir = data_dir.join("jobs");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir.join(format!("reprocess-{}.json", &sha256_hex(key.as_bytes())[..16])))
}

/// Rejected lines go beside the output: `results.jsonl` → `results.jsonl.errors.jsonl`.
pub fn errors_path(output: &Path) -> PathBuf {
    let mut name = output.file_name().unwrap_or_default().to_os_string();
    name.push(".errors.jsonl");
    output.with_file_name(name)
}

/// Logs progress at most every few seconds: what a terminal's progress bar shows, for logs.
#[derive(Default)]
pub struct ProgressLog {
    /// When this run's first batch was done, and the lines consumed by then.
    first: Option<(Instant, u64)>,
    last: Option<Instant>,
}

impl ProgressLog {
    pub fn update(&mut self, progress: &Progress) {
        let (started, first_lines) = *self.first.get_or_insert((Instant::now(), progress.lines));
        if self.last.is_some_and(|last| last.elapsed().as_secs() < 5) {
            return;
        }
        self.last = Some(Instant::now());
        let fraction = (progress.read_bytes as f64 / progress.input_bytes.max(1) as f64).min(1.0);
        let elapsed = started.elapsed().as_secs_f64().max(1e-3);
        let lines_per_second = (progress.lines - first_lines) as f64 / elapsed;
        let eta_seconds = if fraction > 0.0 { (elapsed / fraction - elapsed).round() as u64 } else { 0 };
        tracing::info!(
            lines = progress.lines,
            lines_per_second = lines_per_second.round() as u64,
            percent = format!("{:.1}", 100.0 * fraction),
            eta_seconds,
            "reprocessing"
        );
    }
}
