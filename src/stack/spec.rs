//! The desired resources of a stack: identity, ownership component, typed specification and the
//! resources each depends on. Built from a profile by `stack::build`; serialisable so a saved plan
//! can carry exactly what it will apply.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::naming::Tier;
use crate::profile::schema::{DesyncMitigation, Protocol, Scheme};

/// Resource kinds, in dependency order (a kind only depends on kinds before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A builder instance left by an interrupted bake (never desired; adopted or terminated).
    Builder,
    SecurityGroup,
    DbSubnetGroup,
    Database,
    CacheSubnetGroup,
    CacheAuthSecret,
    Cache,
    LoadBalancer,
    NodeRole,
    /// A baked node image.
    Image,
    /// A snapshot of a deregistered image, left by an interrupted deletion (never desired).
    Snapshot,
    LaunchTemplate,
    AutoScalingGroup,
    /// A target tracking policy of the group.
    ScalingPolicy,
    /// A scheduled capacity change of the group.
    ScheduledAction,
}

impl Kind {
    /// How the kind is called in messages.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Builder => "builder",
            Kind::Image => "image",
            Kind::Snapshot => "snapshot",
            Kind::SecurityGroup => "security group",
            Kind::DbSubnetGroup => "DB subnet group",
            Kind::Database => "database",
            Kind::CacheSubnetGroup => "cache subnet group",
            Kind::CacheAuthSecret => "secret",
            Kind::Cache => "cache",
            Kind::LoadBalancer => "load balancer",
            Kind::NodeRole => "node role",
            Kind::LaunchTemplate => "launch template",
            Kind::AutoScalingGroup => "auto scaling group",
            Kind::ScalingPolicy => "scaling policy",
            Kind::ScheduledAction => "scheduled action",
        }
    }

    /// Kinds that hold data: never replaced by apply, deleted only by a confirmed destroy.
    pub fn is_stateful(self) -> bool {
        matches!(self, Kind::Database | Kind::Cache)
    }
}

/// A resource's identity: its kind and its deterministic name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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

/// One desired resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub id: ResourceId,
    /// The `deployer:component` tag value.
    pub component: String,
    pub spec: Spec,
    pub depends_on: Vec<ResourceId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Spec {
    SecurityGroup(SecurityGroupSpec),
    DbSubnetGroup(SubnetGroupSpec),
    Database(DatabaseSpec),
    CacheSubnetGroup(SubnetGroupSpec),
    CacheAuthSecret(SecretSpec),
    Cache(CacheSpec),
    LoadBalancer(LoadBalancerSpec),
    NodeRole(NodeRoleSpec),
    Image(Box<BakeSpec>),
    LaunchTemplate(Box<LaunchTemplateSpec>),
    AutoScalingGroup(GroupSpec),
    ScalingPolicy(PolicySpec),
    ScheduledAction(ScheduleSpec),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecurityGroupSpec {
    pub tier: Tier,
    pub vpc_id: String,
    pub description: String,
    pub ingress: Vec<IngressRule>,
}

/// One TCP ingress rule: a port range from a CIDR block or from another of the stack's groups.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IngressRule {
    pub from_port: i32,
    pub to_port: i32,
    pub source: Source,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    Cidr(String),
    /// Another security group, by name (one of the stack's) or by id (anything else seen live).
    Group(String),
}

impl IngressRule {
    /// The canonical text the plan compares, e.g. `tcp 443 from 0.0.0.0/0`.
    pub fn canonical(&self) -> String {
        let ports = if self.from_port == self.to_port {
            self.from_port.to_string()
        } else {
            format!("{}-{}", self.from_port, self.to_port)
        };
        match &self.source {
            Source::Cidr(cidr) => format!("tcp {ports} from {cidr}"),
            Source::Group(group) => format!("tcp {ports} from group {group}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubnetGroupSpec {
    pub description: String,
    pub subnets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretSpec {
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatabaseSpec {
    pub engine_version: String,
    pub instance_class: String,
    pub allocated_storage: i32,
    pub storage_type: String,
    pub encrypted: bool,
    pub multi_az: bool,
    pub port: i32,
    pub db_name: String,
    pub username: String,
    pub backup_retention_days: i32,
    pub deletion_protection: bool,
    pub auto_minor_version_upgrade: bool,
    pub subnet_group: String,
    pub security_group: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheSpec {
    pub description: String,
    pub engine_version: String,
    pub node_type: String,
    /// The primary plus its replicas.
    pub num_cache_clusters: i32,
    pub automatic_failover: bool,
    pub multi_az: bool,
    pub port: i32,
    pub encryption_at_rest: bool,
    pub encryption_in_transit: bool,
    /// Whether an AUTH token (kept in `auth_secret`) protects the group.
    pub auth_token: bool,
    pub auth_secret: String,
    pub subnet_group: String,
    pub security_group: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListenerSpec {
    pub port: i32,
    pub protocol: Protocol,
    pub instance_port: i32,
    pub instance_protocol: Protocol,
    pub certificate: Option<String>,
}

impl ListenerSpec {
    /// The canonical text the plan compares, e.g. `443 HTTPS -> 80 HTTP (arn:...)`.
    pub fn canonical(&self) -> String {
        let mut text = format!(
            "{} {} -> {} {}",
            self.port,
            self.protocol.as_str(),
            self.instance_port,
            self.instance_protocol.as_str()
        );
        if let Some(certificate) = &self.certificate {
            text.push_str(&format!(" ({certificate})"));
        }
        text
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthCheckSpec {
    pub target: String,
    pub interval: i32,
    pub timeout: i32,
    pub healthy_threshold: i32,
    pub unhealthy_threshold: i32,
}

impl HealthCheckSpec {
    pub fn canonical(&self) -> String {
        format!(
            "{} every {}s, timeout {}s, healthy {}, unhealthy {}",
            self.target,
            self.interval,
            self.timeout,
            self.healthy_threshold,
            self.unhealthy_threshold
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadBalancerSpec {
    /// The extra node group it fronts (None: the stack's main, public balancer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub scheme: Scheme,
    pub subnets: Vec<String>,
    pub security_group: String,
    pub listeners: Vec<ListenerSpec>,
    pub health_check: HealthCheckSpec,
    pub idle_timeout: i32,
    pub cross_zone: bool,
    /// Connection draining timeout in seconds, or None when draining is off.
    pub connection_draining: Option<i32>,
    pub desync_mitigation: DesyncMitigation,
    /// Load-balancer cookie stickiness: None off, Some(None) session cookie, Some(Some(s)) expiry.
    pub stickiness: Option<Option<i64>>,
    pub tls_policy: String,
}

impl LoadBalancerSpec {
    /// The name of the SSL negotiation policy deployer creates for `tls_policy`.
    pub fn tls_policy_name(&self) -> String {
        format!(
            "deployer-tls-{}",
            self.tls_policy.trim_start_matches("ELBSecurityPolicy-")
        )
    }

    /// The name of the cookie stickiness policy.
    pub fn stickiness_policy_name(&self) -> Option<String> {
        self.stickiness.map(|expiry| match expiry {
            Some(seconds) => format!("deployer-sticky-{seconds}"),
            None => "deployer-sticky-session".to_string(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRoleSpec {
    pub path: String,
    /// The inline policy that lets nodes read exactly this stack's secrets.
    pub policy_name: String,
    pub policy: serde_json::Value,
}

/// A bake: a builder from `base_image`, configured by `user_data`, powered off, imaged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BakeSpec {
    /// The content hash of everything that shapes the image.
    pub hash: String,
    /// The resolved base AMI id.
    pub base_image: String,
    /// The bake template's path, for messages.
    pub template: String,
    /// The rendered bake template: the builder's user data.
    pub user_data: String,
    pub instance_type: String,
    pub volume_size: i32,
    pub volume_type: String,
    pub timeout_seconds: u64,
    pub vpc_id: String,
    pub subnet: String,
    /// What shaped the image, as recorded in its tags (for "inputs changed").
    pub inputs: std::collections::BTreeMap<String, String>,
}

/// Where the nodes' image comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeImage {
    /// An existing AMI id.
    Fixed(String),
    /// The image resource baked by this stack (its name).
    Baked(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchTemplateSpec {
    /// The extra node group it launches (None: the main group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub image: NodeImage,
    pub instance_type: String,
    pub volume_size: i32,
    pub volume_type: String,
    pub security_group: String,
    pub instance_profile: String,
    pub boot: super::user_data::BootTemplate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupSpec {
    pub min: i32,
    pub max: i32,
    pub desired: i32,
    pub health_check_grace_period: i32,
    pub subnets: Vec<String>,
    /// The group's load balancer; None for a group health-checked by EC2 alone.
    pub load_balancer: Option<String>,
    pub launch_template: String,
    /// `roll_batch` as written: a count or a share of the desired capacity.
    pub roll_batch: String,
    pub roll_timeout_seconds: u64,
    pub instance_warmup: Option<i32>,
    pub termination_policies: Vec<String>,
    /// `apply --reset-scale`: return to the profile's capacity even after `deployer scale`.
    #[serde(default)]
    pub reset_scale: bool,
}

/// A target tracking policy: keep a predefined metric of the group at a target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicySpec {
    pub group: String,
    /// AWS's predefined metric type, e.g. `ASGAverageCPUUtilization`.
    pub metric: String,
    pub target: f64,
    pub disable_scale_in: bool,
}

/// A scheduled change of the group's capacity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleSpec {
    pub group: String,
    pub recurrence: String,
    pub min: Option<i32>,
    pub max: Option<i32>,
    pub desired: Option<i32>,
    pub time_zone: Option<String>,
}
