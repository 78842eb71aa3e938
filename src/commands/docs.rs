//! `deployer schema`, `deployer completions` and `deployer man`: documents generated from the
//! types and the command line themselves, so they cannot drift from what deployer accepts.

use std::io::Write;

use clap::CommandFactory;

use super::Failure;
use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::profile::schema::Profile;

/// The JSON Schema of a profile (after `extends` is merged; `extends` itself is allowed).
pub fn profile_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Profile)).expect("a schema serializes")
}

/// The schema as shipped in schema/profile.schema.json.
pub fn profile_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&profile_schema()).expect("a schema serializes");
    text.push('\n');
    text
}

pub fn schema() -> Result<i32, Failure> {
    print!("{}", profile_schema_text());
    Ok(0)
}

pub fn completions(args: &CompletionsArgs) -> Result<i32, Failure> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "deployer", &mut std::io::stdout());
    Ok(0)
}

/// Every man page: (file name, roff), the top-level page first.
pub fn man_pages() -> Vec<(String, Vec<u8>)> {
    let command = Cli::command();
    let mut pages = vec![("deployer.1".to_string(), render(command.clone()))];
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        // clap names are &'static str; a handful of page names live for the process.
        let name: &'static str = Box::leak(format!("deployer-{}", sub.get_name()).into_boxed_str());
        let page = sub.clone().name(name).display_name(name).bin_name(name);
        pages.push((format!("{name}.1"), render(page)));
    }
    pages
}

fn render(command: clap::Command) -> Vec<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(command)
        .render(&mut out)
        .expect("rendering to memory cannot fail");
    out
}

pub fn man(args: &ManArgs) -> Result<i32, Failure> {
    let pages = man_pages();
    match &args.dir {
        None => {
            std::io::stdout()
                .write_all(&pages[0].1)
                .map_err(|e| Failure::Usage(format!("cannot write the man page: {e}")))?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| Failure::Usage(format!("cannot create {}: {e}", dir.display())))?;
            for (name, page) in &pages {
                let path = dir.join(name);
                std::fs::write(&path, page)
                    .map_err(|e| Failure::Usage(format!("cannot write {}: {e}", path.display())))?;
                println!("{}", path.display());
            }
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::path::Path;

    fn root() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    /// The shipped documents are what the code generates: regenerate them with
    /// `deployer schema > schema/profile.schema.json` and `deployer man --dir man`.
    #[test]
    fn shipped_schema_and_man_pages_match_the_code() {
        let shipped = std::fs::read_to_string(root().join("schema/profile.schema.json")).unwrap();
        assert!(
            shipped == profile_schema_text(),
            "schema/profile.schema.json is stale: run `deployer schema > schema/profile.schema.json`"
        );
        let pages = man_pages();
        assert!(pages.len() > 10, "a page per command");
        for (name, page) in pages {
            let shipped = std::fs::read(root().join("man").join(&name)).unwrap_or_default();
            assert!(
                shipped == page,
                "man/{name} is stale: run `deployer man --dir man`"
            );
        }
    }

    #[test]
    fn completions_know_every_command_and_option() {
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
        ] {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "deployer", &mut out);
            let script = String::from_utf8(out).unwrap();
            for word in [
                "unlock",
                "destroy",
                "skip-final-snapshot",
                "reset-scale",
                "poll-interval",
            ] {
                assert!(script.contains(word), "{shell}: {word} missing");
            }
        }
    }

    /// The IAM action of an SDK call: `elb` + `create_lb_cookie_stickiness_policy` ->
    /// `elasticloadbalancing:CreateLBCookieStickinessPolicy`.
    fn iam_action(client: &str, operation: &str) -> String {
        let service = match client {
            "elb" => "elasticloadbalancing",
            "secrets" => "secretsmanager",
            other => other,
        };
        let name: String = operation
            .split('_')
            .map(|word| match word {
                "db" => "DB".to_string(),
                "lb" => "LB".to_string(),
                _ => {
                    let mut chars = word.chars();
                    chars.next().map_or(String::new(), |c| {
                        c.to_ascii_uppercase().to_string() + chars.as_str()
                    })
                }
            })
            .collect();
        format!("{service}:{name}")
    }

    /// iam/deployer-policy.json allows every AWS call the code makes, and nothing else but the
    /// permissions AWS checks behind them (the statements whose Sid starts with "Implicit", and
    /// iam:PassRole).
    #[test]
    fn the_shipped_iam_policy_allows_exactly_the_calls_the_code_makes() {
        let mut code = String::new();
        for dir in ["src/aws", "src/engine", "src/commands"] {
            for entry in std::fs::read_dir(root().join(dir)).unwrap() {
                code += &std::fs::read_to_string(entry.unwrap().path()).unwrap();
            }
        }
        let code: String = code.split_whitespace().collect();
        let clients = [
            "ec2",
            "elb",
            "rds",
            "elasticache",
            "autoscaling",
            "iam",
            "secrets",
            "ssm",
            "sts",
        ];
        let mut called = std::collections::BTreeSet::new();
        for client in clients {
            for piece in code.split(&format!(".{client}.")).skip(1) {
                let operation: String = piece
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !operation.is_empty() && piece[operation.len()..].starts_with("()") {
                    called.insert(iam_action(client, &operation));
                }
            }
        }
        assert!(called.len() > 80, "found {} calls", called.len());
        let policy: Value = serde_json::from_str(
            &std::fs::read_to_string(root().join("iam/deployer-policy.json")).unwrap(),
        )
        .unwrap();
        let mut explicit = std::collections::BTreeSet::new();
        let mut implicit = std::collections::BTreeSet::new();
        for statement in policy["Statement"].as_array().unwrap() {
            let sid = statement["Sid"].as_str().unwrap();
            for action in statement["Action"].as_array().unwrap() {
                let action = action.as_str().unwrap().to_string();
                if sid.starts_with("Implicit") || action == "iam:PassRole" {
                    implicit.insert(action);
                } else {
                    explicit.insert(action);
                }
            }
        }
        let missing: Vec<_> = called.difference(&explicit).collect();
        let unused: Vec<_> = explicit.difference(&called).collect();
        assert!(
            missing.is_empty(),
            "iam/deployer-policy.json lacks {missing:?}"
        );
        assert!(
            unused.is_empty(),
            "iam/deployer-policy.json allows unused {unused:?}"
        );
    }

    /// Follow `$ref`s and optional wrappers (`anyOf` with null) to the object schema of a table.
    fn resolve<'a>(schema: &'a Value, root: &'a Value) -> Vec<&'a Value> {
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let name = reference.trim_start_matches("#/$defs/");
            return resolve(&root["$defs"][name], root);
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            if let Some(options) = schema.get(key).and_then(Value::as_array) {
                return options.iter().flat_map(|o| resolve(o, root)).collect();
            }
        }
        if let Some(items) = schema.get("items") {
            return resolve(items, root);
        }
        vec![schema]
    }

    /// Every key of the shipped profiles is described by the schema, and the schema allows no
    /// key that the profile types would reject (tables are closed, as `deny_unknown_fields`).
    fn check_table(table: &toml::Table, schema: &Value, root: &Value, path: &str) {
        let candidates = resolve(schema, root);
        for (key, value) in table {
            let here = format!("{path}.{key}");
            let found: Vec<&Value> = candidates
                .iter()
                .filter_map(|c| {
                    c.get("properties")
                        .and_then(|p| p.get(key))
                        .or_else(|| c.get("additionalProperties").filter(|a| a.is_object()))
                })
                .collect();
            assert!(!found.is_empty(), "{here} is not in the schema");
            for property in found {
                match value {
                    toml::Value::Table(inner) => check_table(inner, property, root, &here),
                    toml::Value::Array(items) => {
                        for item in items {
                            if let toml::Value::Table(inner) = item {
                                check_table(inner, property, root, &here);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        for candidate in candidates {
            if candidate.get("properties").is_some() {
                assert_eq!(
                    candidate.get("additionalProperties"),
                    Some(&Value::Bool(false)),
                    "{path} must be a closed table in the schema"
                );
            }
        }
    }

    #[test]
    fn the_schema_describes_every_key_of_the_shipped_profiles() {
        let schema = profile_schema();
        let mut checked = 0;
        for entry in std::fs::read_dir(root().join("profiles")).unwrap() {
            let path = entry.unwrap().path();
            let table: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
            check_table(&table, &schema, &schema, &path.display().to_string());
            checked += 1;
        }
        assert!(checked >= 2);
        let required = schema["required"].as_array().unwrap();
        for key in ["stack", "node", "load_balancer"] {
            assert!(required.contains(&Value::from(key)), "{key} is required");
        }
    }
}
