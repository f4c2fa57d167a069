//! The `ssofresh` binary: parse the command line, set up logging, hand over to the library.

use std::process::ExitCode;

use clap::Parser;

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
    let timestamps = !args.once && std::env::var_os("JOURNAL_STREAM").is_none();
    ssofresh::logging::init(args.verbose, args.quiet, timestamps);
    ssofresh::app::main(args)
}
