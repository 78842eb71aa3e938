//! The tag keys deployer writes: ownership, what was applied, and operational records.

/// The stack a resource belongs to: the mark of ownership.
pub const TAG_STACK: &str = "deployer:stack";
/// Which part of the stack a resource is (`database`, `security-group-lb`, ...).
pub const TAG_COMPONENT: &str = "deployer:component";
/// A digest of the attributes deployer last applied: when the profile still asks for exactly
/// those and the live resource differs, the difference is drift (a change made outside deployer).
pub const TAG_APPLIED: &str = "deployer:applied";
/// A capacity set by `deployer scale`, kept by later applies.
pub const TAG_SCALE: &str = "deployer:scale";
/// A roll in progress, resumed by the next apply.
pub const TAG_ROLL: &str = "deployer:roll";
/// The content hash of a baked image (and of its builder).
pub const TAG_BAKE_HASH: &str = "deployer:bake-hash";
/// On a baked image: the base image it was baked from.
pub const TAG_BASE_IMAGE: &str = "deployer:base-image";
/// On global (IAM) resources: the region of the stack they belong to.
pub const TAG_REGION: &str = "deployer:region";
/// Which node group a group-scoped resource belongs to (on its security groups, load balancer,
/// launch template and Auto Scaling Group): how observe finds the groups a profile no longer names.
pub const TAG_GROUP: &str = "deployer:group";
