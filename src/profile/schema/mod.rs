//! The profile format: the serde types a `profiles/<name>.toml` deserializes into, with defaults.
//!
//! Every table denies unknown keys. Defaults are the reference deployment's starting values and the
//! security baseline; validation of values lives in `validate.rs`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod defaults;

use super::values::{Duration, HealthTarget, RollBatch};
use defaults::*;

/// A whole profile after `extends` has been merged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Another profile in the same directory whose keys this one overrides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
    /// The stack name: every resource's identity is derived from it. Lowercase letters, digits
    /// and single hyphens, starting with a letter; at most 29 characters (AWS allows 32 for the
    /// load balancer's name, `<stack>-lb`).
    pub stack: String,
    /// AWS region; when absent, the usual AWS chain (`AWS_REGION`, ~/.aws/config) decides.
    /// `--region` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default)]
    pub network: Network,
    pub node: Node,
    /// RDS PostgreSQL; without this table the stack has no database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<Database>,
    /// ElastiCache Redis; without this table the stack has no cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<Cache>,
    pub load_balancer: LoadBalancer,
    #[serde(default)]
    pub scaling: Scaling,
    #[serde(default)]
    pub alarms: Alarms,
    #[serde(default)]
    pub logs: Logs,
    /// Let AWS Systems Manager Session Manager open a shell on a node (`aws ssm start-session
    /// --target <instance>`, which `deployer status` prints for each): no SSH, no open port, every
    /// session recorded in CloudTrail. The nodes need a way to the ssm, ssmmessages and ec2messages
    /// APIs (a NAT gateway, or those interface endpoints).
    #[serde(default = "yes")]
    pub ssm: bool,
    /// More node groups besides `[node]`, by name: each with its own image, template, capacity
    /// and (optionally) internal load balancer, e.g. a cluster manager the nodes point at.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, Group>,
}

impl Profile {
    /// Every node table with its group's name and its profile key: the main group's (`node`),
    /// then each extra group's (`groups.<name>.node`).
    pub fn node_tables(&self) -> Vec<(Option<&str>, String, &Node)> {
        std::iter::once((None, "node".to_string(), &self.node))
            .chain(
                self.groups
                    .iter()
                    .map(|(name, g)| (Some(name.as_str()), format!("groups.{name}.node"), &g.node)),
            )
            .collect()
    }
}

/// An extra node group: `[groups.<name>]`. Its resources are named `<stack>-<name>` (security
/// group, launch template, Auto Scaling Group) and `<stack>-<name>-lb` (its load balancer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// What the group's instances run: the keys of `[node]` (image or bake, instance type, boot
    /// template, vars).
    pub node: Node,
    /// The group's capacity: the keys of `[scaling]` but target tracking and schedules (an extra
    /// group has a fixed size range; `deployer scale --group <name>` changes it).
    #[serde(default)]
    pub scaling: GroupScaling,
    /// TCP ports the main nodes reach the group on: its load balancer's listeners, and what its
    /// security group admits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<u16>,
    /// Put an internal Classic ELB in front of the group, listening on `ports` (TCP); its DNS name
    /// is the main boot template's `groups.<name>.endpoint`. Without it, the group's instances are
    /// health-checked by EC2 and reached only by their own addresses.
    #[serde(default = "yes")]
    pub load_balancer: bool,
    /// The load balancer's health check target, `TCP:<port>` or `HTTP:<port>/<path>`; defaults to
    /// `TCP:` the first port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthTarget>,
    /// The group's instances may reach the database and the cache (their security groups admit
    /// the group) and its boot template sees their endpoints.
    #[serde(default)]
    pub data_tier: bool,
}

/// An extra group's capacity: `[scaling]` without policies or schedules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupScaling {
    /// The group's minimum size, 0 to 10000.
    #[serde(default = "one")]
    pub min: i32,
    /// The group's maximum size, 1 to 10000.
    #[serde(default = "one")]
    pub max: i32,
    /// The group's desired capacity (min <= desired <= max); defaults to `min`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<i32>,
    /// Seconds after launch before health checks count.
    #[serde(default = "default_grace")]
    pub health_check_grace_period: i32,
    /// How many instances a roll replaces at a time: a count or a share (`"25%"`).
    #[serde(default = "default_roll_batch")]
    pub roll_batch: RollBatch,
    /// How long a batch's new instances may take to become healthy before the roll is rolled
    /// back.
    #[serde(default = "default_roll_timeout")]
    pub roll_timeout: Duration,
    /// Which instances scale-in terminates first: AWS's policy names.
    #[serde(default = "default_termination_policies")]
    pub termination_policies: Vec<String>,
}

impl Default for GroupScaling {
    fn default() -> Self {
        GroupScaling {
            min: 1,
            max: 1,
            desired: None,
            health_check_grace_period: default_grace(),
            roll_batch: default_roll_batch(),
            roll_timeout: default_roll_timeout(),
            termination_policies: default_termination_policies(),
        }
    }
}

impl GroupScaling {
    /// As a `[scaling]` table (no policies, schedules or warm-up), for the checks and the group
    /// both share.
    pub fn as_scaling(&self) -> Scaling {
        Scaling {
            min: self.min,
            max: self.max,
            desired: self.desired,
            health_check_grace_period: self.health_check_grace_period,
            roll_batch: self.roll_batch.clone(),
            roll_timeout: self.roll_timeout.clone(),
            instance_warmup: None,
            termination_policies: self.termination_policies.clone(),
            target_tracking: vec![],
            scheduled: vec![],
        }
    }
}

/// Where the stack lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// `"create"`: deployer creates and owns the VPC (public subnets for the load balancer and
    /// the NAT gateways, private ones with a NAT route for the nodes, the database and the cache,
    /// in `zones` Availability Zones). A VPC id (`vpc-...`): an existing VPC. `"default"`: the
    /// region's default VPC (a trial: its subnets give the nodes no way out).
    #[serde(default = "default_vpc")]
    pub vpc: String,
    /// With `vpc = "create"`: the VPC's IPv4 range, a /16 to a /24, default `10.0.0.0/16`. Each
    /// subnet takes a sixteenth of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
    /// With `vpc = "create"`: how many Availability Zones the stack spans, 2 to 6, default 3 (the
    /// first that offer every node group's instance type, by name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zones: Option<u8>,
    /// With `vpc = "create"`: `"per-zone"` (default: a NAT gateway in each zone, so a zone's
    /// outage leaves the others their way out) or `"single"` (one for all zones, to save cost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat: Option<Nat>,
    /// With `vpc = "create"`: interface endpoints (private DNS on) in the private subnets, by
    /// service (`"secretsmanager"`, `"ssm"`, `"logs"`, ...), so that the nodes reach those AWS
    /// APIs without a NAT gateway. Each costs per zone and hour. An S3 gateway endpoint (free) is
    /// always there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Vec<String>>,
    /// Subnet ids that every tier shares (load balancer, nodes, database, cache), in at least two
    /// Availability Zones and one per zone; when absent (and no tier's list is given), the VPC's
    /// subnets (one per zone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnets: Option<Vec<String>>,
    /// The load balancer's subnets, one per zone: public ones (0.0.0.0/0 to an internet gateway)
    /// for an internet-facing balancer. Given with `node_subnets`, in place of `subnets`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer_subnets: Option<Vec<String>>,
    /// The nodes' subnets, one per zone: private ones, with a NAT route (or the VPC endpoints the
    /// nodes need), each in a zone the load balancer has a subnet in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_subnets: Option<Vec<String>>,
    /// The database's and the cache's subnets, one per zone, in at least two zones; when absent,
    /// the nodes'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_subnets: Option<Vec<String>>,
}

impl Default for Network {
    fn default() -> Self {
        Network {
            vpc: default_vpc(),
            cidr: None,
            zones: None,
            nat: None,
            endpoints: None,
            subnets: None,
            load_balancer_subnets: None,
            node_subnets: None,
            data_subnets: None,
        }
    }
}

impl Network {
    /// Whether the load balancer and the nodes have subnets of their own.
    pub fn separates_tiers(&self) -> bool {
        self.node_subnets.is_some() || self.creates_vpc()
    }

    /// Whether deployer creates and owns the VPC.
    pub fn creates_vpc(&self) -> bool {
        self.vpc == CREATE_VPC
    }

    /// The VPC's range, when deployer creates it.
    pub fn cidr(&self) -> &str {
        self.cidr.as_deref().unwrap_or(DEFAULT_CIDR)
    }

    /// How many zones, when deployer creates the VPC.
    pub fn zone_count(&self) -> usize {
        self.zones.unwrap_or(3).into()
    }
}

/// `[network] vpc = "create"`.
pub const CREATE_VPC: &str = "create";
pub const DEFAULT_CIDR: &str = "10.0.0.0/16";

/// How many NAT gateways a VPC deployer creates has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Nat {
    /// One in each zone's public subnet; each zone's private subnet routes through its own.
    #[default]
    #[serde(rename = "per-zone")]
    PerZone,
    /// One, in the first zone, for every private subnet.
    #[serde(rename = "single")]
    Single,
    /// None: the private subnets reach the VPC, its S3 endpoint and the interface endpoints
    /// (`endpoints`) only.
    #[serde(rename = "none")]
    None,
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
    /// The nodes' EC2 instance type.
    #[serde(default = "default_instance_type")]
    pub instance_type: String,
    /// Root volume size in GiB (always encrypted).
    #[serde(default = "default_volume_size")]
    pub volume_size: i32,
    /// The root volume's EBS type (`gp3`, `gp2`, `io1`, `io2`, ...).
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
    /// An AMI id; an SSM parameter `{ ssm = "/aws/service/ami-amazon-linux-latest/..." }` (AWS's
    /// public parameter for one line of images); or a lookup `{ owner = "...", name =
    /// "pattern-*" }` (the newest match wins). A parameter or lookup that names a newer image
    /// than the stack's image was baked from is noted, not baked, until `--refresh-base-image`.
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
    /// The image's root volume type: `gp3`, `gp2`, `io1`, `io2` or `standard`.
    #[serde(default = "default_volume_type")]
    pub volume_type: String,
    /// How long the builder may take to power off: `90s`, `30m`, `1h` (at most 24h).
    #[serde(default = "default_bake_timeout")]
    pub timeout: Duration,
    /// How many of the stack's newest images to keep, 1 to 100 (images in use are always
    /// kept).
    #[serde(default = "default_keep_images")]
    pub keep_images: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum BaseImage {
    Id(String),
    Lookup(ImageLookup),
    Parameter(ImageParameter),
}

/// The image an SSM parameter names: AWS's public ones follow one line of images
/// (`/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-6.1-x86_64`: Amazon Linux 2023, kernel
/// 6.1). Once the stack has an image, a newer release is noted, not baked: `apply
/// --refresh-base-image` takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageParameter {
    /// The parameter's name, starting with `/`.
    pub ssm: String,
}

impl BaseImage {
    /// Whether the image it names changes when AWS releases one (a lookup, a parameter).
    pub fn moves(&self) -> bool {
        !matches!(self, BaseImage::Id(_))
    }
}

/// The newest available image of `owner` whose name matches `name` (wildcards `*` and `?`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageLookup {
    /// An account id, or `amazon`, `aws-marketplace`, `self`.
    pub owner: String,
    /// An image name pattern: `*` and `?` are wildcards (`al2023-ami-2023.*-x86_64`).
    pub name: String,
}

/// RDS PostgreSQL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Database {
    /// The PostgreSQL version: a major (`16`: the newest 16.x RDS creates in the region, which
    /// plan shows) or an exact version RDS still creates (plan refuses one it no longer does,
    /// naming the newest). A newer minor version on the live instance is not drift.
    #[serde(default = "default_postgres_version")]
    pub engine_version: String,
    /// The RDS instance class.
    #[serde(default = "default_db_instance_class")]
    pub instance_class: String,
    /// Allocated storage in GiB, 20 to 65536; storage only grows.
    #[serde(default = "default_db_storage")]
    pub allocated_storage: i32,
    /// The storage type: `gp2`, `gp3`, `io1`, `io2` or `standard`.
    #[serde(default = "default_db_storage_type")]
    pub storage_type: String,
    /// Encrypt the storage at rest.
    #[serde(default = "yes")]
    pub encrypted: bool,
    /// Keep a standby in another Availability Zone that RDS fails over to.
    #[serde(default = "yes")]
    pub multi_az: bool,
    /// The PostgreSQL port, 1150 to 65535.
    #[serde(default = "default_db_port")]
    pub port: u16,
    /// The database created on the instance.
    #[serde(default = "default_db_name")]
    pub name: String,
    /// The master user; its password is generated and kept by RDS in Secrets Manager.
    #[serde(default = "default_db_username")]
    pub username: String,
    /// Days of automated backups to keep, 7 to 35.
    #[serde(default = "default_backup_days")]
    pub backup_retention_days: i32,
    /// While on, RDS refuses to delete the instance; `deployer destroy` turns it off first.
    #[serde(default = "yes")]
    pub deletion_protection: bool,
    /// Let RDS apply minor version upgrades in the maintenance window.
    #[serde(default = "yes")]
    pub auto_minor_version_upgrade: bool,
}

/// ElastiCache Redis replication group (cluster mode off).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cache {
    /// The Redis version: a major (`7`: the newest 7.x ElastiCache creates in the region) or a
    /// version ElastiCache lists (`7.1`, `6.2`, `5.0.6`); 3.2.6 or later with encryption.
    #[serde(default = "default_redis_version")]
    pub engine_version: String,
    /// The ElastiCache node type.
    #[serde(default = "default_cache_node_type")]
    pub node_type: String,
    /// Read replicas besides the primary, 0 to 5.
    #[serde(default = "one")]
    pub replicas: i32,
    /// Promote a replica when the primary fails; needs a replica.
    #[serde(default = "yes")]
    pub automatic_failover: bool,
    /// Keep the replicas in other Availability Zones; needs automatic failover.
    #[serde(default = "yes")]
    pub multi_az: bool,
    /// The Redis port.
    #[serde(default = "default_cache_port")]
    pub port: u16,
    /// Encrypt the cache's storage.
    #[serde(default = "yes")]
    pub encryption_at_rest: bool,
    /// TLS between nodes and clients. It brings an AUTH token, which deployer generates and
    /// keeps in Secrets Manager.
    #[serde(default = "yes")]
    pub encryption_in_transit: bool,
}

/// The Classic Elastic Load Balancer in front of the nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancer {
    /// `internet-facing` has a public DNS name; `internal` is reachable only from inside the VPC.
    #[serde(default)]
    pub scheme: Scheme,
    /// The listeners, at least one: each its own port.
    pub listeners: Vec<Listener>,
    /// How the load balancer checks the nodes. The group uses the same check: an instance that
    /// fails it is replaced.
    #[serde(default)]
    pub health_check: HealthCheck,
    /// Idle connection timeout in seconds, 1 to 4000.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: i32,
    /// Spread requests over the nodes of every zone, not zone by zone.
    #[serde(default = "yes")]
    pub cross_zone: bool,
    /// Let requests in flight finish before a node leaves the load balancer.
    #[serde(default = "yes")]
    pub connection_draining: bool,
    /// How long connection draining may take, in seconds (1 to 3600).
    #[serde(default = "default_draining_timeout")]
    pub connection_draining_timeout: i32,
    /// What to do with HTTP requests that may be desync attacks: `monitor` lets them all
    /// through, `defensive` blocks the known risks, `strictest` blocks any request that is not
    /// RFC 7230 compliant.
    #[serde(default)]
    pub desync_mitigation: DesyncMitigation,
    #[serde(default)]
    pub stickiness: Stickiness,
    /// The predefined security policy (`ELBSecurityPolicy-...`) set on every HTTPS/SSL
    /// listener.
    #[serde(default = "default_tls_policy")]
    pub tls_policy: String,
    #[serde(default)]
    pub access_logs: AccessLogs,
}

/// The load balancer's access logs, in an S3 bucket deployer creates
/// (`<stack>-logs-<account>-<region>`: public access blocked, encrypted, expired after
/// `retention_days`). `deployer destroy` empties and deletes it unless `--keep-logs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessLogs {
    /// Write access logs (each request: client, node, latencies, status codes).
    #[serde(default)]
    pub enabled: bool,
    /// Days a log file is kept, 1 to 3650.
    #[serde(default = "default_log_retention")]
    pub retention_days: i32,
    /// Minutes between log files: 5 or 60.
    #[serde(default = "default_log_interval")]
    pub interval: i32,
}

impl Default for AccessLogs {
    fn default() -> Self {
        AccessLogs {
            enabled: false,
            retention_days: default_log_retention(),
            interval: default_log_interval(),
        }
    }
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
    /// What clients speak to the load balancer; HTTPS and SSL end TLS there and need a
    /// `certificate`.
    pub protocol: Protocol,
    /// The port on the nodes the traffic goes to.
    pub instance_port: u16,
    /// What the load balancer speaks to the nodes. Defaults to HTTP behind HTTP/HTTPS and TCP
    /// behind TCP/SSL.
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

/// The load balancer's health check of the nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// `PROTOCOL:PORT[/path]`, e.g. `HTTP:80/health`.
    #[serde(default = "default_health_target")]
    pub target: HealthTarget,
    /// Seconds a check waits for an answer, 2 to 60 and less than the interval.
    #[serde(default = "default_health_timeout")]
    pub timeout: i32,
    /// Seconds between checks, 5 to 300.
    #[serde(default = "default_health_interval")]
    pub interval: i32,
    /// Failed checks in a row that take a node out of service, 2 to 10.
    #[serde(default = "two")]
    pub unhealthy_threshold: i32,
    /// Passed checks in a row that bring a node back into service, 2 to 10.
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
    /// Send a client's requests to the same node while its cookie lasts.
    #[serde(default)]
    pub enabled: bool,
    /// Cookie lifetime in seconds; absent means the browser session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie_expiration: Option<i64>,
}

/// CloudWatch alarms on the load balancer, the database, the cache and each node group, which
/// notify an encrypted SNS topic (`<stack>-alarms`). On unless `enabled = false`. Each alarm fires
/// after `minutes` one-minute periods past its threshold, and notifies again when it recovers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Alarms {
    /// Create the alarms and their topic.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Who is told: email addresses (each must confirm the subscription AWS mails them) and
    /// `https://` endpoints (which must confirm the subscription SNS posts them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<String>,
    /// How many consecutive minutes past a threshold make an alarm, 1 to 60.
    #[serde(default = "default_alarm_minutes")]
    pub minutes: i32,
    /// The load balancer's 5XX responses from the nodes per minute above which it alarms.
    #[serde(default = "default_5xx_per_minute")]
    pub backend_5xx_per_minute: f64,
    /// The load balancer's own 5XX responses (no healthy node, surge queue full) per minute above
    /// which it alarms.
    #[serde(default = "default_5xx_per_minute")]
    pub load_balancer_5xx_per_minute: f64,
    /// The nodes' mean response time, in seconds, above which the load balancer alarms.
    #[serde(default = "default_latency_seconds")]
    pub latency_seconds: f64,
    /// The database's CPU use, in percent, above which it alarms.
    #[serde(default = "default_database_cpu")]
    pub database_cpu_percent: f64,
    /// The database's free storage, in percent of `database.allocated_storage`, below which it
    /// alarms.
    #[serde(default = "default_free_storage")]
    pub database_free_storage_percent: f64,
    /// The database's freeable memory, in MiB, below which it alarms.
    #[serde(default = "default_free_memory")]
    pub database_free_memory_mib: f64,
    /// Each cache node's Redis engine CPU use, in percent, above which it alarms.
    #[serde(default = "default_cache_cpu")]
    pub cache_cpu_percent: f64,
    /// Each cache node's memory use, in percent of what Redis may use, above which it alarms.
    #[serde(default = "default_cache_memory")]
    pub cache_memory_percent: f64,
    /// Keys evicted per minute on a cache node above which it alarms (0: any eviction).
    #[serde(default)]
    pub cache_evictions_per_minute: f64,
}

impl Default for Alarms {
    fn default() -> Self {
        Alarms {
            enabled: true,
            notify: Vec::new(),
            minutes: default_alarm_minutes(),
            backend_5xx_per_minute: default_5xx_per_minute(),
            load_balancer_5xx_per_minute: default_5xx_per_minute(),
            latency_seconds: default_latency_seconds(),
            database_cpu_percent: default_database_cpu(),
            database_free_storage_percent: default_free_storage(),
            database_free_memory_mib: default_free_memory(),
            cache_cpu_percent: default_cache_cpu(),
            cache_memory_percent: default_cache_memory(),
            cache_evictions_per_minute: 0.0,
        }
    }
}

/// The nodes' logs, in the CloudWatch Logs log group `/deployer/<stack>`: the shipped bake
/// templates install the CloudWatch agent, which ships the system log, the boot's output and the
/// service's log (a stream per instance and file), and the nodes' role may write to that group
/// only. `deployer destroy` deletes the group unless `--keep-logs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Logs {
    /// Create the log group and let the nodes write to it.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Days a log event is kept: one of CloudWatch Logs' periods (1, 3, 5, 7, 14, 30, 60, 90,
    /// 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653).
    #[serde(default = "default_node_log_retention")]
    pub retention_days: i32,
}

impl Default for Logs {
    fn default() -> Self {
        Logs {
            enabled: true,
            retention_days: default_node_log_retention(),
        }
    }
}

/// The Auto Scaling Group's capacity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scaling {
    /// The group's minimum size, 0 to 10000.
    #[serde(default = "two")]
    pub min: i32,
    /// The group's maximum size, 1 to 10000.
    #[serde(default = "default_max")]
    pub max: i32,
    /// The group's desired capacity (min <= desired <= max); defaults to `min`. A live group keeps
    /// its own unless it falls outside min..max.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<i32>,
    /// Seconds after launch before load balancer health counts (the group uses the load
    /// balancer's health checks).
    #[serde(default = "default_grace")]
    pub health_check_grace_period: i32,
    /// How many instances a roll replaces at a time: a count (`"2"`) or a share of the desired
    /// capacity (`"25%"`, at least one).
    #[serde(default = "default_roll_batch")]
    pub roll_batch: RollBatch,
    /// How long a batch's new instances may take to pass the load balancer's health check before
    /// the roll is rolled back.
    #[serde(default = "default_roll_timeout")]
    pub roll_timeout: Duration,
    /// Seconds before a new instance's metrics count towards scaling (the group's warm-up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_warmup: Option<i32>,
    /// Which instances scale-in terminates first: AWS's policy names (`Default`,
    /// `OldestLaunchTemplate`, `NewestInstance`, ...).
    #[serde(default = "default_termination_policies")]
    pub termination_policies: Vec<String>,
    /// Target tracking policies: keep a metric at a target by adding and removing instances.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_tracking: Vec<TargetTracking>,
    /// Scheduled capacity changes (cron recurrence).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scheduled: Vec<Scheduled>,
}

/// A target tracking policy: keep a metric at a target by adding and removing instances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetTracking {
    /// The policy's name: letters, digits, `-` and `_`, unique among the group's policies and
    /// scheduled actions.
    pub name: String,
    /// The metric to hold at `target`.
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
    /// Requests per target: Application Load Balancers only, so a profile refuses it (the
    /// stack's load balancer is a Classic ELB).
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

/// A scheduled capacity change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scheduled {
    /// The action's name: letters, digits, `-` and `_`, unique among the group's policies and
    /// scheduled actions.
    pub name: String,
    /// Cron, five fields: minute hour day-of-month month day-of-week (`0 8 * * MON-FRI`).
    pub recurrence: String,
    /// The group's new minimum size. Give at least one of `min`, `max` and `desired`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i32>,
    /// The group's new maximum size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i32>,
    /// The group's new desired capacity.
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
