//! Harness for exo-setup's end-to-end suite (the scenarios are in `tests/*.rs`; what they share about one app
//! profile, beyond the window, is in [`app`]).
//!
//! Each test gets: its own data directory (`EXO_SETUP_DATA_DIR`), its own `tauri-driver` on free ports (the driver
//! passes its environment down to WebKitWebDriver and the app, so a per-test driver is how the data directory reaches
//! the app), a WebDriver session on the REAL app binary (`target/debug/exo-setup-gui` built with `--features prod`), and a
//! screenshot folder `target/e2e-screenshots/<test>/` where every screen visited is saved as `NN-name.png`.
//! The entra emulator (`tests/entra-emulator`, in-process) stands in for login.microsoftonline.com.
//!
//! Run under Xvfb and a private D-Bus session (see Cargo.toml); `scripts/test.sh` does it.

pub mod app;

use std::{
    ffi::OsString,
    io::Write,
    net::TcpListener as StdListener,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{elements::Element, Client, ClientBuilder, Locator};
use serde_json::{json, Value};

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T = ()> = std::result::Result<T, Error>;

/// Default time to wait for something to appear on screen.
pub const WAIT: Duration = Duration::from_secs(15);

fn err(msg: impl Into<String>) -> Error {
    msg.into().into()
}

// ------------------------------------------------------------------------------------------------ paths

/// Absolute path of the app binary: `$EXO_SETUP_BIN`, else `<target>/debug/exo-setup-gui` (the wizard).
pub fn app_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("EXO_SETUP_BIN") {
        return PathBuf::from(p);
    }
    target_dir().join("debug").join("exo-setup-gui")
}

/// Cargo's target directory: `$CARGO_TARGET_DIR`, else `<repo>/target`.
pub fn target_dir() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let repo = repo.canonicalize().unwrap_or(repo);
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) if Path::new(&t).is_absolute() => PathBuf::from(t),
        Some(t) => repo.join(t),
        None => repo.join("target"),
    }
}

/// `<repo>/`: where `scripts/` is.
pub fn repo_root() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    repo.canonicalize().unwrap_or(repo)
}

/// `<target>/e2e-screenshots/<test>/` (`$EXO_E2E_SCREENSHOTS/<test>/`), not created.
pub fn screenshot_path(test: &str) -> PathBuf {
    std::env::var_os("EXO_E2E_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("e2e-screenshots"))
        .join(test)
}

/// `<target>/e2e-screenshots/<test>/`, emptied.
pub fn screenshot_dir(test: &str) -> PathBuf {
    let dir = screenshot_path(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the screenshot directory");
    dir
}

/// `<target>/e2e-screenshots/<test>/` as it is, and the highest `NN-` number in it.
fn existing_screenshot_dir(test: &str) -> Result<(PathBuf, u32)> {
    let dir = screenshot_path(test);
    std::fs::create_dir_all(&dir)?;
    let mut last = 0;
    for e in std::fs::read_dir(&dir)?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(n) = name.split('-').next().and_then(|n| n.parse::<u32>().ok()) {
            last = last.max(n);
        }
    }
    Ok((dir, last))
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

// ------------------------------------------------------------------------------------------------ the rig

/// What [`Rig::start_with`] does beyond [`Rig::start`]'s defaults.
#[derive(Debug, Default)]
pub struct RigOptions {
    /// Extra environment of tauri-driver, which passes it on to WebKitWebDriver and the app (and the app to what it
    /// starts: the `BROWSER`, and through it `gio open` and the second instance). Later entries win.
    pub env: Vec<(String, OsString)>,
    /// Reuse this data directory (e.g. from an earlier [`Rig::finish`]) instead of a fresh one.
    pub data_dir: Option<tempfile::TempDir>,
    /// Keep the screenshots already in the test's folder (a second launch in the same test); numbering goes on.
    pub keep_shots: bool,
    /// The app's command line after the program name (`tauri:options.args`; WebKitWebDriver starts the app with
    /// exactly these), e.g. a deep link as the only argument, as the OS launches the app for one. Default: none.
    pub args: Vec<String>,
}

impl RigOptions {
    pub fn env(mut self, key: &str, value: impl Into<OsString>) -> Self {
        self.env.push((key.to_string(), value.into()));
        self
    }
}

/// One running app under WebDriver, with its data directory and screenshot folder.
pub struct Rig {
    pub test: String,
    pub client: Client,
    pub data_dir: tempfile::TempDir,
    pub shots: PathBuf,
    shot_no: u32,
    driver: Option<Child>,
}

/// Minimal HTTP/1.0 GET on 127.0.0.1 (tauri-driver's `/status`), body as text.
async fn http_get(port: u16, path: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(("127.0.0.1", port)))
        .await
        .ok()?
        .ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await.ok()?.ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

impl Rig {
    /// Starts tauri-driver with a fresh data directory and opens a WebDriver session on the app.
    pub async fn start(test: &str) -> Result<Rig> {
        Self::start_with(test, RigOptions::default()).await
    }

    /// [`Rig::start`] with extra environment and/or an existing data directory.
    pub async fn start_with(test: &str, opts: RigOptions) -> Result<Rig> {
        let app = app_binary();
        if !app.is_file() {
            return Err(err(format!(
                "{} is missing: build it with `npm --prefix ui run build && cargo build --features prod --bin exo-setup --bin exo-setup-gui`",
                app.display()
            )));
        }
        let (shots, shot_no) = if opts.keep_shots { existing_screenshot_dir(test)? } else { (screenshot_dir(test), 0) };
        let data_dir = match opts.data_dir {
            Some(d) => d,
            None => tempfile::Builder::new().prefix(&format!("exo-e2e-{test}-")).tempdir()?,
        };
        let port = free_port();
        let native = loop {
            let p = free_port();
            if p != port {
                break p;
            }
        };
        let log = std::fs::OpenOptions::new().create(true).append(true).open(shots.join("driver-and-app.log"))?;
        let driver_bin = std::env::var_os("TAURI_DRIVER").unwrap_or_else(|| "tauri-driver".into());
        let mut cmd = Command::new(&driver_bin);
        cmd.args(["--port", &port.to_string(), "--native-port", &native.to_string()])
            .env("EXO_SETUP_DATA_DIR", data_dir.path())
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0); // so that Drop can end the driver and everything it started
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let child =
            cmd.spawn().map_err(|e| err(format!("cannot start {:?}: {e} (cargo install tauri-driver)", driver_bin)))?;
        let mut rig_driver = Some(child);

        // A bare TCP success comes too early: wait for "ready":true.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(body) = http_get(port, "/status").await {
                if body.replace(' ', "").contains("\"ready\":true") {
                    break;
                }
            }
            if let Some(Ok(Some(status))) = rig_driver.as_mut().map(|c| c.try_wait()) {
                return Err(err(format!(
                    "tauri-driver exited early ({status}); see {}",
                    shots.join("driver-and-app.log").display()
                )));
            }
            if Instant::now() > deadline {
                kill_group(&mut rig_driver);
                return Err(err("tauri-driver not ready after 20 s"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        let mut caps = serde_json::Map::new();
        let mut tauri_options = json!({ "application": app });
        if !opts.args.is_empty() {
            tauri_options["args"] = json!(opts.args);
        }
        caps.insert("tauri:options".into(), tauri_options);
        let client = match ClientBuilder::native().capabilities(caps).connect(&format!("http://127.0.0.1:{port}")).await
        {
            Ok(c) => c,
            Err(e) => {
                kill_group(&mut rig_driver);
                return Err(err(format!("WebDriver session on {}: {e}", app.display())));
            }
        };
        Ok(Rig { test: test.into(), client, data_dir, shots, shot_no, driver: rig_driver })
    }

    /// Saves `NN-name.png` (WebDriver's screenshot; `import -window root` if WebKitWebDriver refuses).
    pub async fn shot(&mut self, name: &str) -> Result<PathBuf> {
        self.shot_no += 1;
        let path = self.shots.join(format!("{:02}-{name}.png", self.shot_no));
        // Let the last DOM change paint: two animation frames, then a short pause.
        let _ = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1]; \
                 requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
                vec![],
            )
            .await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        match self.client.screenshot().await {
            Ok(png) if png.starts_with(b"\x89PNG") => std::fs::write(&path, png)?,
            other => {
                let why = match other {
                    Ok(_) => "not a PNG".to_string(),
                    Err(e) => e.to_string(),
                };
                eprintln!("[{}] WebDriver screenshot failed ({why}); using `import -window root`", self.test);
                let st = Command::new("import").args(["-window", "root"]).arg(&path).status()?;
                if !st.success() {
                    return Err(err(format!("import -window root {} failed: {st}", path.display())));
                }
            }
        }
        eprintln!("[{}] screenshot {}", self.test, path.display());
        Ok(path)
    }

    /// Scrolls the first element matching `css` into view (WebDriver screenshots show the viewport only).
    pub async fn scroll_to(&mut self, css: &str) -> Result {
        let e = self.wait(css).await?;
        self.client
            .execute(
                "arguments[0].scrollIntoView({block: 'start'}); window.scrollBy(0, -48);",
                vec![serde_json::to_value(&e)?],
            )
            .await?;
        tokio::time::sleep(Duration::from_millis(150)).await;
        Ok(())
    }

    /// Waits until `css` matches an element; on timeout saves a `FAILED-…` screenshot and returns an error with
    /// the visible text of the page.
    pub async fn wait(&mut self, css: &str) -> Result<Element> {
        self.wait_for(css, WAIT).await
    }

    pub async fn wait_for(&mut self, css: &str, timeout: Duration) -> Result<Element> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(e) = self.client.find(Locator::Css(css)).await {
                return Ok(e);
            }
            if Instant::now() > deadline {
                return Err(self.failure(&format!("no element matches `{css}` after {timeout:?}")).await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls `f` until it returns `Some`, up to [`WAIT`].
    pub async fn wait_until<T, F, Fut>(&mut self, what: &str, mut f: F) -> Result<T>
    where
        F: FnMut(Client) -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(v) = f(self.client.clone()).await {
                return Ok(v);
            }
            if Instant::now() > deadline {
                return Err(self.failure(&format!("timed out waiting for {what}")).await);
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// An error describing the screen now (and a screenshot of it).
    pub async fn failure(&mut self, what: &str) -> Error {
        let shot = self
            .shot("FAILED")
            .await
            .map(|p| p.display().to_string())
            .unwrap_or_else(|e| format!("(no screenshot: {e})"));
        let text = self.body_text().await.unwrap_or_else(|e| format!("(no page text: {e})"));
        let text: String = text.chars().take(1500).collect();
        err(format!("[{}] {what}\n  screenshot: {shot}\n  page text:\n{text}", self.test))
    }

    pub async fn body_text(&self) -> Result<String> {
        let v = self.client.execute("return document.body ? document.body.innerText : ''", vec![]).await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    pub async fn exists(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    pub async fn count(&self, css: &str) -> Result<usize> {
        Ok(self.client.find_all(Locator::Css(css)).await?.len())
    }

    pub async fn click(&mut self, css: &str) -> Result {
        let e = self.wait(css).await?;
        if let Err(first) = e.click().await {
            // Some controls are covered by a label or scrolled away: try the DOM click.
            self.client
                .execute(
                    "arguments[0].scrollIntoView({block:'center'}); arguments[0].click();",
                    vec![serde_json::to_value(&e)?],
                )
                .await
                .map_err(|e2| err(format!("click `{css}`: {first}; DOM click: {e2}")))?;
        }
        Ok(())
    }

    /// Attribute of the first element matching `css`.
    pub async fn attr(&mut self, css: &str, name: &str) -> Result<Option<String>> {
        Ok(self.wait(css).await?.attr(name).await?)
    }

    /// Types `value` into an input (or chooses it in a select). Falls back to setting the value from script with an
    /// `input`/`change` event when typing did not produce it (e.g. characters the WebDriver key path cannot send).
    pub async fn fill(&mut self, css: &str, value: &str) -> Result {
        let e = self.wait(css).await?;
        if e.tag_name().await?.eq_ignore_ascii_case("select") {
            if e.select_by_value(value).await.is_err() {
                e.select_by_label(value).await.map_err(|x| err(format!("select `{value}` in `{css}`: {x}")))?;
            }
            return Ok(());
        }
        e.clear().await?;
        e.send_keys(value).await?;
        let now = e.prop("value").await?.unwrap_or_default();
        if now != value {
            eprintln!("[{}] typing into `{css}` gave {now:?}, not {value:?}: setting the value from script", self.test);
            self.client
                .execute(
                    "const [el, v] = arguments; el.value = v; \
                     el.dispatchEvent(new Event('input', {bubbles: true})); \
                     el.dispatchEvent(new Event('change', {bubbles: true}));",
                    vec![serde_json::to_value(&e)?, Value::from(value)],
                )
                .await?;
        }
        Ok(())
    }

    /// Ends the WebDriver session (which closes the window), stops tauri-driver and waits until the app process
    /// has exited, so that its SQLite file can be read. Returns the data directory.
    pub async fn finish(mut self) -> Result<tempfile::TempDir> {
        let _ = self.client.clone().close().await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !app_pids(self.data_dir.path()).is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        kill_group(&mut self.driver);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let pids = app_pids(self.data_dir.path());
            if pids.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                for p in &pids {
                    let _ = Command::new("kill").args(["-KILL", &p.to_string()]).status();
                }
                eprintln!("[{}] the app did not exit after the session ended: killed {pids:?}", self.test);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let dir = tempfile::Builder::new().tempdir()?; // placeholder swapped with the real one below
        Ok(std::mem::replace(&mut self.data_dir, dir))
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        kill_group(&mut self.driver);
        for p in app_pids(self.data_dir.path()) {
            let _ = Command::new("kill").args(["-KILL", &p.to_string()]).status();
        }
    }
}

/// Ends tauri-driver's process group (tauri-driver, WebKitWebDriver and, usually, the app).
fn kill_group(driver: &mut Option<Child>) {
    if let Some(mut child) = driver.take() {
        let pgid = format!("-{}", child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &pgid]).stderr(Stdio::null()).status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &pgid]).stderr(Stdio::null()).status();
        let _ = child.wait();
    }
}

/// PIDs of live processes whose environment has `EXO_SETUP_DATA_DIR=<dir>` (the app and its WebKit children).
pub fn app_pids(dir: &Path) -> Vec<u32> {
    let needle = format!("EXO_SETUP_DATA_DIR={}", dir.display()).into_bytes();
    let mut pids = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for ent in rd.flatten() {
        let Some(pid) = ent.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(env) = std::fs::read(ent.path().join("environ")) else {
            continue;
        };
        let zombie = std::fs::read_to_string(ent.path().join("stat")).map(|s| s.contains(") Z ")).unwrap_or(true);
        if !zombie && env.split(|b| *b == 0).any(|kv| kv == needle.as_slice()) {
            let exe = std::fs::read_link(ent.path().join("exe")).unwrap_or_default();
            let name = exe.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            if name != "tauri-driver" && name != "WebKitWebDriver" {
                pids.push(pid);
            }
        }
    }
    pids
}

/// PIDs of the app's own processes (not its WebKit children) among [`app_pids`]: after a deep link has been
/// forwarded by single-instance there must be exactly one.
pub fn app_instances(dir: &Path) -> Vec<u32> {
    let want = app_binary().file_name().map(|n| n.to_os_string()).unwrap_or_default();
    app_pids(dir)
        .into_iter()
        .filter(|p| {
            std::fs::read_link(format!("/proc/{p}/exe"))
                .map(|exe| exe.file_name().map(|n| n.to_os_string()) == Some(want.clone()))
                .unwrap_or(false)
        })
        .collect()
}

// ------------------------------------------------------------------------------------------------ desktop home

/// A private home for one app's desktop integration: `HOME` and the XDG base directories in a temporary folder.
/// The app's `register_all()` writes `$XDG_DATA_HOME/applications/exo-setup-handler.desktop` and
/// `xdg-mime default` records it in `$XDG_CONFIG_HOME/mimeapps.list`, where `gio open` (run by the test browser
/// with the app's environment) looks for the scheme's handler. The D-Bus session, `XDG_RUNTIME_DIR` and the
/// keyring stay those of the suite (`scripts/with-keyring.sh`).
pub struct DesktopHome {
    pub dir: tempfile::TempDir,
}

impl DesktopHome {
    pub fn new(test: &str) -> Result<DesktopHome> {
        let dir = tempfile::Builder::new().prefix(&format!("exo-e2e-home-{test}-")).tempdir()?;
        let home = DesktopHome { dir };
        for d in [home.data_home(), home.config_home(), home.cache_home()] {
            std::fs::create_dir_all(d)?;
        }
        Ok(home)
    }

    pub fn data_home(&self) -> PathBuf {
        self.dir.path().join(".local/share")
    }

    pub fn config_home(&self) -> PathBuf {
        self.dir.path().join(".config")
    }

    pub fn cache_home(&self) -> PathBuf {
        self.dir.path().join(".cache")
    }

    /// The handler file `register_all()` writes for the app binary.
    pub fn handler_file(&self) -> PathBuf {
        let bin = app_binary();
        let name = bin.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        self.data_home().join("applications").join(format!("{name}-handler.desktop"))
    }

    /// `HOME`, `XDG_DATA_HOME`, `XDG_CONFIG_HOME`, `XDG_CACHE_HOME`.
    pub fn env(&self) -> Vec<(String, OsString)> {
        vec![
            ("HOME".into(), self.dir.path().into()),
            ("XDG_DATA_HOME".into(), self.data_home().into()),
            ("XDG_CONFIG_HOME".into(), self.config_home().into()),
            ("XDG_CACHE_HOME".into(), self.cache_home().into()),
        ]
    }

    /// `gio mime x-scheme-handler/<scheme>` as the app's desktop sees it (stdout; error when gio fails).
    pub fn gio_mime(&self, scheme: &str) -> Result<String> {
        let mut cmd = Command::new("gio");
        cmd.args(["mime", &format!("x-scheme-handler/{scheme}")]);
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        let out = cmd.output().map_err(|e| err(format!("gio mime: {e} (apt-get install libglib2.0-bin)")))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            return Err(err(format!(
                "gio mime x-scheme-handler/{scheme}: {}\n{text}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(text)
    }
}

// ------------------------------------------------------------------------------------------------ wizard steps

/// Start screen → administrator setup → step 1 form.
pub async fn open_step1(rig: &mut Rig) -> Result {
    rig.wait("[data-testid=start-admin]").await?;
    rig.click("[data-testid=start-admin]").await?;
    rig.wait("#tenant").await?;
    Ok(())
}

/// Fills step 1 (tenant, client ID, authority under "Advanced") and presses save. The redirect mode stays as it is.
pub async fn save_exchange(rig: &mut Rig, tenant: &str, client_id: &str, authority: &str) -> Result {
    rig.fill("#tenant", tenant).await?;
    rig.fill("#client-id", client_id).await?;
    let authority_shown = match rig.client.find(Locator::Css("#authority")).await {
        Ok(e) => e.is_displayed().await.unwrap_or(false),
        Err(_) => false,
    };
    if !authority_shown {
        rig.click("[data-testid=show-advanced]").await?;
    }
    rig.fill("#authority", authority).await?;
    rig.click("[data-testid=save-exchange]").await?;
    Ok(())
}

/// Chooses Exchange Online in `#server` (a select; by value "1", else by its label).
pub async fn select_exchange_server(rig: &mut Rig) -> Result {
    let e = rig.wait("#server").await?;
    if !e.tag_name().await?.eq_ignore_ascii_case("select") {
        return rig.fill("#server", "Exchange Online").await;
    }
    if e.select_by_value("1").await.is_ok() {
        return Ok(());
    }
    for o in e.find_all(Locator::Css("option")).await? {
        if o.text().await.unwrap_or_default().contains("Exchange Online") {
            return Ok(o.click().await?);
        }
    }
    Err(rig.failure("#server has no Exchange Online option").await)
}

/// Step 2: adds one account on Exchange Online by hand and waits for its row.
pub async fn add_account(rig: &mut Rig, login: &str, name: &str, address: &str, protocol: &str) -> Result {
    rig.fill("#login-name", login).await?;
    rig.fill("#user-display-name", name).await?;
    rig.fill("#address", address).await?;
    if rig.exists("#display-name").await {
        rig.fill("#display-name", name).await?;
    }
    rig.fill("#receive-protocol", protocol).await?;
    select_exchange_server(rig).await?;
    rig.click("[data-testid=add-account]").await?;
    rig.wait(&format!("[data-testid=account-row][data-address=\"{address}\"]")).await?;
    Ok(())
}

/// Writes `bytes` to `<dir>/<name>` and returns the absolute path.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    let path = dir.join(name);
    std::fs::File::create(&path)?.write_all(bytes)?;
    Ok(path)
}
