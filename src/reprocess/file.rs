//! `verbatim reprocess --input FILE --output FILE`: a file of verbatims (JSONL or CSV, gzip or
//! not) through the analysis pipeline into a JSONL file, one analysis per valid line, in input
//! order; resumable after a kill, with every line's result written exactly once.
//!
//! **Exactly once.** Lines are read, analysed and written a batch at a time. A batch's results
//! go to the output file (its rejected lines to the error file), both files are synced, and only
//! then does the checkpoint under the data directory (`jobs/reprocess-KEY.json`, written
//! atomically) move past the batch: the input records consumed and the two files' lengths. Run
//! again after a kill, the same command truncates both files back to the checkpoint's lengths
//! (dropping a torn last line, or a batch written after the last checkpoint), skips the records
//! consumed, and goes on. The checkpoint also records what it was taken of (the input's size
//! and modification time, the output's identity): a changed input or a replaced output is not
//! resumed. A lock beside it keeps a second copy of the command out. The checkpoint holds
//! paths, counts and file identities, never text; it is removed when the job completes.
//!
//! Memory is bounded by a batch, whatever the input's size: the input is streamed.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context};
use chrono::Utc;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::domain::{Document, Tier};
use crate::durable::{self, sync_folder_of, write_atomically};
use crate::input::{records, validate_record, Format, RecordError};
use crate::models::sha256_hex;
use crate::pipeline::{AnalyzedDocument, Analyzer};
use crate::tabular::{column, Cell, Column, Kind, ParquetTable, TableWriter};

use super::{batch_size, Outcome, Progress};

/// Lines analysed, written and checkpointed together with the `fast` tier (see [`batch_size`]).
const BATCH_LINES: usize = 2_000;

/// What to reprocess, and where to.
pub struct ReprocessJob {
    pub input: PathBuf,
    /// JSONL, or Parquet when it ends in `.parquet` (see [`OutputFormat`]).
    pub output: PathBuf,
    pub tier: Tier,
    /// `None`: CSV for `*.csv` and `*.csv.gz`, else JSONL.
    pub format: Option<Format>,
    /// Whether each result names the verbatim's customer, when the input did: a job's results
    /// kept on the server must, so that erasing the customer finds them.
    pub with_customer: bool,
}

/// How results are written. JSONL is appended batch by batch, which is what makes a run
/// resumable; Parquet's footer comes last, so a Parquet output is written as JSONL beside it
/// (`OUTPUT.partial.jsonl`) and converted once every line is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Jsonl,
    Parquet,
}

impl OutputFormat {
    pub fn of(path: &Path) -> OutputFormat {
        match path.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet")) {
            true => OutputFormat::Parquet,
            false => OutputFormat::Jsonl,
        }
    }
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
#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
struct Checkpoint {
    /// The input as the job found it: a changed input cannot be resumed.
    input: FileIdentity,
    /// The output file this job writes: another file at that path cannot be resumed.
    output: FileIdentity,
    /// Input records consumed (counted, not line numbers: a CSV record may span lines).
    records: u64,
    /// The line of the last record consumed, for messages.
    line: u64,
    output_bytes: u64,
    error_bytes: u64,
    written: u64,
    rejected: u64,
}

/// Which file a path named: enough to tell a changed or replaced file from the one a
/// checkpoint was taken of.
#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize, PartialEq)]
struct FileIdentity {
    device: u64,
    inode: u64,
    bytes: u64,
    modified_ns: i128,
}

impl FileIdentity {
    fn of(path: &Path) -> anyhow::Result<FileIdentity> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
        Ok(FileIdentity {
            device: meta.dev(),
            inode: meta.ino(),
            bytes: meta.len(),
            modified_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        })
    }

    fn same_file(&self, other: &FileIdentity) -> bool {
        (self.device, self.inode) == (other.device, other.inode)
    }
}

/// Runs (or resumes) `job`; `data_dir` keeps its checkpoint. `stop` is asked and `progress`
/// told after each batch. Returns how the run ended and what it wrote (so far, when stopped).
pub fn reprocess(
    analyzer: &Analyzer,
    data_dir: &Path,
    job: &ReprocessJob,
    stop: &dyn Fn() -> bool,
    mut progress: impl FnMut(&Progress),
) -> anyhow::Result<(Outcome, ReprocessReport)> {
    let model = analyzer.model(job.tier)?;
    let batch_lines = batch_size(model, BATCH_LINES);
    let format = job.format.unwrap_or_else(|| Format::guess(job.input.to_string_lossy().trim_end_matches(".gz")));
    let input_identity = FileIdentity::of(&job.input)?;
    let output_format = OutputFormat::of(&job.output);
    // Where the lines go as they are made: the output itself, or the work file of a Parquet one.
    let lines_path = match output_format {
        OutputFormat::Jsonl => job.output.clone(),
        OutputFormat::Parquet => with_suffix(&job.output, ".partial.jsonl"),
    };
    let errors_path = errors_path(&job.output);
    for written in [&job.output, &lines_path, &errors_path] {
        // Truncating the output must never truncate the input.
        if FileIdentity::of(written).is_ok_and(|found| found.same_file(&input_identity)) {
            bail!("{} is the input file; choose another output", written.display());
        }
    }
    let checkpoint_path = checkpoint_path(data_dir, job, format)?;
    let lock_path = checkpoint_path.with_extension("lock");
    let _lock = lock(&lock_path)?;
    let mut checkpoint = match std::fs::read(&checkpoint_path) {
        Ok(bytes) => serde_json::from_slice::<Checkpoint>(&bytes)
            .with_context(|| format!("reading the checkpoint {}", checkpoint_path.display()))?,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Checkpoint::default(),
        Err(err) => return Err(err).with_context(|| format!("reading the checkpoint {}", checkpoint_path.display())),
    };
    let resuming = checkpoint.records > 0;
    if resuming {
        let start_over = format!("delete {} to start over", checkpoint_path.display());
        if checkpoint.input != input_identity {
            bail!("{} changed since the interrupted run; {start_over}", job.input.display());
        }
        if !FileIdentity::of(&lines_path).is_ok_and(|found| found.same_file(&checkpoint.output)) {
            bail!("{} is not the file the interrupted run wrote; {start_over}", lines_path.display());
        }
        tracing::info!(line = checkpoint.line, output = %job.output.display(), "resuming an interrupted reprocess");
    } else {
        checkpoint.input = input_identity;
    }
    let resumed_after_line = resuming.then_some(checkpoint.line);
    let mut output = open_at(&lines_path, checkpoint.output_bytes)?;
    checkpoint.output = FileIdentity::of(&lines_path)?;
    let mut errors =
        if checkpoint.error_bytes > 0 { Some(open_at(&errors_path, checkpoint.error_bytes)?) } else { None };
    if errors.is_none() && errors_path.exists() {
        // Left by a run whose errors were never checkpointed: none of them counts.
        std::fs::remove_file(&errors_path).with_context(|| format!("removing {}", errors_path.display()))?;
    }

    let read_bytes = Arc::new(AtomicU64::new(0));
    let input = open_input(&job.input, read_bytes.clone())?;
    let input_bytes = input_identity.bytes;
    let now = Utc::now();
    let mut batch: Vec<(u64, Result<Analysed, RecordError>)> = Vec::with_capacity(batch_lines);
    let mut records = records(input, format)?.skip(checkpoint.records as usize);
    let report = |checkpoint: &Checkpoint, errors: &Option<File>| ReprocessReport {
        written: checkpoint.written,
        rejected: checkpoint.rejected,
        resumed_after_line,
        output: job.output.clone(),
        errors: errors.is_some().then(|| errors_path.clone()),
    };
    loop {
        let record = records.next().transpose()?;
        let finished = record.is_none();
        if let Some((line, item)) = record {
            let document = validate_record((line, item), now).map(|verbatim| Analysed {
                customer_id: verbatim.customer_id.filter(|_| job.with_customer),
                document: Document { id: verbatim.id, text: verbatim.text, language: verbatim.language },
            });
            batch.push((line, document));
            if batch.len() < batch_lines {
                continue;
            }
        }
        if !batch.is_empty() {
            let last_line = batch.last().map(|(line, _)| *line).expect("a line");
            checkpoint.records += batch.len() as u64;
            write_batch(
                analyzer,
                model,
                std::mem::take(&mut batch),
                &mut output,
                &mut errors,
                &errors_path,
                &mut checkpoint,
            )?;
            checkpoint.line = last_line;
            write_atomically(&checkpoint_path, &serde_json::to_vec(&checkpoint).expect("checkpoint serialises"))?;
            progress(&Progress {
                done: checkpoint.records,
                rejected: checkpoint.rejected,
                position: read_bytes.load(Ordering::Relaxed),
                length: input_bytes,
            });
            if !finished && stop() {
                return Ok((Outcome::Stopped, report(&checkpoint, &errors)));
            }
        }
        if finished {
            break;
        }
    }
    if output_format == OutputFormat::Parquet {
        drop(output);
        durable::write_streaming(&job.output, |file| to_parquet(&lines_path, file))?;
    }
    // The checkpoint goes first: killed before the work file is removed, a rerun starts over
    // (truncating it) rather than finding a checkpoint whose file is gone.
    std::fs::remove_file(&checkpoint_path).with_context(|| format!("removing {}", checkpoint_path.display()))?;
    if output_format == OutputFormat::Parquet {
        std::fs::remove_file(&lines_path).with_context(|| format!("removing {}", lines_path.display()))?;
    }
    std::fs::remove_file(&lock_path).with_context(|| format!("removing {}", lock_path.display()))?;
    sync_folder_of(&checkpoint_path)?;
    Ok((Outcome::Finished, report(&checkpoint, &errors)))
}

/// A valid record on its way to analysis.
struct Analysed {
    document: Document,
    /// Written with the result when the job asks for it ([`ReprocessJob::with_customer`]).
    customer_id: Option<String>,
}

/// One output line: the analysis document, and the customer when asked for.
#[derive(Serialize)]
struct ResultLine<'a> {
    #[serde(flatten)]
    analysis: &'a AnalyzedDocument,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_id: Option<&'a str>,
}

/// The columns of a Parquet output: the document object's, its sentences, emotions, aspects,
/// causes and key phrases as JSON.
const RESULT_COLUMNS: [Column; 13] = [
    column("id", Kind::Text),
    column("customer_id", Kind::Text),
    column("language", Kind::Text),
    column("sentiment", Kind::Text),
    column("sentiment_score", Kind::Float),
    column("p_negative", Kind::Float),
    column("p_neutral", Kind::Float),
    column("p_positive", Kind::Float),
    column("sentences", Kind::Text),
    column("emotions", Kind::Text),
    column("aspects", Kind::Text),
    column("causes", Kind::Text),
    column("key_phrases", Kind::Text),
];

/// Converts the finished JSONL work file into the Parquet output, a line at a time.
fn to_parquet(lines_path: &Path, file: &mut File) -> anyhow::Result<()> {
    let mut table = ParquetTable::new(std::io::BufWriter::new(file), "analysis", &RESULT_COLUMNS)?;
    let lines = std::io::BufRead::lines(BufReader::new(
        File::open(lines_path).with_context(|| format!("opening {}", lines_path.display()))?,
    ));
    for line in lines {
        let value: serde_json::Value = serde_json::from_str(&line?).context("reading back a result line")?;
        let text = |key: &str| Cell::from(value[key].as_str());
        let number =
            |pointer: &str| Cell::from(value.pointer(pointer).and_then(serde_json::Value::as_f64).map(|x| x as f32));
        table.write_row(vec![
            text("id"),
            text("customer_id"),
            text("language"),
            Cell::from(value.pointer("/sentiment/label").and_then(serde_json::Value::as_str)),
            number("/sentiment/score"),
            number("/sentiment/confidence/negative"),
            number("/sentiment/confidence/neutral"),
            number("/sentiment/confidence/positive"),
            Cell::Text(value["sentences"].to_string()),
            Cell::Text(value["emotions"].to_string()),
            Cell::Text(value["aspects"].to_string()),
            Cell::Text(value["causes"].to_string()),
            Cell::Text(value["key_phrases"].to_string()),
        ])?;
    }
    Box::new(table).finish()
}

fn write_batch(
    analyzer: &Analyzer,
    model: &dyn crate::nlp::sentiment::SentimentModel,
    batch: Vec<(u64, Result<Analysed, RecordError>)>,
    output: &mut File,
    errors: &mut Option<File>,
    errors_path: &Path,
    checkpoint: &mut Checkpoint,
) -> anyhow::Result<()> {
    let mut documents = Vec::with_capacity(batch.len());
    let mut customers = Vec::with_capacity(batch.len());
    let mut rejected = Vec::new();
    for (_, result) in batch {
        match result {
            Ok(Analysed { document, customer_id }) => {
                documents.push(document);
                customers.push(customer_id);
            }
            Err(rejection) => rejected.push(rejection),
        }
    }
    // Encoding the answers costs as much as computing them: encode in parallel.
    let encoded: Vec<String> = analyzer
        .analyze(model, &documents)?
        .par_iter()
        .zip(&customers)
        .map(|(analysis, customer)| serde_json::to_string(&ResultLine { analysis, customer_id: customer.as_deref() }))
        .collect::<Result<_, _>>()?;
    let mut lines = Vec::new();
    for line in encoded {
        lines.extend_from_slice(line.as_bytes());
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

fn open_at(path: &Path, length: u64) -> anyhow::Result<File> {
    let created = !path.exists();
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
    if created {
        sync_folder_of(path)?;
    }
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

/// One checkpoint per (input, output, model, format): the same command finds its own.
fn checkpoint_path(data_dir: &Path, job: &ReprocessJob, format: Format) -> anyhow::Result<PathBuf> {
    let absolute = |path: &Path| std::path::absolute(path).with_context(|| format!("resolving {}", path.display()));
    let key =
        format!("{}\n{}\n{}\n{format:?}", absolute(&job.input)?.display(), absolute(&job.output)?.display(), job.tier);
    let dir = data_dir.join("jobs");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir.join(format!("reprocess-{}.json", &sha256_hex(key.as_bytes())[..16])))
}

/// Holds an exclusive lock on `path` (created if needed) while the value lives: a second copy
/// of the same command is refused instead of writing the same files at once.
fn lock(path: &Path) -> anyhow::Result<File> {
    use std::os::fd::AsRawFd;
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    // SAFETY: flock on a descriptor this function owns; the lock goes with the file.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        bail!("another `verbatim reprocess` of the same files is running (lock {})", path.display());
    }
    Ok(file)
}

/// Rejected lines go beside the output: `results.jsonl` → `results.jsonl.errors.jsonl`.
pub fn errors_path(output: &Path) -> PathBuf {
    with_suffix(output, ".errors.jsonl")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use std::panic::{catch_unwind, AssertUnwindSafe};

    use super::*;

    struct Setup {
        dir: tempfile::TempDir,
        analyzer: Analyzer,
    }

    impl Setup {
        fn new() -> Setup {
            let dir = tempfile::tempdir().unwrap();
            let analyzer = Analyzer::new(&dir.path().join("models")).unwrap();
            Setup { dir, analyzer }
        }

        fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join(name)
        }

        fn job(&self, input: &str, output: &str) -> ReprocessJob {
            ReprocessJob {
                input: self.path(input),
                output: self.path(output),
                tier: Tier::Fast,
                format: None,
                with_customer: false,
            }
        }

        fn run(&self, job: &ReprocessJob) -> anyhow::Result<ReprocessReport> {
            reprocess(&self.analyzer, &self.path("data"), job, &|| false, |_| {}).map(|(_, report)| report)
        }

        /// Runs until the first checkpoint is written, then stops as a kill would.
        fn run_until_first_checkpoint(&self, job: &ReprocessJob) {
            let stopped = catch_unwind(AssertUnwindSafe(|| {
                reprocess(&self.analyzer, &self.path("data"), job, &|| false, |_| panic!("killed"))
            }));
            assert!(stopped.is_err(), "the job stopped at its first checkpoint");
        }
    }

    /// CSV records with line breaks inside quotes, and a bad record, over several batches.
    fn write_csv(path: &Path, records: usize) {
        let mut out = std::io::BufWriter::new(File::create(path).unwrap());
        writeln!(out, "id,text,nps").unwrap();
        for i in 0..records {
            match i % 500 {
                499 => writeln!(out, "r{i},,3").unwrap(),
                n if n % 3 == 0 => writeln!(out, "r{i},\"Livraison en retard.\nTrès déçu, commande {i}\",2").unwrap(),
                _ => writeln!(out, "r{i},Great service for order {i},9").unwrap(),
            }
        }
    }

    #[test]
    fn a_stopped_csv_job_resumes_to_the_uninterrupted_output() {
        let setup = Setup::new();
        write_csv(&setup.path("in.csv"), 5_000);
        let reference = setup.run(&setup.job("in.csv", "reference.jsonl")).unwrap();
        let job = setup.job("in.csv", "out.jsonl");
        setup.run_until_first_checkpoint(&job);
        let resumed = setup.run(&job).unwrap();
        assert!(resumed.resumed_after_line.is_some());
        assert_eq!((resumed.written, resumed.rejected), (reference.written, reference.rejected));
        assert_eq!(
            std::fs::read(setup.path("out.jsonl")).unwrap(),
            std::fs::read(setup.path("reference.jsonl")).unwrap()
        );
        assert_eq!(
            std::fs::read(setup.path("out.jsonl.errors.jsonl")).unwrap(),
            std::fs::read(setup.path("reference.jsonl.errors.jsonl")).unwrap()
        );
    }

    #[test]
    fn a_changed_input_or_a_replaced_output_is_not_resumed() {
        let setup = Setup::new();
        write_csv(&setup.path("in.csv"), 5_000);
        let job = setup.job("in.csv", "out.jsonl");
        setup.run_until_first_checkpoint(&job);
        std::fs::copy(setup.path("out.jsonl"), setup.path("copy")).unwrap();
        std::fs::rename(setup.path("copy"), setup.path("out.jsonl")).unwrap();
        assert!(setup.run(&job).unwrap_err().to_string().contains("not the file the interrupted run wrote"));

        let job = setup.job("in.csv", "other.jsonl");
        setup.run_until_first_checkpoint(&job);
        std::fs::OpenOptions::new().append(true).open(setup.path("in.csv")).unwrap().write_all(b"x,y,1\n").unwrap();
        assert!(setup.run(&job).unwrap_err().to_string().contains("changed since the interrupted run"));
    }

    #[test]
    fn the_output_cannot_be_the_input() {
        let setup = Setup::new();
        write_csv(&setup.path("in.csv"), 10);
        let before = std::fs::read(setup.path("in.csv")).unwrap();
        std::fs::hard_link(setup.path("in.csv"), setup.path("link.csv")).unwrap();
        for output in ["in.csv", "link.csv"] {
            assert!(setup.run(&setup.job("in.csv", output)).unwrap_err().to_string().contains("is the input file"));
        }
        assert_eq!(std::fs::read(setup.path("in.csv")).unwrap(), before);
    }

    #[test]
    fn a_second_copy_of_a_running_job_is_refused() {
        let setup = Setup::new();
        write_csv(&setup.path("in.csv"), 10);
        let job = setup.job("in.csv", "out.jsonl");
        let format = Format::Csv;
        let held = lock(&checkpoint_path(&setup.path("data"), &job, format).unwrap().with_extension("lock")).unwrap();
        assert!(setup.run(&job).unwrap_err().to_string().contains("is running"));
        drop(held);
        assert_eq!(setup.run(&job).unwrap().written, 10);
    }
}
