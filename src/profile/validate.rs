//! Checks of a merged profile against AWS's own limits and the safety baseline, before any call.
//!
//! Pure: a profile in, a list of problems (key, message, hint) out. The loader places each
//! problem at the file and line where its key was written.

use std::collections::{BTreeSet, HashSet};
use std::net::IpAddr;

use super::schema::{Bake, BaseImage, Cache, Database, Group, Network, Node, Profile};
use crate::ids::names::{Names, RESERVED_GROUPS};

/// One thing wrong with a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
    pub hint: Option<String>,
}

#[derive(Default)]
pub(super) struct Problems(pub(super) Vec<Problem>);

impl Problems {
    pub(super) fn add(
        &mut self,
        key: impl Into<String>,
        message: impl Into<String>,
        hint: Option<&str>,
    ) {
        self.0.push(Problem {
            key: key.into(),
            message: message.into(),
            hint: hint.map(str::to_string),
        });
    }

    pub(super) fn range(&mut self, key: &str, value: i64, low: i64, high: i64, what: &str) {
        if value < low || value > high {
            self.add(
                key,
                format!("{value} is out of range"),
                Some(&format!("{what} must be from {low} to {high}")),
            );
        }
    }
}

/// Every problem with `profile`, in the order of the file's sections.
pub fn validate(profile: &Profile) -> Vec<Problem> {
    let mut problems = Problems::default();
    stack(profile, &mut problems);
    if let Some(region) = &profile.region
        && let Some((message, hint)) = crate::aws::regions::problem(region)
    {
        problems.add("region", message, Some(&hint));
    }
    network(&profile.network, &mut problems);
    node(&profile.node, "node", &mut problems);
    if let Some(database) = &profile.database {
        self::database(database, &mut problems);
    }
    if let Some(cache) = &profile.cache {
        self::cache(cache, &mut problems);
    }
    super::load_balancer::check(&profile.load_balancer, &mut problems);
    super::scaling::check(&profile.scaling, "scaling", &mut problems);
    super::alarms::check(&profile.alarms, &mut problems);
    if !crate::resources::log_group::RETENTIONS.contains(&profile.logs.retention_days) {
        problems.add(
            "logs.retention_days",
            format!(
                "{} is not a retention CloudWatch Logs keeps logs for",
                profile.logs.retention_days
            ),
            Some("one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653 (days)"),
        );
    }
    for (name, group) in &profile.groups {
        self::group(profile, name, group, &mut problems);
    }
    problems.0
}

/// An extra node group: its name, its node and capacity, its ports and load balancer.
fn group(profile: &Profile, name: &str, group: &Group, problems: &mut Problems) {
    let at = format!("groups.{name}");
    if !is_name(name) {
        problems.add(
            &at,
            format!("`{name}` is not a valid group name"),
            Some("use lowercase letters, digits and single hyphens, starting with a letter"),
        );
        return;
    }
    if RESERVED_GROUPS.contains(&name) || name.ends_with("-lb") || name.starts_with("builder-") {
        problems.add(
            &at,
            format!("`{name}` cannot name a group: its resources' names would collide with the stack's own"),
            Some(&format!(
                "pick another name; these are taken: {}, names ending in -lb and names starting with builder-",
                RESERVED_GROUPS.join(", ")
            )),
        );
        return;
    }
    let names = Names::new(&profile.stack);
    for (what, derived, limit) in names.group_length_limits(name) {
        if derived.len() > limit {
            problems.add(
                &at,
                format!(
                    "`{name}` is too long for stack `{}`: the {what} name `{derived}` would have {} characters, and AWS allows at most {limit}",
                    profile.stack,
                    derived.len()
                ),
                Some("use a shorter group name"),
            );
            return;
        }
    }
    node(&group.node, &format!("{at}.node"), problems);
    super::scaling::check(
        &group.scaling.as_scaling(),
        &format!("{at}.scaling"),
        problems,
    );
    let mut seen = BTreeSet::new();
    for (i, port) in group.ports.iter().enumerate() {
        if *port == 0 {
            problems.add(format!("{at}.ports[{i}]"), "port 0 is not a port", None);
        } else if !seen.insert(port) {
            problems.add(
                format!("{at}.ports[{i}]"),
                format!("port {port} is listed twice"),
                None,
            );
        }
    }
    if group.load_balancer && group.ports.is_empty() {
        problems.add(
            format!("{at}.ports"),
            "the group has a load balancer but no ports for it to listen on",
            Some("list the ports the nodes reach the group on, e.g. ports = [9091], or set load_balancer = false"),
        );
    }
    if group.health_check.is_some() && !group.load_balancer {
        problems.add(
            format!("{at}.health_check"),
            "a health check needs the group's load balancer",
            Some("remove health_check, or set load_balancer = true"),
        );
    }
}

fn stack(profile: &Profile, problems: &mut Problems) {
    let name = &profile.stack;
    if !is_name(name) {
        problems.add(
            "stack",
            format!("`{name}` is not a valid stack name"),
            Some(
                "use lowercase letters, digits and single hyphens, starting with a letter and not ending with a hyphen",
            ),
        );
        return;
    }
    let names = Names::new(name);
    for (what, derived, limit) in names.length_limits() {
        if derived.len() > limit {
            problems.add(
                "stack",
                format!(
                    "`{name}` is too long: the {what} name `{derived}` would have {} characters, and AWS allows at most {limit}",
                    derived.len()
                ),
                Some(&format!(
                    "use a stack name of at most {} characters",
                    names.max_stack_length()
                )),
            );
            return;
        }
    }
}

fn network(network: &Network, problems: &mut Problems) {
    if network.vpc != "default" && !network.creates_vpc() && !is_aws_id(&network.vpc, "vpc") {
        problems.add(
            "network.vpc",
            format!("`{}` is not a VPC id", network.vpc),
            Some("give a VPC id such as vpc-0a1b2c3d, \"create\" for one deployer creates, or \"default\" for the region's default VPC"),
        );
    }
    if network.creates_vpc() {
        created_network(network, problems);
    } else {
        for (key, given) in [
            ("cidr", network.cidr.is_some()),
            ("zones", network.zones.is_some()),
            ("nat", network.nat.is_some()),
            ("endpoints", network.endpoints.is_some()),
        ] {
            if given {
                problems.add(
                    format!("network.{key}"),
                    format!("`{key}` is for a VPC deployer creates"),
                    Some("set vpc = \"create\", or leave it out"),
                );
            }
        }
    }
    let lists = [
        ("subnets", &network.subnets),
        ("load_balancer_subnets", &network.load_balancer_subnets),
        ("node_subnets", &network.node_subnets),
        ("data_subnets", &network.data_subnets),
    ];
    for (name, list) in lists {
        if let Some(subnets) = list {
            subnet_list(&format!("network.{name}"), subnets, problems);
        }
    }
    let tiers = network.load_balancer_subnets.is_some() || network.node_subnets.is_some();
    if network.subnets.is_some() && (tiers || network.data_subnets.is_some()) {
        problems.add(
            "network.subnets",
            "`subnets` (shared by every tier) is given with a tier's own subnets",
            Some("give either `subnets`, or `load_balancer_subnets` and `node_subnets` (and `data_subnets` if the data tier has its own)"),
        );
    } else if tiers && network.node_subnets.is_none() {
        problems.add(
            "network.load_balancer_subnets",
            "`load_balancer_subnets` is given without `node_subnets`",
            Some("give the nodes' (private) subnets too, or `subnets` for one set that every tier shares"),
        );
    } else if tiers && network.load_balancer_subnets.is_none() {
        problems.add(
            "network.node_subnets",
            "`node_subnets` is given without `load_balancer_subnets`",
            Some("give the load balancer's (public) subnets too, or `subnets` for one set that every tier shares"),
        );
    } else if network.data_subnets.is_some() && !tiers {
        problems.add(
            "network.data_subnets",
            "`data_subnets` is given without `load_balancer_subnets` and `node_subnets`",
            Some("give the tiers' subnets too, or `subnets` for one set that every tier shares"),
        );
    }
}

/// `vpc = "create"`: its range and zones, and no subnets of the profile's own.
fn created_network(network: &Network, problems: &mut Problems) {
    for (key, given) in [
        ("subnets", network.subnets.is_some()),
        (
            "load_balancer_subnets",
            network.load_balancer_subnets.is_some(),
        ),
        ("node_subnets", network.node_subnets.is_some()),
        ("data_subnets", network.data_subnets.is_some()),
    ] {
        if given {
            problems.add(
                format!("network.{key}"),
                "deployer creates the subnets of a VPC it creates",
                Some("leave the subnets out, or give the id of an existing VPC"),
            );
        }
    }
    if let Some(cidr) = &network.cidr {
        match crate::stack::network::parse_cidr(cidr) {
            None => problems.add(
                "network.cidr",
                format!("`{cidr}` is not an IPv4 range"),
                Some("give a range such as 10.0.0.0/16"),
            ),
            Some((_, prefix)) if !(16..=24).contains(&prefix) => problems.add(
                "network.cidr",
                format!("a /{prefix} range: deployer creates VPCs of a /16 to a /24"),
                Some("give a range such as 10.0.0.0/16 (each subnet takes a sixteenth of it)"),
            ),
            Some((base, prefix)) if base & !crate::stack::network::mask(prefix) != 0 => problems
                .add(
                    "network.cidr",
                    format!("`{cidr}` has host bits set"),
                    Some("give the network address, such as 10.0.0.0/16"),
                ),
            Some(_) => {}
        }
    }
    if let Some(zones) = network.zones {
        problems.range("network.zones", zones.into(), 2, 6, "the number of zones");
    }
    let mut seen = HashSet::new();
    for (i, service) in network.endpoints.iter().flatten().enumerate() {
        let at = format!("network.endpoints[{i}]");
        if service == "s3" {
            problems.add(
                &at,
                "the VPC has an S3 gateway endpoint already",
                Some("leave s3 out: deployer makes its (free) gateway endpoint"),
            );
        } else if service.is_empty()
            || !service
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        {
            problems.add(
                &at,
                format!("`{service}` is not an AWS service's endpoint name"),
                Some("give the last part of its service name: secretsmanager, ssm, logs, sts, ..."),
            );
        } else if !seen.insert(service) {
            problems.add(&at, format!("`{service}` is listed twice"), None);
        }
    }
}

/// A list of subnet ids at `key`: each an id, none twice, at least two.
fn subnet_list(key: &str, subnets: &[String], problems: &mut Problems) {
    let mut seen = HashSet::new();
    for (i, subnet) in subnets.iter().enumerate() {
        let at = format!("{key}[{i}]");
        if !is_aws_id(subnet, "subnet") {
            problems.add(
                &at,
                format!("`{subnet}` is not a subnet id"),
                Some("subnet ids look like subnet-0a1b2c3d"),
            );
        } else if !seen.insert(subnet) {
            problems.add(&at, format!("`{subnet}` is listed twice"), None);
        }
    }
    if subnets.len() < 2 {
        problems.add(
            key,
            format!("{} subnet(s) given; at least two are needed", subnets.len()),
            Some(if key == "network.subnets" {
                "give subnets in at least two Availability Zones, or leave `subnets` out to use the VPC's"
            } else {
                "give subnets in at least two Availability Zones"
            }),
        );
    }
}

fn node(node: &Node, at: &str, problems: &mut Problems) {
    match (&node.image, &node.bake) {
        (Some(_), Some(_)) => problems.add(
            format!("{at}.image"),
            "both `image` and [node.bake] are given",
            Some("give `image` to bring your own AMI, or [node.bake] to bake one, not both"),
        ),
        (None, None) => problems.add(
            at,
            "no image: neither `image` nor [node.bake] is given",
            Some(
                "add image = \"ami-...\" (an existing AMI), or a [node.bake] table with base_image",
            ),
        ),
        (Some(image), None) if !is_aws_id(image, "ami") => problems.add(
            format!("{at}.image"),
            format!("`{image}` is not an AMI id"),
            Some("AMI ids look like ami-0a1b2c3d4e5f67890"),
        ),
        _ => {}
    }
    if let Some(bake) = &node.bake {
        self::bake(bake, node, at, problems);
    }
    if !is_instance_type(&node.instance_type, None) {
        problems.add(
            format!("{at}.instance_type"),
            format!("`{}` is not an EC2 instance type", node.instance_type),
            Some("instance types look like m5.large or t3.medium"),
        );
    }
    const VOLUME_TYPES: &[&str] = &["gp2", "gp3", "io1", "io2", "st1", "sc1", "standard"];
    if !VOLUME_TYPES.contains(&node.volume_type.as_str()) {
        problems.add(
            format!("{at}.volume_type"),
            format!("`{}` is not an EBS volume type", node.volume_type),
            Some(&format!("allowed values: {}", VOLUME_TYPES.join(", "))),
        );
    }
    problems.range(
        &format!("{at}.volume_size"),
        node.volume_size.into(),
        1,
        16384,
        "the root volume size in GiB",
    );
    if node.boot_template.trim().is_empty() || node.boot_template.starts_with('/') {
        problems.add(
            format!("{at}.boot_template"),
            format!("`{}` is not a path inside the project", node.boot_template),
            Some("give a path relative to the project directory, e.g. templates/boot.sh.j2"),
        );
    }
    for name in node.vars.keys() {
        if !is_identifier(name) {
            problems.add(
                format!("{at}.vars.{name}"),
                format!("`{name}` cannot be used as a template variable name"),
                Some("use letters, digits and underscores, starting with a letter"),
            );
        }
    }
}

fn bake(bake: &Bake, node: &Node, at: &str, problems: &mut Problems) {
    match &bake.base_image {
        BaseImage::Id(id) if !is_aws_id(id, "ami") => problems.add(
            format!("{at}.bake.base_image"),
            format!("`{id}` is not an AMI id"),
            Some("give an AMI id, a parameter (base_image = { ssm = \"/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-6.1-x86_64\" }) or a lookup { owner, name }"),
        ),
        BaseImage::Lookup(lookup) => {
            let named_owner = ["amazon", "aws-marketplace", "self"].contains(&lookup.owner.as_str());
            let account = lookup.owner.len() == 12 && lookup.owner.chars().all(|c| c.is_ascii_digit());
            if !named_owner && !account {
                problems.add(
                    format!("{at}.bake.base_image.owner"),
                    format!("`{}` is not an image owner", lookup.owner),
                    Some("give a 12-digit account id, or amazon, aws-marketplace or self"),
                );
            }
            if lookup.name.trim().is_empty() {
                problems.add(
                    format!("{at}.bake.base_image.name"),
                    "the name pattern is empty",
                    Some("give an image name pattern; * and ? are wildcards"),
                );
            }
        }
        BaseImage::Parameter(parameter) if !parameter.ssm.starts_with('/') => problems.add(
            format!("{at}.bake.base_image.ssm"),
            format!("`{}` is not an SSM parameter name", parameter.ssm),
            Some("give the parameter's full name, e.g. /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-6.1-x86_64"),
        ),
        BaseImage::Id(_) | BaseImage::Parameter(_) => {}
    }
    if bake.template.trim().is_empty() || bake.template.starts_with('/') {
        problems.add(
            format!("{at}.bake.template"),
            format!("`{}` is not a path inside the project", bake.template),
            Some("give a path relative to the project directory, e.g. templates/bake.sh.j2"),
        );
    }
    if !is_instance_type(&bake.instance_type, None) {
        problems.add(
            format!("{at}.bake.instance_type"),
            format!("`{}` is not an EC2 instance type", bake.instance_type),
            Some("instance types look like t3.medium or m5.large"),
        );
    }
    const VOLUME_TYPES: &[&str] = &["gp2", "gp3", "io1", "io2", "standard"];
    if !VOLUME_TYPES.contains(&bake.volume_type.as_str()) {
        problems.add(
            format!("{at}.bake.volume_type"),
            format!("`{}` is not a root volume type", bake.volume_type),
            Some(&format!("allowed values: {}", VOLUME_TYPES.join(", "))),
        );
    }
    problems.range(
        &format!("{at}.bake.volume_size"),
        bake.volume_size.into(),
        1,
        16384,
        "the image's volume size in GiB",
    );
    if bake.volume_size > node.volume_size {
        problems.add(
            format!("{at}.volume_size"),
            format!(
                "the nodes' volume ({} GiB) is smaller than the baked image's ({} GiB)",
                node.volume_size, bake.volume_size
            ),
            Some("a node's root volume must be at least as big as its image's"),
        );
    }
    if !(1..=24 * 3600).contains(&bake.timeout.as_secs()) {
        problems.add(
            format!("{at}.bake.timeout"),
            format!("{} is out of range", bake.timeout),
            Some("the bake timeout is from 1s to 24h"),
        );
    }
    problems.range(
        &format!("{at}.bake.keep_images"),
        bake.keep_images.into(),
        1,
        100,
        "the number of images to keep",
    );
}

/// A duration as a profile writes it: `90s`, `15m`, `1h`.
pub fn format_duration(seconds: u64) -> String {
    if seconds >= 3600 && seconds.is_multiple_of(3600) {
        format!("{}h", seconds / 3600)
    } else if seconds >= 60 && seconds.is_multiple_of(60) {
        format!("{}m", seconds / 60)
    } else {
        format!("{seconds}s")
    }
}

fn database(database: &Database, problems: &mut Problems) {
    match parse_version(&database.engine_version) {
        None => problems.add(
            "database.engine_version",
            format!("`{}` is not a PostgreSQL version", database.engine_version),
            Some("give a major (\"16\") or an exact version (\"16.11\")"),
        ),
        Some(version) if version < vec![9, 4] => problems.add(
            "database.engine_version",
            format!(
                "PostgreSQL {} is older than RDS supports",
                database.engine_version
            ),
            Some("use a version RDS creates: 14 to 18 (plan checks the region)"),
        ),
        Some(_) => {}
    }
    if !is_instance_type(&database.instance_class, Some("db")) {
        problems.add(
            "database.instance_class",
            format!("`{}` is not an RDS instance class", database.instance_class),
            Some("instance classes look like db.m6i.large or db.r6g.xlarge"),
        );
    }
    const STORAGE_TYPES: &[&str] = &["gp2", "gp3", "io1", "io2", "standard"];
    if !STORAGE_TYPES.contains(&database.storage_type.as_str()) {
        problems.add(
            "database.storage_type",
            format!("`{}` is not an RDS storage type", database.storage_type),
            Some(&format!("allowed values: {}", STORAGE_TYPES.join(", "))),
        );
    }
    problems.range(
        "database.allocated_storage",
        database.allocated_storage.into(),
        20,
        65536,
        "allocated storage in GiB for PostgreSQL",
    );
    problems.range(
        "database.port",
        database.port.into(),
        1150,
        65535,
        "an RDS PostgreSQL port",
    );
    if !is_identifier(&database.name) || database.name.len() > 63 {
        problems.add(
            "database.name",
            format!("`{}` is not a valid database name", database.name),
            Some("use 1 to 63 letters, digits and underscores, starting with a letter"),
        );
    }
    const RESERVED_USERS: &[&str] = &["rdsadmin", "rdsrepladmin", "rds_superuser", "postgres_fdw"];
    if !is_identifier(&database.username) || database.username.len() > 63 {
        problems.add(
            "database.username",
            format!("`{}` is not a valid master user name", database.username),
            Some("use 1 to 63 letters, digits and underscores, starting with a letter"),
        );
    } else if RESERVED_USERS.contains(&database.username.to_ascii_lowercase().as_str()) {
        problems.add(
            "database.username",
            format!("`{}` is reserved by RDS", database.username),
            Some("choose another master user name, e.g. deployer"),
        );
    }
    if database.backup_retention_days < 7 {
        problems.add(
            "database.backup_retention_days",
            format!(
                "{} days is below the baseline of 7",
                database.backup_retention_days
            ),
            Some("keep automated backups for 7 to 35 days"),
        );
    } else {
        problems.range(
            "database.backup_retention_days",
            database.backup_retention_days.into(),
            7,
            35,
            "backup retention in days",
        );
    }
}

fn cache(cache: &Cache, problems: &mut Problems) {
    let before = problems.0.len();
    match parse_version(&cache.engine_version) {
        None => problems.add(
            "cache.engine_version",
            format!("`{}` is not a Redis version", cache.engine_version),
            Some("give a major (\"7\") or an exact version (\"7.1\")"),
        ),
        Some(version) if version < vec![3, 2, 4] => problems.add(
            "cache.engine_version",
            format!("Redis {} is older than 3.2.4", cache.engine_version),
            Some("use Redis 3.2.4 or later (replication groups with failover need it)"),
        ),
        Some(version)
            if (cache.encryption_in_transit || cache.encryption_at_rest)
                && version < vec![3, 2, 6] =>
        {
            problems.add(
                "cache.engine_version",
                format!("Redis {} does not support encryption", cache.engine_version),
                Some("encryption at rest and in transit need Redis 3.2.6 or later"),
            )
        }
        Some(_) => {}
    }
    // The node type is checked against the version only when the version itself is sound.
    let version_refused = problems.0.len() > before;
    if !is_instance_type(&cache.node_type, Some("cache")) {
        problems.add(
            "cache.node_type",
            format!("`{}` is not an ElastiCache node type", cache.node_type),
            Some("node types look like cache.m6g.large or cache.r6g.large"),
        );
    } else if let Some(current) = previous_generation_cache(&cache.node_type) {
        problems.add(
            "cache.node_type",
            format!(
                "`{}` is a previous-generation node type: ElastiCache no longer creates clusters of it",
                cache.node_type
            ),
            Some(&format!("use a current-generation type, such as {current}")),
        );
    } else if let Some(family) = cache_family(&cache.node_type)
        && family.ends_with("gd")
    {
        // "Data tiering is only supported for replication groups using the r6gd node type. This
        // parameter must be set to true when using r6gd nodes" (ElastiCache API reference,
        // CreateReplicationGroup, DataTieringEnabled).
        problems.add(
            "cache.node_type",
            format!(
                "`{}` is a data-tiering node type, which needs data tiering; deployer does not turn it on",
                cache.node_type
            ),
            Some(&format!(
                "use the {} node type of the same size",
                family.trim_end_matches('d')
            )),
        );
    } else if let Some(family @ ("m6g" | "r6g" | "t4g")) = cache_family(&cache.node_type)
        && !version_refused
        && parse_version(&cache.engine_version).is_some_and(|v| before_5_0_6(&v))
    {
        // "M6g node types (available only for Redis OSS engine version 5.0.6 onward", and the
        // same of R6g and T4g (ElastiCache API reference, CacheNode).
        problems.add(
            "cache.node_type",
            format!(
                "ElastiCache runs {family} node types on Redis 5.0.6 or later, not {}",
                cache.engine_version
            ),
            Some("use engine_version = \"7\" (the newest 7.x), or an m5, r5 or t3 node type"),
        );
    }
    problems.range(
        "cache.replicas",
        cache.replicas.into(),
        0,
        5,
        "the number of replicas",
    );
    problems.range("cache.port", cache.port.into(), 1, 65535, "the cache port");
    if cache.automatic_failover && cache.replicas < 1 {
        problems.add(
            "cache.automatic_failover",
            "automatic failover needs at least one replica",
            Some("set replicas = 1 or more, or automatic_failover = false"),
        );
    }
    if cache.multi_az && !cache.automatic_failover {
        problems.add(
            "cache.multi_az",
            "Multi-AZ needs automatic failover",
            Some("set automatic_failover = true, or multi_az = false"),
        );
    }
}

/// `cache.m6g.large` -> `m6g`.
fn cache_family(node_type: &str) -> Option<&str> {
    node_type.strip_prefix("cache.")?.split('.').next()
}

/// Whether every version `version` may name (`5` is the newest 5.x) is older than 5.0.6.
fn before_5_0_6(version: &[u32]) -> bool {
    match version {
        [major, ..] if *major < 5 => true,
        [5, 0, patch] => *patch < 6,
        _ => false,
    }
}

/// For a previous-generation ElastiCache node type (T1, M1, M2, M3, C1, R3: "existing clusters are
/// still supported but creation of new clusters is not", ElastiCache API reference, CacheNode), a
/// current-generation type of the same use.
fn previous_generation_cache(node_type: &str) -> Option<&'static str> {
    let family = cache_family(node_type)?;
    match family {
        "t1" => Some("cache.t4g.micro"),
        "m1" | "m3" => Some("cache.m6g.large (the smallest current general-purpose type)"),
        "m2" | "r3" => Some("cache.r6g.large"),
        "c1" => Some("cache.m6g.xlarge"),
        _ => None,
    }
}

/// `16.4` -> [16, 4]; None unless every part is a number.
pub fn parse_version(text: &str) -> Option<Vec<u32>> {
    let parts: Option<Vec<u32>> = text.split('.').map(|p| p.parse().ok()).collect();
    parts.filter(|p| !p.is_empty() && p.len() <= 3)
}

fn is_aws_id(text: &str, prefix: &str) -> bool {
    text.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|hex| {
            (8..=17).contains(&hex.len()) && hex.chars().all(|c| c.is_ascii_hexdigit())
        })
}

/// `m5.large`, `db.m6i.large`, `cache.m6g.large`.
fn is_instance_type(text: &str, prefix: Option<&str>) -> bool {
    let rest = match prefix {
        Some(prefix) => match text.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) {
            Some(rest) => rest,
            None => return false,
        },
        None => text,
    };
    let parts: Vec<&str> = rest.split('.').collect();
    parts.len() == 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

/// A stack or group name: lowercase letters, digits and single hyphens, starting with a letter and
/// not ending with a hyphen (it goes into every derived AWS name).
fn is_name(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_lowercase())
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !text.ends_with('-')
        && !text.contains("--")
}

fn is_identifier(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_alphabetic())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub(super) fn is_cidr(text: &str) -> bool {
    let Some((address, bits)) = text.split_once('/') else {
        return false;
    };
    let Ok(bits) = bits.parse::<u8>() else {
        return false;
    };
    match address.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => bits <= 32,
        Ok(IpAddr::V6(_)) => bits <= 128,
        Err(_) => false,
    }
}

pub(super) fn is_certificate_arn(text: &str) -> bool {
    text.starts_with("arn:aws")
        && (text.contains(":acm:") && text.contains(":certificate/")
            || text.contains(":iam::") && text.contains(":server-certificate/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_is_before_5_0_6_only_when_all_it_may_name_is() {
        for (version, before) in [
            ("4", true),
            ("4.0.10", true),
            ("5.0.5", true),
            ("5", false),
            ("5.0", false),
            ("5.0.6", false),
            ("6.2", false),
        ] {
            let parsed = parse_version(version).unwrap();
            assert_eq!(before_5_0_6(&parsed), before, "{version}");
        }
    }
}
