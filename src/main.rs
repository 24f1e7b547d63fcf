//! The `pulsewatch` binary: parses the command line and hands over to the
//! library; every piece of behaviour lives in `pulsewatch::*`.

use std::process::ExitCode;

fn main() -> ExitCode {
    pulsewatch::cli::main_with_args(std::env::args_os())
}
