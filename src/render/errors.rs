//! Errors for people: profile errors with the offending line (on a terminal) or one line each
//! (elsewhere); everything else as `error: what` with a hint.

use std::io::IsTerminal;

use crate::profile::error::ProfileErrors;

/// Print profile errors to stderr: with the offending line on a terminal, one line each
/// elsewhere.
pub fn profile_errors(errors: &ProfileErrors) {
    // NO_COLOR drops the colour, not the offending line.
    let colour = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    eprint!(
        "{}",
        profile_errors_text_with(errors, std::io::stderr().is_terminal(), colour)
    );
}

/// Profile errors as text: miette's rendering with the offending line (`fancy`), or one line each
/// with its hint.
pub fn profile_errors_text(errors: &ProfileErrors, fancy: bool) -> String {
    profile_errors_text_with(errors, fancy, true)
}

/// As [`profile_errors_text`], with or without colour.
pub fn profile_errors_text_with(errors: &ProfileErrors, fancy: bool, colour: bool) -> String {
    let mut out = String::new();
    let theme = if colour {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new().with_theme(theme);
    for error in &errors.0 {
        if fancy {
            let mut rendered = String::new();
            if handler.render_report(&mut rendered, error).is_ok() {
                out.push_str(&rendered);
                continue;
            }
        }
        let text = match error.code {
            Some(code) => format!("{error} [{code}]"),
            None => error.to_string(),
        };
        out.push_str(&error_text(&text, error.hint.as_deref().filter(|_| !fancy)));
    }
    if errors.0.len() > 1 {
        out.push_str(&format!(
            "{} problems in the profile; nothing was changed.\n",
            errors.0.len()
        ));
    } else {
        out.push_str("nothing was changed.\n");
    }
    out
}

/// Print an error with an optional hint.
pub fn error(message: &str, hint: Option<&str>) {
    eprint!("{}", error_text(message, hint));
}

/// `error: <message>` and, when there is one, `  hint: <hint>`.
pub fn error_text(message: &str, hint: Option<&str>) -> String {
    let mut text = format!("error: {message}\n");
    if let Some(hint) = hint {
        text.push_str(&format!("  hint: {hint}\n"));
    }
    text
}

/// A failed AWS call: what was being done, AWS's answer (or the chain of causes), and what to
/// check.
pub fn aws(error: &crate::aws::AwsError) {
    self::error(&error.to_string(), error.hint.as_deref());
}

/// The steps of a run that failed, each with its resource, and those that did not start.
pub fn run_failures(
    failed: &[(crate::ids::ResourceId, crate::aws::AwsError)],
    not_started: &[crate::ids::ResourceId],
) {
    eprint!("{}", run_failures_text(failed, not_started));
}

pub fn run_failures_text(
    failed: &[(crate::ids::ResourceId, crate::aws::AwsError)],
    not_started: &[crate::ids::ResourceId],
) -> String {
    let mut text = String::new();
    for (id, error) in failed {
        text.push_str(&error_text(
            &format!("{id}: {error}"),
            error.hint.as_deref(),
        ));
    }
    if !not_started.is_empty() {
        let list: Vec<String> = not_started.iter().map(|id| id.to_string()).collect();
        text.push_str(&format!("not started: {}\n", list.join(", ")));
    }
    text
}

/// Something that does not stop the run but deserves a look.
pub fn warning(text: &str) {
    super::progress::above(&format!("warning: {text}\n"));
}

/// A line about the run for people, on stderr.
pub fn note(text: &str) {
    super::progress::above(&format!("{text}\n"));
}

/// Ask on stderr; the answer is read by the caller.
pub fn prompt(question: &str, expected: &str) {
    use std::io::Write;
    eprint!("{question} Type `{expected}` to go ahead: ");
    let _ = std::io::stderr().flush();
}
