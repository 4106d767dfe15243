//! Full-text search over verbatims: a Tantivy index derived from the store.
//!
//! The index holds no data the store lacks, so it can always be rebuilt. Each commit records,
//! in Tantivy's commit payload, the store `seq` it has caught up to; [`crate::service`] uses
//! that to repair the index after a crash.
//!
//! Deleting a document only marks it deleted: its terms and columns stay in the segment's
//! files until the segment is merged. [`SearchIndex::purge_deleted`] merges every segment that
//! holds deleted documents and removes the old files, which is how an erasure leaves the disk.

mod highlight;
mod kpis;
mod limits;
mod query;
mod schema;
mod tokenizer;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use anyhow::{bail, Context};
use chrono_tz::Tz;
use tantivy::collector::{Count, FacetCollector, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::query::EnableScoring;
use tantivy::schema::{Facet, IndexRecordOption};
use tantivy::{
    DateTime, DocAddress, DocId, DocSet, Index, IndexReader, IndexWriter, Order, ReloadPolicy, Searcher,
    TantivyDocument, Term, TERMINATED,
};

pub use highlight::Highlighter;
use kpis::KpiCollector;
pub use limits::{QueryLimit, QueryTooLarge};
use schema::Fields;
pub use schema::TextField;

use crate::consumers::Consumer;
use crate::domain::{Period, Verbatim, NO_EMOTION, OTHER_LANGUAGE};
use crate::kpi::{Cells, GroupBy};
use crate::search::{SearchRequest, Sort};

/// Memory the writer may buffer before it flushes a segment.
const WRITER_HEAP_BYTES: usize = 64 * 1024 * 1024;
/// One indexing thread: every commit flushes one segment per thread, and with group commit
/// committing many times a second, a second thread doubled the tiny segments (and the merges
/// after them) without indexing faster (benches/RESULTS.md, issue 11).
const WRITER_THREADS: usize = 1;
/// Facets counted for every search, in the order of the response.
pub const FACETS: [&str; 8] =
    ["channel", "language", "nps_group", "sentiment", "emotion", "topic", "root_cause", "aspect"];
/// Facets with as many values as customers have words for things: only the most frequent are
/// counted in a response.
const TOP_VALUES: [(&str, usize); 1] = [("aspect", 50)];

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("the search index is in use by another verbatim process (a running server?): {0}")]
    Locked(String),
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    #[error("invalid query: {0}")]
    QueryTooLarge(#[from] QueryTooLarge),
    #[error("search index error: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("search index I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// One page of matches: ids in rank order plus counts over all matches.
pub struct IndexResults {
    pub total: usize,
    pub hits: Vec<(String, f32)>,
    pub facets: BTreeMap<&'static str, BTreeMap<String, u64>>,
    pub highlighter: Highlighter,
}

pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    /// `None` when opened read-only.
    writer: Option<Mutex<IndexWriter>>,
    /// The store `seq` the last commit covers.
    applied_seq: AtomicU64,
}

impl SearchIndex {
    /// Opens the index in `dir` for writing, creating it, or re-creating it empty when its
    /// schema is from another version (the caller then catches it up from the store).
    pub fn open(dir: &Path) -> anyhow::Result<SearchIndex> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating index directory {}", dir.display()))?;
        let expected = schema::schema();
        let directory = MmapDirectory::open(dir)?;
        if !Index::exists(&directory)? {
            Index::create(directory, expected.clone(), Default::default())?;
        }
        let index = match Index::open_in_dir(dir) {
            Ok(index) if index.schema() == expected => index,
            Ok(_) => {
                tracing::warn!(dir = %dir.display(), "index schema changed; rebuilding the index from the store");
                recreate(dir, expected)?
            }
            Err(err) => {
                tracing::warn!(dir = %dir.display(), error = %err, "index unreadable; rebuilding it from the store");
                recreate(dir, expected)?
            }
        };
        let writer = index.writer_with_num_threads(WRITER_THREADS, WRITER_HEAP_BYTES).map_err(|err| match err {
            tantivy::TantivyError::LockFailure(..) => IndexError::Locked(err.to_string()),
            other => IndexError::Tantivy(other),
        })?;
        Self::assemble(index, Some(writer))
    }

    /// Opens an existing index for searching only; works beside a running server.
    pub fn open_read_only(dir: &Path) -> anyhow::Result<SearchIndex> {
        let index = Index::open_in_dir(dir).with_context(|| {
            format!("no search index in {}; start the server or run `verbatim reindex`", dir.display())
        })?;
        if index.schema() != schema::schema() {
            bail!("the index in {} is from another version; run `verbatim reindex`", dir.display());
        }
        Self::assemble(index, None)
    }

    fn assemble(index: Index, writer: Option<IndexWriter>) -> anyhow::Result<SearchIndex> {
        schema::register_analyzers(&index);
        let fields = Fields::resolve(&index.schema())?;
        let applied_seq = index.load_metas()?.payload.and_then(|p| p.parse().ok()).unwrap_or(0);
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        Ok(SearchIndex {
            index,
            reader,
            fields,
            writer: writer.map(Mutex::new),
            applied_seq: AtomicU64::new(applied_seq),
        })
    }

    /// The store `seq` this index has caught up to.
    pub fn applied_seq(&self) -> u64 {
        self.applied_seq.load(Ordering::SeqCst)
    }

    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Replaces or adds these verbatims and commits, recording `seq` as caught up to.
    /// Searches see the change when this returns.
    pub fn upsert(&self, batch: &[Verbatim], seq: u64) -> Result<(), IndexError> {
        self.write(seq, |edits| edits.upsert(batch))
    }

    pub fn delete(&self, ids: &[String]) -> Result<(), IndexError> {
        self.write(self.applied_seq(), |edits| {
            ids.iter().for_each(|id| edits.delete(id));
            Ok(())
        })
    }

    /// Applies `edit` and commits once, recording `seq` as caught up to; on any failure the
    /// uncommitted edits are rolled back so the next commit cannot carry them half-done.
    /// Searches see the change when this returns.
    pub fn write(&self, seq: u64, edit: impl FnOnce(&IndexEdits<'_>) -> tantivy::Result<()>) -> Result<(), IndexError> {
        let mut writer = self.lock_writer();
        let result = edit(&IndexEdits { writer: &writer, fields: &self.fields }).and_then(|()| {
            let mut commit = writer.prepare_commit()?;
            commit.set_payload(&seq.to_string());
            commit.commit()
        });
        if let Err(err) = result {
            if let Err(rollback) = writer.rollback() {
                tracing::error!(error = %rollback, "index rollback failed");
            }
            return Err(err.into());
        }
        self.applied_seq.store(seq, Ordering::SeqCst);
        self.reader.reload()?;
        Ok(())
    }

    /// Rewrites every segment that holds deleted documents without them, then removes the
    /// files no segment uses any more. Returns how many segments were rewritten.
    pub fn purge_deleted(&self) -> Result<usize, IndexError> {
        let with_deletes: Vec<_> = self
            .index
            .searchable_segment_metas()?
            .into_iter()
            .filter(|meta| meta.has_deletes())
            .map(|meta| meta.id())
            .collect();
        if !with_deletes.is_empty() {
            // Start the merge under the lock, wait for it outside, so writes go on meanwhile.
            let merge = self.lock_writer().merge(&with_deletes);
            merge.wait()?;
        }
        let collect = self.lock_writer().garbage_collect_files();
        collect.wait()?;
        self.reader.reload()?;
        Ok(with_deletes.len())
    }

    fn lock_writer(&self) -> std::sync::MutexGuard<'_, IndexWriter> {
        let writer = self.writer.as_ref().expect("a write on an index opened read-only");
        writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Empties the index (the start of a rebuild), recording that nothing is applied.
    pub fn clear(&self) -> Result<(), IndexError> {
        self.write(0, |edits| {
            edits.writer.delete_all_documents()?;
            Ok(())
        })
    }

    /// Every verbatim id in the index, for reconciling with the store.
    pub fn ids(&self) -> Result<HashSet<String>, IndexError> {
        let searcher = self.reader.searcher();
        let mut ids = HashSet::with_capacity(searcher.num_docs() as usize);
        let mut id = String::new();
        for segment in searcher.segment_readers() {
            let Some(column) = segment.fast_fields().str("id")? else { continue };
            for doc in segment.doc_ids_alive() {
                for ord in column.term_ords(doc) {
                    column.ord_to_str(ord, &mut id)?;
                    ids.insert(id.clone());
                }
            }
        }
        Ok(ids)
    }

    /// Runs a search: one page of ids, the total, and facet counts over all matches.
    pub fn search(&self, request: &SearchRequest) -> Result<IndexResults, IndexError> {
        let searcher = self.reader.searcher();
        let text_query = query::text_query(&self.index, &self.fields, request.query.as_deref())?;
        let query = query::with_filters(&self.index, &self.fields, text_query.query.box_clone(), request)?;

        let mut facet_collector = FacetCollector::for_field("facets");
        for facet in FACETS {
            facet_collector.add_facet(Facet::from(&format!("/{facet}")));
        }
        let page = TopDocs::with_limit(request.limit).and_offset(request.offset);
        let (total, ranked, facet_counts) = match request.sort {
            Sort::Relevance => searcher.search(&query, &(Count, page.order_by_score(), facet_collector))?,
            Sort::Newest => {
                let (total, newest, facets) = searcher.search(
                    &query,
                    &(Count, page.order_by_fast_field::<DateTime>("created_at", Order::Desc), facet_collector),
                )?;
                // No relevance score to report when sorting by date.
                (total, newest.into_iter().map(|(_, doc)| (1.0, doc)).collect(), facets)
            }
        };
        let hits = self.ids_of(&searcher, ranked)?;
        let facets = FACETS
            .iter()
            .map(|facet| {
                let prefix = format!("/{facet}");
                let name = |value: &Facet| value.to_path().last().copied().unwrap_or_default().to_string();
                let counts = match TOP_VALUES.iter().find(|(top, _)| top == facet) {
                    Some((_, k)) => {
                        facet_counts.top_k(prefix.as_str(), *k).into_iter().map(|(v, count)| (name(v), count)).collect()
                    }
                    None => facet_counts.get(prefix.as_str()).map(|(value, count)| (name(value), count)).collect(),
                };
                (*facet, counts)
            })
            .collect();
        let highlighter = Highlighter::new(&searcher, &text_query, &self.fields)?;
        Ok(IndexResults { total, hits, facets, highlighter })
    }

    /// Tallies the KPI answers of every verbatim the request matches, per group of `group_by`
    /// and per period (see [`crate::kpi`]).
    pub fn kpi_cells(
        &self,
        request: &SearchRequest,
        group_by: Option<&GroupBy>,
        period: Option<(Period, Tz)>,
    ) -> Result<Cells, IndexError> {
        let searcher = self.reader.searcher();
        let text_query = query::text_query(&self.index, &self.fields, request.query.as_deref())?;
        let query = query::with_filters(&self.index, &self.fields, text_query.query.box_clone(), request)?;
        Ok(searcher.search(&query, &KpiCollector { group_by: group_by.cloned(), period })?)
    }

    /// Which of `ids` match the request's query and filters: how jobs and exports that walk the
    /// store apply the search filters, with the meaning they have in search. Each id is looked
    /// up in the id field, and the query's matches are checked at those documents only (a
    /// seek per candidate): the cost follows the page, not the corpus or the matches.
    pub fn matching(&self, request: &SearchRequest, ids: &[String]) -> Result<HashSet<String>, IndexError> {
        let searcher = self.reader.searcher();
        let text_query = query::text_query(&self.index, &self.fields, request.query.as_deref())?;
        let query = query::with_filters(&self.index, &self.fields, text_query.query.box_clone(), request)?;
        let weight = query.weight(EnableScoring::disabled_from_searcher(&searcher))?;
        let mut found = HashSet::new();
        for segment in searcher.segment_readers() {
            let ids_index = segment.inverted_index(self.fields.id)?;
            let mut candidates: Vec<(DocId, &String)> = Vec::new();
            for id in ids {
                let term = Term::from_field_text(self.fields.id, id);
                let Some(mut postings) = ids_index.read_postings(&term, IndexRecordOption::Basic)? else { continue };
                while postings.doc() != TERMINATED {
                    if segment.alive_bitset().is_none_or(|alive| alive.is_alive(postings.doc())) {
                        candidates.push((postings.doc(), id));
                    }
                    postings.advance();
                }
            }
            if candidates.is_empty() {
                continue;
            }
            candidates.sort_unstable();
            let mut scorer = weight.scorer(segment, 1.0)?;
            for (doc, id) in candidates {
                if scorer.doc() <= doc && scorer.seek(doc) == doc {
                    found.insert(id.clone());
                }
            }
        }
        Ok(found)
    }

    fn ids_of(&self, searcher: &Searcher, ranked: Vec<(f32, DocAddress)>) -> Result<Vec<(String, f32)>, IndexError> {
        let mut id = String::new();
        let mut out = Vec::with_capacity(ranked.len());
        for (score, address) in ranked {
            let segment = searcher.segment_reader(address.segment_ord);
            let column = segment
                .fast_fields()
                .str("id")?
                .ok_or_else(|| tantivy::TantivyError::SchemaError("the id fast field is missing".to_string()))?;
            let ord = column.term_ords(address.doc_id).next();
            if let Some(ord) = ord {
                column.ord_to_str(ord, &mut id)?;
                out.push((id.clone(), score));
            }
        }
        Ok(out)
    }
}

/// The edits of one commit (see [`SearchIndex::write`]), applied in order.
pub struct IndexEdits<'a> {
    writer: &'a IndexWriter,
    fields: &'a Fields,
}

impl IndexEdits<'_> {
    /// Replaces or adds these verbatims.
    pub fn upsert(&self, batch: &[Verbatim]) -> tantivy::Result<()> {
        for verbatim in batch {
            self.delete(&verbatim.id);
            self.writer.add_document(document(self.fields, verbatim))?;
        }
        Ok(())
    }

    pub fn delete(&self, id: &str) {
        self.writer.delete_term(Term::from_field_text(self.fields.id, id));
    }

    pub fn delete_customer(&self, customer_id: &str) {
        self.writer.delete_term(Term::from_field_text(self.fields.customer_id, customer_id));
    }
}

fn recreate(dir: &Path, schema: tantivy::schema::Schema) -> anyhow::Result<Index> {
    std::fs::remove_dir_all(dir).with_context(|| format!("removing old index {}", dir.display()))?;
    std::fs::create_dir_all(dir)?;
    Ok(Index::create(MmapDirectory::open(dir)?, schema, Default::default())?)
}

fn document(fields: &Fields, v: &Verbatim) -> TantivyDocument {
    let mut doc = TantivyDocument::default();
    doc.add_text(fields.id, &v.id);
    if let Some(customer) = &v.customer_id {
        doc.add_text(fields.customer_id, customer);
    }
    let language = v.language.as_deref().unwrap_or(OTHER_LANGUAGE);
    doc.add_text(fields.language, language);
    doc.add_text(fields.channel, v.channel.as_str());
    // Rows stored before dates were range-checked may lie outside what the index can count.
    let created_at = crate::domain::clamp_to_supported(v.created_at);
    doc.add_date(fields.created_at, DateTime::from_timestamp_micros(created_at.timestamp_micros()));
    for (field, score) in [(fields.nps, v.nps), (fields.csat, v.csat), (fields.ces, v.ces)] {
        if let Some(score) = score {
            doc.add_u64(field, u64::from(score));
        }
    }
    for (key, value) in &v.metadata {
        doc.add_text(fields.metadata, format!("{key}={value}"));
    }
    doc.add_facet(fields.facets, Facet::from_path(["channel", v.channel.as_str()]));
    doc.add_facet(fields.facets, Facet::from_path(["language", language]));
    if let Some(group) = v.nps_group() {
        doc.add_facet(fields.facets, Facet::from_path(["nps_group", group.as_str()]));
    }
    if let Some(sentiment) = &v.sentiment {
        doc.add_text(fields.sentiment, sentiment.label.as_str());
        doc.add_f64(fields.sentiment_score, f64::from(sentiment.score));
        doc.add_facet(fields.facets, Facet::from_path(["sentiment", sentiment.label.as_str()]));
    }
    if let Some(emotions) = &v.emotions {
        // A text expressing no emotion is neutral: filtered and counted under that name.
        let names: Vec<&str> = match emotions.is_empty() {
            true => vec![NO_EMOTION],
            false => emotions.iter().map(|e| e.label.as_str()).collect(),
        };
        for name in names {
            doc.add_text(fields.emotion, name);
            doc.add_facet(fields.facets, Facet::from_path(["emotion", name]));
        }
    }
    if let Some(topic) = &v.topic {
        let id = topic.id.to_string();
        doc.add_text(fields.topic, &id);
        doc.add_facet(fields.facets, Facet::from_path(["topic", id.as_str()]));
    }
    let mut keys: Vec<String> = Vec::with_capacity(v.aspects.len());
    for aspect in &v.aspects {
        let key = aspect.key(&v.text);
        doc.add_text(fields.aspect, format!("{key}:{}", aspect.polarity.as_str()));
        if !keys.contains(&key) {
            doc.add_text(fields.aspect, &key);
            doc.add_facet(fields.facets, Facet::from_path(["aspect", key.as_str()]));
            keys.push(key);
        }
    }
    for id in v.root_causes.iter().flat_map(|found| found.ids()) {
        let id = id.to_string();
        doc.add_text(fields.root_cause, &id);
        doc.add_facet(fields.facets, Facet::from_path(["root_cause", id.as_str()]));
    }
    doc.add_text(fields.text(TextField::for_language(v.language.as_deref())), &v.text);
    doc
}

/// The index follows the store as the consumer `index`; its checkpoint is its commit payload,
/// written in the same commit as the documents.
impl Consumer for SearchIndex {
    fn name(&self) -> &str {
        "index"
    }

    fn checkpoint(&self) -> anyhow::Result<u64> {
        Ok(self.applied_seq())
    }

    fn apply(&self, page: &[Verbatim], seq: u64) -> anyhow::Result<()> {
        Ok(self.upsert(page, seq)?)
    }
}
