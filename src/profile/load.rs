//! Reading a profile: find the file, follow `extends`, merge tables key by key, deserialize, and
//! remember where every key was written so that later errors can point at file, line and key.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use toml::de::{DeTable, DeValue};
use toml::{Table, Value};

use super::error::{ProfileError, ProfileErrors};
use super::schema::Profile;
use super::validate;

/// One file of an `extends` chain.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as shown to the user (relative when the profile was named relatively).
    pub display: String,
    pub text: Arc<str>,
}

#[derive(Debug, Clone)]
struct KeyLocation {
    file: usize,
    key: Range<usize>,
    value: Range<usize>,
    is_table: bool,
}

/// The files of a profile and where each key of the merged result was written.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The selected file first, then what it extends, and so on.
    pub files: Vec<SourceFile>,
    locations: HashMap<String, KeyLocation>,
}

/// A profile read, merged and validated.
#[derive(Debug, Clone)]
pub struct LoadedProfile {
    /// The name it was selected by (`prod`), or the file stem when selected by path.
    pub name: String,
    pub profile: Profile,
    /// The directory that holds `profiles/` and `templates/`; template paths are relative to it.
    pub project_dir: PathBuf,
    pub sources: Sources,
}

/// Where `--profile NAME` points: `profiles/NAME.toml` of the project (the nearest directory,
/// from here up, that has `profiles/`, as cargo finds `Cargo.toml`), or NAME itself when it is
/// a path.
pub fn profile_path(selector: &str) -> PathBuf {
    if selector.contains('/') || selector.ends_with(".toml") {
        return PathBuf::from(selector);
    }
    let file = format!("{selector}.toml");
    let here = Path::new("profiles");
    if here.is_dir() {
        return here.join(file);
    }
    std::env::current_dir()
        .ok()
        .and_then(|dir| {
            dir.ancestors()
                .skip(1)
                .map(|ancestor| ancestor.join("profiles"))
                .find(|profiles| profiles.is_dir())
        })
        .unwrap_or_else(|| here.to_path_buf())
        .join(file)
}

/// The name of the profile `selector` selects: itself, or the file stem of a path.
pub fn profile_name(selector: &str) -> String {
    profile_path(selector)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| selector.to_string())
}

/// Load, merge and validate the profile selected by `selector` (a name or a path).
pub fn load(selector: &str) -> Result<LoadedProfile, ProfileErrors> {
    let first = profile_path(selector);
    let name = profile_name(selector);
    let chain = read_chain(&first)?;
    if let [child, parent, ..] = chain.as_slice()
        && !child.locations.contains_key("stack")
    {
        let parent_stack = parent
            .table
            .get("stack")
            .and_then(Value::as_str)
            .map(|stack| format!(" `{stack}`"))
            .unwrap_or_default();
        return Err(ProfileError::new(
            &child.file.display,
            format!(
                "this profile extends {} but names no `stack` of its own: it would plan, change and destroy the stack{parent_stack} of the profile it extends",
                parent.file.display
            ),
        )
        .with_key("stack")
        .at(&child.file.text, child.locations["extends"].value.clone())
        .with_hint(format!(
            "add `stack = \"{name}\"` (the stack this profile deploys) to {}",
            child.file.display
        ))
        .into());
    }
    let project_dir = project_dir_of(&first);

    let mut merged = Table::new();
    let mut locations: HashMap<String, KeyLocation> = HashMap::new();
    for (index, link) in chain.iter().enumerate().rev() {
        let mut table = link.table.clone();
        table.remove("extends");
        merge_table(&mut merged, table);
        for (path, location) in &link.locations {
            if !location.is_table {
                locations.retain(|existing, _| !is_descendant(existing, path));
            }
        }
        if link.locations.contains_key("node.image") && !link.locations.contains_key("node.bake") {
            locations.retain(|existing, _| {
                existing != "node.bake" && !is_descendant(existing, "node.bake")
            });
        }
        if link.locations.contains_key("node.bake") && !link.locations.contains_key("node.image") {
            locations.remove("node.image");
        }
        for (path, location) in &link.locations {
            locations.insert(
                path.clone(),
                KeyLocation {
                    file: index,
                    ..location.clone()
                },
            );
        }
    }
    locations.remove("extends");

    let sources = Sources {
        files: chain.into_iter().map(|link| link.file).collect(),
        locations,
    };
    let profile = match serde_path_to_error::deserialize::<_, Profile>(Value::Table(merged)) {
        Ok(profile) => profile,
        Err(error) => {
            let path = error.path().to_string();
            let message = error.into_inner().message().to_string();
            return Err(sources.serde_error(&path, &message).into());
        }
    };
    let problems = validate::validate(&profile);
    if !problems.is_empty() {
        let errors = problems
            .into_iter()
            .map(|problem| {
                let error = sources.error_at(&problem.key, problem.message);
                match problem.hint {
                    Some(hint) => error.with_hint(hint),
                    None => error,
                }
            })
            .collect();
        return Err(ProfileErrors(errors));
    }
    Ok(LoadedProfile {
        name,
        profile,
        project_dir,
        sources,
    })
}

impl LoadedProfile {
    /// An error about `key`, placed where it was written (see [`Sources::error_at`]).
    pub fn error_at(&self, key: &str, message: impl Into<String>) -> ProfileError {
        self.sources.error_at(key, message)
    }

    /// The file the user selected.
    pub fn file(&self) -> &SourceFile {
        &self.sources.files[0]
    }
}

impl Sources {
    /// Whether the profile (or one it extends) wrote `key`, rather than leaving it to a default.
    pub fn wrote(&self, key: &str) -> bool {
        self.locations.contains_key(key)
    }

    /// Whether the selected file itself wrote `key` (not a profile it extends).
    pub fn wrote_here(&self, key: &str) -> bool {
        self.locations.get(key).is_some_and(|l| l.file == 0)
    }

    /// An error about `key` (a dotted path such as `database.port`), placed where the key was
    /// written, or at its nearest written parent when it was left to a default.
    pub fn error_at(&self, key: &str, message: impl Into<String>) -> ProfileError {
        let mut lookup = key.to_string();
        loop {
            if let Some(location) = self.locations.get(&lookup) {
                let file = &self.files[location.file];
                let span = if lookup == key {
                    location.value.clone()
                } else {
                    location.key.clone()
                };
                return ProfileError::new(&file.display, message)
                    .with_key(key)
                    .at(&file.text, span);
            }
            match parent_path(&lookup) {
                Some(parent) => lookup = parent,
                None => break,
            }
        }
        let file = &self.files[0];
        ProfileError::new(&file.display, message)
            .with_key(key)
            .at(&file.text, 0..0)
    }

    /// An error placed at the key itself rather than its value (for keys that should not be there).
    pub fn error_at_key(&self, key: &str, message: impl Into<String>) -> ProfileError {
        match self.locations.get(key) {
            Some(location) => {
                let file = &self.files[location.file];
                ProfileError::new(&file.display, message)
                    .with_key(key)
                    .at(&file.text, location.key.clone())
            }
            None => self.error_at(key, message),
        }
    }

    fn serde_error(&self, path: &str, message: &str) -> ProfileError {
        let path = if path == "." { "" } else { path };
        // serde_path_to_error includes the offending field in the path of some errors.
        let join = |field: &str| {
            if path.is_empty() {
                field.to_string()
            } else if path == field || path.ends_with(&format!(".{field}")) {
                path.to_string()
            } else {
                format!("{path}.{field}")
            }
        };
        // A value with a syntax of its own (a duration, a health check target) says what is
        // wrong with it, and what would do.
        if let Some((text, hint)) = message.split_once(super::values::HINT_SEPARATOR) {
            return self.error_at(path, text).with_hint(hint);
        }
        if let Some(rest) = message.strip_prefix("unknown field `") {
            let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
            let hint = match super::suggest::nearest(field, quoted(expected)) {
                Some(meant) => format!("did you mean `{meant}`?"),
                None => allowed_hint("allowed keys here", expected),
            };
            return self
                .error_at_key(&join(field), format!("unknown key `{field}`"))
                .with_hint(hint);
        }
        if let Some(rest) = message.strip_prefix("missing field `") {
            let field = rest.trim_end_matches('`');
            return self
                .error_at(&join(field), "missing required key")
                .with_hint(format!("add `{field} = ...` to this table"));
        }
        if let Some(rest) = message.strip_prefix("unknown variant `") {
            let (variant, expected) = rest.split_once('`').unwrap_or((rest, ""));
            return self
                .error_at(path, format!("`{variant}` is not a valid value"))
                .with_hint(allowed_hint("allowed values", expected));
        }
        self.error_at(path, plain_type_message(message))
    }
}

/// The names in backquotes of serde's `expected one of `a`, `b``.
fn quoted(expected: &str) -> impl Iterator<Item = &str> {
    expected
        .split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, name)| name)
}

/// `expected one of `a`, `b`` -> `allowed keys here: a, b`.
fn allowed_hint(label: &str, expected: &str) -> String {
    let names: Vec<&str> = quoted(expected).collect();
    if names.is_empty() {
        format!("{label}: none")
    } else {
        format!("{label}: {}", names.join(", "))
    }
}

/// Turn serde's Rust type names into words a profile author knows.
fn plain_type_message(message: &str) -> String {
    let mut text = message.to_string();
    for (rust, plain) in [
        ("expected u16", "expected an integer from 1 to 65535"),
        ("expected i32", "expected an integer"),
        ("expected i64", "expected an integer"),
        ("expected a boolean", "expected true or false"),
        ("expected a sequence", "expected an array"),
        ("expected a map", "expected a table"),
        ("expected struct ", "expected a table "),
        (
            "data did not match any variant of untagged enum BaseImage",
            "expected an AMI id, or a lookup { owner = \"...\", name = \"...\" }",
        ),
    ] {
        text = text.replace(rust, plain);
    }
    text
}

fn parent_path(path: &str) -> Option<String> {
    let cut = path.rfind(['.', '['])?;
    Some(path[..cut].to_string())
}

fn is_descendant(candidate: &str, ancestor: &str) -> bool {
    candidate.len() > ancestor.len()
        && candidate.starts_with(ancestor)
        && matches!(candidate.as_bytes()[ancestor.len()], b'.' | b'[')
}

fn merge_table(base: &mut Table, child: Table) {
    // `image` and `[node.bake]` are alternatives: a profile that sets one drops the other it extends.
    if let Some(Value::Table(node)) = child.get("node")
        && let Some(Value::Table(base_node)) = base.get_mut("node")
    {
        if node.contains_key("image") && !node.contains_key("bake") {
            base_node.remove("bake");
        }
        if node.contains_key("bake") && !node.contains_key("image") {
            base_node.remove("image");
        }
    }
    for (key, value) in child {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(existing)), Value::Table(incoming)) => {
                merge_table(existing, incoming)
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// The parent of `profiles/` when the profile lives there, else the profile's own directory.
fn project_dir_of(profile: &Path) -> PathBuf {
    let dir = profile.parent().unwrap_or(Path::new(""));
    // An empty path means the current directory, and keeps joined paths short in messages.
    if dir.file_name().is_some_and(|name| name == "profiles") {
        dir.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        dir.to_path_buf()
    }
}

struct Link {
    file: SourceFile,
    table: Table,
    locations: HashMap<String, KeyLocation>,
}

fn read_chain(first: &Path) -> Result<Vec<Link>, ProfileErrors> {
    let mut chain: Vec<Link> = Vec::new();
    let mut seen: HashSet<PathBuf> = HashSet::new();
    let mut next = Some(first.to_path_buf());
    while let Some(path) = next.take() {
        let display = path.display().to_string();
        let text: Arc<str> = match std::fs::read_to_string(&path) {
            Ok(text) => text.into(),
            Err(error) => {
                let hint = available_profiles_hint(path.parent(), &path);
                let error = match chain.last() {
                    Some(child) => {
                        let location = &child.locations["extends"];
                        ProfileError::new(
                            &child.file.display,
                            format!("cannot read the extended profile {display}: {error}"),
                        )
                        .with_key("extends")
                        .at(&child.file.text, location.value.clone())
                    }
                    None => ProfileError::new(&display, format!("cannot read profile: {error}")),
                };
                return Err(error.with_hint(hint).into());
            }
        };
        let canonical = path.canonicalize().unwrap_or_else(|_| path.clone());
        if !seen.insert(canonical) {
            let child = chain.last().expect("a cycle needs a child");
            let names: Vec<&str> = chain.iter().map(|l| l.file.display.as_str()).collect();
            return Err(ProfileError::new(
                &child.file.display,
                format!(
                    "`extends` makes a cycle: {} -> {display}",
                    names.join(" -> ")
                ),
            )
            .with_key("extends")
            .at(&child.file.text, child.locations["extends"].value.clone())
            .with_hint("a profile may extend another only once along the chain")
            .into());
        }
        let table: Table = match toml::from_str(&text) {
            Ok(table) => table,
            Err(error) => {
                let span = error.span().unwrap_or(0..0);
                return Err(
                    ProfileError::new(&display, error.message().trim().to_string())
                        .at(&text, span)
                        .with_hint("the file is not valid TOML (https://toml.io)")
                        .into(),
                );
            }
        };
        let mut locations = HashMap::new();
        if let Ok(spanned) = DeTable::parse(&text) {
            collect_locations(spanned.get_ref(), "", &mut locations);
        }
        match table.get("extends") {
            None => {}
            Some(Value::String(parent)) => {
                let dir = path.parent().unwrap_or(Path::new(""));
                next = Some(if parent.contains('/') || parent.ends_with(".toml") {
                    dir.join(parent)
                } else {
                    dir.join(format!("{parent}.toml"))
                });
            }
            Some(_) => {
                return Err(ProfileError::new(&display, "`extends` must be a string")
                    .with_key("extends")
                    .at(&text, locations["extends"].value.clone())
                    .with_hint(
                        "name another profile in the same directory, e.g. extends = \"base\"",
                    )
                    .into());
            }
        }
        chain.push(Link {
            file: SourceFile { display, text },
            table,
            locations,
        });
    }
    Ok(chain)
}

/// What profiles there are beside `missing`: the one meant, if a name is close, else them all.
fn available_profiles_hint(dir: Option<&Path>, missing: &Path) -> String {
    let dir = dir
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return format!(
            "there is no {} directory here or above: run deployer in the project's directory (the one holding profiles/), or give the profile's path",
            dir.display()
        );
    }
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".toml").map(str::to_string)
        })
        .collect();
    names.sort();
    let wanted = missing
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(meant) = super::suggest::nearest(&wanted, names.iter().map(String::as_str)) {
        return format!(
            "did you mean `{meant}`? (profiles in {}: {})",
            dir.display(),
            names.join(", ")
        );
    }
    if names.is_empty() {
        format!("no profiles in {}", dir.display())
    } else {
        format!("profiles in {}: {}", dir.display(), names.join(", "))
    }
}

fn collect_locations(table: &DeTable<'_>, prefix: &str, out: &mut HashMap<String, KeyLocation>) {
    for (key, value) in table.iter() {
        let path = if prefix.is_empty() {
            key.get_ref().to_string()
        } else {
            format!("{prefix}.{}", key.get_ref())
        };
        record(&path, key.span(), value, out);
    }
}

fn record(
    path: &str,
    key: Range<usize>,
    value: &serde_spanned::Spanned<DeValue<'_>>,
    out: &mut HashMap<String, KeyLocation>,
) {
    let is_table = matches!(value.get_ref(), DeValue::Table(_));
    out.insert(
        path.to_string(),
        KeyLocation {
            file: 0,
            key: key.clone(),
            value: value.span(),
            is_table,
        },
    );
    match value.get_ref() {
        DeValue::Table(table) => collect_locations(table, path, out),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                record(&format!("{path}[{i}]"), item.span(), item, out);
            }
        }
        _ => {}
    }
}
