//! Errors for people: profile errors with the offending line (on a terminal) or one line each
//! (elsewhere); everything else as `error: what` with a hint.

use std::io::IsTerminal;

use crate::profile::error::ProfileErrors;

/// Print profile errors to stderr.
pub fn profile_errors(errors: &ProfileErrors) {
    let fancy = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    if fancy {
        let handler =
            miette::GraphicalReportHandler::new().with_theme(miette::GraphicalTheme::unicode());
        for error in &errors.0 {
            let mut out = String::new();
            if handler.render_report(&mut out, error).is_ok() {
                eprint!("{out}");
                continue;
            }
            eprintln!("error: {error}");
        }
    } else {
        for error in &errors.0 {
            eprintln!("error: {error}");
            if let Some(hint) = &error.hint {
                eprintln!("  hint: {hint}");
            }
        }
    }
    if errors.0.len() > 1 {
        eprintln!(
            "{} problems in the profile; nothing was changed.",
            errors.0.len()
        );
    } else {
        eprintln!("nothing was changed.");
    }
}

/// Print an error with an optional hint.
pub fn error(message: &str, hint: Option<&str>) {
    eprintln!("error: {message}");
    if let Some(hint) = hint {
        eprintln!("  hint: {hint}");
    }
}
