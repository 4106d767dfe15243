//! The API against its own description. Schemathesis, a property-based tester, reads
//! `/v1/openapi.json` from the real server and sends generated requests to every operation it
//! describes, valid and invalid, checking each answer (status, headers, content type, body schema,
//! authentication, 405 with `Allow` for other methods). It runs twice: a server without keys and
//! a server with one, each serving the description of its own configuration. The encoder is
//! installed, so `model: accurate` is exercised. Any failure fails the test with Schemathesis's
//! report. A route added to the API is covered once it is in the description, and `ops.rs`'s
//! unit tests refuse a mounted path that is not.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use common::{data_dir, installed_models, Server};
use serde_json::Value;

/// Every package pinned, so the same seed generates the same requests on every machine.
const REQUIREMENTS: &str = include_str!("schemathesis-requirements.txt");

/// Fixed, so a failure reproduces with the command the report prints.
const SEED: &str = "20261126";

/// Per operation and phase: enough to reach every documented answer, few enough that both runs
/// together stay within minutes on two cores.
const MAX_EXAMPLES: &str = "25";

const API_KEY: &str = "contract-test-key";

/// A folder under the cargo target's tmp folder holding Schemathesis and its dependencies,
/// installed there from PyPI by `pip install --target` on first use (no virtual environment, so
/// `python3` with pip is all it takes, as for the models) and again only when the pins change.
fn schemathesis() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("schemathesis");
        let stamp = dir.join("installed-requirements.txt");
        if std::fs::read_to_string(&stamp).ok().as_deref() == Some(REQUIREMENTS) {
            return dir;
        }
        let _ = std::fs::remove_dir_all(&dir);
        let requirements = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis-requirements.txt");
        let output = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target"])
            .arg(&dir)
            .arg("-r")
            .arg(&requirements)
            .output()
            .expect("run `python3 -m pip` (is Python 3 with pip installed?)");
        assert!(
            output.status.success(),
            "installing Schemathesis failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::write(&stamp, REQUIREMENTS).unwrap();
        dir
    })
    .clone()
}

/// Runs `st run URL/v1/openapi.json --checks all` against `server`; panics with the report on
/// any failure (Schemathesis exits non-zero).
fn conforms(server: &Server, extra: &[&str]) {
    let work = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis.toml");
    let output = Command::new("python3")
        .args(["-m", "schemathesis.cli", "--config-file"])
        .arg(&config)
        .arg("run")
        .arg(server.url("/v1/openapi.json"))
        .args(["--checks", "all", "--max-examples", MAX_EXAMPLES, "--seed", SEED])
        .args(["--generation-database", "none", "--request-timeout", "120", "--no-color", "--workers", "1"])
        .args(["--report", "har", "--report-har-path"])
        .arg(work.path().join("exchanges.har"))
        .args(extra)
        .current_dir(work.path())
        .env("PYTHONPATH", schemathesis())
        .output()
        .expect("run schemathesis");
    let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    eprintln!("schemathesis took {:.0?}", started.elapsed());
    assert!(
        output.status.success(),
        "Schemathesis found failures ({}):\n{report}\nserver log:\n{}",
        output.status,
        server.server_log()
    );
    let har: Value = serde_json::from_slice(&std::fs::read(work.path().join("exchanges.har")).unwrap()).unwrap();
    assert!(analysed_with_accurate(&har), "no request analysed documents with `model: accurate`:\n{report}");
}

/// Whether some exchange was a 200 from `/v1/analyze` with documents analysed by `accurate`:
/// the proof that the run reached the encoder rather than `model_unavailable`.
fn analysed_with_accurate(har: &Value) -> bool {
    har["log"]["entries"].as_array().unwrap().iter().any(|entry| {
        let body: Value = entry["response"]["content"]["text"]
            .as_str()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default();
        entry["request"]["url"].as_str().unwrap_or_default().ends_with("/v1/analyze")
            && entry["response"]["status"] == 200
            && body["model"] == "accurate"
            && body["documents"].as_array().is_some_and(|d| !d.is_empty())
    })
}

fn models_args(models: &Path) -> [&str; 2] {
    ["--models", models.to_str().unwrap()]
}

#[test]
fn a_server_without_keys_does_what_its_description_says() {
    let models = installed_models();
    let (_dir, data) = data_dir();
    let server = Server::start(&data, &models_args(&models));
    conforms(&server, &[]);
}

#[test]
fn a_server_with_a_key_does_what_its_description_says() {
    let models = installed_models();
    let (_dir, data) = data_dir();
    let mut args = models_args(&models).to_vec();
    args.extend(["--api-key", API_KEY]);
    let server = Server::start(&data, &args);
    conforms(&server, &["--header", &format!("Authorization: Bearer {API_KEY}")]);
}
