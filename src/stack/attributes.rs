//! The comparable attributes of a desired resource: the canonical form the plan diffs against
//! what the AWS adapters observe. Values another resource's creation decides (an endpoint, a
//! launch template version) are `Unknown` until that resource exists.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::spec::*;
use super::user_data::Endpoints;

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
}

/// What is known of other resources when a resource's attributes are computed: from observation
/// when planning, from results when applying.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Knowledge {
    /// Endpoints of the data tier, each present only when known.
    pub endpoints: Endpoints,
    /// Baked images' ids by image name, when known.
    pub images: BTreeMap<String, String>,
    /// The launch template version each group should run, by template name, when known.
    pub launch_template_versions: BTreeMap<String, i64>,
    /// Load balancers (re)created under an existing group: the group must attach them again so
    /// that its instances are registered.
    pub new_load_balancers: BTreeSet<String>,
}

struct Builder(Vec<Attribute>);

impl Builder {
    fn set(&mut self, key: &str, value: impl Into<Value>, mode: Mode) -> &mut Self {
        self.0.push(Attribute {
            key: key.to_string(),
            value: Val::Known(value.into()),
            mode,
        });
        self
    }

    fn maybe(&mut self, key: &str, value: Option<Value>, mode: Mode) -> &mut Self {
        self.0.push(Attribute {
            key: key.to_string(),
            value: value.map(Val::Known).unwrap_or(Val::Unknown),
            mode,
        });
        self
    }
}

/// Sorted strings as a JSON array: list attributes compare as sets.
pub fn sorted(items: impl IntoIterator<Item = String>) -> Value {
    let mut items: Vec<String> = items.into_iter().collect();
    items.sort();
    items.dedup();
    Value::from(items)
}

/// The attributes `resource` should have. `observed` is what is live (for values that follow the
/// live resource, such as a group's desired capacity).
pub fn desired_attributes(
    resource: &Resource,
    knowledge: &Knowledge,
    observed: Option<&serde_json::Map<String, Value>>,
) -> Vec<Attribute> {
    use Mode::*;
    let mut b = Builder(Vec::new());
    match &resource.spec {
        Spec::SecurityGroup(sg) => {
            b.set("vpc_id", sg.vpc_id.as_str(), Replace).set(
                "ingress",
                sorted(sg.ingress.iter().map(IngressRule::canonical)),
                InPlace,
            );
        }
        Spec::DbSubnetGroup(group) | Spec::CacheSubnetGroup(group) => {
            b.set("subnets", sorted(group.subnets.clone()), InPlace);
        }
        // A baked image's name is the content hash of its inputs: nothing else to compare.
        Spec::CacheAuthSecret(_) | Spec::Image(_) => {}
        Spec::Database(db) => {
            b.set("engine", "postgres", Replace)
                .set("engine_version", db.engine_version.as_str(), Version)
                .set("instance_class", db.instance_class.as_str(), InPlace)
                .set("allocated_storage", db.allocated_storage, Grow)
                .set("storage_type", db.storage_type.as_str(), InPlace)
                .set("storage_encrypted", db.encrypted, Replace)
                .set("multi_az", db.multi_az, InPlace)
                .set("port", db.port, InPlace)
                .set("db_name", db.db_name.as_str(), Replace)
                .set("master_username", db.username.as_str(), Replace)
                .set("managed_master_password", true, InPlace)
                .set("publicly_accessible", false, InPlace)
                .set("backup_retention_days", db.backup_retention_days, InPlace)
                .set("deletion_protection", db.deletion_protection, InPlace)
                .set(
                    "auto_minor_version_upgrade",
                    db.auto_minor_version_upgrade,
                    InPlace,
                )
                .set("subnet_group", db.subnet_group.as_str(), Replace)
                .set(
                    "security_groups",
                    sorted([db.security_group.clone()]),
                    InPlace,
                );
        }
        Spec::Cache(cache) => {
            b.set("engine", "redis", Replace)
                .set("engine_version", cache.engine_version.as_str(), Version)
                .set("node_type", cache.node_type.as_str(), InPlace)
                .set("num_cache_clusters", cache.num_cache_clusters, InPlace)
                .set("automatic_failover", cache.automatic_failover, InPlace)
                .set("multi_az", cache.multi_az, InPlace)
                .set("port", cache.port, Replace)
                .set("encryption_at_rest", cache.encryption_at_rest, Replace)
                .set(
                    "encryption_in_transit",
                    cache.encryption_in_transit,
                    Replace,
                )
                .set("auth_token", cache.auth_token, Replace)
                .set("subnet_group", cache.subnet_group.as_str(), Replace)
                .set(
                    "security_groups",
                    sorted([cache.security_group.clone()]),
                    InPlace,
                );
        }
        Spec::LoadBalancer(lb) => {
            let secure = lb.listeners.iter().any(|l| l.protocol.is_secure());
            b.set("scheme", lb.scheme.as_str(), Replace)
                .set("subnets", sorted(lb.subnets.clone()), InPlace)
                .set(
                    "security_groups",
                    sorted([lb.security_group.clone()]),
                    InPlace,
                )
                .set(
                    "listeners",
                    sorted(lb.listeners.iter().map(ListenerSpec::canonical)),
                    InPlace,
                )
                .set("health_check", lb.health_check.canonical(), InPlace)
                .set("idle_timeout", lb.idle_timeout, InPlace)
                .set("cross_zone", lb.cross_zone, InPlace)
                .set(
                    "connection_draining",
                    draining_text(lb.connection_draining),
                    InPlace,
                )
                .set("desync_mitigation", lb.desync_mitigation.as_str(), InPlace)
                .set("stickiness", stickiness_text(lb.stickiness), InPlace)
                .set(
                    "tls_policy",
                    if secure {
                        Value::from(lb.tls_policy.as_str())
                    } else {
                        Value::Null
                    },
                    InPlace,
                );
        }
        Spec::NodeRole(role) => {
            b.set("path", role.path.as_str(), Replace)
                .set("policy", role.policy.clone(), InPlace)
                .set("instance_profile", resource.id.name.as_str(), InPlace);
        }
        Spec::LaunchTemplate(lt) => {
            let user_data = if knowledge.endpoints.cover(&lt.boot.context).is_err() {
                None
            } else {
                // The template was checked when the stack was built; a failure here (only
                // possible with real endpoints) surfaces when applying.
                lt.boot.render(&knowledge.endpoints).ok().map(Value::from)
            };
            let image = match &lt.image {
                NodeImage::Fixed(id) => Some(Value::from(id.as_str())),
                NodeImage::Baked(name) => knowledge.images.get(name).cloned().map(Value::from),
            };
            b.maybe("image", image, InPlace)
                .set("instance_type", lt.instance_type.as_str(), InPlace)
                .set("volume_size", lt.volume_size, InPlace)
                .set("volume_type", lt.volume_type.as_str(), InPlace)
                .set("volume_encrypted", true, InPlace)
                .set("http_tokens", "required", InPlace)
                .set("public_ip", false, InPlace)
                .set(
                    "security_groups",
                    sorted([lt.security_group.clone()]),
                    InPlace,
                )
                .set("instance_profile", lt.instance_profile.as_str(), InPlace)
                .maybe("user_data", user_data, InPlace);
        }
        Spec::ScalingPolicy(policy) => {
            b.set("policy_type", "TargetTrackingScaling", InPlace)
                .set("metric", policy.metric.as_str(), InPlace)
                .set("target", policy.target, InPlace)
                .set("disable_scale_in", policy.disable_scale_in, InPlace);
        }
        Spec::ScheduledAction(action) => {
            b.set("recurrence", action.recurrence.as_str(), InPlace)
                .set("min_size", action.min, InPlace)
                .set("max_size", action.max, InPlace)
                .set("desired_capacity", action.desired, InPlace)
                .set("time_zone", action.time_zone.clone(), InPlace);
        }
        Spec::AutoScalingGroup(group) => {
            let live = |key: &str| {
                observed
                    .and_then(|o| o.get(key))
                    .and_then(Value::as_i64)
                    .map(|v| v as i32)
            };
            // A capacity set by `deployer scale` is kept until `apply --reset-scale`.
            let scaled = observed
                .and_then(|o| o.get("scale_override"))
                .filter(|v| !v.is_null())
                .filter(|_| !group.reset_scale);
            let (min, max) = match (scaled, live("min_size"), live("max_size")) {
                (Some(_), Some(min), Some(max)) => (min, max),
                _ => (group.min, group.max),
            };
            // An existing group keeps its desired capacity unless it falls outside min..max.
            let desired = match live("desired_capacity") {
                Some(live) => live.clamp(min, max),
                None => group.desired,
            };
            let version = knowledge
                .launch_template_versions
                .get(&group.launch_template)
                .copied();
            b.set("min_size", min, InPlace)
                .set("max_size", max, InPlace)
                .set("desired_capacity", desired, InPlace)
                .set(
                    "scale_override",
                    scaled.cloned().unwrap_or(Value::Null),
                    InPlace,
                )
                .maybe(
                    "instances",
                    version.map(|v| Value::from(format!("all on v{v}"))),
                    InPlace,
                )
                .set(
                    "termination_policies",
                    group.termination_policies.join(", "),
                    InPlace,
                )
                .set("instance_warmup", group.instance_warmup, InPlace)
                .set(
                    "health_check_type",
                    if group.load_balancer.is_some() {
                        "ELB"
                    } else {
                        "EC2"
                    },
                    InPlace,
                )
                .set(
                    "health_check_grace_period",
                    group.health_check_grace_period,
                    InPlace,
                )
                .set("subnets", sorted(group.subnets.clone()), InPlace)
                .maybe(
                    "load_balancers",
                    match &group.load_balancer {
                        Some(lb) if knowledge.new_load_balancers.contains(lb) => None,
                        lb => Some(sorted(lb.clone())),
                    },
                    InPlace,
                )
                .maybe(
                    "launch_template",
                    version.map(|v| json!(format!("{} v{v}", group.launch_template))),
                    InPlace,
                );
        }
    }
    b.0
}

/// The digest recorded in the `deployer:applied` tag: the attributes the profile decides (not the
/// group's desired capacity, which follows the live group). None while any value is unknown.
pub fn applied_digest(attributes: &[Attribute]) -> Option<String> {
    use sha2::{Digest, Sha256};
    let mut known = serde_json::Map::new();
    for attribute in attributes {
        // Capacity and which version the instances run follow the live group, not the profile.
        if ["desired_capacity", "scale_override", "instances"].contains(&attribute.key.as_str()) {
            continue;
        }
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

pub fn draining_text(timeout: Option<i32>) -> String {
    match timeout {
        Some(seconds) => format!("on, {seconds}s"),
        None => "off".into(),
    }
}

pub fn stickiness_text(stickiness: Option<Option<i64>>) -> String {
    match stickiness {
        None => "off".into(),
        Some(None) => "load balancer cookie, session".into(),
        Some(Some(seconds)) => format!("load balancer cookie, {seconds}s"),
    }
}
