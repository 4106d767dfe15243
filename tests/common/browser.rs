//! Headless Chromium under chromedriver (Debian's `chromium` and `chromium-driver`), for the
//! workspace's browser test and benchmark (`#[path = "…/common/browser.rs"] mod browser;`).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

/// `chromedriver` on a free port, stopped when dropped.
pub struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_driver() -> Driver {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        // The pages count periods in the browser's zone: UTC, as the test's API checks do.
        .env("TZ", "UTC")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| {
            panic!("cannot start chromedriver ({err}): install Debian's chromium and chromium-driver (.ci/run does)")
        });
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "chromedriver did not listen on {url}");
        std::thread::sleep(Duration::from_millis(100));
    }
    Driver { child, url }
}

/// A browser session: a laptop-sized window, in English.
pub async fn browser(driver: &Driver) -> Client {
    let mut options = json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                      "--window-size=1366,900", "--lang=en-US"]});
    if std::path::Path::new("/usr/bin/chromium").exists() {
        options["binary"] = json!("/usr/bin/chromium");
    }
    let capabilities = serde_json::Map::from_iter([("goog:chromeOptions".to_string(), options)]);
    ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .unwrap_or_else(|err| panic!("Chromium did not start under chromedriver: {err}"))
}
