//! The data tier: the PostgreSQL database and the Redis cache, each in its subnet group, the
//! cache with its AUTH token secret. Their security groups are the tiers' (see `build`).

use super::Environment;
use crate::ids::names::{Names, Tier};
use crate::profile::schema;
use crate::resources::{
    Resource, cache, cache_auth_secret, cache_subnet_group, database, db_subnet_group,
    security_group,
};

/// The database's subnet group and instance.
pub(super) fn database(
    db: &schema::Database,
    create_version: Option<String>,
    names: &Names,
    environment: &Environment,
    stack: &str,
) -> Vec<Resource> {
    let mut resources = Vec::new();
    resources.push(Resource::new::<db_subnet_group::DbSubnetGroups>(
        names.db_subnet_group(),
        "db-subnet-group",
        &db_subnet_group::Spec {
            description: format!("deployer {stack}: database subnets"),
            subnets: environment.data_subnet_ids(),
        },
    ));
    resources.push(
        Resource::new::<database::Databases>(
            names.database(),
            "database",
            &database::Spec {
                engine_version: db.engine_version.clone(),
                create_version,
                instance_class: db.instance_class.clone(),
                allocated_storage: db.allocated_storage,
                storage_type: db.storage_type.clone(),
                encrypted: db.encrypted,
                multi_az: db.multi_az,
                port: db.port.into(),
                db_name: db.name.clone(),
                username: db.username.clone(),
                backup_retention_days: db.backup_retention_days,
                deletion_protection: db.deletion_protection,
                auto_minor_version_upgrade: db.auto_minor_version_upgrade,
                subnet_group: names.db_subnet_group(),
                security_group: names.security_group(Tier::Db),
            },
        )
        .needs([
            security_group::id(names.security_group(Tier::Db)),
            db_subnet_group::id(names.db_subnet_group()),
        ]),
    );
    resources
}

/// The cache's subnet group, AUTH token secret and replication group.
pub(super) fn cache(
    cache: &schema::Cache,
    create_version: Option<String>,
    names: &Names,
    environment: &Environment,
    stack: &str,
) -> Vec<Resource> {
    let mut resources = Vec::new();
    resources.push(Resource::new::<cache_subnet_group::CacheSubnetGroups>(
        names.cache_subnet_group(),
        "cache-subnet-group",
        &cache_subnet_group::Spec {
            description: format!("deployer {}: cache subnets", stack),
            subnets: environment.data_subnet_ids(),
        },
    ));
    let auth_token = cache.encryption_in_transit;
    let mut needs = vec![
        security_group::id(names.security_group(Tier::Cache)),
        cache_subnet_group::id(names.cache_subnet_group()),
    ];
    if auth_token {
        resources.push(Resource::new::<cache_auth_secret::CacheAuthSecrets>(
            names.cache_auth_secret(),
            "cache-auth-secret",
            &cache_auth_secret::Spec {
                description: format!("deployer {}: Redis AUTH token", stack),
            },
        ));
        needs.push(cache_auth_secret::id(names.cache_auth_secret()));
    }
    resources.push(
        Resource::new::<crate::resources::cache::Caches>(
            names.cache(),
            "cache",
            &cache::Spec {
                description: format!("deployer {}: Redis", stack),
                engine_version: cache.engine_version.clone(),
                create_version,
                node_type: cache.node_type.clone(),
                num_cache_clusters: cache.replicas + 1,
                automatic_failover: cache.automatic_failover,
                multi_az: cache.multi_az,
                port: cache.port.into(),
                encryption_at_rest: cache.encryption_at_rest,
                encryption_in_transit: cache.encryption_in_transit,
                auth_token,
                auth_secret: names.cache_auth_secret(),
                subnet_group: names.cache_subnet_group(),
                security_group: names.security_group(Tier::Cache),
            },
        )
        .needs(needs),
    );
    resources
}
