//! The one path by which verbatims are written and erased ([`Service`]), and the read side
//! that searches them ([`Reader`]): a process that only reads cannot write by mistake.
//!
//! **Writes** (upserts and erasures) go through one writer thread fed by a bounded queue. The
//! writer takes every write waiting in the queue as one *group*: one SQLite transaction, then
//! one index commit, then every caller in the group gets its answer. Concurrent clients so share
//! the cost of a durable commit (group commit) while "acknowledged" still means durable and
//! searchable. A full queue refuses new writes at once ([`ServiceError::Overloaded`]) instead
//! of letting them pile up. **Reads** (search, get) never wait for the writer: they use the
//! store's connection pool and the index's last committed state.
//!
//! If the process dies between the store commit and the index commit, [`Service::open`]
//! repairs the index before serving:
//!
//! 1. rows whose `seq` is above the index's last applied `seq` are (re)indexed;
//! 2. if the index then holds a different number of verbatims than the store (an erasure
//!    that reached the store but not the index), ids are reconciled one by one.
//!
//! **Erasure** leaves the files too: after a group that erased anything, a purger thread
//! truncates SQLite's write-ahead log and merges away the index segments that still hold the
//! deleted documents (see [`Store::purge_wal`], [`SearchIndex::purge_deleted`]); it runs again at
//! every start-up, so a crash in between does not leave erased data behind.

use std::collections::HashSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use crate::alerts::{self, deliver, deliver::DeliverySettings};
use crate::consumers::{self, Consumer};
use crate::domain::Verbatim;
use crate::index::{IndexError, SearchIndex};
use crate::kpi::{self, KpiReport, KpiRequest, TooManyPeriods};
use crate::pipeline::Analyzer;
use crate::root_causes::saved::{mention_texts, RootCauseModel};
use crate::search::{CategoryRule, SearchHit, SearchRequest, SearchResponse};
use crate::store::{Durability, Erasure, ErasureKind, Grouping, JobProgress, Store, StoreError};
use crate::topics::{SavedTopics, TopicAssigner};

/// Rows per index commit when catching up or rebuilding.
const REPAIR_PAGE: usize = 5_000;
/// A group stops taking writes from the queue past this many verbatims, so one commit stays
/// short enough that the callers at its head are not kept waiting.
const MAX_GROUP_VERBATIMS: usize = 20_000;
/// Writes accepted (being analysed or queued) before new ones are refused, by default.
pub const DEFAULT_MAX_PENDING_WRITES: usize = 64;
/// How often the webhook thread looks for due deliveries when it has none.
const DELIVERY_POLL: Duration = Duration::from_millis(200);
/// How often a background thread checks, while it waits, that the service still runs.
const SHUTDOWN_TICK: Duration = Duration::from_secs(1);
/// Erasures queued at once, apart from other writes.
const ERASURE_PLACES: usize = 16;
/// How long one purge keeps retrying while a reader or a background merge is in its way.
const PURGE_PATIENCE: Duration = Duration::from_secs(20);
/// How soon a purge that could not finish is tried again, until it does.
const PURGE_RETRY: Duration = Duration::from_secs(5);
/// Topics are named again after an erasure once writes pause this long…
const RENAME_IDLE: Duration = Duration::from_millis(200);
/// …or, under steady writes, this long after the erasure at the latest.
const RENAME_PATIENCE: Duration = Duration::from_secs(5);

/// Sleeps `period` in short steps; false as soon as `owner` is dropped. How background threads
/// wait between two runs without keeping the service alive, and stop within a second of it.
pub fn wait_while_alive<T>(owner: &std::sync::Weak<T>, period: Duration) -> bool {
    let mut waited = Duration::ZERO;
    while waited < period {
        let tick = SHUTDOWN_TICK.min(period - waited);
        std::thread::sleep(tick);
        waited += tick;
        if owner.strong_count() == 0 {
            return false;
        }
    }
    true
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
    #[error("too many writes are waiting; retry in a moment")]
    Overloaded,
    #[error("the service is shutting down")]
    ShuttingDown,
    #[error(transparent)]
    TooManyPeriods(#[from] TooManyPeriods),
}

/// A change to the stored verbatims.
pub enum Write {
    /// Stores (or replaces) verbatims already analysed ([`Service::analyze`]).
    Upsert(Vec<Verbatim>),
    /// Erases one verbatim by its id.
    Delete(String),
    /// Erases every verbatim of a customer.
    DeleteCustomer(String),
    /// Erases those of `ids` still dated before `before` (retention); after the commit, `ids`
    /// holds the ones erased.
    Expire { ids: Vec<String>, before: chrono::DateTime<chrono::Utc> },
    /// Analyses a job made of stored verbatims (see [`crate::store::StoreWriter::reanalysed`]),
    /// with the job's progress, committed together so a killed job resumes past them exactly.
    Reanalysed { verbatims: Vec<Verbatim>, progress: JobProgress },
    /// Saves a discovered topic model and puts it in use, with the topics of the verbatims the
    /// discovery read (their `topic` set; the model version is the commit's to fill in) and the
    /// job's progress, in one commit; every other verbatim is assigned by the new model's
    /// words in the same commit, so none is left with a topic of an older model.
    /// `based_on` is the model the discovery started from (version, merges), which must still be
    /// the one in use: else nothing is stored (its ids would be another model's).
    Topics {
        saved: Box<SavedTopics>,
        based_on: Option<(u32, u32)>,
        job_id: String,
        verbatims: Vec<Verbatim>,
        progress: JobProgress,
    },
    /// Topics a job found for verbatims it read (see [`crate::store::StoreWriter::set_topics`]),
    /// with its progress.
    Assigned { verbatims: Vec<Verbatim>, progress: JobProgress },
    /// Puts `saved`, the model in use with topic `topic` split into parts, in its place (same
    /// version), if the model in use is still `based_on` (version, merges); `verbatims` are the
    /// topic's, each with its part, and any other verbatim still in `topic` is assigned by
    /// words. With the job's progress, in one commit.
    SplitTopic {
        saved: Box<SavedTopics>,
        based_on: (u32, u32),
        topic: i64,
        verbatims: Vec<Verbatim>,
        progress: JobProgress,
    },
    /// Merges topic `from` into topic `into` in the model in use: the model changes in place
    /// (same version), `from`'s verbatims move to `into`. `moved` holds them once stored.
    MergeTopics { from: i64, into: i64, moved: Vec<Verbatim> },
    /// Saves a discovered root-cause model and puts it in use, as [`Write::Topics`] does a
    /// topic model: the root causes the job found are stored (those of every verbatim up to its
    /// snapshot: it matched those outside its filter itself, so the write lock is not held for
    /// them), and the verbatims written or changed since are matched again, in one commit.
    RootCauses {
        saved: Box<SavedTopics>,
        based_on: Option<(u32, u32)>,
        job_id: String,
        verbatims: Vec<Verbatim>,
        progress: JobProgress,
    },
    /// Merges root cause `from` into `into` in the model in use, as [`Write::MergeTopics`].
    MergeRootCauses { from: i64, into: i64, moved: Vec<Verbatim> },
    /// Puts `saved`, the root-cause model in use with `root_cause` split into parts, in its
    /// place, as [`Write::SplitTopic`] does: `verbatims` cite the parts, and any other verbatim
    /// still citing `root_cause` is matched again.
    SplitRootCause {
        saved: Box<SavedTopics>,
        based_on: (u32, u32),
        root_cause: i64,
        verbatims: Vec<Verbatim>,
        progress: JobProgress,
    },
}

impl Write {
    fn verbatims(&self) -> usize {
        match self {
            Write::Upsert(batch)
            | Write::Reanalysed { verbatims: batch, .. }
            | Write::Topics { verbatims: batch, .. }
            | Write::Assigned { verbatims: batch, .. }
            | Write::SplitTopic { verbatims: batch, .. }
            | Write::RootCauses { verbatims: batch, .. }
            | Write::SplitRootCause { verbatims: batch, .. } => batch.len(),
            Write::Expire { ids, .. } => ids.len(),
            Write::Delete(_) | Write::DeleteCustomer(_) | Write::MergeTopics { .. } | Write::MergeRootCauses { .. } => {
                1
            }
        }
    }

    fn erases(&self) -> bool {
        matches!(self, Write::Delete(_) | Write::DeleteCustomer(_) | Write::Expire { .. })
    }
}

/// What a [`Write`] did, once durable and searchable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Upserted,
    /// Whether the verbatim existed.
    Deleted(bool),
    /// How many verbatims the customer had.
    DeletedCustomer(usize),
    /// How many verbatims retention erased.
    Expired(usize),
    /// The analyses of the verbatims still as analysed are stored, with the job's progress.
    Reanalysed,
    /// The topic or root-cause model is saved as this version and in use; `None`: the model in
    /// use was not the one the discovery started from, and nothing was stored.
    Model(Option<u32>),
    /// A job's topics are stored with its progress.
    Assigned,
    /// How many verbatims moved to the topic merged into; `None`: the model in use has not
    /// both topics.
    Merged(Option<usize>),
}

/// A place in the write queue, taken before the work of a write starts (see [`Service::admit`]).
pub struct WritePermit {
    /// Returned to the queue when dropped; `None` for callers that bypass admission.
    _place: Option<OwnedSemaphorePermit>,
}

/// The answer to a submitted write: await it, or [`WriteTicket::wait`] outside async code.
pub struct WriteTicket(oneshot::Receiver<Result<Written, ServiceError>>);

impl WriteTicket {
    pub fn wait(self) -> Result<Written, ServiceError> {
        self.0.blocking_recv().unwrap_or(Err(ServiceError::ShuttingDown))
    }
}

impl Future for WriteTicket {
    type Output = Result<Written, ServiceError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|reply| reply.unwrap_or(Err(ServiceError::ShuttingDown)))
    }
}

struct PendingWrite {
    write: Write,
    reply: oneshot::Sender<Result<Written, ServiceError>>,
    /// Frees the queue place when the write is answered.
    _permit: WritePermit,
}

/// How the service is opened for writing.
#[derive(Debug, Clone, Copy)]
pub struct WriteSettings {
    /// Caps the SQLite file (writes past it fail as a full disk does).
    pub max_store_bytes: Option<u64>,
    pub durability: Durability,
    /// Writes accepted at once (analysing or queued); more get [`ServiceError::Overloaded`].
    pub max_pending_writes: usize,
}

impl Default for WriteSettings {
    fn default() -> WriteSettings {
        WriteSettings {
            max_store_bytes: None,
            durability: Durability::default(),
            max_pending_writes: DEFAULT_MAX_PENDING_WRITES,
        }
    }
}

/// Where a data directory keeps each part.
pub struct DataPaths {
    pub store: PathBuf,
    pub index: PathBuf,
}

impl DataPaths {
    pub fn new(data_dir: &Path) -> DataPaths {
        DataPaths { store: data_dir.join("verbatim.sqlite3"), index: data_dir.join("index") }
    }
}

/// The read side: searches and lookups on the store's connection pool and the index's last
/// committed state. Never waits for the writer.
pub struct Reader {
    store: Store,
    index: SearchIndex,
}

/// The write side: analyses, stores and indexes verbatims through one writer thread, and
/// reads through its [`Reader`].
pub struct Service {
    parts: Arc<Parts>,
    writer: Writer,
}

/// The writer thread, its queue, and the purger it wakes after erasures.
struct Writer {
    queue: Option<mpsc::Sender<PendingWrite>>,
    admission: Arc<Semaphore>,
    /// Places of their own for erasures, so heavy ingestion never refuses a GDPR request.
    erasure_admission: Arc<Semaphore>,
    threads: Vec<JoinHandle<()>>,
}

/// What the service's callers and its writer thread share.
struct Parts {
    data_dir: PathBuf,
    reader: Reader,
    analyzer: Arc<Analyzer>,
    /// Held by whoever writes (the writer thread, repair, reindex), so index commits follow
    /// store order.
    write_lock: Mutex<()>,
    /// Set when an index write failed after its store write succeeded.
    index_behind: AtomicBool,
}

impl Service {
    /// Opens the data directory for reading and writing, repairing the index and purging
    /// erased data if needed. Fails if another process already holds it.
    pub fn open(data_dir: &Path, settings: WriteSettings, analyzer: Arc<Analyzer>) -> anyhow::Result<Service> {
        std::fs::create_dir_all(data_dir).with_context(|| format!("creating data directory {}", data_dir.display()))?;
        let paths = DataPaths::new(data_dir);
        // The index writer's lock is the data directory's lock: take it before touching the store.
        let index = SearchIndex::open(&paths.index)?;
        let store = Store::open(&paths.store, settings.max_store_bytes, settings.durability)
            .with_context(|| format!("opening store {}", paths.store.display()))?;
        if let Some(saved) = store.saved_model(Grouping::Topics)? {
            analyzer.set_topics(TopicAssigner::from_saved(&saved)?);
        }
        if let Some(saved) = store.saved_model(Grouping::RootCauses)? {
            let edits = store.edits(Grouping::RootCauses)?;
            analyzer.set_root_causes(RootCauseModel::new(TopicAssigner::from_saved(&saved)?, &edits));
        }
        let parts = Arc::new(Parts {
            data_dir: data_dir.to_path_buf(),
            reader: Reader { store, index },
            analyzer,
            write_lock: Mutex::new(()),
            index_behind: AtomicBool::new(false),
        });
        parts.repair_index()?;
        parts.evaluate_alerts();
        parts.rename_after_erasures();
        let purge_owed = !parts.purge_erased();
        let service = Service { writer: Writer::start(parts.clone(), settings.max_pending_writes, purge_owed)?, parts };
        service.analyse_backlog()?;
        Ok(service)
    }

    /// The read side of this service.
    pub fn reader(&self) -> &Reader {
        &self.parts.reader
    }

    /// The data directory this service holds.
    pub fn data_dir(&self) -> &Path {
        &self.parts.data_dir
    }

    /// The models this service analyses with.
    pub fn analyzer(&self) -> &Arc<Analyzer> {
        &self.parts.analyzer
    }

    /// Stores what a job found for verbatims it read, with its progress, in one commit (see
    /// [`Write::Reanalysed`]).
    pub fn reanalysed(&self, verbatims: Vec<Verbatim>, progress: JobProgress) -> Result<(), ServiceError> {
        self.submit(Write::Reanalysed { verbatims, progress }, WritePermit { _place: None }).wait().map(|_| ())
    }

    /// Saves a discovered topic model, puts it in use and stores the topics it gave (see
    /// [`Write::Topics`]); returns its version, or `None` if the model in use is no longer
    /// `based_on`.
    pub fn topics_discovered(
        &self,
        saved: SavedTopics,
        based_on: Option<(u32, u32)>,
        job_id: &str,
        verbatims: Vec<Verbatim>,
        progress: JobProgress,
    ) -> Result<Option<u32>, ServiceError> {
        let write = Write::Topics { saved: Box::new(saved), based_on, job_id: job_id.to_string(), verbatims, progress };
        self.model_written(write)
    }

    /// Splits a topic (see [`Write::SplitTopic`]); `None` if the model in use is no longer
    /// `based_on`.
    pub fn topic_split(
        &self,
        saved: SavedTopics,
        based_on: (u32, u32),
        topic: i64,
        verbatims: Vec<Verbatim>,
        progress: JobProgress,
    ) -> Result<Option<u32>, ServiceError> {
        let write = Write::SplitTopic { saved: Box::new(saved), based_on, topic, verbatims, progress };
        self.model_written(write)
    }

    /// Merges topic `from` into topic `into` (see [`Write::MergeTopics`]); returns how many
    /// verbatims moved, or `None` if the model in use has not both topics.
    pub fn merge_topics(&self, from: i64, into: i64) -> Result<Option<usize>, ServiceError> {
        let write = Write::MergeTopics { from, into, moved: Vec::new() };
        self.merged(write)
    }

    /// Saves a discovered root-cause model, puts it in use and stores the root causes it gave
    /// (see [`Write::RootCauses`]); returns its version, or `None` if the model in use is no
    /// longer `based_on`.
    pub fn root_causes_discovered(
        &self,
        saved: SavedTopics,
        based_on: Option<(u32, u32)>,
        job_id: &str,
        verbatims: Vec<Verbatim>,
        progress: JobProgress,
    ) -> Result<Option<u32>, ServiceError> {
        let write =
            Write::RootCauses { saved: Box::new(saved), based_on, job_id: job_id.to_string(), verbatims, progress };
        self.model_written(write)
    }

    /// Splits a root cause (see [`Write::SplitRootCause`]); `None` if the model in use is no
    /// longer `based_on`.
    pub fn root_cause_split(
        &self,
        saved: SavedTopics,
        based_on: (u32, u32),
        root_cause: i64,
        verbatims: Vec<Verbatim>,
        progress: JobProgress,
    ) -> Result<Option<u32>, ServiceError> {
        let write = Write::SplitRootCause { saved: Box::new(saved), based_on, root_cause, verbatims, progress };
        self.model_written(write)
    }

    /// Merges root cause `from` into `into` (see [`Write::MergeRootCauses`]); returns how many
    /// verbatims moved, or `None` if the model in use has not both.
    pub fn merge_root_causes(&self, from: i64, into: i64) -> Result<Option<usize>, ServiceError> {
        let write = Write::MergeRootCauses { from, into, moved: Vec::new() };
        self.merged(write)
    }

    /// Names root cause `id` as an analyst asks (`None`: its discovered name again). The name
    /// is kept apart from the model, by id, and the model in use answers with it at once.
    pub fn rename_root_cause(&self, id: i64, label: Option<&str>) -> Result<(), ServiceError> {
        let _writing = self.parts.lock();
        let store = self.store();
        store.edit(Grouping::RootCauses, id, Some(label), None)?;
        if let Some(in_use) = self.analyzer().root_causes() {
            let edits = store.edits(Grouping::RootCauses)?;
            self.analyzer().set_root_causes(RootCauseModel::new(in_use.assigner.clone(), &edits));
        }
        Ok(())
    }

    /// Submits a write that saves or changes a topic or root-cause model; answers the model's
    /// version, or `None` if the model in use was no longer the one the write started from.
    fn model_written(&self, write: Write) -> Result<Option<u32>, ServiceError> {
        match self.submit(write, WritePermit { _place: None }).wait()? {
            Written::Model(version) => Ok(version),
            other => unreachable!("a model write answers {other:?}"),
        }
    }

    /// Submits a merge; answers how many verbatims moved, or `None` if the model in use has not
    /// both groups.
    fn merged(&self, write: Write) -> Result<Option<usize>, ServiceError> {
        match self.submit(write, WritePermit { _place: None }).wait()? {
            Written::Merged(moved) => Ok(moved),
            other => unreachable!("a merge answers {other:?}"),
        }
    }

    /// Stores the topics a job found for verbatims it read, with its progress, in one commit.
    pub fn topics_assigned(&self, verbatims: Vec<Verbatim>, progress: JobProgress) -> Result<(), ServiceError> {
        self.submit(Write::Assigned { verbatims, progress }, WritePermit { _place: None }).wait().map(|_| ())
    }

    /// The store, for the tables beside the verbatims: jobs ([`crate::jobs`]), topic names and
    /// reports ([`crate::topics`]). Their rows are written outside the writer thread: they are
    /// not verbatims, the index does not follow them, and each write is one small transaction
    /// of its own (what changes verbatims goes through the writer: [`Service::reanalysed`],
    /// [`Service::topics_discovered`]).
    pub fn store(&self) -> &Store {
        &self.parts.reader.store
    }

    /// Takes a place in the write queue, or refuses at once when it is full: callers learn
    /// they must slow down before the work of analysing and committing.
    pub fn admit(&self) -> Result<WritePermit, ServiceError> {
        take_place(&self.writer.admission)
    }

    /// Takes one of the places kept for erasures (see [`Service::admit`]).
    pub fn admit_erasure(&self) -> Result<WritePermit, ServiceError> {
        take_place(&self.writer.erasure_admission)
    }

    /// Runs the inline analysis stages on each verbatim (see [`Analyzer::enrich`]), on the
    /// caller's thread, beside other callers and the writer's commits.
    pub fn analyze(&self, batch: &mut [Verbatim]) -> Result<(), ServiceError> {
        Ok(self.parts.analyzer.enrich(batch)?)
    }

    /// Queues a write; the ticket answers once it is durable and searchable.
    pub fn submit(&self, write: Write, permit: WritePermit) -> WriteTicket {
        let (reply, answer) = oneshot::channel();
        let pending = PendingWrite { write, reply, _permit: permit };
        // A write no writer takes drops its reply, which the ticket reads as shutting down.
        if let Some(queue) = self.writer.queue.as_ref() {
            let _ = queue.send(pending);
        }
        WriteTicket(answer)
    }

    /// Analyses, stores, then indexes a batch (the command line's path: one caller, so no
    /// queue place is needed). Once this returns `Ok`, the batch is durable and searchable.
    pub fn upsert(&self, mut batch: Vec<Verbatim>) -> Result<(), ServiceError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.analyze(&mut batch)?;
        self.submit(Write::Upsert(batch), WritePermit { _place: None }).wait().map(|_| ())
    }

    /// Erases those of `ids` still dated before `before`, as retention does (see
    /// [`crate::retention`]); returns how many were erased.
    pub fn expire(&self, ids: Vec<String>, before: chrono::DateTime<chrono::Utc>) -> Result<usize, ServiceError> {
        match self.submit(Write::Expire { ids, before }, WritePermit { _place: None }).wait()? {
            Written::Expired(erased) => Ok(erased),
            other => Err(ServiceError::Other(anyhow::anyhow!("an expiry answered {other:?}"))),
        }
    }

    /// Delivers alerts' webhooks from the outbox on a thread of its own, until the service is
    /// dropped (see [`crate::alerts::deliver`]).
    pub fn start_alert_delivery(&self, settings: DeliverySettings) -> anyhow::Result<()> {
        let parts = Arc::downgrade(&self.parts);
        std::thread::Builder::new()
            .name("verbatim-webhooks".into())
            .spawn(move || loop {
                let Some(parts) = parts.upgrade() else { return };
                let attempted = match deliver::deliver_due(&parts.reader.store, &settings) {
                    Ok(attempted) => attempted,
                    Err(err) => {
                        tracing::warn!(error = %format!("{err:#}"), "delivering alerts; will retry");
                        0
                    }
                };
                drop(parts);
                if attempted == 0 {
                    std::thread::sleep(DELIVERY_POLL);
                }
            })
            .context("starting the webhook thread")?;
        Ok(())
    }

    /// Evaluates the volume rules now and then every `every`, on a thread of its own, until
    /// the service is dropped (see [`crate::alerts::volume`]). Counting reads the index only;
    /// the alerts fired are stored in one transaction that waits its turn with the writer's.
    pub fn start_volume_alerts(&self, every: Duration) -> anyhow::Result<()> {
        let parts = Arc::downgrade(&self.parts);
        std::thread::Builder::new()
            .name("verbatim-volume-alerts".into())
            .spawn(move || loop {
                {
                    let Some(parts) = parts.upgrade() else { return };
                    let reader = &parts.reader;
                    match alerts::volume::evaluate(&reader.store, &reader.index, chrono::Utc::now()) {
                        Ok(0) => {}
                        Ok(fired) => tracing::info!(alerts = fired, "volume rules fired"),
                        Err(err) => tracing::warn!(error = %format!("{err:#}"), "evaluating volume rules; will retry"),
                    }
                }
                if !wait_while_alive(&parts, every) {
                    return;
                }
            })
            .context("starting the volume alerts thread")?;
        Ok(())
    }

    /// Rebuilds the whole index from the store; returns how many verbatims it holds.
    pub fn reindex(&self) -> Result<u64, ServiceError> {
        let parts = &self.parts;
        let _writing = parts.lock();
        parts.reader.index.clear()?;
        parts.catch_up()?;
        Ok(parts.reader.index.num_docs())
    }

    /// Analyses rows stored before ingestion computed sentiment (schema 1), page by page,
    /// through the normal write path.
    fn analyse_backlog(&self) -> Result<(), ServiceError> {
        loop {
            let page = self.parts.reader.store.unanalysed(REPAIR_PAGE)?;
            if page.is_empty() {
                return Ok(());
            }
            tracing::info!(verbatims = page.len(), "analysing verbatims stored before sentiment analysis");
            self.upsert(page)?;
        }
    }
}

impl Reader {
    /// Opens a data directory for searching only, beside a running server; no repair.
    pub fn open(data_dir: &Path) -> anyhow::Result<Reader> {
        let paths = DataPaths::new(data_dir);
        if !paths.store.exists() {
            anyhow::bail!("no verbatim data in {}; ingest some first", data_dir.display());
        }
        Ok(Reader { store: Store::open_read_only(&paths.store)?, index: SearchIndex::open_read_only(&paths.index)? })
    }

    pub fn get(&self, id: &str) -> Result<Option<Verbatim>, ServiceError> {
        Ok(self.store.get(id)?)
    }

    /// The ids of at most `limit` verbatims dated before `before` (see [`crate::retention`]).
    pub fn dated_before(
        &self,
        before: &chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> Result<Vec<String>, ServiceError> {
        Ok(self.store.dated_before(before, limit)?)
    }

    /// Every verbatim of a customer, oldest first.
    pub fn of_customer(&self, customer_id: &str) -> Result<Vec<Verbatim>, ServiceError> {
        Ok(self.store.of_customer(customer_id)?)
    }

    /// The newest erasure audit rows.
    pub fn erasures(&self, kind: Option<ErasureKind>, limit: usize) -> Result<Vec<Erasure>, ServiceError> {
        Ok(self.store.erasures(kind, limit)?)
    }

    /// `request` with the rules of its categories read from the store; a category that does
    /// not exist is an invalid query.
    fn with_category_rules(&self, request: &SearchRequest) -> Result<SearchRequest, ServiceError> {
        let mut request = request.clone();
        request.category_rules = request
            .categories
            .iter()
            .map(|id| {
                self.store
                    .category(*id)?
                    .map(|category| category.queries)
                    .ok_or_else(|| IndexError::InvalidQuery(format!("no category {id}")).into())
            })
            .collect::<Result<_, ServiceError>>()?;
        Ok(request)
    }

    pub fn search(&self, request: &SearchRequest) -> Result<SearchResponse, ServiceError> {
        let request = &self.with_category_rules(request)?;
        let results = self.index.search(request)?;
        let ids: Vec<String> = results.hits.iter().map(|(id, _)| id.clone()).collect();
        let mut verbatims = self.store.get_many(&ids)?;
        let hits = results
            .hits
            .into_iter()
            // A verbatim erased between the index lookup and this read is simply left out.
            .filter_map(|(id, score)| verbatims.remove(&id).map(|v| (v, score)))
            .map(|(verbatim, score)| {
                let (snippet, highlights) = results.highlighter.highlight(verbatim.language.as_deref(), &verbatim.text);
                SearchHit { score, verbatim, snippet, highlights }
            })
            .collect();
        Ok(SearchResponse { total: results.total, hits, facets: results.facets })
    }

    /// The next page of a walk through the store (see [`Store::page`]): of the `limit` rows
    /// after row `after` and up to row `through`, those the request's query and filters select,
    /// with the number of the last row read (the cursor for the next page). `None` once the
    /// walk is over. Jobs and exports walk the store this way: no offset cap, a filter means
    /// what it means in search.
    pub fn select_page(
        &self,
        request: &SearchRequest,
        after: u64,
        through: u64,
        limit: usize,
    ) -> Result<Option<(u64, Vec<Verbatim>)>, ServiceError> {
        let page = self.store.page(after, through, limit)?;
        let Some(&(last, _)) = page.last() else { return Ok(None) };
        let mut selected: Vec<Verbatim> = page.into_iter().map(|(_, verbatim)| verbatim).collect();
        if !request.matches_everything() {
            let request = &self.with_category_rules(request)?;
            let ids: Vec<String> = selected.iter().map(|v| v.id.clone()).collect();
            let matching = self.index.matching(request, &ids)?;
            selected.retain(|v| matching.contains(&v.id));
        }
        Ok(Some((last, selected)))
    }

    /// The KPIs of the verbatims a request selects, counted on the index; with `from` and
    /// `to`, each total also against the window as long just before.
    pub fn kpis(&self, request: &KpiRequest) -> Result<KpiReport, ServiceError> {
        let request = KpiRequest { filter: self.with_category_rules(&request.filter)?, ..request.clone() };
        kpi::answer(&request, |filter, period| Ok(self.index.kpi_cells(filter, request.group_by.as_ref(), period)?))
    }

    /// Checks that the index accepts a category's queries before it is saved.
    pub fn check_category(&self, rule: &CategoryRule) -> Result<(), ServiceError> {
        let request = SearchRequest { categories: vec![0], category_rules: vec![rule.clone()], ..Default::default() };
        self.index.matching(&request, &[])?;
        Ok(())
    }

    /// Checks that the index accepts the request's query (a walk would fail on its first page).
    pub fn check_query(&self, request: &SearchRequest) -> Result<(), ServiceError> {
        self.index.matching(&self.with_category_rules(request)?, &[])?;
        Ok(())
    }

    /// The highest row number in the store: where a walk started now ends (see
    /// [`Reader::select_page`]).
    pub fn last_row(&self) -> Result<u64, ServiceError> {
        Ok(self.store.last_row()?)
    }

    /// How many verbatims the index holds (equal to the store's count when healthy).
    pub fn indexed_count(&self) -> u64 {
        self.index.num_docs()
    }

    /// How many verbatims the store holds.
    pub fn stored_count(&self) -> Result<u64, ServiceError> {
        Ok(self.store.count()?)
    }

    /// The store's last `seq`: every write so far is at or below it.
    pub fn last_seq(&self) -> Result<u64, ServiceError> {
        Ok(self.store.last_seq()?)
    }

    /// The store file's size in bytes.
    pub fn store_bytes(&self) -> u64 {
        self.store.size_bytes()
    }

    /// Whether the store answers a query.
    pub fn ping(&self) -> Result<(), ServiceError> {
        Ok(self.store.ping()?)
    }
}

fn take_place(places: &Arc<Semaphore>) -> Result<WritePermit, ServiceError> {
    places
        .clone()
        .try_acquire_owned()
        .map(|place| WritePermit { _place: Some(place) })
        .map_err(|_| ServiceError::Overloaded)
}

impl Drop for Service {
    /// Lets the writer answer what is queued, then waits for it and the purger to finish.
    fn drop(&mut self) {
        self.writer.queue.take();
        for thread in self.writer.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Writer {
    /// `purge_owed`: erased data is still in some file (the purge at start-up could not finish).
    fn start(parts: Arc<Parts>, max_pending_writes: usize, purge_owed: bool) -> anyhow::Result<Writer> {
        let (queue, pending) = mpsc::channel::<PendingWrite>();
        let (wake_purger, erased) = mpsc::channel::<()>();
        let writer_parts = parts.clone();
        let writer = std::thread::Builder::new()
            .name("verbatim-writer".into())
            .spawn(move || writer_parts.write_groups(pending, wake_purger))
            .context("starting the writer thread")?;
        let purger = std::thread::Builder::new()
            .name("verbatim-purger".into())
            .spawn(move || {
                let mut owed = purge_owed;
                loop {
                    // Owed a purge, it tries again every few seconds until it finishes.
                    let woken = match owed {
                        true => erased.recv_timeout(PURGE_RETRY),
                        false => erased.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
                    };
                    if woken == Err(mpsc::RecvTimeoutError::Disconnected) {
                        return; // Shutting down: the next start-up purges what is left.
                    }
                    // Erasures that arrived meanwhile are covered by this one purge.
                    while erased.try_recv().is_ok() {}
                    owed = !parts.purge_erased();
                }
            })
            .context("starting the purger thread")?;
        Ok(Writer {
            queue: Some(queue),
            admission: Arc::new(Semaphore::new(max_pending_writes.max(1))),
            erasure_admission: Arc::new(Semaphore::new(ERASURE_PLACES)),
            threads: vec![writer, purger],
        })
    }
}

impl Parts {
    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        // A panic mid-write leaves nothing half-done that the lock protects: both parts roll back.
        self.write_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The writer thread: each turn takes what the queue holds as one group and commits it.
    /// After an erasure (or a discovery, which may have read verbatims erased before its
    /// commit) it names the topics again, when writes pause or within [`RENAME_PATIENCE`], then
    /// wakes the purger, which clears the old names from the files with the erased rows.
    fn write_groups(&self, pending: mpsc::Receiver<PendingWrite>, wake_purger: mpsc::Sender<()>) {
        let mut rename_owed: Option<Instant> = None;
        loop {
            if rename_owed.is_some_and(|since| since.elapsed() >= RENAME_PATIENCE) {
                self.rename_now(&wake_purger);
                rename_owed = None;
            }
            let first = match rename_owed {
                None => match pending.recv() {
                    Ok(first) => first,
                    Err(_) => return,
                },
                Some(_) => match pending.recv_timeout(RENAME_IDLE) {
                    Ok(first) => first,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        self.rename_now(&wake_purger);
                        rename_owed = None;
                        continue;
                    }
                    // The next start names them again.
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                },
            };
            let mut size = first.write.verbatims();
            let mut group = vec![first];
            while size < MAX_GROUP_VERBATIMS {
                let Ok(next) = pending.try_recv() else { break };
                size += next.write.verbatims();
                group.push(next);
            }
            let erased = group.iter().any(|p| p.write.erases());
            let renames =
                erased || group.iter().any(|p| matches!(p.write, Write::Topics { .. } | Write::RootCauses { .. }));
            let answers = self.commit_group(&mut group);
            let committed = answers.iter().any(Result::is_ok);
            for (pending, answer) in group.into_iter().zip(answers) {
                let _ = pending.reply.send(answer);
            }
            if committed {
                self.evaluate_alerts();
            }
            if erased {
                let _ = wake_purger.send(());
            }
            if renames {
                rename_owed.get_or_insert_with(Instant::now);
            }
        }
    }

    /// Evaluates the alert rules on what was just written (after the answers: a client does
    /// not wait for it). A failure is logged; the next commit, or the next start, evaluates
    /// from the same checkpoint.
    fn evaluate_alerts(&self) {
        let _writing = self.lock();
        if let Err(err) = alerts::evaluate(&self.reader.store, &self.reader.index) {
            tracing::warn!(error = %format!("{err:#}"), "evaluating alert rules; will retry after the next write");
        }
    }

    /// Names the topics and root causes again (under the write lock, so no commit changes the
    /// models meanwhile) and has the purger clear the old names from the files.
    fn rename_now(&self, wake_purger: &mpsc::Sender<()>) {
        let _writing = self.lock();
        if self.rename_after_erasures() {
            let _ = wake_purger.send(());
        }
    }

    /// Commits a group in one transaction and one index commit. If the store refuses the
    /// group (say, it would overflow the size quota), each write is tried alone, so one
    /// write's failure is not its neighbours'.
    fn commit_group(&self, group: &mut [PendingWrite]) -> Vec<Result<Written, ServiceError>> {
        let _writing = self.lock();
        let mut writes: Vec<&mut Write> = group.iter_mut().map(|p| &mut p.write).collect();
        match self.commit(&mut writes) {
            Ok(written) => written.into_iter().map(Ok).collect(),
            Err(err) if writes.len() == 1 => vec![Err(err)],
            // Only a full store can refuse a group that its writes alone would fit in; other
            // errors (a lock held too long) would fail each write again, one timeout each.
            Err(err @ ServiceError::Store(StoreError::DiskFull)) => {
                tracing::warn!(error = %err, writes = writes.len(), "group refused by the store; committing its writes one by one");
                writes.into_iter().map(|write| self.commit(&mut [write]).map(|mut written| written.remove(0))).collect()
            }
            Err(err) => {
                // Nothing of the group is acknowledged; if the index step failed, the store has the
                // group and the index catches up before the next commit.
                let message = format!("{err:#}");
                writes.iter().map(|_| Err(ServiceError::Other(anyhow::anyhow!("{message}")))).collect()
            }
        }
    }

    fn commit(&self, writes: &mut [&mut Write]) -> Result<Vec<Written>, ServiceError> {
        self.catch_up_if_behind()?;
        for write in writes.iter_mut() {
            if let Write::Upsert(batch) = &mut **write {
                self.analyzer.assign_stale(batch)?;
            }
        }
        let mut new_topics: Option<TopicAssigner> = None;
        let mut new_root_causes: Option<RootCauseModel> = None;
        let readers = self.analyzer.readers(self.analyzer.fast());
        let analysis = |err: anyhow::Error| StoreError::Analysis(format!("{err:#}"));
        let (written, seq) = self.reader.store.write(|store| {
            writes
                .iter_mut()
                .map(|write| match &mut **write {
                    Write::Upsert(batch) => {
                        // After a discovery's commit in the same group, its model is the one in use.
                        if let Some(assigner) = &new_topics {
                            assigner.assign_stale(batch);
                        }
                        if let Some(model) = &new_root_causes {
                            model.assign_stale(readers, batch).map_err(analysis)?;
                        }
                        store.upsert(batch).map(|()| Written::Upserted)
                    }
                    Write::Delete(id) => store.delete(id).map(Written::Deleted),
                    Write::DeleteCustomer(customer) => store.delete_customer(customer).map(Written::DeletedCustomer),
                    Write::Expire { ids, before } => store.expire(ids, before).map(|()| Written::Expired(ids.len())),
                    Write::Reanalysed { verbatims, progress } => {
                        // The index then takes the rows as stored, and only those updated.
                        *verbatims = store.reanalysed(verbatims)?;
                        store.set_job_progress(progress)?;
                        Ok(Written::Reanalysed)
                    }
                    Write::Topics { saved, based_on, job_id, verbatims, progress } => {
                        let in_use = new_topics.clone().or_else(|| self.analyzer.topics().map(|a| (*a).clone()));
                        if in_use.map(|a| (a.version, a.saved.merges)) != *based_on {
                            verbatims.clear();
                            return Ok(Written::Model(None));
                        }
                        let json = serde_json::to_string(&**saved).expect("a topic model serialises");
                        let version = store.save_model(Grouping::Topics, Some(job_id), &json)?;
                        let assigner = TopicAssigner { version, saved: (**saved).clone() };
                        verbatims.iter_mut().filter_map(|v| v.topic.as_mut()).for_each(|t| t.model = version);
                        let mut stored = store.set_topics(verbatims)?;
                        let mut others = store.without_topic_of(version)?;
                        let texts: Vec<(&str, Option<&str>)> =
                            others.iter().map(|v| (v.text.as_str(), v.language.as_deref())).collect();
                        let topics = assigner.assign_words(&texts);
                        others.iter_mut().zip(topics).for_each(|(v, topic)| v.topic = Some(topic));
                        stored.extend(store.set_topics(&others)?);
                        *verbatims = stored;
                        store.set_job_progress(progress)?;
                        new_topics = Some(assigner);
                        Ok(Written::Model(Some(version)))
                    }
                    Write::SplitTopic { saved, based_on, topic, verbatims, progress } => {
                        let in_use = new_topics.clone().or_else(|| self.analyzer.topics().map(|a| (*a).clone()));
                        if in_use.map(|a| (a.version, a.saved.merges)) != Some(*based_on) {
                            verbatims.clear();
                            return Ok(Written::Model(None));
                        }
                        let assigner = TopicAssigner { version: based_on.0, saved: (**saved).clone() };
                        store.replace_model(
                            Grouping::Topics,
                            assigner.version,
                            &serde_json::to_string(&assigner.saved).expect("a topic model serialises"),
                        )?;
                        store.forget_edits(Grouping::Topics, *topic)?;
                        let mut stored = store.set_topics(verbatims)?;
                        // Written since the job read them: by words, as at ingestion.
                        let mut others = store.topic_members(*topic)?;
                        assigner.assign_stale(&mut others);
                        stored.extend(store.set_topics(&others)?);
                        *verbatims = stored;
                        store.set_job_progress(progress)?;
                        new_topics = Some(assigner);
                        Ok(Written::Model(Some(based_on.0)))
                    }
                    Write::MergeTopics { from, into, moved } => {
                        let in_use = new_topics.clone().or_else(|| self.analyzer.topics().map(|a| (*a).clone()));
                        let Some(merged) = in_use.and_then(|a| Some((a.version, a.saved.merged(*from, *into)?))) else {
                            return Ok(Written::Merged(None));
                        };
                        let (version, saved) = merged;
                        store.replace_model(
                            Grouping::Topics,
                            version,
                            &serde_json::to_string(&saved).expect("a topic model serialises"),
                        )?;
                        store.forget_edits(Grouping::Topics, *from)?;
                        let mut members = store.topic_members(*from)?;
                        members.iter_mut().filter_map(|v| v.topic.as_mut()).for_each(|t| t.id = *into);
                        *moved = store.set_topics(&members)?;
                        new_topics = Some(TopicAssigner { version, saved });
                        Ok(Written::Merged(Some(moved.len())))
                    }
                    Write::RootCauses { saved, based_on, job_id, verbatims, progress } => {
                        let in_use =
                            new_root_causes.clone().or_else(|| self.analyzer.root_causes().map(|m| (*m).clone()));
                        if in_use.map(|m| (m.version(), m.assigner.saved.merges)) != *based_on {
                            verbatims.clear();
                            return Ok(Written::Model(None));
                        }
                        let json = serde_json::to_string(&**saved).expect("a root-cause model serialises");
                        let version = store.save_model(Grouping::RootCauses, Some(job_id), &json)?;
                        let edits = self.reader.store.edits(Grouping::RootCauses)?;
                        let model = RootCauseModel::new(TopicAssigner { version, saved: (**saved).clone() }, &edits);
                        verbatims.iter_mut().filter_map(|v| v.root_causes.as_mut()).for_each(|r| r.model = version);
                        let mut stored = store.set_root_causes(verbatims)?;
                        let mut others = store.without_root_causes_of(version)?;
                        model.assign_stale(readers, &mut others).map_err(analysis)?;
                        stored.extend(store.set_root_causes(&others)?);
                        *verbatims = stored;
                        store.set_job_progress(progress)?;
                        new_root_causes = Some(model);
                        Ok(Written::Model(Some(version)))
                    }
                    Write::SplitRootCause { saved, based_on, root_cause, verbatims, progress } => {
                        let in_use =
                            new_root_causes.clone().or_else(|| self.analyzer.root_causes().map(|m| (*m).clone()));
                        if in_use.map(|m| (m.version(), m.assigner.saved.merges)) != Some(*based_on) {
                            verbatims.clear();
                            return Ok(Written::Model(None));
                        }
                        let version = based_on.0;
                        store.replace_model(
                            Grouping::RootCauses,
                            version,
                            &serde_json::to_string(&**saved).expect("a root-cause model serialises"),
                        )?;
                        store.forget_edits(Grouping::RootCauses, *root_cause)?;
                        let edits = self.reader.store.edits(Grouping::RootCauses)?;
                        let model = RootCauseModel::new(TopicAssigner { version, saved: (**saved).clone() }, &edits);
                        let mut stored = store.set_root_causes(verbatims)?;
                        // Written since the job read them: matched again, as at ingestion.
                        let mut others = store.root_cause_members(*root_cause)?;
                        model.assign_stale(readers, &mut others).map_err(analysis)?;
                        stored.extend(store.set_root_causes(&others)?);
                        *verbatims = stored;
                        store.set_job_progress(progress)?;
                        new_root_causes = Some(model);
                        Ok(Written::Model(Some(version)))
                    }
                    Write::MergeRootCauses { from, into, moved } => {
                        let in_use =
                            new_root_causes.clone().or_else(|| self.analyzer.root_causes().map(|m| (*m).clone()));
                        let Some((version, saved)) =
                            in_use.and_then(|m| Some((m.version(), m.assigner.saved.merged(*from, *into)?)))
                        else {
                            return Ok(Written::Merged(None));
                        };
                        store.replace_model(
                            Grouping::RootCauses,
                            version,
                            &serde_json::to_string(&saved).expect("a root-cause model serialises"),
                        )?;
                        store.forget_edits(Grouping::RootCauses, *from)?;
                        let mut members = store.root_cause_members(*from)?;
                        for member in &mut members {
                            if let Some(found) = member.root_causes.as_mut() {
                                found.merge(*from, *into);
                            }
                        }
                        *moved = store.set_root_causes(&members)?;
                        let edits = self.reader.store.edits(Grouping::RootCauses)?;
                        new_root_causes = Some(RootCauseModel::new(TopicAssigner { version, saved }, &edits));
                        Ok(Written::Merged(Some(moved.len())))
                    }
                    Write::Assigned { verbatims, progress } => {
                        // Found with a model a discovery has replaced meanwhile: the rows keep
                        // the newer model's topics.
                        let in_use = new_topics.clone().or_else(|| self.analyzer.topics().map(|a| (*a).clone()));
                        verbatims.retain(|v| v.topic.is_some_and(|t| in_use.as_ref().is_some_and(|a| a.holds(&t))));
                        *verbatims = store.set_topics(verbatims)?;
                        store.set_job_progress(progress)?;
                        Ok(Written::Assigned)
                    }
                })
                .collect::<Result<Vec<_>, StoreError>>()
        })?;
        // In the commit's critical section: a write analysed with the older model after this
        // is assigned again above, before it is stored.
        if let Some(assigner) = new_topics {
            self.analyzer.set_topics(assigner);
        }
        if let Some(model) = new_root_causes {
            self.analyzer.set_root_causes(model);
        }
        self.reader
            .index
            .write(seq, |index| {
                for write in writes.iter() {
                    match &**write {
                        Write::Upsert(batch)
                        | Write::Reanalysed { verbatims: batch, .. }
                        | Write::Topics { verbatims: batch, .. }
                        | Write::Assigned { verbatims: batch, .. }
                        | Write::MergeTopics { moved: batch, .. }
                        | Write::SplitTopic { verbatims: batch, .. }
                        | Write::RootCauses { verbatims: batch, .. }
                        | Write::SplitRootCause { verbatims: batch, .. }
                        | Write::MergeRootCauses { moved: batch, .. } => index.upsert(batch)?,
                        Write::Delete(id) => index.delete(id),
                        Write::DeleteCustomer(customer) => index.delete_customer(customer),
                        Write::Expire { ids, .. } => ids.iter().for_each(|id| index.delete(id)),
                    }
                }
                Ok(())
            })
            .inspect_err(|_| self.index_behind.store(true, Ordering::SeqCst))?;
        Ok(written)
    }

    /// Names the topics in use again from the stored verbatims if an erasure happened since
    /// their names were made (see [`SavedTopics::renamed`]); returns whether it did. The model
    /// is read from the store, where an erasure also removed the customer from the
    /// discovery's filter. Called with the write lock held, or before the writer starts.
    fn rename_topics_after_erasures(&self) -> anyhow::Result<bool> {
        let store = &self.reader.store;
        let mark = store.last_erasure()?;
        // The model in use is the store's but for what erasures changed: if its names are
        // clear of every erasure, so are the store's.
        if self.analyzer.topics().is_none_or(|in_use| mark <= in_use.saved.erasure_mark) {
            return Ok(false);
        }
        let Some(saved) = store.saved_model(Grouping::Topics)? else { return Ok(false) };
        let assigner = TopicAssigner::from_saved(&saved)?;
        let renamed = assigner.saved.renamed(&store.topic_texts()?, mark);
        let json = serde_json::to_string(&renamed).expect("a topic model serialises");
        store.write(|writer| writer.replace_model(Grouping::Topics, assigner.version, &json))?;
        self.analyzer.set_topics(TopicAssigner { version: assigner.version, saved: renamed });
        tracing::info!(version = assigner.version, "topics named again after an erasure");
        Ok(true)
    }

    /// [`Parts::rename_topics_after_erasures`] for the root-cause model in use: its names are
    /// made again from the mentions the stored verbatims still hold.
    fn rename_root_causes_after_erasures(&self) -> anyhow::Result<bool> {
        let store = &self.reader.store;
        let mark = store.last_erasure()?;
        if self.analyzer.root_causes().is_none_or(|in_use| mark <= in_use.assigner.saved.erasure_mark) {
            return Ok(false);
        }
        let Some(saved) = store.saved_model(Grouping::RootCauses)? else { return Ok(false) };
        let assigner = TopicAssigner::from_saved(&saved)?;
        let renamed = assigner.saved.renamed(&mention_texts(store.root_cause_texts()?), mark);
        let json = serde_json::to_string(&renamed).expect("a root-cause model serialises");
        store.write(|writer| writer.replace_model(Grouping::RootCauses, assigner.version, &json))?;
        let edits = store.edits(Grouping::RootCauses)?;
        self.analyzer
            .set_root_causes(RootCauseModel::new(TopicAssigner { version: assigner.version, saved: renamed }, &edits));
        tracing::info!(version = assigner.version, "root causes named again after an erasure");
        Ok(true)
    }

    /// Names the topics and the root causes again where an erasure came after their names
    /// were made; returns whether any was. One failing (logged) does not keep the other from
    /// being named: each is tried again after the next erasure, or at the next start.
    fn rename_after_erasures(&self) -> bool {
        let mut renamed = false;
        for (what, result) in
            [("topics", self.rename_topics_after_erasures()), ("root causes", self.rename_root_causes_after_erasures())]
        {
            match result {
                Ok(done) => renamed |= done,
                Err(err) => {
                    tracing::warn!(error = %format!("{err:#}"), "naming {what} again after an erasure; the next erasure tries again")
                }
            }
        }
        renamed
    }

    /// Removes erased data from the files: index segments holding deleted documents are
    /// merged away and the write-ahead log is truncated. Retries while a reader or a
    /// background merge is in the way, up to [`PURGE_PATIENCE`]; returns whether it finished.
    fn purge_erased(&self) -> bool {
        let started = Instant::now();
        let mut index_done = false;
        let mut store_done = false;
        while !(index_done && store_done) && started.elapsed() < PURGE_PATIENCE {
            if !index_done {
                match self.reader.index.purge_deleted() {
                    Ok(_) => index_done = true,
                    Err(err) => tracing::warn!(error = %err, "purging deleted documents from the index; will retry"),
                }
            }
            if !store_done {
                match self.reader.store.purge_wal() {
                    Ok(done) => store_done = done,
                    Err(err) => tracing::warn!(error = %err, "truncating the store's write-ahead log; will retry"),
                }
            }
            if !(index_done && store_done) {
                std::thread::sleep(Duration::from_millis(250));
            }
        }
        if index_done && store_done {
            tracing::debug!(seconds = started.elapsed().as_secs_f64(), "erased data purged from the data files");
        } else {
            tracing::warn!(index_done, store_done, "erased data is not yet purged from every file; retrying");
        }
        index_done && store_done
    }

    fn repair_index(&self) -> anyhow::Result<()> {
        let _writing = self.lock();
        let behind = self.reader.store.last_seq()?.saturating_sub(self.reader.index.applied_seq());
        if behind > 0 {
            tracing::info!(behind, "index is behind the store; catching up");
        }
        self.catch_up()?;
        let (stored, indexed) = (self.reader.store.count()?, self.reader.index.num_docs());
        if stored != indexed {
            tracing::warn!(stored, indexed, "index and store disagree; reconciling ids");
            self.reconcile_ids()?;
        }
        Ok(())
    }

    fn catch_up_if_behind(&self) -> Result<(), ServiceError> {
        if self.index_behind.load(Ordering::SeqCst) {
            self.catch_up()?;
            self.reconcile_ids()?;
            self.index_behind.store(false, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Indexes every row the index has not applied yet, page by page (see [`consumers`]).
    fn catch_up(&self) -> Result<(), ServiceError> {
        let index: &dyn Consumer = &self.reader.index;
        let applied = consumers::catch_up(&self.reader.store, index, REPAIR_PAGE)?;
        if applied > 0 {
            tracing::info!(verbatims = applied, "index caught up with the store");
        }
        Ok(())
    }

    /// Removes from the index what the store no longer has, and adds what it lacks.
    fn reconcile_ids(&self) -> Result<(), ServiceError> {
        let stored: HashSet<String> = self.reader.store.ids()?.into_iter().collect();
        let indexed = self.reader.index.ids()?;
        let extra: Vec<String> = indexed.difference(&stored).cloned().collect();
        if !extra.is_empty() {
            self.reader.index.delete(&extra)?;
        }
        let missing: Vec<String> = stored.difference(&indexed).cloned().collect();
        for chunk in missing.chunks(REPAIR_PAGE) {
            let verbatims: Vec<Verbatim> = self.reader.store.get_many(chunk)?.into_values().collect();
            self.reader.index.upsert(&verbatims, self.reader.index.applied_seq())?;
        }
        tracing::info!(removed = extra.len(), added = missing.len(), "index reconciled with the store");
        Ok(())
    }
}
