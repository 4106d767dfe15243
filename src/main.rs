//! The `verbatim` command line: thin glue over the library.

use std::fs::File;
use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use verbatim::analysis as analyze;
use verbatim::api::{self, ApiConfig};
use verbatim::config::{self, ConfigFile};
use verbatim::ingest::{self, Format};
use verbatim::search::SearchRequest;
use verbatim::service::Service;

#[derive(Parser)]
#[command(name = "verbatim", version, about = "Text analytics for customer feedback")]
struct Cli {
    /// Data directory (SQLite store and search index) [default: ./verbatim-data]
    #[arg(long, global = true, env = "VERBATIM_DATA")]
    data: Option<PathBuf>,
    /// Optional TOML configuration file
    #[arg(long, global = true, env = "VERBATIM_CONFIG")]
    config: Option<PathBuf>,
    /// Size limit of the SQLite store in bytes; writes past it get `507 storage_full` [default: none]
    #[arg(long, global = true, env = "VERBATIM_MAX_STORE_BYTES")]
    max_store_bytes: Option<u64>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API
    Serve {
        /// Address to listen on [default: 127.0.0.1:8080]; port 0 picks a free one
        #[arg(long, env = "VERBATIM_ADDR")]
        addr: Option<SocketAddr>,
        /// API key required as `Authorization: Bearer KEY` (repeatable; none = no auth)
        #[arg(long = "api-key", env = "VERBATIM_API_KEYS", value_delimiter = ',')]
        api_keys: Vec<String>,
        /// Largest accepted request body, in bytes [default: 33554432]
        #[arg(long, env = "VERBATIM_MAX_BODY_BYTES")]
        max_body_bytes: Option<usize>,
        /// Most verbatims in one POST [default: 1000]
        #[arg(long, env = "VERBATIM_MAX_BATCH_ITEMS")]
        max_batch_items: Option<usize>,
    },
    /// Load verbatims from a JSONL or CSV file (`-` for stdin); exits 2 if any were rejected
    Ingest {
        file: String,
        /// Input format [default: csv for *.csv, else jsonl]
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Verbatims per transaction
        #[arg(long, default_value_t = 1000)]
        batch_size: usize,
    },
    /// Search from the command line; prints the same JSON as GET /v1/search
    Search {
        /// Full-text query (Tantivy syntax); empty matches everything
        #[arg(default_value = "")]
        query: String,
        /// A filter as in the API: channel=email, nps_group=detractor, from=2026-10-01,
        /// metadata.store=Lyon, sort=newest, limit=20 … (repeatable)
        #[arg(short, long = "filter", value_name = "KEY=VALUE")]
        filters: Vec<String>,
    },
    /// Rebuild the search index from the store
    Reindex,
    /// Analyse JSONL documents {"id","text","language"?}: one JSON line out per line in;
    /// a bad line gets an error line with its line number; exits 2 if any line was bad
    Analyze {
        /// Sentiment tier
        #[arg(long, default_value = "fast")]
        model: String,
        /// JSONL input [default: stdin]
        #[arg(long)]
        input: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,tantivy=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let file = ConfigFile::load(cli.config.as_deref())?;
    let data = cli.data.or(file.data.clone()).unwrap_or_else(|| PathBuf::from(config::DEFAULT_DATA_DIR));
    let max_store_bytes = cli.max_store_bytes.or(file.max_store_bytes);
    match cli.command {
        Command::Serve { addr, api_keys, max_body_bytes, max_batch_items } => {
            let addr = addr.or(file.addr).unwrap_or_else(|| config::DEFAULT_ADDR.parse().expect("valid default"));
            let api_config = ApiConfig {
                max_body_bytes: max_body_bytes.or(file.max_body_bytes).unwrap_or(config::DEFAULT_MAX_BODY_BYTES),
                max_batch_items: max_batch_items.or(file.max_batch_items).unwrap_or(config::DEFAULT_MAX_BATCH_ITEMS),
                api_keys: if api_keys.is_empty() { file.api_keys } else { api_keys },
            };
            let service = Arc::new(Service::open(&data, max_store_bytes)?);
            tracing::info!(data = %data.display(), verbatims = service.indexed_count(), auth = !api_config.api_keys.is_empty(), "data directory ready");
            actix_web::rt::System::new().block_on(api::serve(service, addr, api_config, |bound| {
                println!("verbatim listening on http://{bound}");
            }))?;
            tracing::info!("stopped");
        }
        Command::Ingest { file: path, format, batch_size } => {
            let service = Service::open(&data, max_store_bytes)?;
            let format = format.unwrap_or_else(|| Format::guess(&path));
            let input: Box<dyn Read> = if path == "-" {
                Box::new(std::io::stdin().lock())
            } else {
                Box::new(File::open(&path).with_context(|| format!("opening {path}"))?)
            };
            let report = ingest::ingest(&service, input, format, batch_size.max(1), |rejection| {
                eprintln!("{}", serde_json::to_string(&rejection).expect("serialisable"));
            })?;
            println!("{}", serde_json::to_string(&report)?);
            if report.rejected > 0 {
                return Ok(ExitCode::from(2));
            }
        }
        Command::Search { query, filters } => {
            let service = Service::open_read_only(&data)?;
            let mut params = vec![("q", query.as_str())];
            for filter in &filters {
                let (key, value) =
                    filter.split_once('=').with_context(|| format!("filter `{filter}` is not KEY=VALUE"))?;
                params.push((key, value));
            }
            let request = SearchRequest::from_params(params)?;
            let response = service.search(&request)?;
            println!("{}", serde_json::to_string_pretty(&response)?);
        }
        Command::Analyze { model, input } => {
            let input: Box<dyn Read> = match input {
                Some(path) => Box::new(File::open(&path).with_context(|| format!("opening {}", path.display()))?),
                None => Box::new(std::io::stdin().lock()),
            };
            if !analyze::analyze_lines(input, &model, std::io::stdout().lock())? {
                return Ok(ExitCode::from(2));
            }
        }
        Command::Reindex => {
            let service = Service::open(&data, max_store_bytes)?;
            let count = service.reindex()?;
            println!("{}", serde_json::json!({ "reindexed": count }));
        }
    }
    Ok(ExitCode::SUCCESS)
}
