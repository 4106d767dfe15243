//! Files that survive a crash whole: written under a temporary name, synced, then renamed over
//! the old one, the directory synced last. A reader (or the next run) sees the old content or
//! the new, never half of one.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use anyhow::Context;

/// Where a file is written before it is complete.
pub fn partial_name(name: &str) -> String {
    format!("{name}.partial")
}

/// Replaces `path` with `bytes`, atomically and durably.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_streaming(path, |file| Ok(file.write_all(bytes)?))
}

/// Replaces `path` with what `write` writes (streamed, however long), atomically and durably.
pub fn write_streaming<T>(path: &Path, write: impl FnOnce(&mut File) -> anyhow::Result<T>) -> anyhow::Result<T> {
    let name = path.file_name().with_context(|| format!("{} names no file", path.display()))?;
    let partial = path.with_file_name(partial_name(&name.to_string_lossy()));
    let mut file = File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let written = write(&mut file)
        .and_then(|written| Ok(file.sync_all().map(|()| written)?))
        .with_context(|| format!("writing {}", partial.display()))?;
    rename(&partial, path)?;
    sync_folder_of(path)?;
    Ok(written)
}

/// Flushes the entry of `path` in its folder: a file just created, renamed or removed.
pub fn sync_folder_of(path: &Path) -> anyhow::Result<()> {
    sync_file(path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")))
}

pub fn rename(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::rename(from, to).with_context(|| format!("moving {} to {}", from.display(), to.display()))
}

/// Flushes a file, or a directory's entries, to disk.
pub fn sync_file(path: &Path) -> anyhow::Result<()> {
    File::open(path).and_then(|file| file.sync_all()).with_context(|| format!("syncing {}", path.display()))
}
