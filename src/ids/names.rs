//! Deterministic names: every resource's name is derived from the stack name, so that the cloud
//! itself is the state (describe by name, adopt what a previous run created).

/// The nodes role's inline policy.
pub const NODE_POLICY: &str = "deployer-read-stack-secrets";

/// The image prefix (`<stack>-node`, `<stack>-<group>`) a baked image's name starts with: which
/// group's images it counts among.
pub fn image_prefix(image: &str) -> &str {
    image.rsplit_once('-').map_or(image, |(prefix, _)| prefix)
}

/// Group names that would collide with the main group's or the data tier's names.
pub const RESERVED_GROUPS: &[&str] = &["lb", "nodes", "node", "db", "cache", "builder"];

/// The longest AWS region name: what a name that carries the region must leave room for.
fn longest_region() -> &'static str {
    crate::aws::regions::REGIONS
        .iter()
        .copied()
        .max_by_key(|region| region.len())
        .unwrap_or("ap-southeast-7")
}

/// The names of one stack's resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    stack: String,
    /// The profile's extra node groups (`[groups.<name>]`), besides the main one.
    groups: Vec<String>,
}

/// The names of one node group's resources: the main group's (`[node]`) or an extra one's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupNames {
    /// None for the main group.
    pub group: Option<String>,
    pub security_group: String,
    pub load_balancer_security_group: String,
    pub load_balancer: String,
    pub launch_template: String,
    pub auto_scaling_group: String,
    /// What the group's images are named after: `<prefix>-<hash12>`.
    pub image_prefix: String,
}

impl GroupNames {
    /// A baked image of the group: named after the content hash of everything that shapes it.
    pub fn image(&self, hash: &str) -> String {
        format!("{}-{}", self.image_prefix, &hash[..hash.len().min(12)])
    }
}

impl Names {
    pub fn new(stack: &str) -> Self {
        Names {
            stack: stack.to_string(),
            groups: vec![],
        }
    }

    /// A stack with extra node groups.
    pub fn with_groups(stack: &str, groups: &[String]) -> Self {
        Names {
            stack: stack.to_string(),
            groups: groups.to_vec(),
        }
    }

    /// The extra node groups the profile declares.
    pub fn groups(&self) -> &[String] {
        &self.groups
    }

    /// The names of a node group: None is the main group.
    pub fn group(&self, group: Option<&str>) -> GroupNames {
        match group {
            None => GroupNames {
                group: None,
                security_group: self.security_group(Tier::Nodes),
                load_balancer_security_group: self.security_group(Tier::Lb),
                load_balancer: self.load_balancer(),
                launch_template: self.launch_template(),
                auto_scaling_group: self.auto_scaling_group(),
                image_prefix: format!("{}-node", self.stack),
            },
            Some(group) => GroupNames {
                group: Some(group.to_string()),
                security_group: format!("{}-{group}", self.stack),
                load_balancer_security_group: format!("{}-{group}-lb", self.stack),
                load_balancer: format!("{}-{group}-lb", self.stack),
                launch_template: format!("{}-{group}", self.stack),
                auto_scaling_group: format!("{}-{group}", self.stack),
                image_prefix: format!("{}-{group}", self.stack),
            },
        }
    }

    /// The main group and then every extra group of the profile.
    pub fn node_groups(&self) -> Vec<GroupNames> {
        std::iter::once(self.group(None))
            .chain(self.groups.iter().map(|g| self.group(Some(g))))
            .collect()
    }

    pub fn stack(&self) -> &str {
        &self.stack
    }

    /// Security groups: `<stack>-lb`, `<stack>-nodes`, `<stack>-db`, `<stack>-cache`.
    pub fn security_group(&self, tier: Tier) -> String {
        format!("{}-{}", self.stack, tier.as_str())
    }

    pub fn load_balancer(&self) -> String {
        format!("{}-lb", self.stack)
    }

    /// The VPC deployer creates, and its internet gateway: `<stack>`.
    pub fn vpc(&self) -> String {
        self.stack.clone()
    }

    pub fn internet_gateway(&self) -> String {
        self.stack.clone()
    }

    /// A subnet of the VPC deployer creates: `<stack>-public-us-east-1a`, `<stack>-private-...`.
    pub fn subnet(&self, public: bool, zone: &str) -> String {
        let side = if public { "public" } else { "private" };
        format!("{}-{side}-{zone}", self.stack)
    }

    /// A zone's NAT gateway and its elastic IP: `<stack>-nat-us-east-1a`.
    pub fn nat_gateway(&self, zone: &str) -> String {
        format!("{}-nat-{zone}", self.stack)
    }

    /// The public subnets' route table, `<stack>-public`; a private one's, `<stack>-private-<zone>`
    /// (`<stack>-private` when one NAT gateway serves every zone).
    pub fn route_table(&self, public: bool, zone: Option<&str>) -> String {
        match (public, zone) {
            (true, _) => format!("{}-public", self.stack),
            (false, Some(zone)) => format!("{}-private-{zone}", self.stack),
            (false, None) => format!("{}-private", self.stack),
        }
    }

    /// The VPC's S3 gateway endpoint.
    pub fn s3_endpoint(&self) -> String {
        format!("{}-s3", self.stack)
    }

    /// An interface endpoint of the VPC: `<stack>-secretsmanager`.
    pub fn interface_endpoint(&self, service: &str) -> String {
        format!("{}-{}", self.stack, service.replace('.', "-"))
    }

    pub fn database(&self) -> String {
        format!("{}-db", self.stack)
    }

    pub fn db_subnet_group(&self) -> String {
        format!("{}-db", self.stack)
    }

    pub fn cache(&self) -> String {
        format!("{}-cache", self.stack)
    }

    pub fn cache_subnet_group(&self) -> String {
        format!("{}-cache", self.stack)
    }

    /// Secrets Manager name of the cache AUTH token.
    pub fn cache_auth_secret(&self) -> String {
        format!("deployer/{}/cache-auth-token", self.stack)
    }

    /// IAM role and instance profile of the nodes in `region`. IAM is global: the same stack
    /// name in two regions makes two stacks, and each must have (and touch) only its own role.
    pub fn node_role(&self, region: &str) -> String {
        format!("{}-node-{region}", self.stack)
    }

    /// Whether `role` (a role or instance profile under the stack's IAM path) is the node role
    /// of another region than `region`: not this stack's to change, delete or report.
    pub fn is_other_regions_role(&self, role: &str, region: &str) -> bool {
        role != self.node_role(region)
            && role
                .strip_prefix(&format!("{}-node-", self.stack))
                .is_some_and(|other| crate::aws::regions::REGIONS.contains(&other))
    }

    /// The S3 bucket of the load balancer's access logs. Bucket names are global: the account
    /// and region make it the stack's alone (at most 29 + 6 + 12 + 1 + 14 = 62 characters of
    /// the 63 S3 allows).
    pub fn log_bucket(&self, account: &str, region: &str) -> String {
        format!("{}-logs-{account}-{region}", self.stack)
    }

    /// The CloudWatch Logs log group the nodes write to.
    pub fn log_group(&self) -> String {
        format!("/deployer/{}", self.stack)
    }

    /// The SNS topic the stack's alarms notify.
    pub fn alarm_topic(&self) -> String {
        format!("{}-alarms", self.stack)
    }

    /// The alias of the KMS key that encrypts the alarm topic.
    pub fn alarm_key(&self) -> String {
        format!("alias/deployer/{}/alarms", self.stack)
    }

    /// The beginning of every CloudWatch alarm name of the stack: the stack's alone, as a stack
    /// name has no `/`.
    pub fn alarm_prefix(&self) -> String {
        format!("{}/", self.stack)
    }

    /// A CloudWatch alarm of the stack: `<stack>/<what>`.
    pub fn alarm(&self, what: &str) -> String {
        format!("{}{what}", self.alarm_prefix())
    }

    /// IAM path under which the stack's roles and instance profiles live.
    pub fn iam_path(&self) -> String {
        format!("/deployer/{}/", self.stack)
    }

    /// The builder instance of a bake.
    pub fn builder(&self, hash: &str) -> String {
        format!("{}-builder-{}", self.stack, &hash[..hash.len().min(12)])
    }

    /// The security group of a bake's builder (no ingress): one per bake, named like its
    /// builder, so that the bakes of several node groups never share (and race over) one.
    pub fn builder_security_group(&self, hash: &str) -> String {
        self.builder(hash)
    }

    /// Whether a security group is a builder's: a bake's `<stack>-builder-<hash12>`, or the
    /// `<stack>-builder` that bakes shared before.
    pub fn is_builder_security_group(&self, name: &str) -> bool {
        name == self.security_group(Tier::Builder)
            || name.starts_with(&format!("{}-builder-", self.stack))
    }

    pub fn launch_template(&self) -> String {
        format!("{}-node", self.stack)
    }

    pub fn auto_scaling_group(&self) -> String {
        format!("{}-nodes", self.stack)
    }

    /// The final snapshot a destroy leaves of the database, named after the stack and the time.
    pub fn final_snapshot(&self, time: chrono::DateTime<chrono::Utc>) -> String {
        format!("{}-db-final-{}", self.stack, time.format("%Y%m%d-%H%M%S"))
    }

    /// (what, derived name, AWS's length limit) for every name with a limit tighter than the
    /// stack name's own.
    pub fn length_limits(&self) -> Vec<(&'static str, String, usize)> {
        vec![
            ("load balancer", self.load_balancer(), 32),
            ("cache replication group", self.cache(), 40),
            ("database", self.database(), 63),
            // With the longest region name, whatever the stack's region.
            ("IAM role", self.node_role(longest_region()), 64),
        ]
    }

    /// (what, derived name, AWS's length limit) for the names an extra group derives.
    pub fn group_length_limits(&self, group: &str) -> Vec<(&'static str, String, usize)> {
        let names = self.group(Some(group));
        vec![
            ("load balancer", names.load_balancer, 32),
            ("launch template", names.launch_template, 128),
            ("image", format!("{}-000000000000", names.image_prefix), 128),
        ]
    }

    /// The longest stack name every derived name allows.
    pub fn max_stack_length(&self) -> usize {
        self.length_limits()
            .iter()
            .map(|(_, derived, limit)| limit - (derived.len() - self.stack.len()))
            .min()
            .unwrap_or(32)
    }
}

/// The tiers that have a security group each.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Lb,
    Nodes,
    Db,
    Cache,
    /// The bake's builder: no ingress at all.
    Builder,
    /// The interface endpoints of a VPC deployer creates: HTTPS from the VPC.
    Endpoints,
}

impl Tier {
    pub const ALL: [Tier; 6] = [
        Tier::Lb,
        Tier::Nodes,
        Tier::Db,
        Tier::Cache,
        Tier::Builder,
        Tier::Endpoints,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Lb => "lb",
            Tier::Nodes => "nodes",
            Tier::Db => "db",
            Tier::Cache => "cache",
            Tier::Builder => "builder",
            Tier::Endpoints => "endpoints",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_derive_from_the_stack() {
        let names = Names::new("shop");
        assert_eq!(names.load_balancer(), "shop-lb");
        assert_eq!(names.security_group(Tier::Nodes), "shop-nodes");
        assert_eq!(names.cache_auth_secret(), "deployer/shop/cache-auth-token");
        assert_eq!(names.max_stack_length(), 29);
    }

    #[test]
    fn the_node_role_is_the_regions_and_another_regions_is_told_apart() {
        let names = Names::new("shop");
        assert_eq!(names.node_role("eu-west-1"), "shop-node-eu-west-1");
        assert!(names.is_other_regions_role("shop-node-us-east-1", "eu-west-1"));
        assert!(!names.is_other_regions_role("shop-node-eu-west-1", "eu-west-1"));
        // Not a region's role: a legacy name, an image-like suffix, another stack's prefix.
        assert!(!names.is_other_regions_role("shop-node", "eu-west-1"));
        assert!(!names.is_other_regions_role("shop-node-0123456789ab", "eu-west-1"));
    }

    #[test]
    fn an_extra_group_derives_its_names() {
        let names = Names::with_groups("shop", &["manager".into()]);
        let manager = names.group(Some("manager"));
        assert_eq!(manager.security_group, "shop-manager");
        assert_eq!(manager.load_balancer_security_group, "shop-manager-lb");
        assert_eq!(manager.load_balancer, "shop-manager-lb");
        assert_eq!(manager.auto_scaling_group, "shop-manager");
        assert_eq!(
            manager.image("0123456789abcdef"),
            "shop-manager-0123456789ab"
        );
        assert_eq!(names.node_groups().len(), 2);
        assert_eq!(names.node_groups()[0].auto_scaling_group, "shop-nodes");
    }
}
