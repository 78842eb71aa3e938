//! A plan saved with `plan --out FILE`: the desired stack it was made for, a fingerprint of what
//! it observed, and its steps. `apply FILE` applies exactly it, or refuses when the live state
//! has changed since. Holds no secret values.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Plan;
use crate::stack::Desired;

pub const FORMAT: u32 = 3;

/// What changed between two sets of fingerprints: "load balancer x (changed)", ...
pub fn changed(before: &BTreeMap<String, String>, now: &BTreeMap<String, String>) -> Vec<String> {
    let mut changes = Vec::new();
    for (id, digest) in before {
        match now.get(id) {
            None => changes.push(format!("{id} (gone)")),
            Some(other) if other != digest => changes.push(format!("{id} (changed)")),
            _ => {}
        }
    }
    for id in now.keys().filter(|id| !before.contains_key(*id)) {
        changes.push(format!("{id} (new)"));
    }
    changes
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedPlan {
    pub format: u32,
    pub deployer_version: String,
    pub profile: String,
    pub region: String,
    pub created_at: String,
    /// A digest of each resource the plan observed, by identity.
    pub observed: BTreeMap<String, String>,
    pub desired: Desired,
    pub plan: Plan,
}

impl SavedPlan {
    pub fn write(&self, path: &Path) -> Result<(), String> {
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        // Write beside the target and rename, so a crash never leaves half a plan.
        let temporary = path.with_extension("partial");
        std::fs::write(&temporary, text + "\n")
            .and_then(|_| std::fs::rename(&temporary, path))
            .map_err(|e| format!("cannot write plan file {}: {e}", path.display()))
    }

    pub fn read(path: &Path) -> Result<SavedPlan, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read plan file {}: {e}", path.display()))?;
        let saved: SavedPlan = serde_json::from_str(&text).map_err(|e| {
            format!(
                "{} is not a deployer plan file ({e}); make one with `deployer plan --out FILE`",
                path.display()
            )
        })?;
        if saved.format != FORMAT {
            return Err(format!(
                "{} is a plan of format {} from deployer {}; this deployer reads format {FORMAT}: run plan again",
                path.display(),
                saved.format,
                saved.deployer_version
            ));
        }
        Ok(saved)
    }
}
