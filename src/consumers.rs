//! Views derived from the store follow it the same way: by `seq`.
//!
//! Every write to the store takes the next `seq`. A derived view (the search index today;
//! reprocessing jobs, topic assignments and the alert evaluator next) is a named [`Consumer`]
//! that records the last `seq` it has applied, *atomically with what it derived from it*: the
//! index in its own commit payload, a view kept in SQLite in the same transaction as its rows
//! ([`crate::store::StoreWriter::set_checkpoint`]). [`catch_up`] feeds a consumer every row
//! above its checkpoint, a page at a time, so a consumer that crashed, was added later, or was
//! reset resumes exactly where it stopped: nothing skipped, nothing applied twice.
//!
//! Erasures consume no `seq` of their own (the rows are gone); each consumer removes what it
//! derived from an erased verbatim in the erasure's own write.

use crate::domain::Verbatim;
use crate::store::Store;

/// A view derived from the stored verbatims.
pub trait Consumer {
    /// Stable and unique: the key of its checkpoint, and its name in logs.
    fn name(&self) -> &str;
    /// The last store `seq` this consumer has applied; 0 when it has applied nothing.
    fn checkpoint(&self) -> anyhow::Result<u64>;
    /// Applies `page` (verbatims in `seq` order, possibly none) and records `seq` as applied,
    /// in one atomic step.
    fn apply(&self, page: &[Verbatim], seq: u64) -> anyhow::Result<()>;
}

/// Feeds `consumer` every verbatim written after its checkpoint, `page` at a time, then moves
/// its checkpoint to the store's last `seq` (rows erased since leave gaps). Returns how many
/// verbatims it applied.
pub fn catch_up(store: &Store, consumer: &dyn Consumer, page: usize) -> anyhow::Result<u64> {
    let target = store.last_seq()?;
    let start = consumer.checkpoint()?;
    let mut applied = 0;
    store.for_each_since(start, page, |rows, page_seq| {
        consumer.apply(&rows, page_seq)?;
        applied += rows.len() as u64;
        // A rebuild of millions of rows takes minutes: say how far it is.
        if target - start > page as u64 {
            tracing::info!(consumer = consumer.name(), seq = page_seq, of = target, "catching up with the store");
        }
        Ok(())
    })?;
    if consumer.checkpoint()? != target {
        consumer.apply(&[], target)?;
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use chrono::Utc;
    use r2d2_sqlite::rusqlite;

    use super::*;
    use crate::domain::Channel;
    use crate::store::Durability;

    /// A view kept in the store itself: per-channel counts and its checkpoint, one transaction.
    struct ChannelCounts<'s> {
        store: &'s Store,
        /// Fails the page after this many successful ones, as a crash would.
        fail_after: RefCell<Option<usize>>,
    }

    impl Consumer for ChannelCounts<'_> {
        fn name(&self) -> &str {
            "test-channel-counts"
        }

        fn checkpoint(&self) -> anyhow::Result<u64> {
            Ok(self.store.checkpoint(self.name())?)
        }

        fn apply(&self, page: &[Verbatim], seq: u64) -> anyhow::Result<()> {
            if let Some(left) = self.fail_after.borrow_mut().as_mut() {
                anyhow::ensure!(*left > 0, "crash");
                *left -= 1;
            }
            self.store.write(|w| {
                for verbatim in page {
                    w.transaction().execute(
                        "INSERT INTO test_counts(channel, n) VALUES (?1, 1)
                         ON CONFLICT(channel) DO UPDATE SET n = n + 1",
                        [verbatim.channel.as_str()],
                    )?;
                }
                w.set_checkpoint(self.name(), seq)
            })?;
            Ok(())
        }
    }

    fn verbatim(i: usize) -> Verbatim {
        Verbatim {
            id: format!("v{i}"),
            text: "ok".into(),
            language: Some("en".into()),
            channel: Channel::parse(if i.is_multiple_of(2) { "email" } else { "app" }).unwrap(),
            created_at: Utc::now(),
            customer_id: None,
            nps: None,
            csat: None,
            ces: None,
            metadata: Default::default(),
            sentiment: None,
            sentiment_model: None,
            emotions: None,
            due: Vec::new(),
            topic: None,
            aspects: Vec::new(),
            root_causes: None,
        }
    }

    #[test]
    fn a_consumer_that_crashed_resumes_where_it_stopped_and_applies_nothing_twice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite3");
        let store = Store::open(&path, None, Durability::Normal).unwrap();
        let side = rusqlite::Connection::open(&path).unwrap();
        side.execute_batch("CREATE TABLE test_counts (channel TEXT PRIMARY KEY, n INTEGER)").unwrap();
        for chunk in (0..25).collect::<Vec<_>>().chunks(5) {
            store.upsert(&mut chunk.iter().map(|&i| verbatim(i)).collect::<Vec<_>>()).unwrap();
        }
        let consumer = ChannelCounts { store: &store, fail_after: RefCell::new(Some(2)) };
        assert!(catch_up(&store, &consumer, 4).is_err());
        assert_eq!(consumer.checkpoint().unwrap(), 8, "two pages of four applied before the crash");
        *consumer.fail_after.borrow_mut() = None;
        assert_eq!(catch_up(&store, &consumer, 4).unwrap(), 17);
        assert_eq!(consumer.checkpoint().unwrap(), store.last_seq().unwrap());
        let counts: Vec<(String, i64)> = side
            .prepare("SELECT channel, n FROM test_counts ORDER BY channel")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(counts, vec![("app".to_string(), 12), ("email".to_string(), 13)]);
        assert_eq!(catch_up(&store, &consumer, 4).unwrap(), 0, "nothing new, nothing applied");
    }
}
