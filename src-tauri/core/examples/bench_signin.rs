//! Benchmark: deep-link callback → token in the keychain → IMAP login verified, on loopback,
//! against the same HTTP and IMAP exchanges done by curl. Target: ≤ 2×.
//!
//! Set-up (untimed): the entra emulator (auto-approve) and the test Dovecot of
//! `entra_emulator::dovecot` (IMAP over implicit TLS with a test CA, validating the emulator's
//! access tokens), a store in a temporary directory with the organization, a "Dovecot" server
//! entry and one IMAP mailbox, and the REAL platform keychain under a service name of its own.
//!
//! Per iteration, alternating (one warm-up of each first, then the median of `EXO_BENCH_RUNS`,
//! default 9):
//! - ours: the browser's part is untimed (`Auth::begin_sign_in` + GET /authorize, redirects off,
//!   `Location` = the deep-link callback URL); timed: `Auth::complete(callback)` (state check,
//!   code redemption at the token endpoint, id_token check against the cached JWKS, refresh and
//!   access token written to the keychain, status + audit entry in SQLite), then
//!   `Auth::access_token` (the cached token, read back from the keychain) and
//!   `mailcheck::check_imap` (TLS, CAPABILITY, AUTHENTICATE XOAUTH2, SELECT INBOX, LOGOUT);
//! - curl: an authorization code with a PKCE pair of its own is fetched untimed through the same
//!   /authorize (same client_id, redirect_uri, scope, login_hint); timed from before the first
//!   spawn to after the second exits: `curl` POST to the token endpoint (same form fields as
//!   ours), then `curl --cacert <test CA> imaps://127.0.0.1:<port>/ -X 'SELECT INBOX'
//!   --login-options AUTH=XOAUTH2 --oauth2-bearer <token> -u <address>:` (CAPABILITY,
//!   AUTHENTICATE, SELECT INBOX). Parsing the access token out of curl's JSON (serde_json) is
//!   timed separately and subtracted.
//!
//! Where curl's IMAP differs from `check_imap` (curl 7.88, Debian 12):
//! - the URL is `/` with `-X 'SELECT INBOX'`: `imaps://…/INBOX` alone makes curl send
//!   `LIST "INBOX" *`, not SELECT;
//! - curl ignores `--login-options AUTH=XOAUTH2` and sends `AUTHENTICATE OAUTHBEARER` (RFC 7628,
//!   same JWT, same single SASL-IR round trip) when the server offers it, as the Dovecot rig
//!   does (curl issue #10259); the option stays for curls that honour it;
//! - after a successful custom command curl closes the connection without `LOGOUT`, one
//!   loopback round trip fewer than ours.
//!
//! `-u <address>:` (empty password) keeps curl from prompting for one.
//!
//! Needs a Secret Service, `curl` and `dovecot`; skips (exit 0) without Dovecot or with
//! `EXO_SKIP_DOVECOT=1`:
//! `dbus-run-session -- scripts/with-keyring.sh cargo run -q --release -p exo-setup-core --example bench_signin`
//! (`BENCH_DETAIL=1` adds the medians of each part.)

use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use entra_emulator::dovecot::{self, Dovecot};
use entra_emulator::{Config, Emulator, DEMO_CLIENT_ID, DEMO_TENANT_ID};
use exo_setup_core::audience::{AllowedEndpoint, EndpointsOrigin};
use exo_setup_core::auth::Auth;
use exo_setup_core::keychain::{AccountKey, CachedAccessToken, OsKeychain, Secret, TokenStore, DEFAULT_CHUNK_BYTES};
use exo_setup_core::mailcheck::{check_imap, CheckOptions};
use exo_setup_core::model::{
    AccountInput, Endpoint, FlowResult, OrgSettingsInput, ReceiveProtocol, RedirectMode, Security, ServerAuth,
};
use exo_setup_core::oauth::MailScopes;
use exo_setup_core::Store;
use url::Url;

/// `ep` as an endpoint set on this computer (the rule of `exo_setup_core::audience` allows it).
fn local(ep: &Endpoint) -> AllowedEndpoint {
    AllowedEndpoint::permit(ep, "", EndpointsOrigin::Local, &[]).expect("set locally")
}

const ADDRESS: &str = "taro@contoso.example";
const IMAP: &str = "https://outlook.office.com/IMAP.AccessAsUser.All";
const POP: &str = "https://outlook.office.com/POP.AccessAsUser.All";
const SMTP: &str = "https://outlook.office.com/SMTP.Send";

type Fallible<T> = Result<T, String>;

struct Bench {
    _dir: tempfile::TempDir,
    auth: Arc<Auth>,
    http: reqwest::Client,
    redirect_uri: String,
    token_url: String,
    /// The authorize URL ours builds, for the curl side's own code (state, nonce and PKCE replaced).
    authorize_template: Url,
    scope: String,
    imaps: Endpoint,
    opts: CheckOptions,
    ca_file: String,
}

/// Times of one iteration: (total, first part, second part).
#[derive(Clone, Copy)]
struct Sample {
    total: Duration,
    http: Duration,
    imap: Duration,
}

/// The browser: one GET, redirects off; the `Location` it is sent to.
async fn browse(http: &reqwest::Client, url: &str) -> Fallible<String> {
    let resp = http.get(url).send().await.map_err(|e| format!("GET /authorize: {e}"))?;
    resp.headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| format!("/authorize answered {} without a redirect", resp.status()))
}

impl Bench {
    async fn ours(&self) -> Fallible<Sample> {
        // The browser's job (untimed).
        let (_, url) = self.auth.begin_sign_in(ADDRESS, &self.redirect_uri).await.map_err(|e| e.message)?;
        let callback = browse(&self.http, url.as_str()).await?;

        let t = Instant::now();
        let finished = self.auth.complete(&callback).await;
        if let FlowResult::Failed { error } = &finished.result {
            return Err(format!(
                "sign-in failed: {} ({}){}",
                error.kind,
                error.message,
                if error.kind.area() == exo_setup_core::ErrorArea::Keychain {
                    "\n  a Secret Service is needed: dbus-run-session -- scripts/with-keyring.sh …"
                } else {
                    ""
                }
            ));
        }
        let signed_in = t.elapsed();
        let token = self.auth.access_token(ADDRESS).await.map_err(|e| format!("{}: {}", e.kind, e.message))?;
        if token.refreshed {
            return Err("the access token was refreshed instead of read from the keychain".into());
        }
        let check = check_imap(&local(&self.imaps), ADDRESS, &token.token, &self.opts).await;
        let total = t.elapsed();
        if !check.ok {
            return Err(format!("check_imap failed: {:?}", check.error));
        }
        Ok(Sample { total, http: signed_in, imap: total - signed_in })
    }

    /// An authorization code for the curl side, with its own PKCE verifier (untimed).
    async fn code_for_curl(&self) -> Fallible<(String, String)> {
        let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
        let mut url = self.authorize_template.clone();
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = match &*k {
                    "state" | "nonce" => uuid::Uuid::new_v4().simple().to_string(),
                    "code_challenge" => challenge.as_str().to_owned(),
                    _ => v.into_owned(),
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
        let location = browse(&self.http, url.as_str()).await?;
        let code = Url::parse(&location)
            .ok()
            .and_then(|u| u.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()))
            .ok_or_else(|| format!("no code in the redirect ({})", location.split('?').next().unwrap_or("")))?;
        Ok((code, verifier.secret().to_owned()))
    }

    async fn curl(&self) -> Fallible<Sample> {
        let (code, verifier) = self.code_for_curl().await?;
        let form = [
            ("client_id", DEMO_CLIENT_ID),
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", &verifier),
            ("redirect_uri", &self.redirect_uri),
            ("scope", &self.scope),
        ];
        let mut post = Command::new("curl");
        post.args(["-sS", "--fail-with-body", "-H", "Accept: application/json"]);
        for (k, v) in form {
            post.arg("--data-urlencode").arg(format!("{k}={v}"));
        }
        post.arg(&self.token_url).stdin(Stdio::null());

        let t = Instant::now();
        let out = post.output().map_err(|e| format!("cannot run curl: {e}"))?;
        let posted = t.elapsed();
        if !out.status.success() {
            return Err(format!(
                "curl POST token: {}: {}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout)
            ));
        }
        let p = Instant::now();
        let json: serde_json::Value =
            serde_json::from_slice(&out.stdout).map_err(|e| format!("token response is not JSON: {e}"))?;
        let token = json["access_token"].as_str().ok_or("no access_token in the token response")?.to_owned();
        let parse = p.elapsed();
        let out = Command::new("curl")
            .args(["-sS", "--cacert", &self.ca_file])
            .arg(format!("imaps://{}:{}/", self.imaps.host, self.imaps.port))
            .args(["-X", "SELECT INBOX", "--login-options", "AUTH=XOAUTH2", "--oauth2-bearer", &token])
            .arg("-u")
            .arg(format!("{ADDRESS}:"))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run curl: {e}"))?;
        let total = t.elapsed() - parse;
        if !out.status.success() {
            return Err(format!("curl IMAP: {}: {}", out.status, String::from_utf8_lossy(&out.stderr)));
        }
        Ok(Sample { total, http: posted, imap: total - posted })
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn setup(emu: &Emulator, dc: &Dovecot, tokens: Arc<dyn TokenStore>) -> Fallible<Bench> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let store = Arc::new(Store::open_in(dir.path()).map_err(|e| e.to_string())?);
    exo_setup_core::org::save_exchange_online(
        &store,
        &OrgSettingsInput {
            organization_name: String::new(),
            tenant: DEMO_TENANT_ID.into(),
            client_id: DEMO_CLIENT_ID.into(),
            authority: emu.base_url(),
            redirect_mode: RedirectMode::DeepLink,
        },
    )
    .await
    .map_err(|e| e.message)?;
    let ep = |port, security| Endpoint { host: dc.host().into(), port, security };
    let p = dc.ports();
    let server = exo_setup_core::org::add_server(
        &store,
        "Dovecot",
        &ep(p.imaps, Security::Tls),
        &ep(p.pop3s, Security::Tls),
        &ep(p.submission, Security::Starttls),
        ServerAuth::Oauth2,
    )
    .map_err(|e| e.message)?;
    exo_setup_core::accounts::add(
        &store,
        &AccountInput {
            login_name: "taro".into(),
            user_display_name: "Taro".into(),
            address: ADDRESS.into(),
            display_name: String::new(),
            receive_protocol: ReceiveProtocol::Imap,
            server_id: server.id,
        },
    )
    .map_err(|e| e.message)?;
    let auth = Arc::new(Auth::new(store, tokens));
    let redirect_uri = exo_setup_core::identity::deep_link_redirect_uri();
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().map_err(|e| e.to_string())?;

    // The authorize URL ours sends (client_id, redirect_uri, scope, login_hint, …); its flow is cancelled.
    let (started, authorize_template) = auth.begin_sign_in(ADDRESS, &redirect_uri).await.map_err(|e| e.message)?;
    auth.cancel(&started.flow_id);
    Ok(Bench {
        _dir: dir,
        auth,
        http,
        redirect_uri,
        token_url: format!("{}/{DEMO_TENANT_ID}/oauth2/v2.0/token", emu.base_url()),
        authorize_template,
        scope: MailScopes::for_account(ReceiveProtocol::Imap).with_offline_access().join(" "),
        imaps: ep(p.imaps, Security::Tls),
        opts: CheckOptions { extra_root_pem: Some(dc.ca_pem().to_owned()), ..Default::default() },
        ca_file: dc.ca_file().display().to_string(),
    })
}

async fn run(b: &Bench, runs: usize) -> Fallible<(Vec<Sample>, Vec<Sample>)> {
    // One warm-up each (connection set-up, discovery and JWKS cached, page cache), then alternate.
    b.ours().await?;
    b.curl().await?;
    let (mut ours, mut curl) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        ours.push(b.ours().await?);
        curl.push(b.curl().await?);
    }
    Ok((ours, curl))
}

/// Median time of writing a refresh token and an access token (token-sized values) to the keychain, as
/// `Auth::complete` does, under another account (removed afterwards).
fn keychain_writes(tokens: &dyn TokenStore, runs: usize) -> Result<Duration, String> {
    let key = AccountKey::new(DEMO_TENANT_ID, "probe@contoso.example");
    let mut v = Vec::new();
    for i in 0..=runs {
        let refresh = Secret::new(format!("{i}").repeat(1_200));
        let access = CachedAccessToken { token: Secret::new("a".repeat(1_500)), expires_at: 0, scopes: Vec::new() };
        let t = Instant::now();
        tokens.set_refresh_token(&key, &refresh).map_err(|e| e.to_string())?;
        tokens.set_access_token(&key, &access).map_err(|e| e.to_string())?;
        if i > 0 {
            v.push(t.elapsed());
        }
    }
    tokens.delete_account(&key).map_err(|e| e.to_string())?;
    Ok(median(v))
}

fn main() -> ExitCode {
    if let Some(reason) = dovecot::skip_reason() {
        println!("sign-in to verified: skipped ({reason})");
        return ExitCode::SUCCESS;
    }
    if Command::new("curl").arg("-V").stdout(Stdio::null()).status().map(|s| !s.success()).unwrap_or(true) {
        eprintln!("bench_signin: `curl` is needed for the baseline");
        return ExitCode::FAILURE;
    }
    let runs: usize = std::env::var("EXO_BENCH_RUNS").ok().and_then(|s| s.parse().ok()).filter(|&n| n > 0).unwrap_or(9);

    let emu = Emulator::start_blocking(Config::default_demo()).expect("start the emulator");
    emu.set_auto_approve(true);
    emu.grant_admin_consent(DEMO_TENANT_ID, DEMO_CLIENT_ID, &[IMAP, SMTP, POP]);
    let dc = match Dovecot::start(&emu) {
        Ok(Some(dc)) => dc,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_signin: Dovecot did not start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let service = format!("dev.exosetup.wizard.bench-signin.{}", std::process::id());
    let tokens: Arc<dyn TokenStore> = Arc::new(OsKeychain::with_service(&service, DEFAULT_CHUNK_BYTES));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");

    let result = rt.block_on(async {
        let b = setup(&emu, &dc, Arc::clone(&tokens)).await?;
        let r = run(&b, runs).await;
        // Leave nothing in the keychain.
        let _ = b.auth.sign_out(ADDRESS).await;
        r
    });
    let (ours, curl) = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench_signin: {e}");
            eprintln!("--- Dovecot log ---\n{}", dc.log());
            return ExitCode::FAILURE;
        }
    };

    let part = |v: &[Sample], f: fn(&Sample) -> Duration| median(v.iter().map(f).collect());
    let (a, b) = (part(&ours, |s| s.total), part(&curl, |s| s.total));
    println!(
        "sign-in to verified: ours {:.1} ms vs curl {:.1} ms (median of {runs}) -> ratio {:.2}x (target <= 2x)",
        ms(a),
        ms(b),
        a.as_secs_f64() / b.as_secs_f64()
    );
    if std::env::var_os("BENCH_DETAIL").is_some() {
        println!(
            "  ours: complete (token endpoint, id_token, keychain, SQLite) {:.1} ms, keychain read + check_imap {:.1} ms",
            ms(part(&ours, |s| s.http)),
            ms(part(&ours, |s| s.imap))
        );
        println!(
            "  curl: POST token {:.1} ms, IMAP {:.1} ms; each run ours/curl ms: {}",
            ms(part(&curl, |s| s.http)),
            ms(part(&curl, |s| s.imap)),
            ours.iter()
                .zip(&curl)
                .map(|(o, c)| format!("{:.0}/{:.0}", ms(o.total), ms(c.total)))
                .collect::<Vec<_>>()
                .join(" ")
        );
        match keychain_writes(tokens.as_ref(), runs) {
            Ok(d) => {
                println!("  of ours' complete: writing a refresh + an access token to this keychain {:.1} ms", ms(d))
            }
            Err(e) => println!("  keychain write probe failed: {e}"),
        }
    }
    ExitCode::SUCCESS
}
