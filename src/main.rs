//! The `ssofresh` binary: parse the command line, set up logging, hand over to the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match ssofresh::cli::Args::try_parse() {
        Ok(args) => args,
        // Help and version go to stdout with status 0; a usage error is a fatal error (1),
        // never 2, which means "some profiles were not written".
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    // The daemon's log lines carry timestamps, unless the journal adds its own; one pass and
    // the subcommands print none.
    let timestamps = args.command.is_none() && !args.once && !stderr_is_journal();
    ssofresh::logging::init(args.log().verbose, args.log().quiet, timestamps);
    ssofresh::app::main(args)
}

/// Whether stderr goes to the systemd journal, which timestamps lines itself: systemd sets
/// `JOURNAL_STREAM` to the device and inode of the stream it connected, and a program started
/// from a service (whose stderr is elsewhere) inherits the variable, so both must match.
fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = value.to_str().and_then(|v| v.split_once(':')) else {
        return false;
    };
    match std::fs::metadata("/dev/stderr") {
        Ok(meta) => dev.parse() == Ok(meta.dev()) && ino.parse() == Ok(meta.ino()),
        // No way to tell: trust the variable.
        Err(_) => true,
    }
}
