//! Deterministic identities: every resource's name is derived from the stack name, so that the
//! cloud itself is the state (describe by name, adopt what a previous run created).

/// Tag keys that mark ownership.
pub const TAG_STACK: &str = "deployer:stack";
pub const TAG_COMPONENT: &str = "deployer:component";
/// A digest of the attributes deployer last applied: when the profile still asks for exactly
/// those and the live resource differs, the difference is drift (a change made outside deployer).
pub const TAG_APPLIED: &str = "deployer:applied";
/// A capacity set by `deployer scale`, kept by later applies (see `stack::capacity`).
pub const TAG_SCALE: &str = "deployer:scale";
/// A roll in progress, resumed by the next apply.
pub const TAG_ROLL: &str = "deployer:roll";
/// The content hash of a baked image (and of its builder).
pub const TAG_BAKE_HASH: &str = "deployer:bake-hash";
/// The nodes role's inline policy.
pub const NODE_POLICY: &str = "deployer-read-stack-secrets";

/// The names of one stack's resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    stack: String,
}

impl Names {
    pub fn new(stack: &str) -> Self {
        Names {
            stack: stack.to_string(),
        }
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

    /// IAM role and instance profile of the nodes.
    pub fn node_role(&self) -> String {
        format!("{}-node", self.stack)
    }

    /// IAM path under which the stack's roles and instance profiles live.
    pub fn iam_path(&self) -> String {
        format!("/deployer/{}/", self.stack)
    }

    /// A baked image: named after the content hash of everything that shapes it.
    pub fn image(&self, hash: &str) -> String {
        format!("{}-node-{}", self.stack, &hash[..hash.len().min(12)])
    }

    /// The builder instance of a bake.
    pub fn builder(&self, hash: &str) -> String {
        format!("{}-builder-{}", self.stack, &hash[..hash.len().min(12)])
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
            ("IAM role", self.node_role(), 64),
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
}

impl Tier {
    pub const ALL: [Tier; 5] = [Tier::Lb, Tier::Nodes, Tier::Db, Tier::Cache, Tier::Builder];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Lb => "lb",
            Tier::Nodes => "nodes",
            Tier::Db => "db",
            Tier::Cache => "cache",
            Tier::Builder => "builder",
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
}
