//! The one path by which verbatims are written, erased and searched.
//!
//! Writes go to the store first (the system of record, one transaction per batch), then to
//! the index, under one lock so index commits follow store `seq` order. If the process dies
//! between the two, [`Service::open`] repairs the index before serving:
//!
//! 1. rows whose `seq` is above the index's last applied `seq` are (re)indexed;
//! 2. if the index then holds a different number of verbatims than the store (an erasure
//!    that reached the store but not the index), ids are reconciled one by one.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;

use crate::analysis::Analyzer;
use crate::domain::Verbatim;
use crate::index::{IndexError, SearchIndex};
use crate::search::{SearchHit, SearchRequest, SearchResponse};
use crate::store::{Store, StoreError};

/// Rows per index commit when catching up or rebuilding.
const REPAIR_PAGE: usize = 5_000;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
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

pub struct Service {
    store: Store,
    index: SearchIndex,
    analyzer: Arc<Analyzer>,
    /// Serialises writes so index commits follow store order.
    write_lock: Mutex<()>,
    /// Set when an index write failed after its store write succeeded.
    index_behind: AtomicBool,
}

impl Service {
    /// Opens the data directory for reading and writing, repairing the index if needed.
    /// Fails if another process already holds it. `max_store_bytes` caps the SQLite file.
    pub fn open(data_dir: &Path, max_store_bytes: Option<u64>, analyzer: Arc<Analyzer>) -> anyhow::Result<Service> {
        std::fs::create_dir_all(data_dir).with_context(|| format!("creating data directory {}", data_dir.display()))?;
        let paths = DataPaths::new(data_dir);
        // The index writer's lock is the data directory's lock: take it before touching the store.
        let index = SearchIndex::open(&paths.index)?;
        let store = Store::open(&paths.store, max_store_bytes)
            .with_context(|| format!("opening store {}", paths.store.display()))?;
        let service =
            Service { store, index, analyzer, write_lock: Mutex::new(()), index_behind: AtomicBool::new(false) };
        service.repair_index()?;
        service.analyse_backlog()?;
        Ok(service)
    }

    /// Opens for searching only, beside a running server; no repair.
    pub fn open_read_only(data_dir: &Path, analyzer: Arc<Analyzer>) -> anyhow::Result<Service> {
        let paths = DataPaths::new(data_dir);
        if !paths.store.exists() {
            anyhow::bail!("no verbatim data in {}; ingest some first", data_dir.display());
        }
        let store = Store::open_read_only(&paths.store)?;
        let index = SearchIndex::open_read_only(&paths.index)?;
        Ok(Service { store, index, analyzer, write_lock: Mutex::new(()), index_behind: AtomicBool::new(false) })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn analyzer(&self) -> &Arc<Analyzer> {
        &self.analyzer
    }

    /// Analyses, stores, then indexes a batch. Once this returns `Ok`, the batch is durable
    /// and searchable, with its language and sentiment.
    pub fn upsert(&self, batch: &mut [Verbatim]) -> Result<(), ServiceError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.analyzer.enrich(batch);
        let _writing = self.lock();
        self.catch_up_if_behind()?;
        let seq = self.store.upsert(batch)?;
        self.index.upsert(batch, seq).inspect_err(|_| self.index_behind.store(true, Ordering::SeqCst))?;
        Ok(())
    }

    /// Erases one verbatim; returns whether it existed.
    pub fn delete(&self, id: &str) -> Result<bool, ServiceError> {
        let _writing = self.lock();
        self.catch_up_if_behind()?;
        let existed = self.store.delete(id)?;
        self.index.delete(&[id.to_string()]).inspect_err(|_| self.index_behind.store(true, Ordering::SeqCst))?;
        Ok(existed)
    }

    /// Erases every verbatim of a customer; returns how many there were.
    pub fn delete_customer(&self, customer_id: &str) -> Result<usize, ServiceError> {
        let _writing = self.lock();
        self.catch_up_if_behind()?;
        let deleted = self.store.delete_customer(customer_id)?;
        self.index.delete_customer(customer_id).inspect_err(|_| self.index_behind.store(true, Ordering::SeqCst))?;
        Ok(deleted)
    }

    pub fn get(&self, id: &str) -> Result<Option<Verbatim>, ServiceError> {
        Ok(self.store.get(id)?)
    }

    pub fn search(&self, request: &SearchRequest) -> Result<SearchResponse, ServiceError> {
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

    /// Rebuilds the whole index from the store; returns how many verbatims it holds.
    pub fn reindex(&self) -> Result<u64, ServiceError> {
        let _writing = self.lock();
        self.index.clear()?;
        self.catch_up()?;
        Ok(self.index.num_docs())
    }

    /// How many verbatims the index holds (equal to the store's count when healthy).
    pub fn indexed_count(&self) -> u64 {
        self.index.num_docs()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        // A panic mid-write leaves nothing half-done that the lock protects: both parts roll back.
        self.write_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Analyses rows stored before ingestion computed sentiment (schema 1), page by page,
    /// through the normal write path.
    fn analyse_backlog(&self) -> Result<(), ServiceError> {
        loop {
            let mut page = self.store.unanalysed(REPAIR_PAGE)?;
            if page.is_empty() {
                return Ok(());
            }
            tracing::info!(verbatims = page.len(), "analysing verbatims stored before sentiment analysis");
            self.upsert(&mut page)?;
        }
    }

    fn repair_index(&self) -> anyhow::Result<()> {
        let _writing = self.lock();
        let behind = self.store.last_seq()?.saturating_sub(self.index.applied_seq());
        if behind > 0 {
            tracing::info!(behind, "index is behind the store; catching up");
        }
        self.catch_up()?;
        let (stored, indexed) = (self.store.count()?, self.index.num_docs());
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

    /// Indexes every row the index has not applied yet, page by page.
    fn catch_up(&self) -> Result<(), ServiceError> {
        let target = self.store.last_seq()?;
        // Each page commits with its own last seq, so a crash mid-way resumes where it stopped.
        self.store.for_each_since(self.index.applied_seq(), REPAIR_PAGE, |page, page_seq| {
            self.index.upsert(&page, page_seq)?;
            Ok(())
        })?;
        if self.index.applied_seq() != target {
            // Deletions consume no seq of their own rows; align so the payload matches the store.
            self.index.upsert(&[], target)?;
        }
        Ok(())
    }

    /// Removes from the index what the store no longer has, and adds what it lacks.
    fn reconcile_ids(&self) -> Result<(), ServiceError> {
        let stored: HashSet<String> = self.store.ids()?.into_iter().collect();
        let indexed = self.index.ids()?;
        let extra: Vec<String> = indexed.difference(&stored).cloned().collect();
        if !extra.is_empty() {
            self.index.delete(&extra)?;
        }
        let missing: Vec<String> = stored.difference(&indexed).cloned().collect();
        for chunk in missing.chunks(REPAIR_PAGE) {
            let verbatims: Vec<Verbatim> = self.store.get_many(chunk)?.into_values().collect();
            self.index.upsert(&verbatims, self.index.applied_seq())?;
        }
        tracing::info!(removed = extra.len(), added = missing.len(), "index reconciled with the store");
        Ok(())
    }
}
