//! The profile reference: a Markdown table of every profile key, rendered from the profile's JSON
//! Schema so that the README's reference cannot drift from what deployer accepts.
//!
//! Pure: a schema in, the table out. Each table lists its own keys first, then its sub-tables
//! (as TOML writes them), each in the schema's order: alphabetical, as serde_json keeps the keys
//! of an object sorted.

use std::fmt::Write;

use serde_json::{Map, Value};

/// The Markdown table: one row per key, with its type or allowed values, its default (or
/// `required`) and its description.
pub fn profile_reference(schema: &Value) -> String {
    let mut walk = Walk {
        root: schema,
        rows: Vec::new(),
    };
    walk.table(schema, &Parent::Root, 0);
    let mut out =
        String::from("| key | type | default | description |\n| --- | --- | --- | --- |\n");
    for row in walk.rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            cell(&code(&row.key)),
            cell(&row.kind),
            cell(&row.default),
            cell(&row.description)
        );
    }
    out
}

/// Deeper than any profile nests: a guard against a schema that refers to itself.
const MAX_DEPTH: usize = 16;

struct Row {
    key: String,
    kind: String,
    default: String,
    description: String,
}

/// The table a key is written in.
enum Parent {
    Root,
    /// `[path]`
    Table(String),
    /// `[[path]]`
    TableArray(String),
}

impl Parent {
    fn path(&self, name: &str) -> String {
        let name = toml_key(name);
        match self {
            Parent::Root => name,
            Parent::Table(path) | Parent::TableArray(path) => format!("{path}.{name}"),
        }
    }

    /// How the README writes a plain key of this table: `stack`, `[node] image`,
    /// `[[load_balancer.listeners]] port`.
    fn key(&self, name: &str) -> String {
        let name = toml_key(name);
        match self {
            Parent::Root => name,
            Parent::Table(path) => format!("[{path}] {name}"),
            Parent::TableArray(path) => format!("[[{path}]] {name}"),
        }
    }
}

/// What a value of a key may be.
enum Shape<'a> {
    /// A plain value: `string`, `integer`, `array of strings`, ...
    Plain(String),
    /// One of these values, each with its description if it has one.
    Values(Vec<(&'a Value, Option<&'a str>)>),
    /// A table with named keys (an object schema with properties).
    Table(&'a Value),
    /// A table of any keys whose values are described by the schema.
    Map(&'a Value),
    /// An array of tables (`[[...]]`).
    TableArray(&'a Value),
}

impl Shape<'_> {
    fn is_tabular(&self) -> bool {
        matches!(self, Shape::Table(_) | Shape::Map(_) | Shape::TableArray(_))
    }
}

struct Walk<'a> {
    root: &'a Value,
    rows: Vec<Row>,
}

impl<'a> Walk<'a> {
    /// `#/$defs/Name` (or any JSON pointer into the schema) -> the schema it names.
    fn resolve(&self, schema: &'a Value) -> &'a Value {
        let mut schema = schema;
        for _ in 0..MAX_DEPTH {
            match schema.get("$ref").and_then(Value::as_str) {
                Some(reference) => match self.root.pointer(reference.trim_start_matches('#')) {
                    Some(target) => schema = target,
                    None => break,
                },
                None => break,
            }
        }
        schema
    }

    /// The shapes a value may take, `null` left out (an absent key says that).
    fn shapes(&self, schema: &'a Value, depth: usize) -> Vec<Shape<'a>> {
        let schema = self.resolve(schema);
        if depth > MAX_DEPTH {
            return vec![Shape::Plain("any".into())];
        }
        let mut shapes = Vec::new();
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            let values = values.iter().filter(|v| !v.is_null()).map(|v| (v, None));
            shapes.push(Shape::Values(values.collect()));
        } else if let Some(value) = schema.get("const") {
            let description = schema.get("description").and_then(Value::as_str);
            shapes.push(Shape::Values(vec![(value, description)]));
        } else if let Some(types) = schema.get("type") {
            let types: Vec<&str> = match types {
                Value::Array(types) => types.iter().filter_map(Value::as_str).collect(),
                other => other.as_str().into_iter().collect(),
            };
            for kind in types {
                match kind {
                    "null" => {}
                    "object" => shapes.push(object(schema)),
                    "array" => shapes.push(self.array(schema, depth)),
                    other => shapes.push(Shape::Plain(other.to_string())),
                }
            }
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            for option in schema
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                shapes.extend(self.shapes(option, depth + 1));
            }
        }
        if shapes.is_empty() && !is_null(schema) {
            shapes.push(Shape::Plain("any".into()));
        }
        merge_values(shapes)
    }

    fn array(&self, schema: &'a Value, depth: usize) -> Shape<'a> {
        let Some(items) = schema.get("items") else {
            return Shape::Plain("array".into());
        };
        let shapes = self.shapes(items, depth + 1);
        match shapes.as_slice() {
            [Shape::Table(table)] => Shape::TableArray(table),
            _ => Shape::Plain(format!(
                "array of {}",
                plural(&self.kind(&shapes, depth + 1))
            )),
        }
    }

    /// The type column: `string`, `one of "a", "b"`, `string or table`, ...
    fn kind(&self, shapes: &[Shape<'a>], depth: usize) -> String {
        let words: Vec<String> = shapes
            .iter()
            .map(|shape| match shape {
                Shape::Plain(text) => text.clone(),
                Shape::Values(values) => {
                    let values: Vec<String> = values.iter().map(|(v, _)| code(&toml(v))).collect();
                    format!("one of {}", values.join(", "))
                }
                Shape::Table(_) => "table".into(),
                Shape::Map(values) => format!(
                    "table of {}",
                    plural(&self.kind(&self.shapes(values, depth + 1), depth + 1))
                ),
                Shape::TableArray(_) => "array of tables".into(),
            })
            .collect();
        // Two table shapes (an SSM parameter or a lookup) read as one "table".
        let mut distinct: Vec<String> = Vec::new();
        for word in words {
            if !distinct.contains(&word) {
                distinct.push(word);
            }
        }
        distinct.join(" or ")
    }

    /// A row for each key of `table`, its plain keys first, then its sub-tables with their keys.
    fn table(&mut self, table: &'a Value, parent: &Parent, depth: usize) {
        let Some(properties) = table.get("properties").and_then(Value::as_object) else {
            return;
        };
        if depth > MAX_DEPTH {
            return;
        }
        let required: Vec<&str> = table
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let keys: Vec<(&'a String, &'a Value, Vec<Shape<'a>>)> = properties
            .iter()
            .map(|(name, schema)| (name, schema, self.shapes(schema, depth + 1)))
            .collect();
        let (tabular, plain): (Vec<_>, Vec<_>) = keys
            .into_iter()
            .partition(|(_, _, shapes)| shapes.iter().any(Shape::is_tabular));
        for (name, schema, shapes) in plain.into_iter().chain(tabular) {
            let path = parent.path(name);
            let key = match shapes.as_slice() {
                [Shape::Table(_) | Shape::Map(_)] => format!("[{path}]"),
                [Shape::TableArray(_)] => format!("[[{path}]]"),
                _ => parent.key(name),
            };
            let default = if required.contains(&name.as_str()) {
                "required".to_string()
            } else {
                match schema.get("default") {
                    Some(default) => self.default(default, &shapes),
                    None => "none".to_string(),
                }
            };
            self.rows.push(Row {
                key,
                kind: self.kind(&shapes, depth + 1),
                default,
                description: self.description(schema, &shapes),
            });
            for shape in &shapes {
                match shape {
                    Shape::Table(inner) => {
                        self.table(inner, &Parent::Table(path.clone()), depth + 1)
                    }
                    Shape::TableArray(inner) => {
                        self.table(inner, &Parent::TableArray(path.clone()), depth + 1)
                    }
                    // A table of named tables (`[groups.<name>]`): the keys of each.
                    Shape::Map(values) => {
                        if let [Shape::Table(inner)] = self.shapes(values, depth + 1).as_slice() {
                            let each = Parent::Table(format!("{path}.<name>"));
                            self.table(inner, &each, depth + 1)
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// A default as TOML; a table's default that is just its keys' defaults says so.
    fn default(&self, default: &Value, shapes: &[Shape<'a>]) -> String {
        if let (Value::Object(default), [Shape::Table(table)]) = (default, shapes)
            && self.keys_defaults(table) == *default
        {
            return "its keys' defaults".into();
        }
        code(&toml(default))
    }

    /// What a table is when each of its keys has its own default.
    fn keys_defaults(&self, table: &Value) -> Map<String, Value> {
        let mut defaults = Map::new();
        for (name, schema) in table
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if let Some(default) = schema.get("default") {
                defaults.insert(name.clone(), default.clone());
            }
        }
        defaults
    }

    /// The key's own description, else that of what it refers to, then what each allowed value
    /// means.
    fn description(&self, schema: &'a Value, shapes: &[Shape<'a>]) -> String {
        let own = text(schema).or_else(|| match referred(schema).as_slice() {
            [only] => text(self.resolve(only)),
            _ => None,
        });
        let mut parts: Vec<String> = own.into_iter().collect();
        for shape in shapes {
            if let Shape::Values(values) = shape {
                for (value, meaning) in values {
                    if let Some(meaning) = meaning {
                        parts.push(format!("{}: {meaning}", code(&toml(value))));
                    }
                }
            }
        }
        parts.join(" ")
    }
}

/// A table with named keys, a table of any keys, or (closed and empty) just a table.
fn object(schema: &Value) -> Shape<'_> {
    if schema.get("properties").is_some_and(Value::is_object) {
        return Shape::Table(schema);
    }
    match schema.get("additionalProperties") {
        Some(values) if values.is_object() => Shape::Map(values),
        _ => Shape::Plain("table".into()),
    }
}

/// The `$ref`s of a key's schema, through optional wrappers and array items.
fn referred(schema: &Value) -> Vec<&Value> {
    if schema.get("$ref").is_some() {
        return vec![schema];
    }
    let options = ["anyOf", "oneOf", "allOf"]
        .iter()
        .filter_map(|key| schema.get(key).and_then(Value::as_array))
        .flatten();
    options
        .chain(schema.get("items"))
        .flat_map(referred)
        .collect()
}

fn is_null(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("null")
}

/// Allowed values spread over several alternatives (`oneOf` of `const`s) become one list.
fn merge_values(shapes: Vec<Shape<'_>>) -> Vec<Shape<'_>> {
    let mut merged: Vec<Shape<'_>> = Vec::new();
    let mut values_at = None;
    for shape in shapes {
        match (shape, values_at) {
            (Shape::Values(more), Some(at)) => {
                if let Shape::Values(values) = &mut merged[at] {
                    values.extend(more);
                }
            }
            (Shape::Values(values), None) => {
                values_at = Some(merged.len());
                merged.push(Shape::Values(values));
            }
            (other, _) => merged.push(other),
        }
    }
    merged
}

/// The description of a schema on one line.
fn text(schema: &Value) -> Option<String> {
    let text = schema.get("description").and_then(Value::as_str)?;
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    (!text.is_empty()).then_some(text)
}

/// `string` -> `strings`; anything longer is put in parentheses.
fn plural(kind: &str) -> String {
    if kind.chars().all(|c| c.is_ascii_lowercase()) {
        format!("{kind}s")
    } else {
        format!("({kind})")
    }
}

/// A key as TOML writes it: bare when it can be.
fn toml_key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        name.to_string()
    } else {
        Value::from(name).to_string()
    }
}

/// A value as TOML writes it (`"30m"`, `["Default"]`, `{ vpc = "default" }`).
fn toml(value: &Value) -> String {
    match value {
        Value::Null => "none".into(),
        // A JSON string is a TOML basic string.
        Value::String(_) | Value::Bool(_) | Value::Number(_) => value.to_string(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(toml).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) if map.is_empty() => "{}".into(),
        Value::Object(map) => {
            let pairs: Vec<String> = map
                .iter()
                .map(|(key, value)| format!("{} = {}", toml_key(key), toml(value)))
                .collect();
            format!("{{ {} }}", pairs.join(", "))
        }
    }
}

/// A Markdown code span, whatever backticks `text` holds.
fn code(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    if longest > 0 {
        format!("{fence} {text} {fence}")
    } else {
        format!("{fence}{text}{fence}")
    }
}

/// A table cell: one line, its pipes escaped.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// The table of resource kinds the README shows between its resource-kinds markers, from the
/// registry: what each kind is in AWS, what is special about it, and how long a wait on it may
/// take.
pub fn resource_kinds(handlers: &[&dyn crate::resources::Handler]) -> String {
    let mut out = String::from(
        "| kind | in AWS | notes | waits up to | IAM actions |\n| --- | --- | --- | --- | --- |\n",
    );
    for handler in handlers {
        let about = handler.about();
        let mut notes = Vec::new();
        if about.holds_data {
            notes.push("holds data: never replaced; deleted only by destroy");
        }
        if about.only_left_over {
            notes.push("never desired: only left over by an interrupted run");
        }
        if about.artifact {
            notes.push("kept by `destroy --keep-images`");
        }
        if about.usable_once_created {
            notes.push("usable as soon as it exists");
        }
        if about.per_node_group {
            notes.push("one per node group");
        }
        if about.creates_after_deletes {
            notes.push("created once a same-kind delete is done");
        }
        out.push_str(&format!(
            "| `{}` | {} | {} | {} min | {} |\n",
            handler.kind().key(),
            about.aws,
            notes.join("; "),
            about.wait_limit.as_secs() / 60,
            handler.permissions().len(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_tables_arrays_of_tables_enums_and_defaults() {
        let schema = json!({
            "$defs": {
                "Mode": {
                    "oneOf": [
                        {"const": "fast", "description": "Quick | dirty.", "type": "string"},
                        {"const": "safe", "type": "string"}
                    ]
                },
                "Rule": {
                    "description": "A rule.",
                    "type": "object",
                    "properties": {"port": {"type": "integer", "description": "The\nport."}},
                    "required": ["port"]
                },
                "Part": {
                    "description": "A part.",
                    "type": "object",
                    "properties": {
                        "size": {"type": "integer", "default": 3},
                        "rules": {"type": "array", "items": {"$ref": "#/$defs/Rule"}}
                    }
                }
            },
            "type": "object",
            "properties": {
                "part": {"anyOf": [{"$ref": "#/$defs/Part"}, {"type": "null"}]},
                "name": {"type": "string", "description": "The name."},
                "mode": {"$ref": "#/$defs/Mode", "default": "safe"},
                "tags": {"type": ["array", "null"], "items": {"type": "string"}},
                "extra": {"type": "object", "additionalProperties": {"type": "string"}},
                "kept": {"$ref": "#/$defs/Part", "default": {"size": 3}},
                "named": {"type": "object", "additionalProperties": {"$ref": "#/$defs/Rule"}}
            },
            "required": ["name"]
        });
        let table = profile_reference(&schema);
        let rows: Vec<&str> = table.lines().skip(2).collect();
        assert_eq!(
            rows,
            [
                "| `mode` | one of `\"fast\"`, `\"safe\"` | `\"safe\"` | `\"fast\"`: Quick \\| dirty. |",
                "| `name` | string | required | The name. |",
                "| `tags` | array of strings | none |  |",
                "| `[extra]` | table of strings | none |  |",
                "| `[kept]` | table | its keys' defaults | A part. |",
                "| `[kept] size` | integer | `3` |  |",
                "| `[[kept.rules]]` | array of tables | none | A rule. |",
                "| `[[kept.rules]] port` | integer | required | The port. |",
                "| `[named]` | table of tables | none |  |",
                "| `[named.<name>] port` | integer | required | The port. |",
                "| `[part]` | table | none | A part. |",
                "| `[part] size` | integer | `3` |  |",
                "| `[[part.rules]]` | array of tables | none | A rule. |",
                "| `[[part.rules]] port` | integer | required | The port. |",
            ]
        );
    }

    #[test]
    fn defaults_are_toml_and_code_spans_survive_backticks() {
        assert_eq!(toml(&json!(["Default"])), "[\"Default\"]");
        assert_eq!(toml(&json!({"vpc": "default"})), "{ vpc = \"default\" }");
        assert_eq!(code("a`b"), "`` a`b ``");
        assert_eq!(cell("a |\n b"), "a \\| b");
    }
}
