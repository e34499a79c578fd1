//! A real headless Chromium driven through chromedriver (WebDriver) with
//! `fantoccini`: chromedriver on a free loopback port, in a process group of
//! its own so that the browser it starts goes with it when the test ends.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

use super::ports::free_port;

const CHROMIUM: &str = "chromium";
const CHROMEDRIVER: &str = "chromedriver";
/// Upper bound for chromedriver to answer `/status` as ready.
const READY_BOUND: Duration = Duration::from_secs(30);
/// Upper bound for anything the page waits on (an element, an event).
pub(crate) const PAGE_BOUND: Duration = Duration::from_secs(30);

/// Fails the test, naming the package, when the browser or its driver is
/// not installed: the setup script installs them, so their absence is a
/// broken machine, not a reason to pass.
pub(crate) fn require_chromium() {
    for (program, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
        if let Err(error) = Command::new(program)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
        {
            panic!(
                "{program} cannot be run ({error}); install it with scripts/setup.sh (Debian package {package})"
            );
        }
    }
}

/// Where the console tests save their screenshots.
pub(crate) fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("create the screenshot directory");
    dir
}

/// chromedriver and one browser session.
pub(crate) struct Browser {
    driver: Child,
    pub(crate) client: Client,
    shots: PathBuf,
}

impl Browser {
    /// Starts chromedriver (its log in `log_dir`) and a headless Chromium
    /// session.
    pub(crate) async fn start(log_dir: &Path) -> Self {
        require_chromium();
        let ip = std::net::Ipv4Addr::LOCALHOST;
        let port = free_port(ip);
        let log = log_dir.join("chromedriver.log");
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|error| panic!("start {CHROMEDRIVER}: {error}"));
        let mut browser_driver = DriverGuard(Some(driver));
        let address = std::net::SocketAddr::from((ip, port));
        wait_ready(address, &log);

        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), "chrome".into());
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "args": [
                    "--headless=new",
                    // The tests run as root, where Chromium's sandbox cannot start.
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--window-size=1280,900",
                    "--autoplay-policy=no-user-gesture-required",
                    "--lang=en-GB",
                ],
            }),
        );
        let client = ClientBuilder::rustls()
            .expect("TLS roots for the WebDriver client")
            .capabilities(capabilities)
            .connect(&format!("http://{address}"))
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "no Chromium session from chromedriver: {error}\n{}",
                    tail(&log, 40)
                )
            });
        Browser {
            driver: browser_driver.0.take().expect("the driver"),
            client,
            shots: screenshot_dir(),
        }
    }

    /// Opens `url` and waits until the console has started (it marks
    /// `<body data-ready>`).
    pub(crate) async fn open(&self, url: &str) {
        self.client.goto(url).await.expect("open the console");
        self.wait_for("body[data-ready='true']").await;
    }

    /// Waits for an element matching `css` that is displayed.
    pub(crate) async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        let deadline = Instant::now() + PAGE_BOUND;
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                if element.is_displayed().await.unwrap_or(false) {
                    return element;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no displayed {css} within {PAGE_BOUND:?}; page:\n{}",
                self.client.source().await.unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether an element matching `css` exists and is displayed.
    pub(crate) async fn displayed(&self, css: &str) -> bool {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => element.is_displayed().await.unwrap_or(false),
            Err(_) => false,
        }
    }

    /// The visible text of the first element matching `css`.
    pub(crate) async fn text(&self, css: &str) -> String {
        let deadline = Instant::now() + PAGE_BOUND;
        loop {
            match self.wait_for(css).await.text().await {
                Ok(text) => return text,
                Err(error) if error.is_stale_element_reference() && Instant::now() < deadline => {
                    continue
                }
                Err(error) => panic!("text of {css}: {error}"),
            }
        }
    }

    /// Waits until the element matching `css` shows exactly `expected`.
    pub(crate) async fn wait_text(&self, css: &str, expected: &str) {
        let deadline = Instant::now() + PAGE_BOUND;
        loop {
            let text = self.text(css).await;
            if text == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{css} shows {text:?}, not {expected:?}, after {PAGE_BOUND:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Replaces the value of the input matching `css`.
    pub(crate) async fn fill(&self, css: &str, value: &str) {
        let input = self.wait_for(css).await;
        input.clear().await.expect("clear an input");
        input.send_keys(value).await.expect("type into an input");
    }

    /// Clicks the element matching `css`; when the page replaced it between
    /// finding and clicking (a list re-rendered), finds it again.
    pub(crate) async fn click(&self, css: &str) {
        let deadline = Instant::now() + PAGE_BOUND;
        loop {
            match self.wait_for(css).await.click().await {
                Ok(()) => return,
                Err(error) if error.is_stale_element_reference() && Instant::now() < deadline => {
                    continue
                }
                Err(error) => panic!("click {css}: {error}"),
            }
        }
    }

    /// Runs `script` as the body of an async function and returns what it
    /// resolves to (WebDriver's Execute Script awaits a returned promise).
    pub(crate) async fn run(&self, script: &str) -> serde_json::Value {
        let wrapped = format!("return (async () => {{\n{script}\n}})();");
        self.client
            .execute(&wrapped, Vec::new())
            .await
            .unwrap_or_else(|error| panic!("script failed: {error}\n{script}"))
    }

    /// Saves a screenshot of the whole window as `NAME.png`; returns its path.
    pub(crate) async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("a screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a screenshot that is no PNG");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("save the screenshot");
        eprintln!("screenshot {}", path.display());
        path
    }

    /// Ends the browser session and chromedriver.
    pub(crate) async fn close(mut self) {
        let client = self.client.clone();
        let _ = client.close().await;
        kill_group(&mut self.driver);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_group(&mut self.driver);
    }
}

/// Ends chromedriver if the start fails half-way.
struct DriverGuard(Option<Child>);

impl Drop for DriverGuard {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            kill_group(child);
        }
    }
}

/// Kills chromedriver's process group (chromedriver and the browser it
/// started, nothing else) and reaps chromedriver.
fn kill_group(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    if let Ok(group) = libc::pid_t::try_from(child.id()) {
        // SAFETY: plain integers; the group was created for this child
        // (`process_group(0)`), which is not yet reaped, so it names no
        // other process.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
    }
    let _ = child.wait();
}

/// Polls chromedriver's `/status` until it says `"ready": true`.
fn wait_ready(address: std::net::SocketAddr, log: &Path) {
    let deadline = Instant::now() + READY_BOUND;
    loop {
        if let Some(body) = status(address) {
            let status: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            if status["value"]["ready"] == true {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "chromedriver not ready on {address} within {READY_BOUND:?}\n{}",
            tail(log, 40)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The body of `GET /status`, or `None` while chromedriver does not answer.
/// chromedriver refuses HTTP/1.0 and keeps the connection open, so this
/// speaks HTTP/1.1 and reads the body by its Content-Length.
fn status(address: std::net::SocketAddr) -> Option<String> {
    let timeout = Duration::from_secs(5);
    let mut stream = TcpStream::connect_timeout(&address, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    write!(
        stream,
        "GET /status HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let read = stream.read(&mut chunk).ok()?;
        if read == 0 {
            return None;
        }
        raw.extend_from_slice(&chunk[..read]);
        let text = String::from_utf8_lossy(&raw);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        if !head.starts_with("HTTP/1.1 200") {
            return None;
        }
        let length: usize = head.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())
                .flatten()
        })?;
        if body.len() >= length {
            return Some(body.to_string());
        }
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = super::process::read_log(path);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
