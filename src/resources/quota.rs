//! The account quotas a stack's resources count against, and how much of each a resource takes:
//! each kind says what it uses (`ResourceKind::quota_use`), and plan checks the sum against what
//! the account has left before apply creates anything.

/// A regional quota of the account, as Service Quotas names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Quota {
    ClassicLoadBalancers,
    AutoScalingGroups,
    LaunchTemplates,
    DbInstances,
    CacheNodes,
    /// Running On-Demand instances of the standard families (A, C, D, H, I, M, R, T, Z), in vCPUs.
    StandardVcpus,
    Vpcs,
    InternetGateways,
    ElasticIps,
}

impl Quota {
    pub const ALL: [Quota; 9] = [
        Quota::ClassicLoadBalancers,
        Quota::AutoScalingGroups,
        Quota::LaunchTemplates,
        Quota::DbInstances,
        Quota::CacheNodes,
        Quota::StandardVcpus,
        Quota::Vpcs,
        Quota::InternetGateways,
        Quota::ElasticIps,
    ];

    /// The Service Quotas service code and quota code; None for a quota Service Quotas does not
    /// list (its documented value is the quota).
    pub fn codes(self) -> Option<(&'static str, &'static str)> {
        Some(match self {
            Quota::ClassicLoadBalancers => ("elasticloadbalancing", "L-E9E9831D"),
            Quota::AutoScalingGroups => ("autoscaling", "L-CDE20ADC"),
            Quota::LaunchTemplates => return None,
            Quota::DbInstances => ("rds", "L-7B6409FD"),
            Quota::CacheNodes => ("elasticache", "L-DFE45DF3"),
            Quota::StandardVcpus => ("ec2", "L-1216C47A"),
            Quota::Vpcs => ("vpc", "L-F678F1CE"),
            Quota::InternetGateways => ("vpc", "L-A4707A72"),
            Quota::ElasticIps => ("ec2", "L-0263D0A3"),
        })
    }

    /// The quota's name in AWS's documentation.
    pub fn name(self) -> &'static str {
        match self {
            Quota::ClassicLoadBalancers => "Classic Load Balancers per Region",
            Quota::AutoScalingGroups => "Auto Scaling groups per region",
            Quota::LaunchTemplates => "launch templates per Region",
            Quota::DbInstances => "DB instances",
            Quota::CacheNodes => "Nodes per Region",
            Quota::StandardVcpus => {
                "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances"
            }
            Quota::Vpcs => "VPCs per Region",
            Quota::InternetGateways => "Internet gateways per Region",
            Quota::ElasticIps => "EC2-VPC Elastic IPs",
        }
    }

    /// What is counted.
    pub fn unit(self) -> &'static str {
        match self {
            Quota::ClassicLoadBalancers => "Classic load balancers",
            Quota::AutoScalingGroups => "Auto Scaling groups",
            Quota::LaunchTemplates => "launch templates",
            Quota::DbInstances => "DB instances",
            Quota::CacheNodes => "cache nodes",
            Quota::StandardVcpus => "On-Demand standard vCPUs",
            Quota::Vpcs => "VPCs",
            Quota::InternetGateways => "internet gateways",
            Quota::ElasticIps => "elastic IPs",
        }
    }

    /// AWS's default value (its quota pages and GetAWSDefaultServiceQuota, 2026): what plan assumes
    /// when the account's own value cannot be read.
    pub fn aws_default(self) -> f64 {
        match self {
            Quota::ClassicLoadBalancers => 20.0,
            Quota::AutoScalingGroups => 500.0,
            Quota::LaunchTemplates => 5000.0,
            Quota::DbInstances => 40.0,
            Quota::CacheNodes => 300.0,
            Quota::StandardVcpus => 5.0,
            Quota::Vpcs => 5.0,
            Quota::InternetGateways => 5.0,
            Quota::ElasticIps => 5.0,
        }
    }
}

/// What one resource takes of the account's quotas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaUse {
    /// `count` of the quota's resources, while it exists.
    Count(Quota, u64),
    /// Up to `count` instances of what launch template `launch_template` launches, while it
    /// exists (in vCPUs, of their family's quota).
    InstancesOf { launch_template: String, count: u64 },
    /// One instance of `instance_type` while it is being created (a bake's builder).
    WhileCreating { instance_type: String },
}

/// Whether `instance_type` counts against the standard On-Demand vCPU quota (its family starts
/// with A, C, D, H, I, M, R, T or Z; `dl`, `inf`, `hpc`, `trn`, `mac`, `u-`, `g`, `p`, `x`, `f`, ...
/// have quotas of their own).
pub fn standard_family(instance_type: &str) -> bool {
    let family = instance_type.split('.').next().unwrap_or_default();
    let letters: String = family
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    matches!(
        letters.chars().next(),
        Some('a' | 'c' | 'd' | 'h' | 'i' | 'm' | 'r' | 't' | 'z')
    ) && !["dl", "inf", "hpc", "trn", "mac"]
        .iter()
        .any(|other| letters.starts_with(other))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_families_are_the_quotas_letters_and_no_other() {
        for standard in [
            "t3.micro",
            "m6i.large",
            "c7g.xlarge",
            "r6id.2xlarge",
            "a1.medium",
            "z1d.large",
            "d3.xlarge",
            "h1.2xlarge",
            "i4i.large",
            "m7i-flex.large",
            "im4gn.large",
            "is4gen.medium",
        ] {
            assert!(standard_family(standard), "{standard}");
        }
        for other in [
            "g5.xlarge",
            "p4d.24xlarge",
            "x2idn.16xlarge",
            "f1.2xlarge",
            "inf2.xlarge",
            "dl1.24xlarge",
            "trn1.2xlarge",
            "hpc7g.4xlarge",
            "u-6tb1.metal",
            "vt1.3xlarge",
            "mac2.metal",
        ] {
            assert!(!standard_family(other), "{other}");
        }
    }
}
