//! The shopper's browser: headless Debian Chromium driven through ChromeDriver (both from Debian's
//! packages, installed by `ensure_browser` in `infra/local/lib.sh`) with fantoccini. It pays on the app's
//! payment page as a shopper does: Stripe's card Element, the Pay button, 3-D Secure.

use crate::aws::unique_name;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// A Stripe test card that asks for 3-D Secure.
pub const THREE_D_SECURE_CARD: &str = "4000002760003184";
/// Stripe's generic decline test card.
pub const DECLINED_CARD: &str = "4000000000000002";
/// A Stripe test card that pays.
pub const GOOD_CARD: &str = "4242424242424242";

/// How long the browser waits for the page, Stripe.js and redirects.
const WITHIN: Duration = Duration::from_secs(60);

/// ChromeDriver on a free port, killed when dropped, with one headless Chromium session.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    _driver: tokio::process::Child,
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium with a phone-sized window and a fresh profile.
    pub async fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = tokio::process::Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("/usr/bin/chromedriver (infra/local/test installs it: ensure_browser)");
        let profile = std::env::temp_dir().join(unique_name("chromium-profile"));
        let capabilities = json!({"goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=390,844", format!("--user-data-dir={}", profile.display())],
        }});
        let capabilities = capabilities.as_object().cloned().expect("an object");
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if let Ok(client) = ClientBuilder::rustls()
                .expect("rustls")
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                return Browser {
                    client,
                    _driver: driver,
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("ChromeDriver did not start on {url}");
    }

    /// Types `card` (with a future expiry and a CVC) into the card Element and presses Pay.
    pub async fn pay_with(&self, card: &str) {
        for (field, value) in [
            ("number", card),
            ("exp_month", "12"),
            ("exp_year", "30"),
            ("cvc", "123"),
        ] {
            let input = self
                .client
                .wait()
                .at_most(WITHIN)
                .for_element(Locator::Css(&format!("#card-element input[placeholder=\"{field}\"]")))
                .await
                .expect("the card Element");
            input.clear().await.expect("clear");
            input.send_keys(value).await.expect("type");
        }
        self.client
            .find(Locator::Id("pay"))
            .await
            .expect("Pay")
            .click()
            .await
            .expect("click Pay");
    }

    /// Clicks the 3-D Secure challenge's button `label` once it shows.
    pub async fn authenticate(&self, label: &str) {
        self.client
            .wait()
            .at_most(WITHIN)
            .for_element(Locator::XPath(&format!("//button[normalize-space()='{label}']")))
            .await
            .expect("the 3-D Secure challenge")
            .click()
            .await
            .expect("click");
    }

    /// Waits until the browser is on a URL starting with `prefix`.
    pub async fn wait_for_url(&self, prefix: &str) -> String {
        let deadline = std::time::Instant::now() + WITHIN;
        loop {
            let url = self.client.current_url().await.expect("url").to_string();
            if url.starts_with(prefix) {
                return url;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still on {url}, waiting for {prefix}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until the page's error line says something, and returns it.
    pub async fn error_text(&self) -> String {
        let deadline = std::time::Instant::now() + WITHIN;
        loop {
            let text = self
                .client
                .find(Locator::Id("card-errors"))
                .await
                .expect("the error line")
                .text()
                .await
                .expect("text");
            if !text.trim().is_empty() {
                return text;
            }
            assert!(std::time::Instant::now() < deadline, "no error shown");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Saves a screenshot of the page under `target/payment-page/` and prints its path.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new("."));
        let dir = workspace.join("target/payment-page");
        std::fs::create_dir_all(&dir).expect("target/payment-page");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        println!("screenshot: {}", path.display());
    }
}
