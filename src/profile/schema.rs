//! The profile format: the serde types a `profiles/<name>.toml` deserializes into, with defaults.
//!
//! Every table denies unknown keys. Defaults are the reference deployment's starting values and the
//! security baseline; validation of values lives in `validate.rs`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A whole profile after `extends` has been merged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Another profile in the same directory whose keys this one overrides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
    /// The stack name: every resource's identity is derived from it.
    pub stack: String,
    /// AWS region; when absent, the usual AWS chain (`AWS_REGION`, ~/.aws/config) decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default)]
    pub network: Network,
    pub node: Node,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<Database>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<Cache>,
    pub load_balancer: LoadBalancer,
    #[serde(default)]
    pub scaling: Scaling,
}

/// Where the stack lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// A VPC id (`vpc-...`), or `"default"` for the region's default VPC.
    #[serde(default = "default_vpc")]
    pub vpc: String,
    /// Subnet ids; when absent, the VPC's subnets (one per Availability Zone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnets: Option<Vec<String>>,
}

impl Default for Network {
    fn default() -> Self {
        Network {
            vpc: default_vpc(),
            subnets: None,
        }
    }
}

/// The nodes: one launch template, run by the Auto Scaling Group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// An existing AMI id (`ami-...`): bring your own image. Or give `[node.bake]` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Bake the image: a builder instance configured by a template, powered off, imaged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bake: Option<Bake>,
    #[serde(default = "default_instance_type")]
    pub instance_type: String,
    /// Root volume size in GiB (always encrypted).
    #[serde(default = "default_volume_size")]
    pub volume_size: i32,
    #[serde(default = "default_volume_type")]
    pub volume_type: String,
    /// The boot template, relative to the project directory, rendered into the user data.
    #[serde(default = "default_boot_template")]
    pub boot_template: String,
    /// Extra strings handed to the boot template as `vars.<name>`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, String>,
}

/// How the node image is baked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bake {
    /// An AMI id, or a lookup `{ owner = "...", name = "pattern-*" }` (the newest match wins).
    pub base_image: BaseImage,
    /// Rendered into the builder's user data: installs and configures, then powers off.
    #[serde(default = "default_bake_template")]
    pub template: String,
    /// The builder's instance type.
    #[serde(default = "default_builder_type")]
    pub instance_type: String,
    /// The image's root volume in GiB (nodes may have a bigger one, not a smaller one).
    #[serde(default = "default_builder_volume")]
    pub volume_size: i32,
    #[serde(default = "default_volume_type")]
    pub volume_type: String,
    /// How long the builder may take to power off: `30m`, `90s`, `1h`.
    #[serde(default = "default_bake_timeout")]
    pub timeout: String,
    /// How many of the stack's images to keep (images in use are always kept).
    #[serde(default = "default_keep_images")]
    pub keep_images: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum BaseImage {
    Id(String),
    Lookup(ImageLookup),
}

/// The newest available image of `owner` whose name matches `name` (wildcards `*` and `?`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageLookup {
    /// An account id, or `amazon`, `aws-marketplace`, `self`.
    pub owner: String,
    pub name: String,
}

/// RDS PostgreSQL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Database {
    #[serde(default = "default_postgres_version")]
    pub engine_version: String,
    #[serde(default = "default_db_instance_class")]
    pub instance_class: String,
    /// Allocated storage in GiB.
    #[serde(default = "default_db_storage")]
    pub allocated_storage: i32,
    #[serde(default = "default_db_storage_type")]
    pub storage_type: String,
    #[serde(default = "yes")]
    pub encrypted: bool,
    #[serde(default = "yes")]
    pub multi_az: bool,
    #[serde(default = "default_db_port")]
    pub port: u16,
    /// The database created on the instance.
    #[serde(default = "default_db_name")]
    pub name: String,
    /// The master user; its password is generated and kept by RDS in Secrets Manager.
    #[serde(default = "default_db_username")]
    pub username: String,
    #[serde(default = "default_backup_days")]
    pub backup_retention_days: i32,
    #[serde(default = "yes")]
    pub deletion_protection: bool,
    #[serde(default = "yes")]
    pub auto_minor_version_upgrade: bool,
}

/// ElastiCache Redis replication group (cluster mode off).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cache {
    #[serde(default = "default_redis_version")]
    pub engine_version: String,
    #[serde(default = "default_cache_node_type")]
    pub node_type: String,
    /// Read replicas besides the primary.
    #[serde(default = "one")]
    pub replicas: i32,
    #[serde(default = "yes")]
    pub automatic_failover: bool,
    #[serde(default = "yes")]
    pub multi_az: bool,
    #[serde(default = "default_cache_port")]
    pub port: u16,
    #[serde(default = "yes")]
    pub encryption_at_rest: bool,
    /// TLS between nodes and clients; the AUTH token requires it.
    #[serde(default = "yes")]
    pub encryption_in_transit: bool,
}

/// The Classic Elastic Load Balancer in front of the nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancer {
    #[serde(default)]
    pub scheme: Scheme,
    pub listeners: Vec<Listener>,
    #[serde(default)]
    pub health_check: HealthCheck,
    /// Idle connection timeout in seconds.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: i32,
    #[serde(default = "yes")]
    pub cross_zone: bool,
    #[serde(default = "yes")]
    pub connection_draining: bool,
    #[serde(default = "default_draining_timeout")]
    pub connection_draining_timeout: i32,
    #[serde(default)]
    pub desync_mitigation: DesyncMitigation,
    #[serde(default)]
    pub stickiness: Stickiness,
    /// The predefined TLS policy set on every HTTPS/SSL listener.
    #[serde(default = "default_tls_policy")]
    pub tls_policy: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum Scheme {
    #[default]
    #[serde(rename = "internet-facing")]
    InternetFacing,
    #[serde(rename = "internal")]
    Internal,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::InternetFacing => "internet-facing",
            Scheme::Internal => "internal",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DesyncMitigation {
    Monitor,
    #[default]
    Defensive,
    Strictest,
}

impl DesyncMitigation {
    pub fn as_str(self) -> &'static str {
        match self {
            DesyncMitigation::Monitor => "monitor",
            DesyncMitigation::Defensive => "defensive",
            DesyncMitigation::Strictest => "strictest",
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum Protocol {
    #[serde(rename = "HTTP")]
    Http,
    #[serde(rename = "HTTPS")]
    Https,
    #[serde(rename = "TCP")]
    Tcp,
    #[serde(rename = "SSL")]
    Ssl,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "HTTP",
            Protocol::Https => "HTTPS",
            Protocol::Tcp => "TCP",
            Protocol::Ssl => "SSL",
        }
    }

    /// Protocols that terminate TLS on the load balancer and so need a certificate.
    pub fn is_secure(self) -> bool {
        matches!(self, Protocol::Https | Protocol::Ssl)
    }

    pub fn parse(text: &str) -> Option<Protocol> {
        match text.to_ascii_uppercase().as_str() {
            "HTTP" => Some(Protocol::Http),
            "HTTPS" => Some(Protocol::Https),
            "TCP" => Some(Protocol::Tcp),
            "SSL" => Some(Protocol::Ssl),
            _ => None,
        }
    }
}

/// One load balancer listener and who may reach it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// The port the load balancer listens on.
    pub port: u16,
    pub protocol: Protocol,
    /// The port on the nodes the traffic goes to.
    pub instance_port: u16,
    /// Defaults to HTTP behind HTTP/HTTPS and TCP behind TCP/SSL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_protocol: Option<Protocol>,
    /// ACM or IAM certificate ARN; required for HTTPS and SSL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// CIDR blocks that may reach this listener port.
    pub allow: Vec<String>,
}

impl Listener {
    pub fn effective_instance_protocol(&self) -> Protocol {
        self.instance_protocol.unwrap_or(match self.protocol {
            Protocol::Http | Protocol::Https => Protocol::Http,
            Protocol::Tcp | Protocol::Ssl => Protocol::Tcp,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// `PROTOCOL:PORT[/path]`, e.g. `HTTP:80/health`.
    #[serde(default = "default_health_target")]
    pub target: String,
    #[serde(default = "default_health_timeout")]
    pub timeout: i32,
    #[serde(default = "default_health_interval")]
    pub interval: i32,
    #[serde(default = "two")]
    pub unhealthy_threshold: i32,
    #[serde(default = "two")]
    pub healthy_threshold: i32,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            target: default_health_target(),
            timeout: default_health_timeout(),
            interval: default_health_interval(),
            unhealthy_threshold: 2,
            healthy_threshold: 2,
        }
    }
}

/// Load-balancer-generated cookie stickiness.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stickiness {
    #[serde(default)]
    pub enabled: bool,
    /// Cookie lifetime in seconds; absent means the browser session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie_expiration: Option<i64>,
}

/// The Auto Scaling Group's capacity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scaling {
    #[serde(default = "two")]
    pub min: i32,
    #[serde(default = "default_max")]
    pub max: i32,
    /// Defaults to `min`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<i32>,
    /// Seconds after launch before load balancer health counts.
    #[serde(default = "default_grace")]
    pub health_check_grace_period: i32,
    /// How many instances a roll replaces at a time: a count (`"2"`) or a share of the desired
    /// capacity (`"25%"`, at least one).
    #[serde(default = "default_roll_batch")]
    pub roll_batch: String,
    /// How long a batch's new instances may take to pass the load balancer's health check before
    /// the roll is rolled back.
    #[serde(default = "default_roll_timeout")]
    pub roll_timeout: String,
    /// Seconds before a new instance's metrics count towards scaling (the group's warm-up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_warmup: Option<i32>,
    /// Which instances scale-in terminates first.
    #[serde(default = "default_termination_policies")]
    pub termination_policies: Vec<String>,
    /// Target tracking policies: keep a metric at a target by adding and removing instances.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_tracking: Vec<TargetTracking>,
    /// Scheduled capacity changes (cron recurrence).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scheduled: Vec<Scheduled>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetTracking {
    pub name: String,
    pub metric: Metric,
    /// The value to hold the metric at (percent for cpu).
    pub target: f64,
    /// Only scale out; never remove instances for this policy.
    #[serde(default)]
    pub disable_scale_in: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Average CPU utilisation of the group.
    Cpu,
    /// Average bytes in per instance.
    NetworkIn,
    /// Average bytes out per instance.
    NetworkOut,
    /// Requests per instance: Application Load Balancers only.
    RequestCount,
}

impl Metric {
    /// The predefined metric type AWS knows.
    pub fn predefined(self) -> &'static str {
        match self {
            Metric::Cpu => "ASGAverageCPUUtilization",
            Metric::NetworkIn => "ASGAverageNetworkIn",
            Metric::NetworkOut => "ASGAverageNetworkOut",
            Metric::RequestCount => "ALBRequestCountPerTarget",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scheduled {
    pub name: String,
    /// Cron, five fields: minute hour day-of-month month day-of-week (`0 8 * * MON-FRI`).
    pub recurrence: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<i32>,
    /// An IANA time zone for the recurrence (`Europe/Berlin`); UTC when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

impl Scaling {
    pub fn effective_desired(&self) -> i32 {
        self.desired.unwrap_or(self.min)
    }
}

impl Default for Scaling {
    fn default() -> Self {
        Scaling {
            min: 2,
            max: default_max(),
            desired: None,
            health_check_grace_period: default_grace(),
            roll_batch: default_roll_batch(),
            roll_timeout: default_roll_timeout(),
            instance_warmup: None,
            termination_policies: default_termination_policies(),
            target_tracking: vec![],
            scheduled: vec![],
        }
    }
}

fn yes() -> bool {
    true
}
fn one() -> i32 {
    1
}
fn two() -> i32 {
    2
}
fn default_vpc() -> String {
    "default".into()
}
fn default_instance_type() -> String {
    "m5.large".into()
}
fn default_volume_size() -> i32 {
    20
}
fn default_volume_type() -> String {
    "gp3".into()
}
fn default_boot_template() -> String {
    "templates/boot.sh.j2".into()
}
fn default_bake_template() -> String {
    "templates/bake.sh.j2".into()
}
fn default_builder_type() -> String {
    "t3.medium".into()
}
fn default_builder_volume() -> i32 {
    20
}
fn default_bake_timeout() -> String {
    "30m".into()
}
fn default_keep_images() -> i32 {
    3
}
fn default_postgres_version() -> String {
    "16.4".into()
}
fn default_db_instance_class() -> String {
    "db.m4.large".into()
}
fn default_db_storage() -> i32 {
    250
}
fn default_db_storage_type() -> String {
    "gp2".into()
}
fn default_db_port() -> u16 {
    5432
}
fn default_db_name() -> String {
    "app".into()
}
fn default_db_username() -> String {
    "deployer".into()
}
fn default_backup_days() -> i32 {
    7
}
fn default_redis_version() -> String {
    "7.1".into()
}
fn default_cache_node_type() -> String {
    "cache.m3.medium".into()
}
fn default_cache_port() -> u16 {
    6379
}
fn default_idle_timeout() -> i32 {
    300
}
fn default_draining_timeout() -> i32 {
    300
}
fn default_tls_policy() -> String {
    "ELBSecurityPolicy-TLS-1-2-2017-01".into()
}
fn default_health_target() -> String {
    "HTTP:80/health".into()
}
fn default_health_timeout() -> i32 {
    59
}
fn default_health_interval() -> i32 {
    60
}
fn default_roll_batch() -> String {
    "25%".into()
}
fn default_roll_timeout() -> String {
    "15m".into()
}
fn default_termination_policies() -> Vec<String> {
    vec!["Default".into()]
}
fn default_max() -> i32 {
    4
}
fn default_grace() -> i32 {
    300
}
