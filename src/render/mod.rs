//! All output: plans (text and JSON), progress, outputs and errors. Data goes to stdout;
//! progress, logs and errors to stderr. `NO_COLOR` is respected.

pub mod errors;
pub mod plan;
pub mod progress;
pub mod reference;

use clap::ValueEnum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    /// For people
    #[default]
    Text,
    /// For programs: one JSON document on stdout
    Json,
}
