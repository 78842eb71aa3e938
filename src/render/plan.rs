//! Plans and outputs as text (for people) and JSON (for programs).

use std::collections::BTreeMap;
use std::fmt::Write;

use console::style;
use serde_json::{Value, json};

use crate::plan::{Action, Change, Plan, Step, summary};

/// Where a plan was made, for its heading.
pub struct Heading<'a> {
    pub profile: &'a str,
    pub region: &'a str,
}

fn symbol(action: Action) -> console::StyledObject<&'static str> {
    match action {
        Action::Create => style("+").green(),
        Action::Update => style("~").yellow(),
        Action::Replace => style("-/+").red(),
        Action::Delete => style("-").red(),
        Action::Retain => style("!").yellow(),
        Action::None => style(" ").dim(),
    }
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Update => "update",
        Action::Replace => "replace",
        Action::Delete => "delete",
        Action::Retain => "keep (not in the profile)",
        Action::None => "no change",
    }
}

/// A value in one line: strings bare, lists bracketed, long text summarised.
pub fn value_text(value: Option<&Value>) -> String {
    match value {
        None => "(known after apply)".into(),
        Some(Value::Null) => "(none)".into(),
        Some(Value::String(text)) if text.contains('\n') => {
            format!("({} lines)", text.lines().count())
        }
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(items)) => {
            let parts: Vec<String> = items.iter().map(|v| value_text(Some(v))).collect();
            format!("[{}]", parts.join(", "))
        }
        Some(other) => other.to_string(),
    }
}

fn change_lines(out: &mut String, change: &Change, creating: bool, disruption: Option<&str>) {
    let old = change.old.as_ref();
    let new = change.new.as_ref();
    let multiline = |v: Option<&Value>| v.and_then(Value::as_str).is_some_and(|s| s.contains('\n'));
    if creating {
        let _ = writeln!(out, "      {}: {}", change.attribute, value_text(new));
        return;
    }
    let _ = writeln!(
        out,
        "      {}: {} -> {}{}",
        change.attribute,
        value_text(old),
        value_text(new),
        disruption
            .map(|what| format!("  {}", style(format!("! {what}")).yellow().bold()))
            .unwrap_or_default()
    );
    if multiline(old) || multiline(new) {
        let before = old.and_then(Value::as_str).unwrap_or("");
        let Some(after) = new.and_then(Value::as_str) else {
            return;
        };
        let diff = similar::TextDiff::from_lines(before, after);
        let mut shown = 0;
        for op in diff.ops() {
            for change in diff.iter_changes(op) {
                let sign = match change.tag() {
                    similar::ChangeTag::Delete => "-",
                    similar::ChangeTag::Insert => "+",
                    similar::ChangeTag::Equal => continue,
                };
                if shown == 20 {
                    let _ = writeln!(out, "          ...");
                    return;
                }
                shown += 1;
                let _ = writeln!(out, "        {sign} {}", change.value().trim_end());
            }
        }
    }
}

fn step_text(out: &mut String, step: &Step) {
    let _ = write!(out, "  {} {}", symbol(step.action), style(&step.id).bold());
    if step.action != Action::None {
        let _ = write!(out, ": {}", verb(step.action));
    }
    if !step.reasons.is_empty() {
        let _ = write!(out, " ({})", step.reasons.join("; "));
    }
    if step.drift {
        let _ = write!(
            out,
            " {}",
            style("(drift: changed outside deployer since its last apply)").yellow()
        );
    }
    match (&step.note, step.action) {
        (Some(note), Action::None) => {
            let _ = writeln!(out, ": {note}");
        }
        (Some(note), _) => {
            let _ = writeln!(out);
            let _ = writeln!(out, "      note: {note}");
        }
        (None, _) => {
            let _ = writeln!(out);
        }
    }
    for change in &step.changes {
        change_lines(
            out,
            change,
            step.action == Action::Create,
            step.disruption(change),
        );
    }
}

/// The plan for people.
pub fn text(plan: &Plan, heading: &Heading<'_>) -> String {
    text_saying(plan, heading, "No changes: the stack matches the profile.")
}

/// The plan for people, with what to say when it has no changes (a bake's plan is only the
/// images' part of the stack).
pub fn text_saying(plan: &Plan, heading: &Heading<'_>, no_changes: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Stack {} (profile {}, region {})",
        style(&plan.stack).bold(),
        heading.profile,
        heading.region
    );
    let _ = writeln!(out);
    let changes: Vec<&Step> = plan
        .steps
        .iter()
        .filter(|s| s.action != Action::None || s.note.is_some())
        .collect();
    if !plan.has_changes() {
        for step in changes {
            step_text(&mut out, step);
        }
        let _ = writeln!(out, "{no_changes}");
        return out;
    }
    for step in changes {
        step_text(&mut out, step);
    }
    let unchanged = plan.count(Action::None);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Plan: {}{}.",
        summary(plan),
        if unchanged > 0 {
            format!(", {unchanged} unchanged")
        } else {
            String::new()
        }
    );
    let disruptions = plan.disruptions().len();
    if disruptions > 0 {
        let _ = writeln!(
            out,
            "{}",
            style(format!(
                "{disruptions} change(s) marked ! interrupt or slow a running database or cache: apply asks before it makes them (with --yes, it needs --allow-disruption)."
            ))
            .yellow()
            .bold()
        );
    }
    if plan.steps.iter().any(Step::is_destructive) {
        let _ = writeln!(
            out,
            "{}",
            style("This plan deletes or replaces resources.")
                .red()
                .bold()
        );
    }
    out
}

/// The plan for programs.
pub fn json(plan: &Plan, heading: &Heading<'_>) -> Value {
    let counts: BTreeMap<&str, usize> = [
        ("create", plan.count(Action::Create)),
        ("update", plan.count(Action::Update)),
        ("replace", plan.count(Action::Replace)),
        ("delete", plan.count(Action::Delete)),
        ("unchanged", plan.count(Action::None)),
        ("retained", plan.count(Action::Retain)),
    ]
    .into_iter()
    .collect();
    let steps: Vec<Value> = plan
        .steps
        .iter()
        .map(|step| {
            json!({
                "resource": step.id.to_string(),
                "kind": step.id.kind,
                "name": step.id.name,
                "action": step.action,
                "destructive": step.is_destructive(),
                "drift": step.drift,
                "changes": step.changes.iter().map(|c| json!({
                    "attribute": c.attribute,
                    "old": c.old,
                    "new": c.new,
                    "known_after_apply": c.new.is_none(),
                    "mode": c.mode,
                    "disruption": step.disruption(c),
                })).collect::<Vec<_>>(),
                "reasons": step.reasons,
                "depends_on": step.depends_on.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
                "note": step.note,
            })
        })
        .collect();
    json!({
        "stack": plan.stack,
        "profile": heading.profile,
        "region": heading.region,
        "has_changes": plan.has_changes(),
        "summary": counts,
        "steps": steps,
    })
}

/// Outputs (name -> value) for people.
pub fn outputs_text(outputs: &[(String, String)]) -> String {
    let mut out = String::new();
    if outputs.is_empty() {
        return out;
    }
    let _ = writeln!(out, "Outputs:");
    let width = outputs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, value) in outputs {
        let _ = writeln!(out, "  {key:width$} = {value}");
    }
    out
}
