//! Settings come from flags, then environment variables, then an optional TOML file, then
//! defaults, in that order of precedence. Flags and variables are declared together in
//! `main.rs` (clap); this module reads the file and holds the defaults.
//!
//! ```toml
//! # verbatim.toml
//! data = "/var/lib/verbatim"
//! addr = "0.0.0.0:8080"
//! api_keys = ["admin-key", "reader-key:read", "collector-key:write"]   # KEY[:SCOPE+SCOPE]
//! max_body_bytes = 33554432
//! max_batch_items = 1000
//! max_store_bytes = 10737418240   # optional quota on the SQLite file
//! models = "/var/lib/verbatim/models"   # installed transformer models [default: DATA/models]
//! durability = "full"             # or "normal": faster, may lose the last writes on power loss
//! max_pending_writes = 64         # writes waiting at once; more get 429
//! body_timeout_secs = 30          # a request body must arrive within this
//! max_connections = 1000          # open connections at once
//! allowed_hosts = ["verbatim.internal"]      # Host header names accepted ("*": any)
//! allowed_origins = ["https://cx.example.com"]   # browser origins allowed to write
//! max_running_jobs = 1            # background jobs at once; more wait in the queue
//! import_dir = "/srv/verbatim/import"   # the only folder `analyze_file` jobs read from
//! redact_pii = ["email", "phone", "iban", "card", "nir", "url", "person"]   # or ["all"]
//! retention_days = 1095           # erase verbatims dated longer ago (audited as `retention`)
//! allow_private_webhooks = false  # alert webhooks to loopback/private addresses (tests, on-premises)
//! webhook_timeout_secs = 10       # a receiver must answer within this
//! webhook_max_attempts = 10       # then the alert's delivery is marked failed
//! webhook_retry_secs = 30         # wait before the second attempt; doubles, up to an hour
//! volume_alerts_every_secs = 300  # time between two evaluations of the volume alert rules
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

use crate::store::Durability;

pub const DEFAULT_DATA_DIR: &str = "verbatim-data";
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";
/// Room for a full batch of long verbatims (1,000 × ~30 KB), well short of memory trouble.
pub const DEFAULT_MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
pub const DEFAULT_MAX_BATCH_ITEMS: usize = 1000;
/// Long enough for a 32 MiB body over a slow link, short enough that idle uploads let go.
pub const DEFAULT_BODY_TIMEOUT_SECS: u64 = 30;
/// Well below the usual 1,024 open files a process may have, with the store and index files.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1000;
/// Volume rules test calendar periods: every five minutes calls a spike within minutes of its
/// count crossing the bar, at the cost of a few index counts.
pub const DEFAULT_VOLUME_ALERTS_EVERY_SECS: u64 = 300;
/// The longest time between two evaluations of volume rules: a day, the shortest period.
pub const MAX_VOLUME_ALERTS_EVERY_SECS: u64 = 86_400;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub data: Option<PathBuf>,
    pub addr: Option<SocketAddr>,
    #[serde(default)]
    pub api_keys: Vec<String>,
    pub max_body_bytes: Option<usize>,
    pub max_batch_items: Option<usize>,
    pub max_store_bytes: Option<u64>,
    pub models: Option<PathBuf>,
    pub durability: Option<Durability>,
    pub max_pending_writes: Option<usize>,
    pub body_timeout_secs: Option<u64>,
    pub max_connections: Option<usize>,
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    pub max_running_jobs: Option<usize>,
    pub import_dir: Option<PathBuf>,
    /// Kinds of personal data redacted before analysis (see `crate::nlp::pii`).
    #[serde(default)]
    pub redact_pii: Vec<String>,
    /// Verbatims dated longer ago are erased (see `crate::retention`).
    pub retention_days: Option<u32>,
    #[serde(default)]
    pub allow_private_webhooks: bool,
    pub webhook_timeout_secs: Option<u64>,
    pub webhook_max_attempts: Option<u32>,
    pub webhook_retry_secs: Option<u64>,
    /// Seconds between two evaluations of the volume alert rules.
    pub volume_alerts_every_secs: Option<u64>,
}

impl ConfigFile {
    /// Reads the file if one is named; no file means every value falls to its default.
    pub fn load(path: Option<&Path>) -> anyhow::Result<ConfigFile> {
        let Some(path) = path else { return Ok(ConfigFile::default()) };
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_setting_and_refuses_unknown_ones() {
        let config: ConfigFile = toml::from_str(
            "data = \"/srv/v\"\naddr = \"0.0.0.0:9000\"\napi_keys = [\"k\"]\nmax_body_bytes = 10\nmax_batch_items = 5\n\
             durability = \"normal\"\nallowed_hosts = [\"cx.local\"]\n",
        )
        .unwrap();
        assert_eq!(config.addr.unwrap().port(), 9000);
        assert_eq!(config.durability, Some(Durability::Normal));
        assert_eq!(config.allowed_hosts, vec!["cx.local"]);
        assert_eq!(config.api_keys, vec!["k"]);
        assert!(toml::from_str::<ConfigFile>("adress = \"x\"").is_err());
    }
}
