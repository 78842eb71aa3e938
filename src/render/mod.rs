//! All output: plans (text and JSON), progress, outputs and errors. Data goes to stdout;
//! progress, logs and errors to stderr. `NO_COLOR` is respected.

pub mod errors;
pub mod plan;
pub mod progress;
pub mod reference;
pub mod report;
pub mod status;

use clap::ValueEnum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    /// For people
    #[default]
    Text,
    /// For programs: one JSON document on stdout
    Json,
}

/// Data on stdout, as given. A closed stdout (`deployer apply --yes | head -3`) is not an
/// error: the run goes on to its end (nothing is left half done) and writes nothing more, as
/// cargo and ripgrep do.
pub fn out(text: &str) {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    static CLOSED: AtomicBool = AtomicBool::new(false);
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        CLOSED.store(true, Ordering::Relaxed);
        if error.kind() != std::io::ErrorKind::BrokenPipe {
            errors::warning(&format!("cannot write to stdout: {error}"));
        }
    }
}

/// A document (a man page, a completion script) on stdout.
pub fn out_bytes(bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    std::io::stdout().write_all(bytes)
}
