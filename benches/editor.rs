//! The credentials editor ([`credfile::apply`], a pure function from old text and updates to
//! new text) on files of 1,000, 10,000 and 100,000 sections of about 105 bytes each (10,000
//! sections make a 1 MiB file): one section updated, 100 updated, and every section updated
//! (one pass writing them all). Each figure is the median of repeated runs in this process;
//! the time per section shows whether the cost grows linearly with the file.
//!
//! Run with `cargo bench --bench editor`. It prints figures; it asserts nothing about speed
//! (it checks that each edit wrote what it was asked to).

#![allow(clippy::print_stdout)] // a benchmark's job is to print figures

// `support` builds on the harness's portal and HOME; this bench uses neither.
#[path = "../tests/it/common/mod.rs"]
mod common;
#[path = "support/mod.rs"]
mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use ssofresh::files::credfile::{self, RoleCredentials, Update};
use ssofresh::secret::Secret;

/// Each figure is the median of at least this many runs…
const MIN_RUNS: usize = 5;
/// …and of as many more as fit in this time.
const BUDGET: Duration = Duration::from_millis(300);

fn main() {
    println!(
        "The credentials editor (credfile::apply): {}",
        support::machine()
    );
    println!(
        "  {:>8} {:>9} {:>16} {:>12} {:>12} {:>14}",
        "sections", "size", "updated", "time", "per section", "x previous"
    );
    let fresh = RoleCredentials {
        access_key_id: "ASIANEWNEWNEWNEWNEW1".to_owned(),
        secret_access_key: Secret::new("s".repeat(40)),
        session_token: Secret::new("t".repeat(600)),
        expiration: Utc::now() + TimeDelta::hours(1),
    };
    for updated in [Updated::One, Updated::Hundred, Updated::All] {
        let mut previous: Option<Duration> = None;
        for sections in [1_000, 10_000, 100_000] {
            let text = file(sections);
            let names: Vec<String> = updated
                .indices(sections)
                .map(|i| format!("p{i:05}"))
                .collect();
            let updates: Vec<Update<'_>> = names
                .iter()
                .map(|n| Update {
                    section: n,
                    credentials: &fresh,
                    region: None,
                })
                .collect();
            let edit = credfile::apply(&text, &updates);
            assert!(edit.refused.is_empty(), "refused: {:?}", edit.refused);
            assert_eq!(
                edit.text.matches(fresh.access_key_id.as_str()).count(),
                names.len(),
                "every updated section holds the new key id"
            );
            let t = median_time(|| credfile::apply(black_box(&text), black_box(&updates)));
            println!(
                "  {sections:>8} {:>9} {:>16} {:>12} {:>12} {:>14}",
                support::mib(text.len() as u64 / 1024),
                updated.label(),
                support::ms(t),
                format!("{:.0} ns", t.as_nanos() as f64 / sections as f64),
                previous.map_or("-".to_owned(), |p| format!(
                    "{:.1}x",
                    t.as_secs_f64() / p.as_secs_f64()
                ))
            );
            previous = Some(t);
        }
    }
    println!("  (linear: each 10x more sections costs about 10x the time)");
}

#[derive(Debug, Clone, Copy)]
enum Updated {
    One,
    Hundred,
    All,
}

impl Updated {
    fn label(self) -> &'static str {
        match self {
            Updated::One => "1 (the middle)",
            Updated::Hundred => "100 (spread)",
            Updated::All => "all",
        }
    }

    /// The indices of the sections updated in a file of `sections`.
    fn indices(self, sections: usize) -> Box<dyn Iterator<Item = usize>> {
        match self {
            Updated::One => Box::new(std::iter::once(sections / 2)),
            Updated::Hundred => Box::new((0..100).map(move |k| k * sections / 100)),
            Updated::All => Box::new(0..sections),
        }
    }
}

/// A credentials file of `sections` sections `[p00000]`… as ssofresh writes them, about 105
/// bytes each (short values: the count of lines and sections is what is measured).
fn file(sections: usize) -> String {
    let mut text = String::with_capacity(sections * 110);
    for i in 0..sections {
        text.push_str(&format!(
            "[p{i:05}]\naws_access_key_id = ASIA{i:016}\naws_session_token = token-{i:012}-xxxxxxxxxxxxxxx\n"
        ));
    }
    text
}

/// The median wall time of `f`, over at least [`MIN_RUNS`] runs and as many as fit in
/// [`BUDGET`].
fn median_time<T>(mut f: impl FnMut() -> T) -> Duration {
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < MIN_RUNS || start.elapsed() < BUDGET {
        let t = Instant::now();
        black_box(f());
        times.push(t.elapsed());
    }
    times.sort();
    times[times.len() / 2]
}
