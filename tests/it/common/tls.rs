//! TLS and proxy pieces for the network tests, all generated or started at test time.
//!
//! - [`TestPki`]: a throw-away certificate authority and a server certificate it signed for
//!   `127.0.0.1` and `localhost`; [`TestPki::write_ca`] puts the CA's PEM in a test HOME.
//! - [`TlsFront`]: a TLS terminator that forwards the decrypted bytes, both ways, to a plain
//!   address (the local [`Portal`](super::Portal)), so the portal can be reached over HTTPS.
//! - [`ConnectProxy`]: a forward proxy that tunnels `CONNECT host:port` and relays
//!   absolute-form plain HTTP requests, recording every request it is asked to carry.
//!
//! Plain `std::net` with one thread per connection. Connections poll with a short read
//! timeout, so every thread notices the shutdown flag that `Drop` raises, and `Drop` joins
//! them all: nothing outlives the value.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::home::TestHome;

/// How long a connection thread blocks on one read before it looks at the shutdown flag.
const TICK: Duration = Duration::from_millis(5);

/// A throw-away CA and a server certificate it signed, valid for `127.0.0.1` and `localhost`.
#[derive(Debug)]
pub struct TestPki {
    ca_pem: String,
    server_cert: CertificateDer<'static>,
    server_key: PrivatePkcs8KeyDer<'static>,
}

impl TestPki {
    /// Generates a fresh CA ("ssofresh test CA") and a server certificate signed by it.
    pub fn generate() -> Self {
        let mut ca_params = CertificateParams::new(Vec::new()).expect("CA parameters");
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "ssofresh test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().expect("CA key");
        let ca_cert = ca_params.self_signed(&ca_key).expect("self-sign the CA");
        let issuer = Issuer::new(ca_params, ca_key);

        let mut params = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
            .expect("server parameters");
        params
            .distinguished_name
            .push(DnType::CommonName, "ssofresh test portal");
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().expect("server key");
        let cert = params
            .signed_by(&key, &issuer)
            .expect("sign the server certificate");
        Self {
            ca_pem: ca_cert.pem(),
            server_cert: cert.der().clone(),
            server_key: PrivatePkcs8KeyDer::from(key.serialize_der()),
        }
    }

    /// The CA certificate, PEM-encoded.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Writes the CA's PEM to `<home>/test-ca.pem` and returns that path.
    pub fn write_ca(&self, home: &TestHome) -> PathBuf {
        let path = home.path().join("test-ca.pem");
        std::fs::write(&path, &self.ca_pem)
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![self.server_cert.clone()],
                PrivateKeyDer::Pkcs8(self.server_key.clone_key()),
            )
            .expect("server certificate and key");
        Arc::new(config)
    }
}

/// A TLS terminator on `127.0.0.1` in front of a plain TCP address; stops when dropped.
#[derive(Debug)]
pub struct TlsFront {
    server: Server,
}

impl TlsFront {
    /// Serves TLS with `pki`'s server certificate on a free port, each connection forwarded
    /// to `backend` (e.g. the address of a [`Portal`](super::Portal) URL).
    pub fn start(pki: &TestPki, backend: SocketAddr) -> Self {
        let config = pki.server_config();
        let server = Server::start("tls-front", move |client, shutdown| {
            // A failed handshake (the client rejected the certificate) or a reset ends only
            // this connection.
            let _ = terminate(client, &config, backend, shutdown);
        });
        Self { server }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://{}", self.server.addr)
    }

    /// `https://localhost:<port>`.
    pub fn localhost_url(&self) -> String {
        format!("https://localhost:{}", self.server.addr.port())
    }
}

/// Relays one TLS connection to `backend` until either side closes or shutdown.
fn terminate(
    mut client: TcpStream,
    config: &Arc<rustls::ServerConfig>,
    backend: SocketAddr,
    shutdown: &AtomicBool,
) -> io::Result<()> {
    let mut tls = rustls::ServerConnection::new(Arc::clone(config)).map_err(io::Error::other)?;
    let mut plain = TcpStream::connect(backend)?;
    client.set_read_timeout(Some(TICK))?;
    plain.set_read_timeout(Some(TICK))?;
    let mut buf = vec![0u8; 16 * 1024];
    let result = loop {
        if shutdown.load(Ordering::SeqCst) {
            break Ok(());
        }
        while tls.wants_write() {
            tls.write_tls(&mut client)?;
        }
        // Client to backend.
        match tls.read_tls(&mut client) {
            Ok(0) => break Ok(()),
            Ok(_) => {
                let state = tls.process_new_packets().map_err(|e| {
                    // Tell the client why (e.g. it sent an alert), then give up.
                    let _ = tls.write_tls(&mut client);
                    io::Error::other(e)
                })?;
                loop {
                    match tls.reader().read(&mut buf) {
                        Ok(0) => return Ok(()),
                        Ok(n) => plain.write_all(&buf[..n])?,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
                if state.peer_has_closed() {
                    break Ok(());
                }
            }
            Err(e) if is_tick(&e) => {}
            Err(e) => break Err(e),
        }
        // Backend to client.
        match plain.read(&mut buf) {
            Ok(0) => {
                tls.send_close_notify();
                break Ok(());
            }
            Ok(n) => tls.writer().write_all(&buf[..n])?,
            Err(e) if is_tick(&e) => {}
            Err(e) => break Err(e),
        }
    };
    while tls.wants_write() {
        if tls.write_tls(&mut client).is_err() {
            break;
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    result
}

/// One request a [`ConnectProxy`] was asked to carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyRequest {
    /// `CONNECT`, `GET`, `POST`, …
    pub method: String,
    /// The request target as sent: `host:port` for `CONNECT`, an absolute URL otherwise.
    pub target: String,
}

impl ProxyRequest {
    /// `host:port` the proxy was asked to reach.
    pub fn authority(&self) -> &str {
        if self.method == "CONNECT" {
            return &self.target;
        }
        let rest = self
            .target
            .split_once("://")
            .map_or(self.target.as_str(), |(_, r)| r);
        rest.split(['/', '?']).next().unwrap_or(rest)
    }
}

/// A forward HTTP proxy on `127.0.0.1`: `CONNECT` tunnels and absolute-form HTTP requests;
/// records each request and stops when dropped.
#[derive(Debug)]
pub struct ConnectProxy {
    server: Server,
    requests: Arc<Mutex<Vec<ProxyRequest>>>,
}

impl ConnectProxy {
    /// Starts the proxy on a free port.
    pub fn start() -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&requests);
        let server = Server::start("connect-proxy", move |client, shutdown| {
            let _ = proxy(client, &record, shutdown);
        });
        Self { server, requests }
    }

    /// `http://127.0.0.1:<port>`, for `HTTPS_PROXY` / `HTTP_PROXY`.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<ProxyRequest> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Serves one proxy connection: one `CONNECT` tunnel, or one absolute-form request relayed
/// with `Connection: close`.
fn proxy(
    mut client: TcpStream,
    requests: &Mutex<Vec<ProxyRequest>>,
    shutdown: &AtomicBool,
) -> io::Result<()> {
    client.set_read_timeout(Some(TICK))?;
    let Some(head) = read_head(&mut client, shutdown)? else {
        return Ok(());
    };
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (method, target, version) = (
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or("HTTP/1.1").to_owned(),
    );
    let request = ProxyRequest { method, target };
    requests
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(request.clone());
    let upstream = match TcpStream::connect(request.authority()) {
        Ok(s) => s,
        Err(_) => {
            client.write_all(
                b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
            return Ok(());
        }
    };
    upstream.set_read_timeout(Some(TICK))?;
    let mut upstream = upstream;
    if request.method == "CONNECT" {
        client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
    } else {
        // Origin form, one request per connection.
        let after_authority = &request.target[request
            .target
            .find(request.authority())
            .map_or(request.target.len(), |i| i + request.authority().len())..];
        let path = if after_authority.is_empty() {
            "/"
        } else {
            after_authority
        };
        let mut out = format!("{} {path} {version}\r\n", request.method);
        for line in lines.filter(|l| !l.is_empty()) {
            let name = line.split(':').next().unwrap_or_default().trim();
            if !(name.eq_ignore_ascii_case("connection")
                || name.eq_ignore_ascii_case("proxy-connection"))
            {
                out.push_str(line);
                out.push_str("\r\n");
            }
        }
        out.push_str("Connection: close\r\n\r\n");
        upstream.write_all(out.as_bytes())?;
    }
    tunnel(&mut client, &mut upstream, shutdown)
}

/// Reads a request head up to and including the blank line; `None` if the client left first.
fn read_head(stream: &mut TcpStream, shutdown: &AtomicBool) -> io::Result<Option<String>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if shutdown.load(Ordering::SeqCst) {
            return Ok(None);
        }
        match stream.read(&mut byte) {
            Ok(0) => return Ok(None),
            Ok(_) => head.push(byte[0]),
            Err(e) if is_tick(&e) => {}
            Err(e) => return Err(e),
        }
    }
    head.truncate(head.len() - 4);
    Ok(Some(String::from_utf8_lossy(&head).into_owned()))
}

/// Copies bytes both ways until both sides have closed or shutdown. Both streams must have a
/// read timeout.
fn tunnel(a: &mut TcpStream, b: &mut TcpStream, shutdown: &AtomicBool) -> io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    let (mut a_open, mut b_open) = (true, true);
    while (a_open || b_open) && !shutdown.load(Ordering::SeqCst) {
        if a_open {
            a_open = relay(a, b, &mut buf)?;
        }
        if b_open {
            b_open = relay(b, a, &mut buf)?;
        }
    }
    Ok(())
}

/// One read from `src` (within a tick) written to `dst`; false once `src` has closed, after
/// passing the close on.
fn relay(src: &mut TcpStream, dst: &mut TcpStream, buf: &mut [u8]) -> io::Result<bool> {
    match src.read(buf) {
        Ok(0) => {
            let _ = dst.shutdown(Shutdown::Write);
            Ok(false)
        }
        Ok(n) => dst.write_all(&buf[..n]).map(|()| true),
        Err(e) if is_tick(&e) => Ok(true),
        Err(e) => Err(e),
    }
}

fn is_tick(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// A listener on `127.0.0.1:0` with a thread per connection; on drop, raises the shutdown
/// flag, wakes the acceptor with a connection to itself, and joins every thread.
#[derive(Debug)]
struct Server {
    addr: SocketAddr,
    shutdown: Arc<AtomicBool>,
    acceptor: Option<thread::JoinHandle<()>>,
    connections: Arc<Mutex<Vec<thread::JoinHandle<()>>>>,
}

impl Server {
    fn start(name: &str, handler: impl Fn(TcpStream, &AtomicBool) + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind listener");
        let addr = listener.local_addr().expect("listener address");
        let shutdown = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let handler = Arc::new(handler);
        let acceptor = {
            let shutdown = Arc::clone(&shutdown);
            let connections = Arc::clone(&connections);
            let name = name.to_owned();
            thread::Builder::new()
                .name(format!("{name}-accept"))
                .spawn(move || {
                    for stream in listener.incoming() {
                        if shutdown.load(Ordering::SeqCst) {
                            return;
                        }
                        let Ok(stream) = stream else { continue };
                        let handler = Arc::clone(&handler);
                        let flag = Arc::clone(&shutdown);
                        let spawned = thread::Builder::new()
                            .name(format!("{name}-conn"))
                            .spawn(move || handler(stream, &flag));
                        if let Ok(handle) = spawned {
                            connections
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push(handle);
                        }
                    }
                })
                .expect("spawn acceptor")
        };
        Self {
            addr,
            shutdown,
            acceptor: Some(acceptor),
            connections,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let connections =
            std::mem::take(&mut *self.connections.lock().unwrap_or_else(|e| e.into_inner()));
        for connection in connections {
            let _ = connection.join();
        }
    }
}
