//! Retention: verbatims dated longer ago than the configured age are erased automatically, as
//! an erasure is: in the writer's commit (store and index together), audited (one `retention`
//! row per verbatim in `/v1/erasures`, its id hashed), purged from the data files, and removed
//! from finished jobs' results. A sweep runs when the server starts and every hour after.

use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::Utc;

use crate::jobs::Jobs;
use crate::service::{wait_while_alive, Service, ServiceError};

/// Verbatims erased per commit: short commits, so ingestion never waits long behind a sweep.
const PAGE: usize = 1000;
/// The longest retention accepted: a century.
pub const MAX_DAYS: u32 = 36_500;
/// Time between sweeps.
const EVERY: Duration = Duration::from_secs(3600);

/// Erases every verbatim dated before `now - max_age`; returns how many.
pub fn sweep(service: &Service, jobs: &Jobs, max_age: chrono::Duration) -> Result<usize, ServiceError> {
    let before = Utc::now() - max_age;
    let mut erased = 0;
    let swept = loop {
        let ids = match service.reader().dated_before(&before, PAGE) {
            Ok(ids) if ids.is_empty() => break Ok(()),
            Ok(ids) => ids,
            Err(err) => break Err(err),
        };
        let selected = ids.len();
        match service.expire(ids, before) {
            Ok(count) => erased += count,
            Err(err) => break Err(err),
        }
        // A page whose verbatims were all sent again with later dates meanwhile is not
        // selected again; anything else still old is.
        if selected < PAGE {
            break Ok(());
        }
    };
    // What was erased leaves the jobs' results even when a later page failed.
    if erased > 0 {
        tracing::info!(verbatims = erased, "verbatims past the retention age erased");
        jobs.erase_from_results().map_err(|err| ServiceError::Other(anyhow::anyhow!("{err}")))?;
    }
    swept.map(|()| erased)
}

/// Sweeps now and every hour, until the service or the jobs runner is dropped.
pub fn start(service: &Arc<Service>, jobs: &Arc<Jobs>, max_age: chrono::Duration) -> std::io::Result<()> {
    let (service, jobs): (Weak<Service>, Weak<Jobs>) = (Arc::downgrade(service), Arc::downgrade(jobs));
    std::thread::Builder::new().name("retention".into()).spawn(move || loop {
        {
            let (Some(service), Some(jobs)) = (service.upgrade(), jobs.upgrade()) else { return };
            match sweep(&service, &jobs, max_age) {
                Err(ServiceError::ShuttingDown) => return,
                Err(err) => tracing::warn!(error = %err, "retention sweep failed; the next one tries again"),
                Ok(_) => {}
            }
        }
        if !wait_while_alive(&service, EVERY) {
            return;
        }
    })?;
    Ok(())
}
