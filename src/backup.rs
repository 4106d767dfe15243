//! Backups of a data directory, taken while the server runs, and their restoration.
//!
//! A backup is a folder with two files: `verbatim.sqlite3`, a consistent snapshot of the store
//! written by SQLite itself (`VACUUM INTO` on a read-only connection, which a running server's
//! writes do not disturb and which leaves out the free pages where erased texts may linger),
//! and `backup.json`, the [`Manifest`] that says what the snapshot holds. The manifest is
//! written last, under a temporary name then renamed, so a folder without it is an interrupted
//! backup and is never restored.
//!
//! The search index is not backed up: it is derived from the store, and [`Service::open`]
//! rebuilds it when the restored data directory is first opened.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use chrono::{DateTime, Utc};
use r2d2_sqlite::rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};

use crate::durable::{partial_name, rename, sync_file, write_atomically};
use crate::index::SearchIndex;
use crate::models::file_sha256;
use crate::pipeline::Analyzer;
use crate::service::{DataPaths, Service, WriteSettings};
use crate::store::Store;

/// Bumped when the layout of a backup folder changes; restore refuses formats it does not know.
pub const FORMAT: u32 = 1;
/// The manifest's file name in a backup folder.
pub const MANIFEST_FILE: &str = "backup.json";
/// The snapshot's file name in a backup folder.
pub const STORE_FILE: &str = "verbatim.sqlite3";

/// What a backup holds, written beside the snapshot once the snapshot is complete.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// The version of verbatim that took the backup.
    pub verbatim_version: String,
    pub created_at: DateTime<Utc>,
    /// Verbatims in the snapshot.
    pub verbatims: u64,
    /// The store `seq` of the snapshot's latest write.
    pub last_seq: u64,
    pub store_bytes: u64,
    /// Detects a snapshot damaged after the backup (truncated copy, bad disk).
    pub store_sha256: String,
}

/// What `restore` did, printed as the command's summary.
#[derive(Debug, Serialize)]
pub struct RestoreReport {
    pub restored: u64,
    pub indexed: u64,
    pub last_seq: u64,
    pub backup_created_at: DateTime<Utc>,
}

/// Backs up the store of `data_dir` into `target`, a new or empty folder. Reads beside a
/// running server; takes no lock.
pub fn create(data_dir: &Path, target: &Path) -> anyhow::Result<Manifest> {
    let source = DataPaths::new(data_dir).store;
    if !source.exists() {
        bail!("no verbatim data in {} to back up", data_dir.display());
    }
    prepare_target(target)?;
    write_backup(&source, target).inspect_err(|_| {
        // The folder was empty: what it holds now is this backup's, unfinished.
        for name in [STORE_FILE, MANIFEST_FILE].into_iter().flat_map(|name| [name.to_string(), partial_name(name)]) {
            let _ = std::fs::remove_file(target.join(name));
        }
    })
}

fn write_backup(source: &Path, target: &Path) -> anyhow::Result<Manifest> {
    let partial = target.join(partial_name(STORE_FILE));
    snapshot(source, &partial)?;
    sync_file(&partial)?;
    let (verbatims, last_seq) = check_store(&partial)?;
    let manifest = Manifest {
        format: FORMAT,
        verbatim_version: env!("CARGO_PKG_VERSION").to_string(),
        created_at: Utc::now(),
        verbatims,
        last_seq,
        store_bytes: std::fs::metadata(&partial).with_context(|| format!("reading {}", partial.display()))?.len(),
        store_sha256: file_sha256(&partial)?,
    };
    rename(&partial, &target.join(STORE_FILE))?;
    write_atomically(&target.join(MANIFEST_FILE), &serde_json::to_vec_pretty(&manifest).expect("manifest serialises"))?;
    Ok(manifest)
}

/// Restores the backup in `backup_dir` into `data_dir`, which must hold no store and no
/// running server, then opens it as the server would (with `settings`), which rebuilds the
/// search index.
pub fn restore(
    backup_dir: &Path,
    data_dir: &Path,
    settings: WriteSettings,
    analyzer: Arc<Analyzer>,
) -> anyhow::Result<RestoreReport> {
    let manifest = read_manifest(backup_dir)?;
    let snapshot = backup_dir.join(STORE_FILE);
    check_checksum(&snapshot, &manifest)?;

    std::fs::create_dir_all(data_dir).with_context(|| format!("creating data directory {}", data_dir.display()))?;
    let paths = DataPaths::new(data_dir);
    // The index writer's lock is the data directory's lock: holding it keeps a server out
    // while the store is put in place.
    let lock = SearchIndex::open(&paths.index)
        .with_context(|| format!("cannot restore into {}: stop the process using it first", data_dir.display()))?;
    // A write-ahead log left without its database would be replayed into the restored one.
    let leftovers = ["", "-wal", "-shm"].map(|suffix| PathBuf::from(format!("{}{suffix}", paths.store.display())));
    if leftovers.iter().any(|file| file.exists()) {
        bail!(
            "{} already holds a verbatim store (or its -wal/-shm files); restore into a new or empty data \
             directory (move the whole directory aside first if it is to be replaced)",
            data_dir.display()
        );
    }
    // An index without its store is left from other data; the restored store must not inherit it.
    lock.clear()?;
    let partial = data_dir.join(format!("{STORE_FILE}.restoring"));
    let checked = std::fs::copy(&snapshot, &partial)
        .with_context(|| format!("copying {} to {}", snapshot.display(), partial.display()))
        .and_then(|_| sync_file(&partial))
        .and_then(|_| check_store(&partial))
        .and_then(|(verbatims, last_seq)| {
            ensure!(
                (verbatims, last_seq) == (manifest.verbatims, manifest.last_seq),
                "{} holds {verbatims} verbatims up to seq {last_seq}, but its manifest says {} up to seq {}",
                snapshot.display(),
                manifest.verbatims,
                manifest.last_seq
            );
            Ok(())
        });
    if let Err(err) = checked {
        let _ = std::fs::remove_file(&partial);
        return Err(err.context(format!("refusing to restore {}", backup_dir.display())));
    }
    rename(&partial, &paths.store)?;
    sync_file(data_dir)?;
    drop(lock);

    let service = Service::open(data_dir, settings, analyzer)?;
    Ok(RestoreReport {
        restored: service.reader().stored_count()?,
        indexed: service.reader().indexed_count(),
        last_seq: service.reader().last_seq()?,
        backup_created_at: manifest.created_at,
    })
}

/// Creates `target`, or accepts it when it exists and is empty: a backup never overwrites.
fn prepare_target(target: &Path) -> anyhow::Result<()> {
    if target.join(MANIFEST_FILE).exists() {
        bail!("{} already holds a backup; choose a new directory", target.display());
    }
    if target.exists() {
        let mut entries = std::fs::read_dir(target).with_context(|| format!("reading {}", target.display()))?;
        if let Some(entry) = entries.next() {
            let name = entry.with_context(|| format!("reading {}", target.display()))?.file_name();
            bail!(
                "{} is not empty (it holds {}); back up into a new or empty directory",
                target.display(),
                name.to_string_lossy()
            );
        }
        return Ok(());
    }
    std::fs::create_dir_all(target).with_context(|| format!("creating {}", target.display()))
}

/// Writes a consistent copy of the store at `source` to `dest` (which must not exist).
fn snapshot(source: &Path, dest: &Path) -> anyhow::Result<()> {
    let conn = open_read_only(source)?;
    let dest_name = dest.to_str().with_context(|| format!("{} is not valid UTF-8", dest.display()))?;
    conn.execute("VACUUM INTO ?1", [dest_name])
        .with_context(|| format!("copying {} into {}", source.display(), dest.display()))?;
    Ok(())
}

/// SQLite's full integrity check, then the snapshot's verbatim count and last `seq`.
fn check_store(path: &Path) -> anyhow::Result<(u64, u64)> {
    let conn = open_read_only(path)?;
    let mut stmt = conn.prepare("PRAGMA integrity_check")?;
    let problems: Vec<String> = stmt
        .query_map([], |row| row.get(0))
        .and_then(|rows| rows.collect())
        .with_context(|| format!("checking the integrity of {}", path.display()))?;
    if problems != ["ok"] {
        bail!("{} failed SQLite's integrity check: {}", path.display(), problems.join("; "));
    }
    let store = Store::open_read_only(path).with_context(|| format!("opening {}", path.display()))?;
    let counts = (store.count()?, store.last_seq()?);
    Ok(counts)
}

fn open_read_only(path: &Path) -> anyhow::Result<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .with_context(|| format!("opening {}", path.display()))?;
    // A checkpoint of the running server can briefly hold the lock a reader needs.
    conn.busy_timeout(Duration::from_secs(10))?;
    Ok(conn)
}

fn read_manifest(backup_dir: &Path) -> anyhow::Result<Manifest> {
    let path = backup_dir.join(MANIFEST_FILE);
    if !path.exists() {
        bail!("no {MANIFEST_FILE} in {}: not a verbatim backup, or one that was interrupted", backup_dir.display());
    }
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let manifest: Manifest =
        serde_json::from_slice(&bytes).with_context(|| format!("{} is not a backup manifest", path.display()))?;
    if manifest.format != FORMAT {
        bail!(
            "{} is backup format {}; this verbatim ({}) reads format {FORMAT}",
            path.display(),
            manifest.format,
            env!("CARGO_PKG_VERSION")
        );
    }
    Ok(manifest)
}

fn check_checksum(snapshot: &Path, manifest: &Manifest) -> anyhow::Result<()> {
    let bytes = std::fs::metadata(snapshot).with_context(|| format!("reading {}", snapshot.display()))?.len();
    if bytes != manifest.store_bytes {
        bail!(
            "{} is {bytes} bytes, but its manifest says {}: the backup is truncated or damaged",
            snapshot.display(),
            manifest.store_bytes
        );
    }
    let sha256 = file_sha256(snapshot)?;
    if sha256 != manifest.store_sha256 {
        bail!("{} does not match its manifest's sha256: the backup is damaged", snapshot.display());
    }
    Ok(())
}
