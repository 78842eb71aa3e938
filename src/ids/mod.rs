//! Identities: what a resource is called, before anything about what it is. A leaf of the crate
//! (it imports nothing of deployer), so that the profile, the resource kinds, the stack, the plan
//! and the engine can all name resources without importing each other.

pub mod names;
pub mod tags;

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use serde::{Serialize, Serializer};

/// A resource kind's identity: a stable key (in saved plans and JSON output) and the label
/// messages use. Each kind's module declares its own (`resources::<kind>::KIND`); the registry in
/// `resources` lists them, and is what turns a key read back from a file into a `Kind`.
#[derive(Clone, Copy)]
pub struct Kind {
    key: &'static str,
    label: &'static str,
}

impl Kind {
    pub const fn new(key: &'static str, label: &'static str) -> Kind {
        Kind { key, label }
    }

    /// The stable key: `security-group`, `auto-scaling-group`, ...
    pub fn key(self) -> &'static str {
        self.key
    }

    /// How the kind is called in messages: `security group`, ...
    pub fn label(self) -> &'static str {
        self.label
    }
}

impl PartialEq for Kind {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Kind {}

impl Hash for Kind {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key.hash(state)
    }
}

impl PartialOrd for Kind {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Keys in alphabetical order: an order for maps and sets, never a dependency order.
impl Ord for Kind {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(other.key)
    }
}

impl fmt::Debug for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label)
    }
}

impl Serialize for Kind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.key)
    }
}

/// A resource's identity: its kind and its deterministic name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
pub struct ResourceId {
    pub kind: Kind,
    pub name: String,
}

impl ResourceId {
    pub fn new(kind: Kind, name: impl Into<String>) -> Self {
        ResourceId {
            kind,
            name: name.into(),
        }
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.label(), self.name)
    }
}
