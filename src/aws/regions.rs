//! AWS region names: a name not among them is refused at once (`us-east1`, `mars-north-1`), with
//! the nearest one, rather than after half a minute of failed connections. As the Terraform AWS
//! provider does (its `skip_region_validation`), a region newer than this list can be let through
//! with `DEPLOYER_SKIP_REGION_VALIDATION=1`.
//!
//! Source: https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-regions.html

/// The regions of the aws, aws-cn, aws-us-gov and aws-eusc partitions.
pub const REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eusc-de-east-1",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-west-1",
    "us-west-2",
];

/// The environment variable that lets a region this list does not know through.
pub const SKIP_VALIDATION: &str = "DEPLOYER_SKIP_REGION_VALIDATION";

/// Why `name` is not a region, and the hint (the nearest name), or None when it is one.
pub fn problem(name: &str) -> Option<(String, String)> {
    if REGIONS.contains(&name)
        || std::env::var(SKIP_VALIDATION).is_ok_and(|v| !v.is_empty() && v != "0")
    {
        return None;
    }
    let message = format!("`{name}` is not an AWS region");
    let hint = match crate::profile::suggest::nearest(name, REGIONS.iter().copied()) {
        Some(meant) => format!("did you mean `{meant}`?"),
        None => "a region looks like us-east-1 or eu-west-2".to_string(),
    };
    Some((
        message,
        format!("{hint} (a region newer than this deployer: set {SKIP_VALIDATION}=1)"),
    ))
}

/// For clap: `--region` must name a region.
pub fn parse(name: &str) -> Result<String, String> {
    match problem(name) {
        None => Ok(name.to_string()),
        Some((message, hint)) => Err(format!("{message}; {hint}")),
    }
}
