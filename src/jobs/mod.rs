//! Background jobs (`/v1/jobs`, and `verbatim reprocess` over the store): analyses too long
//! for a request to wait on. A job is a row in the store (its spec, state and progress), so
//! jobs survive a restart: the runner takes queued jobs oldest first, at most `max_running` at
//! once, and resumes the unfinished ones when the service starts. A job's progress is committed
//! with its results (see [`crate::reprocess`]), which is what makes a resumed job exact.

mod files;
mod root_causes;
mod spec;
mod topics;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

pub use files::{rejected_path, results_path};
pub use spec::{check_stages, search_filter, JobSpec, SpecError, TopicsSpec, STAGES};

use crate::models::sha256_hex;
use crate::reprocess::{reprocess, reprocess_stored, Outcome, Progress, ReprocessJob, StoredJob};
use crate::search::SearchRequest;
use crate::service::{Service, ServiceError};
use crate::store::{JobProgress, JobRow, JobState, StoreError};
use crate::topics::{DiscoverySettings, Outliers};
use topics::{assign_stored, discover_stored, split_stored, StoredDiscovery};

/// Jobs running at once by default: one keeps a core for ingestion and search on small hosts.
pub const DEFAULT_MAX_RUNNING: usize = 1;
/// How often the runner looks for jobs even when nothing woke it.
const POLL: Duration = Duration::from_secs(2);

/// How the runner is set up.
#[derive(Debug, Clone, Default)]
pub struct JobSettings {
    /// Jobs running at once; the rest wait, queued.
    pub max_running: usize,
    /// The only folder `analyze_file` jobs read from; `None` refuses them.
    pub import_dir: Option<PathBuf>,
}

/// A job as the API shows it: the stored row, and while it runs, this run's pace.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    #[serde(flatten)]
    pub row: JobRow,
    /// Records a second, this run (running jobs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta_seconds: Option<u64>,
}

/// Why a job request or a change to a job was refused.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("no job `{0}`")]
    NotFound(String),
    #[error("job `{0}` is {1}; its results are complete only once it has finished")]
    NotFinished(String, &'static str),
    #[error("job `{0}` writes no file: only `analyze_file` jobs do (a reprocess writes to the store)")]
    NoResultsFile(String),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
}

impl From<StoreError> for JobError {
    fn from(err: StoreError) -> JobError {
        JobError::Service(err.into())
    }
}

/// Records new jobs and runs them in the background.
pub struct Jobs {
    shared: Arc<Shared>,
    scheduler: Option<JoinHandle<()>>,
    wake: Mutex<Option<mpsc::Sender<()>>>,
}

struct Shared {
    service: Arc<Service>,
    settings: JobSettings,
    running: Mutex<HashMap<String, Running>>,
    /// Held by whatever rewrites or removes a job's folder (erasure, deletion, a job's end), so
    /// two never work on the same files at once.
    files: Mutex<()>,
    shutting_down: AtomicBool,
}

struct Running {
    cancel: Arc<AtomicBool>,
    started: Instant,
    done_at_start: u64,
    thread: Option<JoinHandle<()>>,
}

impl Jobs {
    /// Starts the runner; it resumes at once the jobs a previous run left unfinished, and
    /// applies to finished jobs' results the erasures a previous run may have left undone.
    pub fn start(service: Arc<Service>, settings: JobSettings) -> anyhow::Result<Jobs> {
        let shared = Arc::new(Shared {
            service,
            settings: JobSettings { max_running: settings.max_running.max(1), ..settings },
            running: Mutex::new(HashMap::new()),
            files: Mutex::new(()),
            shutting_down: AtomicBool::new(false),
        });
        shared.remove_orphan_folders()?;
        shared.erase_from_finished()?;
        let (wake, woken) = mpsc::channel::<()>();
        let scheduler_shared = shared.clone();
        let scheduler_wake = wake.clone();
        let scheduler = std::thread::Builder::new()
            .name("verbatim-jobs".into())
            .spawn(move || loop {
                if let Err(err) = scheduler_shared.start_due(&scheduler_wake) {
                    tracing::warn!(error = %format!("{err:#}"), "starting queued jobs; will retry");
                }
                match woken.recv_timeout(POLL) {
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                    _ if scheduler_shared.shutting_down.load(Ordering::SeqCst) => return,
                    _ => {}
                }
            })
            .context("starting the jobs thread")?;
        Ok(Jobs { shared, scheduler: Some(scheduler), wake: Mutex::new(Some(wake)) })
    }

    /// Records a job, queued; it runs when a place is free.
    pub fn submit(&self, spec: &JobSpec) -> Result<JobView, JobError> {
        if let JobSpec::AnalyzeFile { file, .. } = spec {
            files::resolve_import(self.shared.settings.import_dir.as_deref(), file)?;
        }
        let row = create(&self.shared.service, spec)?;
        if let Some(wake) = self.wake.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            let _ = wake.send(());
        }
        Ok(self.shared.view(row))
    }

    pub fn get(&self, id: &str) -> Result<JobView, JobError> {
        let row = self.shared.store().job(id)?.ok_or_else(|| JobError::NotFound(id.to_string()))?;
        Ok(self.shared.view(row))
    }

    /// The newest `limit` jobs, newest first.
    pub fn list(&self, limit: usize) -> Result<Vec<JobView>, JobError> {
        Ok(self.shared.store().jobs(limit)?.into_iter().map(|row| self.shared.view(row)).collect())
    }

    /// The results file of a finished `analyze_file` job (`rejected`: its rejected lines);
    /// `None` when it wrote none (nothing rejected, or cancelled before its first batch).
    pub fn results(&self, id: &str, rejected: bool) -> Result<Option<PathBuf>, JobError> {
        let row = self.shared.store().job(id)?.ok_or_else(|| JobError::NotFound(id.to_string()))?;
        if !matches!(JobSpec::from_json(&row.spec), Ok(JobSpec::AnalyzeFile { .. })) {
            return Err(JobError::NoResultsFile(id.to_string()));
        }
        if !row.state.is_final() {
            return Err(JobError::NotFinished(id.to_string(), row.state.as_str()));
        }
        let data_dir = self.shared.service.data_dir();
        if rejected {
            return Ok(Some(rejected_path(data_dir, id)).filter(|path| path.is_file()));
        }
        let path = results_path(data_dir, id);
        // A job cancelled before its first batch wrote nothing.
        Ok(Some(path).filter(|path| path.is_file()))
    }

    /// Deletes a job with its results files. A running job is cancelled: it stops after the
    /// page it is on (whose results stay in the store), and removes its files as it stops.
    pub fn remove(&self, id: &str) -> Result<(), JobError> {
        let _files = self.shared.lock_files();
        if !self.shared.store().delete_job(id)? {
            return Err(JobError::NotFound(id.to_string()));
        }
        match self.shared.lock().get(id) {
            // It removes its files as it stops (under the same lock, seeing its row gone).
            Some(running) => running.cancel.store(true, Ordering::SeqCst),
            None => self.shared.remove_files(id)?,
        }
        Ok(())
    }

    /// Applies erasures to the results of finished jobs (call after an erasure; running jobs
    /// apply them when they end).
    pub fn erase_from_results(&self) -> Result<(), JobError> {
        let _files = self.shared.lock_files();
        Ok(self.shared.erase_from_finished()?)
    }
}

impl Drop for Jobs {
    /// Stops the runner: running jobs stop after their current page and stay `running`, to
    /// resume at the next start.
    fn drop(&mut self) {
        self.shared.shutting_down.store(true, Ordering::SeqCst);
        self.wake.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(scheduler) = self.scheduler.take() {
            let _ = scheduler.join();
        }
        let threads: Vec<JoinHandle<()>> = self.shared.lock().values_mut().filter_map(|r| r.thread.take()).collect();
        for thread in threads {
            let _ = thread.join();
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Running>> {
        self.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_files(&self) -> std::sync::MutexGuard<'_, ()> {
        self.files.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn store(&self) -> &crate::store::Store {
        self.service.store()
    }

    fn view(&self, row: JobRow) -> JobView {
        let pace = self.lock().get(&row.id).filter(|_| row.state == JobState::Running).map(|running| {
            let elapsed = running.started.elapsed().as_secs_f64().max(1e-3);
            row.done.saturating_sub(running.done_at_start) as f64 / elapsed
        });
        let eta_seconds = pace
            .filter(|rate| *rate > 0.0)
            .map(|rate| (row.total.saturating_sub(row.done) as f64 / rate).round() as u64);
        JobView { rate: pace.map(|rate| (rate * 10.0).round() / 10.0), eta_seconds, row }
    }

    /// Removes the folder of job `id` (analyze_file's results), if it has one.
    fn remove_files(&self, id: &str) -> anyhow::Result<()> {
        let folder = files::job_dir(self.service.data_dir(), id);
        if folder.exists() {
            std::fs::remove_dir_all(&folder).with_context(|| format!("removing {}", folder.display()))?;
        }
        Ok(())
    }

    /// Removes job folders whose job is gone (a process killed between deleting a job and
    /// removing its files). Leaves the command line's checkpoints alone.
    fn remove_orphan_folders(&self) -> anyhow::Result<()> {
        let root = self.service.data_dir().join("jobs");
        let Ok(entries) = std::fs::read_dir(&root) else { return Ok(()) };
        for entry in entries {
            let entry = entry.with_context(|| format!("reading {}", root.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("job_") && entry.path().is_dir() && self.store().job(&name)?.is_none() {
                tracing::info!(job = %name, "removing the files of a deleted job");
                self.remove_files(&name)?;
            }
        }
        Ok(())
    }

    /// Called with the files lock held.
    fn erase_from_finished(&self) -> anyhow::Result<()> {
        let data_dir = self.service.data_dir();
        for job in self.store().finished_jobs()? {
            files::erase_from_results(self.store(), data_dir, &job)?;
        }
        Ok(())
    }

    /// Starts unfinished jobs, oldest first, while places are free.
    fn start_due(self: &Arc<Self>, wake: &mpsc::Sender<()>) -> anyhow::Result<()> {
        if self.shutting_down.load(Ordering::SeqCst) {
            return Ok(());
        }
        let unfinished = self.store().unfinished_jobs()?;
        let mut running = self.lock();
        running.retain(|_, job| job.thread.as_ref().is_some_and(|thread| !thread.is_finished()));
        for row in unfinished {
            if running.len() >= self.settings.max_running {
                break;
            }
            if running.contains_key(&row.id) {
                continue;
            }
            let cancel = Arc::new(AtomicBool::new(false));
            let (shared, job_cancel, wake, id) = (self.clone(), cancel.clone(), wake.clone(), row.id.clone());
            let done_at_start = row.done;
            let thread = std::thread::Builder::new()
                .name(format!("verbatim-{}", &row.id))
                .spawn(move || {
                    shared.run(row, &job_cancel);
                    let _ = wake.send(());
                })
                .context("starting a job thread")?;
            running.insert(id, Running { cancel, started: Instant::now(), done_at_start, thread: Some(thread) });
        }
        Ok(())
    }

    /// Runs one job to its end (or until deleted, stopped by an erasure, or shut down) and
    /// records how it ended.
    fn run(&self, row: JobRow, cancel: &AtomicBool) {
        let id = row.id.clone();
        let record = |state: JobState, message: Option<&str>| {
            if let Err(err) = self.store().set_job_state(&id, state, message) {
                tracing::error!(job = %id, error = %err, "recording the job's state");
            }
        };
        if row.state == JobState::Queued {
            record(JobState::Running, None);
        }
        // Asked before each page: deleted, or stopped by its customer's erasure, it stops.
        let still_running = || matches!(self.store().job(&id), Ok(Some(row)) if row.state == JobState::Running);
        let stop = || cancel.load(Ordering::SeqCst) || self.shutting_down.load(Ordering::SeqCst) || !still_running();
        tracing::info!(job = %id, "job running");
        let run = || run_job(&self.service, self.settings.import_dir.as_deref(), &row, &stop, |_| {});
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run))
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the job panicked (a bug; the log has the details)")));
        match outcome {
            Ok(Outcome::Finished) => {
                record(JobState::Done, None);
                tracing::info!(job = %id, "job done");
            }
            Ok(Outcome::Stopped) if self.shutting_down.load(Ordering::SeqCst) => {
                // Still `running`: the next start resumes it.
                tracing::info!(job = %id, "job paused until the next start");
                return;
            }
            Ok(Outcome::Stopped) => tracing::info!(job = %id, "job stopped"),
            Err(err) => {
                let message = format!("{err:#}");
                tracing::error!(job = %id, error = %message, "job failed");
                record(JobState::Failed, Some(&message));
            }
        }
        let _files = self.lock_files();
        self.lock().remove(&id);
        let cleaned = match self.store().job(&id) {
            // Deleted while it ran: its files go with it.
            Ok(None) => self.remove_files(&id),
            // Now final: erasures from here on reach its results through `erase_from_results`.
            Ok(Some(row)) => files::erase_from_results(self.store(), self.service.data_dir(), &row).map(|_| ()),
            Err(err) => Err(err.into()),
        };
        if let Err(err) = cleaned {
            tracing::error!(job = %id, error = %format!("{err:#}"), "cleaning up after the job");
        }
    }
}

/// Records a new job of `spec`, queued, with the count of verbatims it will read (for a file,
/// unknown until it is read: estimated as it goes).
fn create(service: &Service, spec: &JobSpec) -> Result<JobRow, JobError> {
    let total = match spec {
        JobSpec::Reprocess { filter, .. }
        | JobSpec::DiscoverTopics(TopicsSpec { filter, .. })
        | JobSpec::DiscoverRootCauses { filter, .. } => {
            let request = search_filter(filter)?;
            if request.matches_everything() {
                service.reader().stored_count()?
            } else {
                service.reader().search(&SearchRequest { limit: 1, ..request })?.total as u64
            }
        }
        JobSpec::AnalyzeFile { .. } => 0,
        JobSpec::AssignTopics => service.reader().stored_count()?,
        JobSpec::SplitRootCause { root_cause, .. } => {
            let members = SearchRequest { root_causes: vec![*root_cause], limit: 1, ..SearchRequest::default() };
            service.reader().search(&members)?.total as u64
        }
        JobSpec::SplitTopic { topic, .. } => {
            let members = SearchRequest { topics: vec![*topic], limit: 1, ..SearchRequest::default() };
            service.reader().search(&members)?.total as u64
        }
    };
    let nonce = format!("{:?}{:?}{}", Instant::now(), chrono::Utc::now(), std::process::id());
    let id = format!("job_{}", &sha256_hex(nonce.as_bytes())[..16]);
    Ok(service.store().insert_job(&id, &spec.to_json(), total)?)
}

/// Runs the job recorded in `row` on this thread until it finishes or `stop` says so. The
/// state is the caller's to record.
fn run_job(
    service: &Service,
    import_dir: Option<&std::path::Path>,
    row: &JobRow,
    stop: &dyn Fn() -> bool,
    mut progress: impl FnMut(&Progress),
) -> anyhow::Result<Outcome> {
    let spec = JobSpec::from_json(&row.spec).with_context(|| format!("job {} has an unreadable spec", row.id))?;
    match spec {
        JobSpec::Reprocess { filter, model, .. } => {
            let job = StoredJob { filter: search_filter(&filter)?, tier: model };
            reprocess_stored(service, row, &job, stop, progress)
        }
        JobSpec::AnalyzeFile { file, format, model, .. } => {
            let input = files::resolve_import(import_dir, &file)?;
            let folder = files::job_dir(service.data_dir(), &row.id);
            std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
            let output = results_path(service.data_dir(), &row.id);
            let job = ReprocessJob { input, output, tier: model, format, with_customer: true };
            let store = service.store();
            let record = |done: u64, rejected: u64, total: u64| {
                let progress = JobProgress { id: row.id.clone(), cursor: 0, done, errors: rejected };
                store.set_file_job_progress(&progress, total)
            };
            // The run's checkpoint lives in the job's folder, and goes with it.
            let (outcome, report) = reprocess(service.analyzer(), &folder, &job, stop, |p| {
                progress(p);
                let estimate = (p.done as f64 * p.length as f64 / p.position.max(1) as f64).round() as u64;
                if let Err(err) = record(p.done, p.rejected, estimate.max(p.done)) {
                    tracing::warn!(job = %row.id, error = %err, "recording the job's progress");
                }
            })?;
            if outcome == Outcome::Finished {
                let done = report.written + report.rejected;
                record(done, report.rejected, done)?;
            }
            Ok(outcome)
        }
        JobSpec::DiscoverTopics(TopicsSpec { filter, method, topics, strict, seed }) => {
            let outliers = if strict { Outliers::Strict } else { Outliers::Nearest };
            let discovery = StoredDiscovery {
                selection: search_filter(&filter)?,
                filter,
                settings: DiscoverySettings { topics, method, outliers, seed, ..DiscoverySettings::default() },
            };
            discover_stored(service, row, &discovery, stop)
        }
        JobSpec::AssignTopics => assign_stored(service, row, stop),
        JobSpec::SplitTopic { topic, topics, seed } => split_stored(service, row, topic, topics, seed, stop),
        JobSpec::DiscoverRootCauses { filter, granularity, seed } => {
            let discovery = StoredDiscovery {
                selection: search_filter(&filter)?,
                filter,
                settings: DiscoverySettings { granularity, seed, ..DiscoverySettings::default() },
            };
            root_causes::discover_stored(service, row, &discovery, stop)
        }
        JobSpec::SplitRootCause { root_cause, parts, seed } => {
            root_causes::split_stored(service, row, root_cause, parts, seed, stop)
        }
    }
}

/// `verbatim reprocess` over the store: resumes the unfinished job with the same spec (one a
/// kill interrupted), or records a new one, and runs it on this thread to its end.
pub fn run_here(service: &Service, spec: &JobSpec, progress: impl FnMut(&Progress)) -> anyhow::Result<JobRow> {
    let store = service.store();
    let failed = store.finished_jobs()?.into_iter().filter(|row| row.state == JobState::Failed);
    let same = store
        .unfinished_jobs()?
        .into_iter()
        .chain(failed)
        .find(|row| JobSpec::from_json(&row.spec).as_ref() == Ok(spec));
    let row = match same {
        Some(row) => {
            tracing::info!(job = %row.id, done = row.done, total = row.total, "resuming an interrupted reprocess");
            store.resume_job(&row.id)?;
            row
        }
        None => create(service, spec)?,
    };
    store.set_job_state(&row.id, JobState::Running, None)?;
    match run_job(service, None, &row, &|| false, progress) {
        Ok(_) => store.set_job_state(&row.id, JobState::Done, None)?,
        Err(err) => {
            store.set_job_state(&row.id, JobState::Failed, Some(&format!("{err:#}")))?;
            return Err(err);
        }
    };
    Ok(store.job(&row.id)?.expect("a job stays recorded"))
}
