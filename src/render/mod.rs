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

/// Data on stdout, as given.
pub fn out(text: &str) {
    print!("{text}");
}

/// A document (a man page, a completion script) on stdout.
pub fn out_bytes(bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    std::io::stdout().write_all(bytes)
}
