//! Logging set-up: plain lines on stderr, levels from -v/-q or RUST_LOG.
//!
//! Whatever RUST_LOG asks for, other crates are capped at DEBUG: the AWS SDK's TRACE events
//! print whole requests and responses, which carry the bearer token and the secret key.
//! Timestamps are left out under systemd (journald adds its own) and for `--once`.

use std::io::IsTerminal;

use tracing::Level;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::prelude::*;

/// The most verbose level allowed for events that are not ssofresh's own.
pub const FOREIGN_CAP: Level = Level::DEBUG;

/// Installs the global subscriber.
pub fn init(verbose: u8, quiet: bool, timestamps: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "ssofresh=info,warn",
        (false, 1) => "ssofresh=debug,info",
        (false, _) => "ssofresh=trace,debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let cap =
        filter_fn(|meta| meta.target().starts_with("ssofresh") || *meta.level() <= FOREIGN_CAP);
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let registry = tracing_subscriber::registry().with(filter).with(cap);
    if timestamps {
        registry.with(fmt).init();
    } else {
        registry.with(fmt.without_time()).init();
    }
}
