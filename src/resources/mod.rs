//! Resource kinds: everything about one kind of AWS resource lives in its own module (its typed
//! desired spec, attribute keys, observation, create, update, delete, readiness, tags, outputs,
//! wait limit), behind one handler trait. [`REGISTRY`] lists the handlers; the engine, observe,
//! destroy, the leftover scan, the IAM policy test and the docs walk it and name no kind.
//!
//! Adding a kind: one module implementing [`ResourceKind`], one line in [`REGISTRY`] (see
//! CONTRIBUTING.md for the whole checklist).

pub mod attributes;
mod handler;
pub mod observed;
pub mod quota;
pub mod wait;

pub mod alarm;
pub mod alarm_key;
pub mod alarm_topic;
pub mod auto_scaling_group;
pub mod builder;
pub mod cache;
pub mod cache_auth_secret;
pub mod cache_subnet_group;
pub mod database;
pub mod db_subnet_group;
pub mod elastic_ip;
pub mod image;
pub mod internet_gateway;
pub mod launch_template;
pub mod load_balancer;
pub mod log_bucket;
pub mod log_group;
pub mod nat_gateway;
pub mod node_role;
pub mod route_table;
pub mod scaling_policy;
pub mod scheduled_action;
pub mod security_group;
pub mod snapshot;
pub mod subnet;
pub mod vpc;
pub mod vpc_endpoint;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::aws::{Aws, AwsError};
use crate::ids::names::Names;
use crate::ids::{Kind, ResourceId};
use crate::render::progress::Progress;
use attributes::{Action, Change};
use observed::{Observed, ObservedResource, Outputs};

pub use handler::{About, Handler, Kept, ResourceKind};

/// Every resource kind deployer knows, in the order plans list them when the dependency graph
/// leaves the order open (for reading only: apply and destroy follow the graph).
pub static REGISTRY: &[&dyn Handler] = &[
    &vpc::Vpcs,
    &subnet::Subnets,
    &internet_gateway::InternetGateways,
    &elastic_ip::ElasticIps,
    &nat_gateway::NatGateways,
    &route_table::RouteTables,
    &vpc_endpoint::VpcEndpoints,
    &builder::Builders,
    &security_group::SecurityGroups,
    &db_subnet_group::DbSubnetGroups,
    &database::Databases,
    &cache_subnet_group::CacheSubnetGroups,
    &cache_auth_secret::CacheAuthSecrets,
    &cache::Caches,
    &log_bucket::LogBuckets,
    &load_balancer::LoadBalancers,
    &node_role::NodeRoles,
    &log_group::LogGroups,
    &image::Images,
    &snapshot::Snapshots,
    &launch_template::LaunchTemplates,
    &auto_scaling_group::AutoScalingGroups,
    &scaling_policy::ScalingPolicies,
    &scheduled_action::ScheduledActions,
    &alarm_key::AlarmKeys,
    &alarm_topic::AlarmTopics,
    &alarm::Alarms,
];

/// The handler of `kind` among `handlers`.
pub fn handler_in<'a>(handlers: &[&'a dyn Handler], kind: Kind) -> &'a dyn Handler {
    handlers
        .iter()
        .copied()
        .find(|h| h.kind() == kind)
        .unwrap_or_else(|| panic!("no handler for resource kind {}", kind.key()))
}

/// The registered handler of `kind`.
pub fn handler(kind: Kind) -> &'static dyn Handler {
    handler_in(REGISTRY, kind)
}

/// A kind by its key, as saved plans and JSON documents write it.
pub fn kind_of(key: &str) -> Option<Kind> {
    REGISTRY.iter().map(|h| h.kind()).find(|k| k.key() == key)
}

/// A kind is read back by its key, and only a registered kind is a kind.
impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let key = String::deserialize(deserializer)?;
        kind_of(&key).ok_or_else(|| {
            let known: Vec<&str> = REGISTRY.iter().map(|h| h.kind().key()).collect();
            serde::de::Error::custom(format!(
                "unknown resource kind `{key}` (this deployer knows {})",
                known.join(", ")
            ))
        })
    }
}

/// One desired resource: its identity, ownership component, the node group it belongs to, its
/// kind's typed spec (stored as JSON so that the list of kinds stays open), and what it needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub id: ResourceId,
    /// The `deployer:component` tag value.
    pub component: String,
    /// The extra node group it belongs to (the `deployer:group` tag), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub spec: serde_json::Value,
    /// What it needs before it can exist: the graph apply follows.
    pub depends_on: Vec<ResourceId>,
}

/// How a spec names the AWS id of another of the stack's resources (a subnet deployer creates):
/// `<subnet shop-private-us-east-1a>`. Before the calls, the handler's spec has the AWS id in its
/// place (known by then: a reference is a dependency); in the attributes plan compares, the
/// resource's name, as observation shows the ids of those kinds (`About::shown_by_name`).
pub fn reference(id: &ResourceId) -> String {
    format!("<{} {}>", id.kind.key(), id.name)
}

/// The resource a `reference` names.
fn referenced(text: &str) -> Option<ResourceId> {
    let (key, name) = text.strip_prefix('<')?.strip_suffix('>')?.split_once(' ')?;
    Some(ResourceId::new(kind_of(key)?, name))
}

/// `value` with every reference in it replaced by what `with` gives for it.
fn replace_references(
    value: &mut serde_json::Value,
    with: &mut dyn FnMut(&ResourceId) -> Result<String, AwsError>,
) -> Result<(), AwsError> {
    match value {
        serde_json::Value::String(text) => {
            if let Some(id) = referenced(text) {
                *text = with(&id)?;
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                replace_references(item, with)?;
            }
        }
        serde_json::Value::Object(map) => {
            for item in map.values_mut() {
                replace_references(item, with)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// `error` as "not visible yet" when it is AWS saying that a resource `resource` references, which
/// this run has just made, does not exist (`InvalidVpcID.NotFound: The vpc ID 'vpc-1' does not
/// exist` right after CreateVpc, or Auto Scaling's "The subnet ID ... does not exist"): every kind
/// that names another by reference needs that, whatever its own codes are.
pub fn late_if_fresh_reference(error: AwsError, resource: &Resource, known: Known<'_>) -> AwsError {
    if error.is_late() {
        return error;
    }
    let missing = error
        .code
        .as_deref()
        .is_some_and(|c| c.contains("NotFound"))
        || error.message.contains("does not exist")
        || error.message.contains("not found");
    let mut fresh = Vec::new();
    let mut spec = resource.spec.clone();
    let _ = replace_references(&mut spec, &mut |id| {
        if known.is_fresh(id)
            && let Some(physical) = known.physical_id(id)
        {
            fresh.push(physical.to_string());
        }
        Ok(String::new())
    });
    if missing && fresh.iter().any(|id| error.message.contains(id.as_str())) {
        error.late()
    } else {
        error
    }
}

impl Resource {
    /// A resource of kind `K` named `name` with `spec`. It depends on what its spec references.
    pub fn new<K: ResourceKind>(name: impl Into<String>, component: &str, spec: &K::Spec) -> Self {
        let spec = serde_json::to_value(spec).expect("a spec serializes");
        let mut references = Vec::new();
        let mut value = spec.clone();
        let _ = replace_references(&mut value, &mut |id| {
            references.push(id.clone());
            Ok(String::new())
        });
        Resource {
            id: ResourceId::new(K::KIND, name),
            component: component.to_string(),
            group: None,
            spec,
            depends_on: vec![],
        }
        .needs(references)
    }

    /// The typed spec with each reference to another resource replaced by that resource's name:
    /// what plan compares.
    pub fn named_spec<K: ResourceKind>(&self) -> Result<K::Spec, AwsError> {
        self.spec_with::<K>(&mut |id| Ok(id.name.clone()))
    }

    /// The typed spec with each reference to another resource replaced by its AWS id, which
    /// `known` holds once it exists: what the calls send.
    pub fn resolved_spec<K: ResourceKind>(&self, known: Known<'_>) -> Result<K::Spec, AwsError> {
        self.spec_with::<K>(&mut |id| known.require(id, &self.id))
    }

    fn spec_with<K: ResourceKind>(
        &self,
        with: &mut dyn FnMut(&ResourceId) -> Result<String, AwsError>,
    ) -> Result<K::Spec, AwsError> {
        let mut resolved = self.clone();
        replace_references(&mut resolved.spec, with)?;
        resolved.spec::<K>()
    }

    /// The typed spec of a resource of kind `K`.
    pub fn spec<K: ResourceKind>(&self) -> Result<K::Spec, AwsError> {
        if self.id.kind != K::KIND {
            return Err(AwsError::other(
                format!("read the spec of {}", self.id),
                format!("it is not a {}", K::KIND.label()),
            ));
        }
        serde_json::from_value(self.spec.clone()).map_err(|error| {
            AwsError::other(
                format!("read the spec of {}", self.id),
                format!(
                    "it does not fit this deployer's {}: {error}",
                    K::KIND.label()
                ),
            )
        })
    }

    pub fn needs(mut self, dependencies: impl IntoIterator<Item = ResourceId>) -> Self {
        for dependency in dependencies {
            if !self.depends_on.contains(&dependency) {
                self.depends_on.push(dependency);
            }
        }
        self
    }
}

/// What is known of a live resource: its AWS id and the outputs others use.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Live {
    pub physical_id: String,
    pub outputs: Outputs,
}

impl Live {
    pub fn of(resource: &ObservedResource) -> Live {
        Live {
            physical_id: resource.physical_id.clone(),
            outputs: resource.outputs.clone(),
        }
    }

    /// A resource whose AWS id is its name (or an ARN), with no outputs.
    pub fn named(physical_id: impl Into<String>) -> Live {
        Live {
            physical_id: physical_id.into(),
            outputs: Outputs::default(),
        }
    }
}

/// The live resources by identity.
pub type Ledger = BTreeMap<ResourceId, Live>;

/// What a resource may rely on of the others when its attributes are computed: the live
/// resources whose values are known (from observation when planning, from results when
/// applying), and which of them are created by this run.
#[derive(Debug, Clone, Copy)]
pub struct Known<'a> {
    pub ledger: &'a Ledger,
    pub fresh: &'a BTreeSet<ResourceId>,
}

impl<'a> Known<'a> {
    pub fn get(&self, id: &ResourceId) -> Option<&'a Live> {
        self.ledger.get(id)
    }

    /// Whether `id` is (re)created by this run.
    pub fn is_fresh(&self, id: &ResourceId) -> bool {
        self.fresh.contains(id)
    }

    /// The AWS id of `id`, once it exists.
    pub fn physical_id(&self, id: &ResourceId) -> Option<&'a str> {
        self.get(id).map(|live| live.physical_id.as_str())
    }

    /// The AWS id of `id`, or an error saying it does not exist, for `user`.
    pub fn require(&self, id: &ResourceId, user: &ResourceId) -> Result<String, AwsError> {
        self.physical_id(id).map(str::to_string).ok_or_else(|| {
            AwsError::other(format!("configure {user}"), format!("{id} does not exist"))
        })
    }
}

/// Where the stack's resources are looked for: the connection, the names the stack and its
/// node groups give them, and the VPC.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    pub aws: &'a Aws,
    pub names: &'a Names,
    pub vpc_id: &'a str,
    /// Only the extra node groups `names` lists, not the main group (a second look for groups
    /// the profile no longer declares).
    pub groups_only: bool,
}

impl<'a> Scope<'a> {
    pub fn new(aws: &'a Aws, names: &'a Names, vpc_id: &'a str) -> Self {
        Scope {
            aws,
            names,
            vpc_id,
            groups_only: false,
        }
    }

    /// The node groups to look at: the main one (unless `groups_only`) and the extra ones.
    pub fn node_groups(&self) -> Vec<crate::ids::names::GroupNames> {
        let mut groups = self.names.node_groups();
        if self.groups_only {
            groups.retain(|group| group.group.is_some());
        }
        groups
    }
}

/// How a run waits, and what a destroy leaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// How often a waiter polls. Steady, not exponential: readiness is noticed within one interval.
    pub poll_interval: Duration,
    /// The final snapshot to leave when deleting a database; None skips it.
    pub final_snapshot: Option<String>,
    /// How long a call answered "not visible yet" (eventual consistency) is tried again.
    pub visibility_timeout: Duration,
    /// A failed bake leaves its builder stopped for inspection (`bake --keep-builder`).
    pub keep_failed_builder: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            poll_interval: Duration::from_secs(5),
            final_snapshot: None,
            visibility_timeout: Duration::from_secs(120),
            keep_failed_builder: false,
        }
    }
}

/// Everything a handler's create, update or delete of one resource may use.
pub struct StepContext<'a> {
    pub scope: Scope<'a>,
    pub id: &'a ResourceId,
    pub known: Known<'a>,
    /// The live resource as the plan observed it.
    pub observed: Option<&'a ObservedResource>,
    /// The tags a create sets: ownership, node group, and the digest of what is applied.
    pub tags: BTreeMap<String, String>,
    pub progress: &'a Progress,
    pub options: &'a Options,
    pub handler: &'a dyn Handler,
    /// Says that the resource exists with this AWS id, before its step finishes: what only
    /// needs it to exist may start (see [`Handler::usable_once_created`]).
    pub announce: &'a (dyn Fn(&str) + Send + Sync),
}

impl StepContext<'_> {
    pub fn aws(&self) -> &Aws {
        self.scope.aws
    }

    pub fn names(&self) -> &Names {
        self.scope.names
    }

    pub fn stack(&self) -> &str {
        self.scope.names.stack()
    }

    /// Show what the step is doing now.
    pub fn status(&self, text: &str) {
        self.progress.status(self.id, text)
    }

    pub async fn until_ready(&self) -> Result<ObservedResource, AwsError> {
        wait::until_ready(self.waiter(), self.id).await
    }

    pub async fn until_gone(&self) -> Result<(), AwsError> {
        wait::until_gone(self.waiter(), self.id).await
    }

    /// Repeat `attempt` until it reports done (`Ok(true)`).
    pub async fn retry<F, Fut>(&self, waiting_for: &str, attempt: F) -> Result<(), AwsError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<bool, AwsError>>,
    {
        wait::retry(self.waiter(), self.id, waiting_for, attempt).await
    }

    pub fn waiter(&self) -> wait::Waiter<'_> {
        wait::Waiter {
            scope: self.scope,
            handler: self.handler,
            progress: self.progress,
            poll_interval: self.options.poll_interval,
        }
    }
}

/// What a plan decides that a kind may look at: the stack's names, the desired resources and
/// what was observed live, and each resource's planned action so far.
pub struct PlanScope<'a> {
    pub names: &'a Names,
    pub desired: &'a [Resource],
    pub observed: &'a Observed,
    pub actions: &'a BTreeMap<ResourceId, Action>,
    /// How many images of each node group to keep.
    pub retention: &'a image::Retention,
}

impl PlanScope<'_> {
    pub fn action(&self, id: &ResourceId) -> Option<Action> {
        self.actions.get(id).copied()
    }

    /// The desired resources of kind `K` with their typed specs.
    pub fn desired_of<K: ResourceKind>(&self) -> Vec<(&Resource, K::Spec)> {
        self.desired
            .iter()
            .filter(|r| r.id.kind == K::KIND)
            .filter_map(|r| r.spec::<K>().ok().map(|spec| (r, spec)))
            .collect()
    }
}

/// What a plan says of one resource, for a kind's note on it.
pub struct NoteContext<'a> {
    pub resource: &'a Resource,
    pub action: Action,
    pub changes: &'a [Change],
    pub live: Option<&'a ObservedResource>,
    /// What the plan says of it already (a live resource still being created, ...).
    pub note: Option<&'a str>,
    pub plan: &'a PlanScope<'a>,
}

/// The error of a kind that is never desired, asked to create one.
pub fn never_desired(id: &ResourceId) -> AwsError {
    AwsError::other(
        format!("create {id}"),
        "deployer never creates one on its own: it is only left over by an interrupted run",
    )
}

/// Tags every resource carries: ownership and a readable name.
pub fn ownership_tags(stack: &str, component: &str, name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (crate::ids::tags::TAG_STACK.to_string(), stack.to_string()),
        (
            crate::ids::tags::TAG_COMPONENT.to_string(),
            component.to_string(),
        ),
        ("Name".to_string(), name.to_string()),
    ])
}

/// The resources of `kind` that a live resource's attribute `key` names (one name or a list of
/// names), among those observed: what it uses.
pub fn names_in(
    live: &ObservedResource,
    key: &str,
    kind: Kind,
    observed: &Observed,
) -> Vec<ResourceId> {
    let names: Vec<&str> = match live.attributes.get(key) {
        Some(serde_json::Value::String(name)) => vec![name.as_str()],
        Some(serde_json::Value::Array(items)) => {
            items.iter().filter_map(serde_json::Value::as_str).collect()
        }
        _ => vec![],
    };
    names
        .into_iter()
        .map(|name| ResourceId::new(kind, name))
        .filter(|id| id != &live.id && observed.get(id).is_some())
        .collect()
}

/// The order outputs are shown in (others follow).
const OUTPUT_ORDER: &[&str] = &[
    "load_balancer_dns",
    "database_endpoint",
    "database_secret_arn",
    "cache_endpoint",
    "cache_auth_secret_arn",
    "image",
    "launch_template",
    "auto_scaling_group",
];

/// The values an operator needs of the given live resources, each with the extra node group it
/// belongs to (None: the stack's own and the main group's): the stack's first, then each
/// group's as `group.<name>.<output>`.
pub fn outputs(entries: &[(&ResourceId, Option<&str>, &Live)]) -> Vec<(String, String)> {
    let mut all: Vec<(Option<&str>, usize, String, String)> = Vec::new();
    for (id, group, live) in entries {
        for (key, value) in handler(id.kind).outputs(id, live) {
            let rank = OUTPUT_ORDER
                .iter()
                .position(|k| *k == key)
                .unwrap_or(OUTPUT_ORDER.len());
            let name = match group {
                None => key.to_string(),
                Some(group) => format!("group.{group}.{key}"),
            };
            all.push((*group, rank, name, value));
        }
    }
    all.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    all.into_iter()
        .map(|(_, _, key, value)| (key, value))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_of_a_referenced_resource_made_by_this_run_is_not_visible_yet() {
        let vpc = vpc::id("shop");
        let subnet = Resource::new::<subnet::Subnets>(
            "shop-private-us-east-1a",
            "subnet",
            &subnet::Spec {
                vpc: reference(&vpc),
                cidr: "10.0.128.0/20".into(),
                zone: "us-east-1a".into(),
            },
        );
        assert_eq!(subnet.depends_on, vec![vpc.clone()]);
        let ledger = Ledger::from([(vpc.clone(), Live::named("vpc-0abc"))]);
        let fresh = BTreeSet::from([vpc.clone()]);
        let known = Known {
            ledger: &ledger,
            fresh: &fresh,
        };
        let gone = || {
            AwsError::coded(
                "create subnet",
                "InvalidVpcID.NotFound",
                "The vpc ID 'vpc-0abc' does not exist",
            )
        };
        assert!(late_if_fresh_reference(gone(), &subnet, known).is_late());
        // Another id, another answer, or a VPC this run did not make: a real failure.
        let other = AwsError::coded(
            "create subnet",
            "InvalidVpcID.NotFound",
            "The vpc ID 'vpc-0ffff' does not exist",
        );
        assert!(!late_if_fresh_reference(other, &subnet, known).is_late());
        let refused = AwsError::coded(
            "create subnet",
            "InvalidSubnet.Range",
            "The CIDR '10.0.128.0/20' is invalid for vpc-0abc",
        );
        assert!(!late_if_fresh_reference(refused, &subnet, known).is_late());
        let old = Known {
            ledger: &ledger,
            fresh: &BTreeSet::new(),
        };
        assert!(!late_if_fresh_reference(gone(), &subnet, old).is_late());
    }

    #[test]
    fn every_kind_is_registered_once_and_reads_back_by_its_key() {
        let mut keys = BTreeSet::new();
        for handler in REGISTRY {
            let kind = handler.kind();
            assert!(
                keys.insert(kind.key()),
                "{} is registered twice",
                kind.key()
            );
            let text = serde_json::to_string(&kind).unwrap();
            let back: Kind = serde_json::from_str(&text).unwrap();
            assert_eq!(back, kind);
            assert!(!handler.about().aws.is_empty(), "{kind:?} says what it is");
        }
        let error = serde_json::from_str::<Kind>("\"teleporter\"").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("unknown resource kind `teleporter`"),
            "{error}"
        );
    }
}
