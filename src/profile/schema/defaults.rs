//! The defaults of the profile's keys: the reference deployment's starting values and the
//! security baseline.

use super::super::values::{Duration, HealthTarget, RollBatch, known};

pub(super) fn yes() -> bool {
    true
}
pub(super) fn one() -> i32 {
    1
}
pub(super) fn two() -> i32 {
    2
}
pub(super) fn default_vpc() -> String {
    "default".into()
}
pub(super) fn default_instance_type() -> String {
    "m5.large".into()
}
pub(super) fn default_volume_size() -> i32 {
    20
}
pub(super) fn default_volume_type() -> String {
    "gp3".into()
}
pub(super) fn default_boot_template() -> String {
    "templates/boot.sh.j2".into()
}
pub(super) fn default_bake_template() -> String {
    "templates/bake.sh.j2".into()
}
pub(super) fn default_builder_type() -> String {
    "t3.medium".into()
}
pub(super) fn default_builder_volume() -> i32 {
    20
}
pub(super) fn default_bake_timeout() -> Duration {
    known("30m")
}
pub(super) fn default_keep_images() -> i32 {
    3
}
pub(super) fn default_postgres_version() -> String {
    "16".into()
}
pub(super) fn default_db_instance_class() -> String {
    "db.m6i.large".into()
}
pub(super) fn default_db_storage() -> i32 {
    250
}
pub(super) fn default_db_storage_type() -> String {
    "gp2".into()
}
pub(super) fn default_db_port() -> u16 {
    5432
}
pub(super) fn default_db_name() -> String {
    "app".into()
}
pub(super) fn default_db_username() -> String {
    "deployer".into()
}
pub(super) fn default_backup_days() -> i32 {
    7
}
pub(super) fn default_redis_version() -> String {
    "7".into()
}
pub(super) fn default_cache_node_type() -> String {
    "cache.m6g.large".into()
}
pub(super) fn default_cache_port() -> u16 {
    6379
}
pub(super) fn default_idle_timeout() -> i32 {
    300
}
pub(super) fn default_draining_timeout() -> i32 {
    300
}
pub(super) fn default_tls_policy() -> String {
    "ELBSecurityPolicy-TLS-1-2-2017-01".into()
}
pub(super) fn default_health_target() -> HealthTarget {
    known("HTTP:80/health")
}
pub(super) fn default_health_timeout() -> i32 {
    59
}
pub(super) fn default_health_interval() -> i32 {
    60
}
pub(super) fn default_roll_batch() -> RollBatch {
    known("25%")
}
pub(super) fn default_roll_timeout() -> Duration {
    known("15m")
}
pub(super) fn default_termination_policies() -> Vec<String> {
    vec!["Default".into()]
}
pub(super) fn default_max() -> i32 {
    4
}
pub(super) fn default_grace() -> i32 {
    300
}
pub(super) fn default_alarm_minutes() -> i32 {
    5
}
pub(super) fn default_5xx_per_minute() -> f64 {
    10.0
}
pub(super) fn default_latency_seconds() -> f64 {
    1.0
}
pub(super) fn default_database_cpu() -> f64 {
    80.0
}
pub(super) fn default_free_storage() -> f64 {
    10.0
}
pub(super) fn default_free_memory() -> f64 {
    256.0
}
pub(super) fn default_cache_cpu() -> f64 {
    90.0
}
pub(super) fn default_cache_memory() -> f64 {
    80.0
}
pub(super) fn default_log_retention() -> i32 {
    90
}
pub(super) fn default_log_interval() -> i32 {
    60
}
pub(super) fn default_node_log_retention() -> i32 {
    30
}
