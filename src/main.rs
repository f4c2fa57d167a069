//! The `ssofresh` binary: parse the command line, set up logging, hand over to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = ssofresh::cli::Args::parse();
    let timestamps = !args.once && std::env::var_os("JOURNAL_STREAM").is_none();
    ssofresh::logging::init(args.verbose, args.quiet, timestamps);
    ssofresh::app::main(args)
}
