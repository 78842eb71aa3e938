//! What the resource kinds found live, by identity: ownership tags, comparable attributes in the
//! same canonical form as the desired ones, status and the outputs other resources need. And the
//! two walks of the registry that find it: observing the whole stack, and the leftover scan.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{Handler, Scope};
use crate::aws::AwsError;
use crate::ids::names::Names;
use crate::ids::tags::{TAG_GROUP, TAG_STACK};
use crate::ids::{Kind, ResourceId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "state", content = "detail")]
pub enum Status {
    Ready,
    /// Being created or modified (AWS's word for it).
    Pending(String),
    /// Being deleted.
    Deleting(String),
    /// In a state apply cannot fix (AWS's word for it).
    Failed(String),
}

/// Values other resources use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outputs {
    /// Host and port (database, cache) or DNS name with port 0 (load balancer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<(String, i32)>,
    /// An ARN others refer to: the secret, the instance profile, the database's master secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// The newest launch template version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedResource {
    pub id: ResourceId,
    /// AWS's id: `sg-...`, `lt-...`, an ARN, or the name where the name is the id.
    pub physical_id: String,
    pub tags: BTreeMap<String, String>,
    pub attributes: Map<String, Value>,
    pub status: Status,
    pub outputs: Outputs,
}

impl ObservedResource {
    /// The stack named by the ownership tag, if any.
    pub fn owner(&self) -> Option<&str> {
        self.tags.get(TAG_STACK).map(String::as_str)
    }
}

/// Everything found live for one stack.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    pub resources: Vec<ObservedResource>,
}

impl Observed {
    pub fn get(&self, id: &ResourceId) -> Option<&ObservedResource> {
        self.resources.iter().find(|r| &r.id == id)
    }

    /// Replace the AWS ids of the kinds `shown_by_name` (security groups) with their names in
    /// every attribute, so that references compare with the desired side (which names them).
    pub fn name_references(&mut self, shown_by_name: &[Kind]) {
        let ids: Vec<(String, String)> = self
            .resources
            .iter()
            .filter(|r| shown_by_name.contains(&r.id.kind))
            .map(|r| (r.physical_id.clone(), r.id.name.clone()))
            .collect();
        if ids.is_empty() {
            return;
        }
        fn rename(value: &mut Value, ids: &[(String, String)]) {
            match value {
                Value::String(text) => {
                    for (id, name) in ids {
                        if text.contains(id.as_str()) {
                            *text = text.replace(id.as_str(), name);
                        }
                    }
                }
                Value::Array(items) => items.iter_mut().for_each(|v| rename(v, ids)),
                Value::Object(map) => map.values_mut().for_each(|v| rename(v, ids)),
                _ => {}
            }
        }
        for resource in &mut self.resources {
            for value in resource.attributes.values_mut() {
                rename(value, &ids);
            }
            // Lists compare as sets: keep them sorted after renaming.
            for value in resource.attributes.values_mut() {
                if let Value::Array(items) = value
                    && items.iter().all(Value::is_string)
                {
                    items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
                }
            }
        }
    }

    /// A digest of each observed resource, by identity: a saved plan is applied only while
    /// these are unchanged, and the ones that changed can be named.
    pub fn fingerprints(&self) -> BTreeMap<String, String> {
        self.resources
            .iter()
            .map(|resource| {
                let bytes = serde_json::to_vec(resource).expect("observed state serializes");
                (
                    resource.id.to_string(),
                    hex::encode(Sha256::digest(&bytes))[..16].to_string(),
                )
            })
            .collect()
    }
}

/// Observe the stack with `handlers`: every kind at once, one request per kind for the whole
/// stack (whatever the number of node groups). The node groups found tagged as the stack's that
/// the profile no longer declares are observed in a second round (so that they are deleted);
/// then each kind completes its view with the others' (images in use, stray snapshots).
pub async fn observe(scope: Scope<'_>, handlers: &[&dyn Handler]) -> Result<Observed, AwsError> {
    let each = handlers.iter().map(|handler| handler.observe(scope));
    let mut resources: Vec<ObservedResource> = futures::future::try_join_all(each)
        .await?
        .into_iter()
        .flatten()
        .collect();
    let stack = scope.names.stack();
    let declared = scope.names.groups();
    // A live group's resources say it exists; a kept image of a dropped group does not.
    let mut undeclared: Vec<String> = resources
        .iter()
        .filter(|r| r.owner() == Some(stack))
        .filter(|r| !super::handler_in(handlers, r.id.kind).about().artifact)
        .filter_map(|r| r.tags.get(TAG_GROUP))
        .filter(|group| !declared.contains(group))
        .cloned()
        .collect();
    undeclared.sort();
    undeclared.dedup();
    if !undeclared.is_empty() {
        let names = Names::with_groups(stack, &undeclared);
        let others = Scope {
            names: &names,
            groups_only: true,
            ..scope
        };
        let each = handlers
            .iter()
            .filter(|handler| handler.about().per_node_group)
            .map(|handler| handler.observe(others));
        for found in futures::future::try_join_all(each)
            .await?
            .into_iter()
            .flatten()
        {
            if !resources.iter().any(|r| r.id == found.id) {
                resources.push(found);
            }
        }
    }
    let mut observed = Observed { resources };
    for handler in handlers {
        handler.refine(scope, &mut observed).await?;
    }
    let shown_by_name: Vec<Kind> = handlers
        .iter()
        .filter(|h| h.about().shown_by_name)
        .map(|h| h.kind())
        .collect();
    observed.name_references(&shown_by_name);
    Ok(observed)
}

/// Everything still tagged for the stack (or found by its names where an API filters by no tag),
/// as (what, AWS id) pairs: what a destroy left behind.
pub async fn scan(
    scope: Scope<'_>,
    handlers: &[&dyn Handler],
) -> Result<Vec<(String, String)>, AwsError> {
    let each = handlers.iter().map(|handler| handler.scan(scope));
    let mut found: Vec<(String, String)> = futures::future::try_join_all(each)
        .await?
        .into_iter()
        .flatten()
        .collect();
    found.sort();
    found.dedup();
    Ok(found)
}

/// The resources among `found` that belong to `stack` (by its tag).
pub fn owned(found: Vec<ObservedResource>, stack: &str) -> Vec<ObservedResource> {
    found
        .into_iter()
        .filter(|r| r.owner() == Some(stack))
        .collect()
}
