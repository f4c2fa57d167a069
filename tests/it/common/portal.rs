//! [`Portal`]: a local stand-in for the SSO portal (`GetRoleCredentials`) and SSO OIDC
//! (`CreateToken` with a refresh token), speaking the real rest-json wire protocol.
//!
//! Plain `std::net` with one thread per connection; HTTP/1.1 keep-alive is supported and
//! request bodies are read by `Content-Length`.
//!
//! Behaviour:
//! - [`Portal::grant`] gives an access token a role with a credentials lifetime. An unknown
//!   token gets 401 `UnauthorizedException`; a known token without the role gets 403
//!   `ForbiddenException`.
//! - [`Portal::script`] queues replies for one (account, role); each request pops one, and an
//!   empty queue means [`Reply::Ok`]. [`Portal::script_create_token`] does the same for
//!   `POST /token`.
//! - [`Portal::add_refresh_token`] makes a refresh token valid; refreshing rotates it and the
//!   new access token holds the roles of the old one.
//! - `POST /v1/token` is AWS Sign-In's CreateOAuth2Token, answered by [`super::signin`].
//! - Every request is recorded ([`Portal::requests`]); every issued credential is unique
//!   ([`Portal::issued`]); every connection is counted ([`Portal::connections`]), those that
//!   never carried a request (a TLS handshake sent to plain HTTP) too.
//! - Faults on the wire: [`Reply::ResetMidBody`], [`Reply::Truncated`] and [`Reply::Raw`]
//!   (a body that is not JSON).

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

const PORTAL_ERROR_NS: &str = "http://internal.amazon.com/coral/com.amazonaws.switchboard.portal/";
const OIDC_ERROR_NS: &str = "http://internal.amazon.com/coral/com.amazonaws.sso.oidc/";

/// One scripted reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Answer as an unscripted request would: credentials if the token holds the role
    /// (401/403 otherwise); for `POST /token`, a refresh if the refresh token is valid.
    Ok,
    /// Answer with this HTTP status and the service's error body and headers for it
    /// (400, 401, 403, 404, 429 and 500 have their real error shapes).
    Status(u16),
    /// Read the request and never answer; the connection stays open until the portal is
    /// dropped.
    Hang,
    /// Wait, then give the inner reply.
    Delayed(Duration, Box<Reply>),
    /// Answer as [`Reply::Ok`] would, but send only the head and half of the body, then
    /// reset the connection (RST, as a crashed proxy or load balancer does).
    ResetMidBody,
    /// Answer as [`Reply::Ok`] would, but send only the head and half of the body, then close
    /// the connection cleanly: fewer bytes than `Content-Length` promised.
    Truncated,
    /// Answer with this HTTP status and this body, verbatim (e.g. an HTML page from a captive
    /// portal or a proxy where JSON is expected).
    Raw(u16, String),
}

impl Reply {
    /// This reply, given after `delay`.
    pub fn after(self, delay: Duration) -> Reply {
        Reply::Delayed(delay, Box::new(self))
    }
}

/// One request the portal received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    /// Lowercased header names.
    pub headers: Vec<(String, String)>,
    /// The `x-amz-sso_bearer_token` header, if any.
    pub token: Option<String>,
    pub body: String,
}

impl Recorded {
    /// The first query parameter named `name`.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// True for a `GetRoleCredentials` call.
    pub fn is_get_role_credentials(&self) -> bool {
        self.method == "GET" && self.path == "/federation/credentials"
    }

    /// True for a `CreateToken` call.
    pub fn is_create_token(&self) -> bool {
        self.method == "POST" && self.path == "/token"
    }
}

/// Credentials the portal handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub account: String,
    pub role: String,
    /// The access token that asked for them.
    pub token: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// Epoch milliseconds.
    pub expiration_ms: i64,
}

/// A refreshed login the portal handed out via `CreateToken`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refreshed {
    pub old_refresh_token: String,
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
}

#[derive(Debug, Default)]
pub(super) struct State {
    /// access token → (account, role) → credentials lifetime.
    grants: HashMap<String, HashMap<(String, String), Duration>>,
    scripts: HashMap<(String, String), VecDeque<Reply>>,
    token_script: VecDeque<Reply>,
    /// refresh token → access token whose grants a refresh inherits.
    refresh_tokens: HashMap<String, String>,
    refreshed_expires_in: Option<i64>,
    requests: Vec<Recorded>,
    issued: Vec<Issued>,
    refreshed: Vec<Refreshed>,
    counter: u64,
    /// AWS Sign-In's side ([`super::signin`]).
    pub(super) signin: super::signin::SignInState,
    signin_script: VecDeque<Reply>,
}

#[derive(Debug)]
pub(super) struct Shared {
    state: Mutex<State>,
    shutdown: AtomicBool,
    /// Woken on shutdown, so that hanging and delayed replies end.
    wake: Condvar,
    /// Clones of the open connections by id, shut down on drop.
    streams: Mutex<HashMap<u64, TcpStream>>,
    next_stream: AtomicU64,
    /// Requests being handled now, and the most there ever were at once.
    in_flight: AtomicU64,
    peak_in_flight: AtomicU64,
}

impl Shared {
    pub(super) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sleeps for `d` or until shutdown; true if shut down.
    fn sleep(&self, d: Option<Duration>) -> bool {
        let mut guard = self.state();
        let deadline = d.map(|d| std::time::Instant::now() + d);
        loop {
            if self.shutdown.load(Ordering::SeqCst) {
                return true;
            }
            match deadline {
                None => guard = self.wake.wait(guard).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let now = std::time::Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    guard = self
                        .wake
                        .wait_timeout(guard, deadline - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
    }
}

/// The local SSO portal; stops when dropped.
#[derive(Debug)]
pub struct Portal {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<thread::JoinHandle<()>>,
}

/// The account of profile `p<i>` of a [`Portal::fleet`].
pub fn fleet_account(i: u64) -> String {
    format!("{:012}", 500_000_000_000u64 + i)
}

impl Portal {
    /// Starts a portal on `127.0.0.1` with a free port, with no tokens.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind portal listener");
        let addr = listener.local_addr().expect("portal address");
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            shutdown: AtomicBool::new(false),
            wake: Condvar::new(),
            streams: Mutex::new(HashMap::new()),
            next_stream: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            peak_in_flight: AtomicU64::new(0),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("portal-accept".into())
                .spawn(move || accept_loop(&listener, &shared))
                .expect("spawn portal acceptor")
        };
        Self {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// `http://127.0.0.1:<port>`, for `AWS_ENDPOINT_URL_SSO` / `_SSO_OIDC`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address it listens on (`127.0.0.1:<port>`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Grants `role` in `account` to `access_token`; credentials live for `lifetime`.
    pub fn grant(&self, access_token: &str, account: &str, role: &str, lifetime: Duration) {
        self.shared
            .state()
            .grants
            .entry(access_token.to_owned())
            .or_default()
            .insert((account.to_owned(), role.to_owned()), lifetime);
    }

    /// Makes `access_token` known with no roles (so a role request gets 403, not 401).
    pub fn add_token(&self, access_token: &str) {
        self.shared
            .state()
            .grants
            .entry(access_token.to_owned())
            .or_default();
    }

    /// A fleet of `n` roles granted to `access_token` for an hour: role `Dev` in accounts
    /// [`fleet_account`]`(0)`…; returns a config with one sso-session profile `p<i>` for each,
    /// on session `corp` at `start_url`.
    pub fn fleet(&self, access_token: &str, n: u64, start_url: &str) -> String {
        let mut config =
            format!("[sso-session corp]\nsso_start_url = {start_url}\nsso_region = us-east-1\n");
        for i in 0..n {
            let account = fleet_account(i);
            config.push_str(&format!(
                "\n[profile p{i}]\nsso_session = corp\nsso_account_id = {account}\nsso_role_name = Dev\n"
            ));
            self.grant(access_token, &account, "Dev", Duration::from_secs(3600));
        }
        config
    }

    /// Forgets `access_token` (as after `aws sso logout`): it gets 401 from now on.
    pub fn revoke(&self, access_token: &str) {
        self.shared.state().grants.remove(access_token);
    }

    /// Appends replies to the queue of (account, role).
    pub fn script(&self, account: &str, role: &str, replies: impl IntoIterator<Item = Reply>) {
        self.shared
            .state()
            .scripts
            .entry((account.to_owned(), role.to_owned()))
            .or_default()
            .extend(replies);
    }

    /// Appends replies to the queue of `POST /token`.
    pub fn script_create_token(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared.state().token_script.extend(replies);
    }

    /// Makes `refresh_token` valid; refreshing it yields a token with the roles of
    /// `access_token`.
    pub fn add_refresh_token(&self, refresh_token: &str, access_token: &str) {
        self.shared
            .state()
            .refresh_tokens
            .insert(refresh_token.to_owned(), access_token.to_owned());
    }

    /// Sets `expiresIn` (seconds) of refreshed tokens; the default is 28800 (8 hours).
    pub fn set_refreshed_expires_in(&self, seconds: i64) {
        self.shared.state().refreshed_expires_in = Some(seconds);
    }

    /// How many connections were accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.next_stream.load(Ordering::SeqCst)
    }

    /// The shared state, for the Sign-In side in [`super::signin`].
    pub(super) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Appends replies to the queue of Sign-In's `POST /v1/token`.
    pub fn script_signin(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared.state().signin_script.extend(replies);
    }

    /// The most requests that were being handled at the same moment.
    pub fn peak_in_flight(&self) -> u64 {
        self.shared.peak_in_flight.load(Ordering::SeqCst)
    }

    /// Every request received so far, in order of arrival.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.state().requests.clone()
    }

    /// The `GetRoleCredentials` requests received so far.
    pub fn credential_requests(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(Recorded::is_get_role_credentials)
            .collect()
    }

    /// How many `GetRoleCredentials` requests asked for (account, role).
    pub fn count(&self, account: &str, role: &str) -> usize {
        self.credential_requests()
            .iter()
            .filter(|r| {
                r.query_param("account_id") == Some(account)
                    && r.query_param("role_name") == Some(role)
            })
            .count()
    }

    /// The bearer tokens sent so far, in order (one entry per request that had one).
    pub fn tokens_sent(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter_map(|r| r.token)
            .collect()
    }

    /// The `CreateToken` requests received so far.
    pub fn create_token_requests(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(Recorded::is_create_token)
            .collect()
    }

    /// Every credential handed out so far, in order.
    pub fn issued(&self) -> Vec<Issued> {
        self.shared.state().issued.clone()
    }

    /// The last credentials handed out for (account, role).
    pub fn last_issued(&self, account: &str, role: &str) -> Option<Issued> {
        self.issued()
            .into_iter()
            .rev()
            .find(|i| i.account == account && i.role == role)
    }

    /// Every successful refresh so far, in order.
    pub fn refreshed(&self) -> Vec<Refreshed> {
        self.shared.state().refreshed.clone()
    }
}

impl Drop for Portal {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        {
            // Take the state lock so that no sleeper misses the notification.
            let _guard = self.shared.state();
            self.shared.wake.notify_all();
        }
        for (_, stream) in self
            .shared
            .streams
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
        {
            let _ = stream.shutdown(Shutdown::Both);
        }
        // Wake the acceptor.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.shutdown.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let _ = stream.set_nodelay(true);
        let id = shared.next_stream.fetch_add(1, Ordering::SeqCst);
        if let Ok(clone) = stream.try_clone() {
            shared
                .streams
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, clone);
        }
        let shared = Arc::clone(shared);
        let _ = thread::Builder::new()
            .name("portal-conn".into())
            .spawn(move || {
                let reset = serve_connection(&stream, &shared);
                // Close for real: the clone kept for shutdown would otherwise hold it open.
                // A reset skips the orderly shutdown: the last close sends the RST.
                if !reset {
                    let _ = stream.shutdown(Shutdown::Both);
                }
                shared
                    .streams
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
            });
    }
}

/// A parsed HTTP request.
pub(super) struct HttpRequest {
    pub(super) method: String,
    pub(super) path: String,
    query: Vec<(String, String)>,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
}

impl HttpRequest {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A response to write.
pub(super) struct HttpResponse {
    pub(super) status: u16,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: String,
    /// Send only part of it, then end the connection this way.
    pub(super) cut: Option<Cut>,
}

/// How a response cut short ends its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cut {
    /// A TCP reset (SO_LINGER 0, then close).
    Reset,
    /// A clean close (FIN).
    Close,
}

/// Serves requests on one connection until it ends; true if it must end in a reset (the
/// caller then closes it without the orderly shutdown).
fn serve_connection(stream: &TcpStream, shared: &Shared) -> bool {
    let mut writer = stream;
    let mut reader = BufReader::new(stream);
    loop {
        let request = match read_request(&mut reader) {
            Ok(Some(r)) => r,
            Ok(None) => return false,
            Err(message) => {
                let response = HttpResponse {
                    status: 400,
                    headers: Vec::new(),
                    body: json!({ "message": message }).to_string(),
                    cut: None,
                };
                let _ = write_response(&mut writer, &response, true);
                return false;
            }
        };
        if shared.shutdown.load(Ordering::SeqCst) {
            return false;
        }
        let close = request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let Some(response) = handle(&request, shared) else {
            // Hang: hold the connection until shutdown.
            shared.sleep(None);
            return false;
        };
        let written = write_response(&mut writer, &response, close);
        if response.cut == Some(Cut::Reset) {
            // Closed with a zero linger, the socket sends RST instead of FIN.
            let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
            return true;
        }
        if written.is_err() || close || response.cut.is_some() {
            return false;
        }
    }
}

/// Reads one request; `Ok(None)` on a clean end of the connection.
fn read_request(reader: &mut impl BufRead) -> Result<Option<HttpRequest>, String> {
    let mut line = String::new();
    // Tolerate stray empty lines between requests.
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return Ok(None),
            Ok(_) if line.trim().is_empty() => continue,
            Ok(_) => break,
        }
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().ok_or("empty request line")?.to_owned();
    let target = parts.next().ok_or("request line without a target")?;
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, parse_query(q)),
        None => (target, Vec::new()),
    };
    let path = percent_decode(path);

    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) => return Err("connection closed inside the headers".into()),
            Err(e) => return Err(format!("reading headers: {e}")),
            Ok(_) => {}
        }
        let header = header.trim_end_matches(['\r', '\n']);
        if header.is_empty() {
            break;
        }
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| format!("malformed header line {header:?}"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let body = if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        read_chunked(reader)?
    } else {
        let length: usize = match find("content-length") {
            Some(v) => v.parse().map_err(|_| format!("bad Content-Length {v:?}"))?,
            None => 0,
        };
        let mut body = vec![0; length];
        reader
            .read_exact(&mut body)
            .map_err(|e| format!("reading a {length}-byte body: {e}"))?;
        body
    };
    Ok(Some(HttpRequest {
        method,
        path,
        query,
        headers,
        body,
    }))
}

fn read_chunked(reader: &mut impl BufRead) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        reader
            .read_line(&mut size_line)
            .map_err(|e| format!("reading a chunk size: {e}"))?;
        let size_text = size_line.trim().split(';').next().unwrap_or_default();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        if size == 0 {
            // Trailers, then the empty line.
            loop {
                let mut trailer = String::new();
                let n = reader
                    .read_line(&mut trailer)
                    .map_err(|e| format!("reading trailers: {e}"))?;
                if n == 0 || trailer.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader
            .read_exact(&mut body[start..])
            .map_err(|e| format!("reading a chunk: {e}"))?;
        let mut crlf = [0; 2];
        reader
            .read_exact(&mut crlf)
            .map_err(|e| format!("reading a chunk end: {e}"))?;
    }
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(pair), String::new()),
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i..i + 3) {
            Some([b'%', hi, lo]) => hex_value(*hi).zip(hex_value(*lo)),
            _ => None,
        };
        match (escaped, bytes[i]) {
            (Some((hi, lo)), _) => {
                out.push(hi * 16 + lo);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, b) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

fn write_response(
    writer: &mut impl Write,
    response: &HttpResponse,
    close: bool,
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        response.status,
        reason(response.status),
        response.body.len()
    );
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    // One write: head and body in separate segments would meet Nagle's algorithm and the
    // client's delayed ACK, adding milliseconds to every answer.
    head.push_str(&response.body);
    // A response cut short stops halfway through its body.
    let end = head.len() - response.cut.map_or(0, |_| response.body.len() / 2);
    writer.write_all(&head.as_bytes()[..end])?;
    writer.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Records the request, picks the reply, and builds the response; `None` means hang.
/// [`handle_request`], counting the requests in flight.
fn handle(request: &HttpRequest, shared: &Shared) -> Option<HttpResponse> {
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.peak_in_flight.fetch_max(now, Ordering::SeqCst);
    let response = handle_request(request, shared);
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    response
}

fn handle_request(request: &HttpRequest, shared: &Shared) -> Option<HttpResponse> {
    let token = request.header("x-amz-sso_bearer_token").map(str::to_owned);
    let body = String::from_utf8_lossy(&request.body).into_owned();
    let is_credentials = request.method == "GET" && request.path == "/federation/credentials";
    let is_token = request.method == "POST" && request.path == "/token";
    let is_signin = request.method == "POST" && request.path == "/v1/token";
    let account = query(request, "account_id");
    let role = query(request, "role_name");

    let mut reply = {
        let mut state = shared.state();
        state.requests.push(Recorded {
            method: request.method.clone(),
            path: request.path.clone(),
            query: request.query.clone(),
            headers: request.headers.clone(),
            token: token.clone(),
            body: body.clone(),
        });
        let queued = if is_credentials {
            state
                .scripts
                .get_mut(&(account.clone(), role.clone()))
                .and_then(VecDeque::pop_front)
        } else if is_token {
            state.token_script.pop_front()
        } else if is_signin {
            state.signin_script.pop_front()
        } else {
            None
        };
        queued.unwrap_or(Reply::Ok)
    };

    loop {
        match reply {
            Reply::Delayed(delay, inner) => {
                if shared.sleep(Some(delay)) {
                    return None;
                }
                reply = *inner;
            }
            Reply::Hang => return None,
            Reply::Raw(status, text) => {
                let mut response = HttpResponse {
                    status,
                    headers: Vec::new(),
                    body: text,
                    cut: None,
                };
                with_request_id(&mut response, shared);
                return Some(response);
            }
            Reply::ResetMidBody | Reply::Truncated => {
                let cut = if reply == Reply::ResetMidBody {
                    Cut::Reset
                } else {
                    Cut::Close
                };
                let mut response = ok_response(request, shared, token.as_deref(), &body);
                response.cut = Some(cut);
                return Some(response);
            }
            Reply::Status(status) => {
                let mut response = if is_signin {
                    let mut r = super::signin::signin_status(status);
                    super::signin::with_date(&mut r, &shared.state().signin);
                    r
                } else if is_token {
                    oidc_error(status)
                } else {
                    portal_error(status, &account, &role)
                };
                with_request_id(&mut response, shared);
                return Some(response);
            }
            Reply::Ok => return Some(ok_response(request, shared, token.as_deref(), &body)),
        }
    }
}

/// The answer to an unscripted request: credentials, a refreshed token, or 404 for an
/// unknown route.
fn ok_response(
    request: &HttpRequest,
    shared: &Shared,
    token: Option<&str>,
    body: &str,
) -> HttpResponse {
    let mut response = if request.method == "GET" && request.path == "/federation/credentials" {
        get_role_credentials(
            shared,
            token,
            &query(request, "account_id"),
            &query(request, "role_name"),
        )
    } else if request.method == "POST" && request.path == "/token" {
        create_token(shared, body)
    } else if request.method == "POST" && request.path == "/v1/token" {
        let state = &mut shared.state().signin;
        let mut r = super::signin::create_oauth2_token(state, request);
        super::signin::with_date(&mut r, state);
        r
    } else {
        HttpResponse {
            status: 404,
            headers: vec![(
                "x-amzn-ErrorType".into(),
                "UnknownOperationException".into(),
            )],
            body: json!({"message": format!("no route for {} {}", request.method, request.path)})
                .to_string(),
            cut: None,
        }
    };
    with_request_id(&mut response, shared);
    response
}

fn query(request: &HttpRequest, name: &str) -> String {
    request
        .query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

fn with_request_id(response: &mut HttpResponse, shared: &Shared) {
    let n = {
        let mut state = shared.state();
        state.counter += 1;
        state.counter
    };
    response.headers.push((
        "x-amzn-RequestId".into(),
        format!("00000000-0000-4000-8000-{n:012}"),
    ));
}

fn get_role_credentials(
    shared: &Shared,
    token: Option<&str>,
    account: &str,
    role: &str,
) -> HttpResponse {
    let mut state = shared.state();
    let Some(grants) = token.and_then(|t| state.grants.get(t)) else {
        return portal_error(401, account, role);
    };
    let Some(lifetime) = grants.get(&(account.to_owned(), role.to_owned())).copied() else {
        return portal_error(403, account, role);
    };
    state.counter += 1;
    let n = state.counter;
    let expiration_ms = now_ms() + i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX / 2);
    let issued = Issued {
        account: account.to_owned(),
        role: role.to_owned(),
        token: token.unwrap_or_default().to_owned(),
        access_key_id: format!("ASIAMOCK{n:012}"),
        secret_access_key: format!("mock-secret-{n:06}-{account}-{role}"),
        session_token: format!("mock-session-{n:06}-IQoJb3JpZ2luX2VjEXAMPLE/+="),
        expiration_ms,
    };
    let body = json!({
        "roleCredentials": {
            "accessKeyId": issued.access_key_id,
            "secretAccessKey": issued.secret_access_key,
            "sessionToken": issued.session_token,
            "expiration": expiration_ms,
        }
    });
    state.issued.push(issued);
    HttpResponse {
        status: 200,
        headers: Vec::new(),
        cut: None,
        body: body.to_string(),
    }
}

fn create_token(shared: &Shared, body: &str) -> HttpResponse {
    let Ok(request) = serde_json::from_str::<Value>(body) else {
        return oidc_error(400);
    };
    let field = |name: &str| request.get(name).and_then(Value::as_str).map(str::to_owned);
    if field("clientId").is_none() || field("clientSecret").is_none() {
        return oidc_named_error(
            400,
            "InvalidRequestException",
            "invalid_request",
            "clientId and clientSecret are required",
        );
    }
    if field("grantType").as_deref() != Some("refresh_token") {
        return oidc_named_error(
            400,
            "UnsupportedGrantTypeException",
            "unsupported_grant_type",
            "Unsupported grant type",
        );
    }
    let mut state = shared.state();
    let Some(old_refresh) = field("refreshToken") else {
        return oidc_error(400);
    };
    let Some(old_access) = state.refresh_tokens.remove(&old_refresh) else {
        return oidc_error(400);
    };
    state.counter += 1;
    let n = state.counter;
    let access_token = format!("access-refreshed-{n:06}");
    let refresh_token = format!("refresh-rotated-{n:06}");
    let roles = state.grants.get(&old_access).cloned().unwrap_or_default();
    state.grants.insert(access_token.clone(), roles);
    state
        .refresh_tokens
        .insert(refresh_token.clone(), access_token.clone());
    let expires_in = state.refreshed_expires_in.unwrap_or(28_800);
    state.refreshed.push(Refreshed {
        old_refresh_token: old_refresh,
        access_token: access_token.clone(),
        refresh_token: refresh_token.clone(),
        expires_in,
    });
    HttpResponse {
        status: 200,
        headers: Vec::new(),
        cut: None,
        body: json!({
            "accessToken": access_token,
            "tokenType": "Bearer",
            "expiresIn": expires_in,
            "refreshToken": refresh_token,
        })
        .to_string(),
    }
}

/// The portal's error for `status`, in the real wire shape.
fn portal_error(status: u16, account: &str, role: &str) -> HttpResponse {
    let header = |code: &str| {
        vec![(
            "x-amzn-ErrorType".to_owned(),
            format!("{code}:{PORTAL_ERROR_NS}"),
        )]
    };
    let (headers, body) = match status {
        400 => (
            header("InvalidRequestException"),
            json!({"message": "Invalid request"}),
        ),
        401 => (
            header("UnauthorizedException"),
            json!({"message": "Session token not found or invalid"}),
        ),
        403 => (
            Vec::new(),
            json!({"message": "No access", "__type": "com.amazonaws.switchboard.portal#ForbiddenException"}),
        ),
        404 => (
            header("ResourceNotFoundException"),
            json!({"message": format!("Could not find role {role} in account {account}")}),
        ),
        429 => (
            vec![(
                "x-amzn-ErrorType".to_owned(),
                "TooManyRequestsException".to_owned(),
            )],
            json!({"message": "Rate exceeded"}),
        ),
        _ => (
            Vec::new(),
            json!({"message": "An internal error occurred", "__type": "com.amazonaws.switchboard.portal#InternalServerException"}),
        ),
    };
    HttpResponse {
        status,
        headers,
        body: body.to_string(),
        cut: None,
    }
}

/// SSO OIDC's error for `status`: 400 is `InvalidGrantException` (unknown refresh token).
fn oidc_error(status: u16) -> HttpResponse {
    match status {
        400 => oidc_named_error(
            400,
            "InvalidGrantException",
            "invalid_grant",
            "Invalid refresh token provided",
        ),
        401 => oidc_named_error(
            401,
            "InvalidClientException",
            "invalid_client",
            "Invalid client provided",
        ),
        429 => oidc_named_error(429, "SlowDownException", "slow_down", "Slow down"),
        _ => oidc_named_error(
            status,
            "InternalServerException",
            "server_error",
            "An internal error occurred",
        ),
    }
}

fn oidc_named_error(status: u16, code: &str, error: &str, description: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![(
            "x-amzn-ErrorType".to_owned(),
            format!("{code}:{OIDC_ERROR_NS}"),
        )],
        body: json!({"error": error, "error_description": description}).to_string(),
        cut: None,
    }
}

fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(since.as_millis()).expect("epoch millis fit in i64")
}
