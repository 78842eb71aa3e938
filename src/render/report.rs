//! What each command reports, as typed documents: a human renderer (text) and a JSON renderer
//! (serde) turn each into output. The JSON documents share their key names: `stack`; a resource
//! is `resource` ("<kind label> <name>"); `succeeded`, `interrupted`, `done`, `failed`,
//! `not_started` for a run; `outputs` for what an operator needs. See docs/json.md.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::Format;
use super::plan::outputs_text;

/// A document a command reports: JSON as its fields say, and text for people.
pub trait Report: Serialize {
    /// The text on stdout (empty: nothing).
    fn text(&self) -> String;
}

/// Print `report` on stdout in `format`.
pub fn emit<R: Report>(report: &R, format: Format) {
    match format {
        Format::Text => super::out(&report.text()),
        Format::Json => {
            DOCUMENT_WRITTEN.store(true, std::sync::atomic::Ordering::Relaxed);
            super::out(&format!("{}\n", json_text(report)))
        }
    }
}

/// Whether a JSON document is on stdout already (a failed run's report says what failed).
static DOCUMENT_WRITTEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// An error as the one JSON document on stdout, `{"error": {...}}`, unless the command's own
/// report (which says what failed) is out already: a script reads one document whatever happened.
pub fn emit_error(error: &ErrorReport) {
    #[derive(Serialize)]
    struct Document<'a> {
        error: &'a ErrorReport,
    }
    if !DOCUMENT_WRITTEN.swap(true, std::sync::atomic::Ordering::Relaxed) {
        super::out(&format!("{}\n", json_text(&Document { error })));
    }
}

/// Why a command failed, for programs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorReport {
    /// `profile`, `usage`, `refused`, or AWS's error code (`aws` when AWS gave none).
    pub code: String,
    pub message: String,
    /// Where: in a profile (file, line, column, key), or the AWS call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Every problem of a profile, when there are several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<ErrorReport>,
}

/// Where an error is.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Location {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The AWS call (or step) that failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
}

/// A report as the JSON renderer writes it.
pub fn json_text<R: Serialize>(report: &R) -> String {
    serde_json::to_string_pretty(report).expect("a report serializes")
}

/// One resource a run changed, and how.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Done {
    pub resource: String,
    pub action: crate::plan::Action,
}

/// One resource whose step failed, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failed {
    pub resource: String,
    pub error: String,
}

/// A resource found by its AWS id.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Found {
    pub resource: String,
    pub id: String,
}

/// What `apply` did, and the outputs when it succeeded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApplyReport {
    pub stack: String,
    pub succeeded: bool,
    pub interrupted: bool,
    pub done: Vec<Done>,
    pub failed: Vec<Failed>,
    pub not_started: Vec<String>,
    #[serde(serialize_with = "as_map")]
    pub outputs: Vec<(String, String)>,
}

/// Outputs in their order for people, as an object for programs.
fn as_map<S: serde::Serializer>(
    outputs: &[(String, String)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = serializer.serialize_map(Some(outputs.len()))?;
    for (key, value) in outputs {
        map.serialize_entry(key, value)?;
    }
    map.end()
}

impl Report for ApplyReport {
    /// The outputs (what went wrong goes to stderr, as errors).
    fn text(&self) -> String {
        if !self.succeeded {
            return String::new();
        }
        format!("\n{}", outputs_text(&self.outputs))
    }
}

/// What a kind's deliberate leftovers of a destroy are (final database snapshots).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kept {
    pub what: String,
    pub ids: Vec<String>,
}

/// What `destroy` deleted, kept and found still tagged afterwards.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DestroyReport {
    pub stack: String,
    pub succeeded: bool,
    pub interrupted: bool,
    pub done: Vec<Done>,
    /// The deleted resources (as in `done`).
    pub deleted: Vec<String>,
    pub failed: Vec<Failed>,
    pub not_started: Vec<String>,
    /// Resources with the stack's names that it does not own: never deleted.
    pub not_owned: Vec<String>,
    /// What is still tagged for the stack.
    pub remaining: Vec<Found>,
    /// What destroy leaves on purpose: final snapshots, and images with `--keep-images`.
    pub kept: Vec<Kept>,
    pub kept_snapshots: Vec<String>,
    pub kept_images: Vec<Found>,
}

impl Report for DestroyReport {
    fn text(&self) -> String {
        let mut out = String::new();
        for kept in &self.kept {
            let _ = writeln!(out, "Kept: {} {}", kept.what, kept.ids.join(", "));
        }
        for image in &self.kept_images {
            let _ = writeln!(
                out,
                "Kept (--keep-images): {} ({})",
                image.resource, image.id
            );
        }
        if self.remaining.is_empty() {
            let _ = writeln!(
                out,
                "Destroy complete: nothing tagged deployer:stack={} remains.",
                self.stack
            );
        } else {
            let _ = writeln!(out, "Still tagged for stack {}:", self.stack);
            for found in &self.remaining {
                let _ = writeln!(out, "  {} ({})", found.resource, found.id);
            }
        }
        out
    }
}

/// A capacity: min, max, desired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Capacity {
    pub min: i32,
    pub max: i32,
    pub desired: i32,
}

/// What `scale` changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScaleReport {
    pub group: String,
    pub before: Capacity,
    pub after: Capacity,
    pub set_at: String,
    /// The profile's range, which `apply --reset-scale` returns to.
    pub profile: Range,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Range {
    pub min: i32,
    pub max: i32,
}

impl Report for ScaleReport {
    fn text(&self) -> String {
        let (b, a) = (self.before, self.after);
        format!(
            "auto scaling group {}: min {} -> {}, max {} -> {}, desired {} -> {}\n",
            self.group, b.min, a.min, b.max, a.max, b.desired, a.desired
        )
    }
}

/// An image by name and AWS id.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Image {
    pub name: String,
    pub id: String,
}

/// What `bake` made or found: the main group's image, and every group's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BakeReport {
    pub stack: String,
    pub image: Option<Image>,
    pub images: Vec<Image>,
}

impl Report for BakeReport {
    fn text(&self) -> String {
        if self.images.is_empty() {
            return String::new();
        }
        let mut out = String::from("\n");
        for image in &self.images {
            let _ = writeln!(out, "Image: {} ({})", image.name, image.id);
        }
        out
    }
}

/// What `validate` found: a valid profile and what it makes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidateReport {
    pub profile: String,
    pub file: String,
    pub valid: bool,
    pub stack: String,
    pub resources: Vec<String>,
}

impl Report for ValidateReport {
    fn text(&self) -> String {
        format!(
            "{}: valid (stack {}, {} resources)\n",
            self.file,
            self.stack,
            self.resources.len()
        )
    }
}

/// What `unlock` did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnlockReport {
    pub stack: String,
    /// Whose lock was removed (None: the stack was not locked).
    pub removed: Option<String>,
}

impl Report for UnlockReport {
    fn text(&self) -> String {
        match &self.removed {
            Some(holder) => format!("Removed the lock of stack {}: {holder}\n", self.stack),
            None => format!("Stack {} is not locked.\n", self.stack),
        }
    }
}

/// The outputs as a map for JSON documents.
pub fn output_map(outputs: &[(String, String)]) -> BTreeMap<String, String> {
    outputs.iter().cloned().collect()
}

#[cfg(test)]
mod tests;
