//! Headless Chromium driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`, which `scripts/test` installs when missing).

use fantoccini::{Client, ClientBuilder, Locator};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

pub struct Browser {
    pub client: Client,
    _driver: Child,
    _profile: tempdir::Dir,
}

mod tempdir {
    /// A throw-away browser profile directory, removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(9515)
}

impl Browser {
    pub async fn start() -> Self {
        let driver = which("chromedriver")
            .expect("chromedriver is not installed: run scripts/test, or apt-get install chromium chromium-driver");
        let port = free_port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("starting chromedriver");
        let profile = std::env::temp_dir().join(format!("warungin-browser-{port}"));
        let capabilities = serde_json::json!({
            "goog:chromeOptions": {
                "binary": which("chromium").map(|p| p.display().to_string()).unwrap_or_else(|| "/usr/bin/chromium".into()),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--window-size=1280,900", format!("--user-data-dir={}", profile.display()),
                ]
            }
        });
        let capabilities = capabilities.as_object().cloned().unwrap_or_default();
        let url = format!("http://127.0.0.1:{port}");
        let mut last_error = String::new();
        for _ in 0..50 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector).capabilities(capabilities.clone()).connect(&url).await {
                Ok(client) => {
                    return Self { client, _driver: child, _profile: tempdir::Dir(profile) };
                }
                Err(error) => last_error = error.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("could not start a browser session: {last_error}");
    }

    /// Wait until `selector` matches `count` elements.
    pub async fn count(&self, selector: &str, count: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let found = self.client.find_all(Locator::Css(selector)).await.map(|e| e.len()).unwrap_or(0);
            if found == count {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{selector}: expected {count}, found {found}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait until the element's text contains `text`.
    pub async fn text(&self, selector: &str, text: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let current = match self.client.find(Locator::Css(selector)).await {
                Ok(element) => element.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if current.contains(text) {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{selector}: expected {text:?}, found {current:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Click, finding the element afresh if the page re-rendered it meanwhile.
    pub async fn click(&self, selector: &str) {
        let mut last = String::new();
        for _ in 0..20 {
            match self.client.find(Locator::Css(selector)).await {
                Ok(element) => match element.click().await {
                    Ok(()) => return,
                    Err(e) => last = e.to_string(),
                },
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{selector}: {last}");
    }

    pub async fn type_into(&self, selector: &str, text: &str) {
        self.client
            .find(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("{selector}: {e}"))
            .send_keys(text)
            .await
            .expect("typing");
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| std::path::Path::new(dir).join(program))
        .find(|p| p.exists())
}
