//! A whole stack at once: every identity described concurrently, one resource re-described for
//! waiting, and the tag scan that proves a destroy left nothing behind.

use super::{Aws, AwsError, autoscaling, ec2, elasticache, elb, iam, rds, secrets};
use crate::plan::observed::{Observed, ObservedResource};
use crate::stack::naming::{NODE_POLICY, Names, Tier};
use crate::stack::spec::{Kind, ResourceId};

/// Describe every identity the stack can have, concurrently.
pub async fn observe(aws: &Aws, names: &Names, vpc_id: &str) -> Result<Observed, AwsError> {
    let groups: Vec<String> = Tier::ALL.iter().map(|t| names.security_group(*t)).collect();
    let (
        db_subnets,
        db,
        cache_subnets,
        secret_name,
        cache_name,
        lb,
        role_name,
        template,
        group_name,
    ) = (
        names.db_subnet_group(),
        names.database(),
        names.cache_subnet_group(),
        names.cache_auth_secret(),
        names.cache(),
        names.load_balancer(),
        names.node_role(),
        names.launch_template(),
        names.auto_scaling_group(),
    );
    let (
        security_groups,
        db_subnet_group,
        database,
        cache_subnet_group,
        secret,
        cache,
        load_balancer,
        role,
        launch_template,
        group,
    ) = tokio::join!(
        ec2::observe_security_groups(aws, vpc_id, &groups),
        rds::observe_subnet_group(aws, &db_subnets),
        rds::observe_instance(aws, &db),
        elasticache::observe_subnet_group(aws, &cache_subnets),
        secrets::observe(aws, &secret_name),
        elasticache::observe_replication_group(aws, &cache_name),
        elb::observe(aws, &lb),
        iam::observe(aws, &role_name, NODE_POLICY),
        ec2::observe_launch_template(aws, &template),
        autoscaling::observe(aws, &group_name),
    );
    let mut resources = security_groups?;
    for one in [
        db_subnet_group?,
        database?,
        cache_subnet_group?,
        secret?,
        cache?,
        load_balancer?,
        role?,
        launch_template?,
        group?,
    ]
    .into_iter()
    .flatten()
    {
        resources.push(one);
    }
    let mut observed = Observed { resources };
    observed.name_security_groups();
    Ok(observed)
}

/// Describe one resource again (while waiting for it).
pub async fn observe_one(
    aws: &Aws,
    id: &ResourceId,
    vpc_id: &str,
) -> Result<Option<ObservedResource>, AwsError> {
    match id.kind {
        Kind::SecurityGroup => {
            Ok(
                ec2::observe_security_groups(aws, vpc_id, std::slice::from_ref(&id.name))
                    .await?
                    .into_iter()
                    .next(),
            )
        }
        Kind::DbSubnetGroup => rds::observe_subnet_group(aws, &id.name).await,
        Kind::Database => rds::observe_instance(aws, &id.name).await,
        Kind::CacheSubnetGroup => elasticache::observe_subnet_group(aws, &id.name).await,
        Kind::CacheAuthSecret => secrets::observe(aws, &id.name).await,
        Kind::Cache => elasticache::observe_replication_group(aws, &id.name).await,
        Kind::LoadBalancer => elb::observe(aws, &id.name).await,
        Kind::NodeRole => iam::observe(aws, &id.name, NODE_POLICY).await,
        Kind::LaunchTemplate => ec2::observe_launch_template(aws, &id.name).await,
        Kind::AutoScalingGroup => autoscaling::observe(aws, &id.name).await,
    }
}

/// Everything still tagged for the stack (or living under its IAM path), as (what, id) pairs.
/// The database and cache are found by identity, since their APIs do not filter by tag.
pub async fn scan(aws: &Aws, names: &Names) -> Result<Vec<(String, String)>, AwsError> {
    let stack = names.stack();
    let (path, db, db_subnets, cache_name, cache_subnets) = (
        names.iam_path(),
        names.database(),
        names.db_subnet_group(),
        names.cache(),
        names.cache_subnet_group(),
    );
    let (ec2, elb, iam, secrets, groups, database, db_subnets, cache, cache_subnets) = tokio::join!(
        ec2::tagged(aws, stack),
        elb::tagged(aws, stack),
        iam::tagged(aws, &path),
        secrets::tagged(aws, stack),
        autoscaling::tagged(aws, stack),
        rds::observe_instance(aws, &db),
        rds::observe_subnet_group(aws, &db_subnets),
        elasticache::observe_replication_group(aws, &cache_name),
        elasticache::observe_subnet_group(aws, &cache_subnets),
    );
    let mut found = Vec::new();
    for part in [ec2?, elb?, iam?, secrets?, groups?] {
        found.extend(part);
    }
    for resource in [database?, db_subnets?, cache?, cache_subnets?]
        .into_iter()
        .flatten()
        .filter(|r| r.owner() == Some(stack))
    {
        found.push((resource.id.to_string(), resource.physical_id));
    }
    found.sort();
    Ok(found)
}

/// Set one tag on a live resource (the `deployer:applied` digest after an update).
pub async fn set_tag(
    aws: &Aws,
    id: &ResourceId,
    physical_id: &str,
    key: &str,
    value: &str,
) -> Result<(), AwsError> {
    let what = format!("tag {id}");
    let fail_with = |message: String| AwsError::other(what.clone(), message);
    match id.kind {
        Kind::SecurityGroup | Kind::LaunchTemplate => aws
            .ec2
            .create_tags()
            .resources(physical_id)
            .tags(
                aws_sdk_ec2::types::Tag::builder()
                    .key(key)
                    .value(value)
                    .build(),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(super::fail(what)),
        Kind::LoadBalancer => aws
            .elb
            .add_tags()
            .load_balancer_names(&id.name)
            .tags(
                aws_sdk_elasticloadbalancing::types::Tag::builder()
                    .key(key)
                    .value(value)
                    .build()
                    .map_err(|e| fail_with(e.to_string()))?,
            )
            .send()
            .await
            .map(|_| ())
            .map_err(super::fail(what)),
        Kind::Database | Kind::DbSubnetGroup => aws
            .rds
            .add_tags_to_resource()
            .resource_name(physical_id)
            .tags(
                aws_sdk_rds::types::Tag::builder()
                    .key(key)
                    .value(value)
                    .build(),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(super::fail(what)),
        Kind::Cache | Kind::CacheSubnetGroup => aws
            .elasticache
            .add_tags_to_resource()
            .resource_name(physical_id)
            .tags(
                aws_sdk_elasticache::types::Tag::builder()
                    .key(key)
                    .value(value)
                    .build(),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(super::fail(what)),
        Kind::NodeRole => aws
            .iam
            .tag_role()
            .role_name(&id.name)
            .tags(
                aws_sdk_iam::types::Tag::builder()
                    .key(key)
                    .value(value)
                    .build()
                    .map_err(|e| fail_with(e.to_string()))?,
            )
            .send()
            .await
            .map(|_| ())
            .map_err(super::fail(what)),
        Kind::CacheAuthSecret => aws
            .secrets
            .tag_resource()
            .secret_id(physical_id)
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key(key)
                    .value(value)
                    .build(),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(super::fail(what)),
        Kind::AutoScalingGroup => aws
            .autoscaling
            .create_or_update_tags()
            .tags(
                aws_sdk_autoscaling::types::Tag::builder()
                    .resource_id(&id.name)
                    .resource_type("auto-scaling-group")
                    .key(key)
                    .value(value)
                    .propagate_at_launch(false)
                    .build(),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(super::fail(what)),
    }
}
