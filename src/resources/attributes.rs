//! The vocabulary of a diff, shared by every resource kind, the plan and the engine: the
//! comparable attributes of a desired resource (the canonical form its kind's observation also
//! produces), how a difference in one is resolved, and the planned actions and changes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How a difference in one attribute is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Changed in place.
    InPlace,
    /// Cannot change: the resource must be replaced.
    Replace,
    /// An engine version: a live version that starts with, or is newer than, the desired one
    /// (auto minor upgrades) matches; an older one is upgraded in place.
    Version,
    /// Storage: may grow in place, never shrink (a smaller desired value is kept as it is).
    Grow,
}

/// A desired value, or one only known once another resource exists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Val {
    Known(Value),
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    pub key: String,
    pub value: Val,
    pub mode: Mode,
    /// The value follows the live resource rather than the profile (a group's desired capacity):
    /// left out of the digest of what was applied.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub follows_live: bool,
}

/// Builds a kind's attribute list: `Attributes::new().set(KEY, value, Mode::InPlace)...`.
#[derive(Debug, Default)]
pub struct Attributes(Vec<Attribute>);

impl Attributes {
    pub fn new() -> Self {
        Attributes(Vec::new())
    }

    pub fn set(mut self, key: &str, value: impl Into<Value>, mode: Mode) -> Self {
        self.0.push(Attribute {
            key: key.to_string(),
            value: Val::Known(value.into()),
            mode,
            follows_live: false,
        });
        self
    }

    /// A value known only when `value` is Some.
    pub fn maybe(mut self, key: &str, value: Option<Value>, mode: Mode) -> Self {
        self.0.push(Attribute {
            key: key.to_string(),
            value: value.map(Val::Known).unwrap_or(Val::Unknown),
            mode,
            follows_live: false,
        });
        self
    }

    /// A value that follows the live resource (see [`Attribute::follows_live`]).
    pub fn live(mut self, key: &str, value: Option<Value>) -> Self {
        self.0.push(Attribute {
            key: key.to_string(),
            value: value.map(Val::Known).unwrap_or(Val::Unknown),
            mode: Mode::InPlace,
            follows_live: true,
        });
        self
    }

    pub fn build(self) -> Vec<Attribute> {
        self.0
    }
}

/// Sorted strings as a JSON array: list attributes compare as sets.
pub fn sorted(items: impl IntoIterator<Item = String>) -> Value {
    let mut items: Vec<String> = items.into_iter().collect();
    items.sort();
    items.dedup();
    Value::from(items)
}

/// The digest recorded in the `deployer:applied` tag: the attributes the profile decides (not
/// those that follow the live resource). None while any value is unknown.
pub fn applied_digest(attributes: &[Attribute]) -> Option<String> {
    use sha2::{Digest, Sha256};
    let mut known = serde_json::Map::new();
    for attribute in attributes.iter().filter(|a| !a.follows_live) {
        match &attribute.value {
            Val::Known(value) => {
                known.insert(attribute.key.clone(), value.clone());
            }
            Val::Unknown => return None,
        }
    }
    let bytes = serde_json::to_vec(&known).expect("attributes serialize");
    Some(hex::encode(Sha256::digest(&bytes))[..20].to_string())
}

/// What a plan does with one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Exists and matches.
    None,
    Create,
    Update,
    /// Delete and create again, because an attribute cannot change in place.
    Replace,
    Delete,
    /// Exists, is no longer wanted, but holds data: apply leaves it to `deployer destroy`.
    Retain,
}

impl Action {
    pub fn is_change(self) -> bool {
        !matches!(self, Action::None | Action::Retain)
    }

    /// Whether the step brings a new resource into being (so what depends on it waits for it).
    pub fn creates(self) -> bool {
        matches!(self, Action::Create | Action::Replace)
    }
}

/// One attribute's change. `new` is None when it is known only after apply (and `old` None when
/// the resource does not exist yet); a present JSON null is `Some(Value::Null)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub attribute: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub old: Option<Value>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub new: Option<Value>,
    pub mode: Mode,
}

/// A field that is present is `Some`, even when it is null: absence alone means None.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

impl Change {
    /// The change of creating an attribute from nothing.
    pub fn creation(attribute: &Attribute) -> Change {
        Change {
            attribute: attribute.key.clone(),
            old: None,
            new: match &attribute.value {
                Val::Known(v) => Some(v.clone()),
                Val::Unknown => None,
            },
            mode: attribute.mode,
        }
    }
}

/// The changes needed to take the live `attributes` to the desired ones.
pub fn differences(desired: &[Attribute], live: &serde_json::Map<String, Value>) -> Vec<Change> {
    desired
        .iter()
        .filter_map(|attribute| {
            let old = live.get(&attribute.key);
            let same = match (&attribute.value, old) {
                (Val::Unknown, _) => false,
                (Val::Known(want), None) => want.is_null(),
                (Val::Known(want), Some(have)) => satisfies(attribute.mode, have, want),
            };
            (!same).then(|| Change {
                attribute: attribute.key.clone(),
                old: old.cloned(),
                new: match &attribute.value {
                    Val::Known(v) => Some(v.clone()),
                    Val::Unknown => None,
                },
                mode: attribute.mode,
            })
        })
        .collect()
}

/// Whether a live value satisfies a desired one under `mode`.
pub fn satisfies(mode: Mode, have: &Value, want: &Value) -> bool {
    match mode {
        Mode::Version => version_satisfies(have, want),
        Mode::Grow => match (have.as_i64(), want.as_i64()) {
            (Some(have), Some(want)) => have >= want,
            _ => have == want,
        },
        Mode::InPlace | Mode::Replace => have == want,
    }
}

/// A live engine version satisfies a desired one when it is the same or newer, compared on the
/// desired version's parts (`16` matches `16.4`; `7.1` matches `7.1.0`; `16.8` satisfies `16.4`).
fn version_satisfies(live: &Value, desired: &Value) -> bool {
    let parse = |v: &Value| -> Option<Vec<u32>> {
        v.as_str()?
            .split('.')
            .map(|p| p.parse().ok())
            .collect::<Option<Vec<u32>>>()
    };
    match (parse(live), parse(desired)) {
        (Some(mut live), Some(desired)) => {
            live.resize(live.len().max(desired.len()), 0);
            live[..desired.len()] >= desired[..]
        }
        _ => live == desired,
    }
}

/// The changes an update carries out, with what the desired attributes now are (values unknown
/// at plan time filled in).
#[derive(Debug, Clone, Copy)]
pub struct Changes<'a> {
    pub changes: &'a [Change],
    pub attributes: &'a [Attribute],
}

impl Changes<'_> {
    pub fn has(&self, key: &str) -> bool {
        self.changes.iter().any(|c| c.attribute == key)
    }

    /// The keys of the changed attributes.
    pub fn keys(&self) -> Vec<String> {
        self.changes.iter().map(|c| c.attribute.clone()).collect()
    }

    /// Whether any change clears a value (its new value is null).
    pub fn clears_any(&self) -> bool {
        self.changes
            .iter()
            .any(|c| c.new.as_ref().is_some_and(Value::is_null))
    }

    /// The desired value of an attribute, when known.
    pub fn desired(&self, key: &str) -> Option<&Value> {
        self.attributes
            .iter()
            .find(|a| a.key == key)
            .and_then(|a| match &a.value {
                Val::Known(value) => Some(value),
                Val::Unknown => None,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_satisfy_the_same_or_newer_on_the_desired_parts() {
        for (live, desired, ok) in [
            ("16.4", "16", true),
            ("16.8", "16.4", true),
            ("16.3", "16.4", false),
            ("7.1.0", "7.1", true),
            ("15.9", "16", false),
        ] {
            assert_eq!(
                satisfies(Mode::Version, &json!(live), &json!(desired)),
                ok,
                "{live} vs {desired}"
            );
        }
    }

    #[test]
    fn a_digest_leaves_out_live_values_and_needs_every_other_value_known() {
        let base = Attributes::new()
            .set("size", 3, Mode::InPlace)
            .live("desired", Some(json!(2)))
            .build();
        let other_live = Attributes::new()
            .set("size", 3, Mode::InPlace)
            .live("desired", Some(json!(5)))
            .build();
        assert_eq!(applied_digest(&base), applied_digest(&other_live));
        let unknown = Attributes::new()
            .set("size", 3, Mode::InPlace)
            .maybe("image", None, Mode::InPlace)
            .build();
        assert_eq!(applied_digest(&unknown), None);
    }
}
