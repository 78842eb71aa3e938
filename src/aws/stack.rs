//! A whole stack at once: every identity described concurrently, one resource re-described for
//! waiting, and the tag scan that proves a destroy left nothing behind.

use super::{
    Aws, AwsError, autoscaling, ec2, elasticache, elb, iam, image, launch_template, rds,
    scaling_policy, secrets, security_group,
};
use std::collections::BTreeSet;

use crate::plan::observed::{Observed, ObservedResource};
use crate::stack::naming::{GroupNames, NODE_POLICY, Names, Tier};
use crate::stack::spec::{Kind, ResourceId};

/// Describe every identity the stack can have, concurrently: the main group and the data tier,
/// the extra groups `names` declares, and any other extra group found by its tag (one the
/// profile no longer declares, so that apply and destroy delete it).
pub async fn observe(aws: &Aws, names: &Names, vpc_id: &str) -> Result<Observed, AwsError> {
    let declared = names.groups().to_vec();
    let (base, declared_groups) = tokio::join!(
        observe_base(aws, names, vpc_id),
        observe_groups(aws, names, &declared),
    );
    let (mut resources, mut images, others, found) = base?;
    resources.extend(declared_groups?);
    let undeclared: Vec<String> = found
        .into_iter()
        .filter(|group| !declared.contains(group))
        .collect();
    resources.extend(observe_groups(aws, names, &undeclared).await?);
    if !images.is_empty() {
        let groups: Vec<GroupNames> = std::iter::once(names.group(None))
            .chain(
                declared
                    .iter()
                    .chain(&undeclared)
                    .map(|g| names.group(Some(g))),
            )
            .collect();
        mark_images_in_use(aws, &groups, &resources, &mut images).await?;
    }
    let strays = image::stray_snapshots(names.stack(), others.snapshots, &images);
    resources.extend(images);
    resources.extend(strays);
    resources.extend(others.rest);
    let mut observed = Observed { resources };
    observed.name_security_groups();
    Ok(observed)
}

/// What observe reads besides the groups' resources: the stack's snapshots (to find strays once
/// images are known), and builders, policies and schedules.
struct Others {
    snapshots: Vec<String>,
    rest: Vec<ObservedResource>,
}

/// The main group, the data tier, every security group of the stack and the other stack-wide
/// resources; images apart. Also the node groups the security groups name.
#[allow(clippy::type_complexity)]
async fn observe_base(
    aws: &Aws,
    names: &Names,
    vpc_id: &str,
) -> Result<
    (
        Vec<ObservedResource>,
        Vec<ObservedResource>,
        Others,
        BTreeSet<String>,
    ),
    AwsError,
> {
    let mut groups: Vec<String> = Tier::ALL.iter().map(|t| names.security_group(*t)).collect();
    for group in names.groups() {
        let own = names.group(Some(group));
        groups.extend([own.security_group, own.load_balancer_security_group]);
    }
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
        images,
        snapshots,
        builders,
        policies,
        schedules,
    ) = tokio::join!(
        security_group::observe_stack(aws, vpc_id, names.stack(), &groups),
        rds::observe_subnet_group(aws, &db_subnets),
        rds::observe_instance(aws, &db),
        elasticache::observe_subnet_group(aws, &cache_subnets),
        secrets::observe(aws, &secret_name),
        elasticache::observe_replication_group(aws, &cache_name),
        elb::observe(aws, &lb),
        iam::observe(aws, &role_name, NODE_POLICY),
        launch_template::observe(aws, &template),
        autoscaling::observe(aws, &group_name),
        image::observe_images(aws, names.stack()),
        image::describe_snapshots(aws, names.stack()),
        image::observe_builders(aws, names.stack()),
        scaling_policy::observe_policies(aws, &group_name, names.stack()),
        scaling_policy::observe_schedules(aws, &group_name, names.stack()),
    );
    let (mut resources, found_groups) = security_groups?;
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
    let mut rest = builders?;
    rest.extend(policies?);
    rest.extend(schedules?);
    Ok((
        resources,
        images?,
        Others {
            snapshots: snapshots?,
            rest,
        },
        found_groups,
    ))
}

/// The resources of extra node groups besides their security groups (which `observe_base` reads
/// with the stack's): load balancer, launch template and Auto Scaling Group, by name.
async fn observe_groups(
    aws: &Aws,
    names: &Names,
    groups: &[String],
) -> Result<Vec<ObservedResource>, AwsError> {
    let each = groups.iter().map(|group| async move {
        let group = names.group(Some(group));
        let (lb, template, asg) = tokio::join!(
            elb::observe(aws, &group.load_balancer),
            launch_template::observe(aws, &group.launch_template),
            autoscaling::observe(aws, &group.auto_scaling_group),
        );
        Ok::<_, AwsError>(
            [lb?, template?, asg?]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>(),
        )
    });
    Ok(futures::future::try_join_all(each)
        .await?
        .into_iter()
        .flatten()
        .collect())
}

/// Mark the images that launch template versions in use reference: for each group, its
/// template's newest version, the version the group runs, and the versions its instances were
/// launched from.
async fn mark_images_in_use(
    aws: &Aws,
    groups: &[GroupNames],
    resources: &[ObservedResource],
    images: &mut [ObservedResource],
) -> Result<(), AwsError> {
    let each = groups
        .iter()
        .map(|group| images_in_use(aws, group, resources));
    let in_use: BTreeSet<String> = futures::future::try_join_all(each)
        .await?
        .into_iter()
        .flatten()
        .collect();
    for image in images {
        if in_use.contains(&image.physical_id) {
            image
                .attributes
                .insert("in_use".into(), serde_json::json!(true));
        }
    }
    Ok(())
}

/// The images one group's launch template versions in use reference.
async fn images_in_use(
    aws: &Aws,
    names: &GroupNames,
    resources: &[ObservedResource],
) -> Result<BTreeSet<String>, AwsError> {
    let find = |kind: Kind, name: &str| {
        resources
            .iter()
            .find(|r| r.id == ResourceId::new(kind, name))
    };
    let Some(template) = find(Kind::LaunchTemplate, &names.launch_template) else {
        return Ok(BTreeSet::new());
    };
    let mut in_use: BTreeSet<String> = template
        .attributes
        .get("image")
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .into_iter()
        .collect();
    let mut versions = BTreeSet::new();
    if let Some(group) = find(Kind::AutoScalingGroup, &names.auto_scaling_group) {
        if let Some(version) = group
            .attributes
            .get("launch_template")
            .and_then(|v| v.as_str())
            .and_then(|text| text.rsplit_once(" v"))
        {
            versions.insert(version.1.to_string());
        }
        if let Some(list) = group
            .attributes
            .get("instance_versions")
            .and_then(|v| v.as_array())
        {
            versions.extend(list.iter().filter_map(|v| v.as_str()).map(str::to_string));
        }
    }
    // The newest version's image is known already: read only the older versions in use (none,
    // when the group and all its instances run the newest).
    if let Some(latest) = template.outputs.version {
        versions.remove(&latest.to_string());
    }
    in_use.extend(image::images_of_versions(aws, &template.physical_id, &versions).await?);
    Ok(in_use)
}

/// Describe one resource again (while waiting for it).
pub async fn observe_one(
    aws: &Aws,
    id: &ResourceId,
    names: &Names,
    vpc_id: &str,
) -> Result<Option<ObservedResource>, AwsError> {
    match id.kind {
        Kind::Image => Ok(image::observe_images(aws, names.stack())
            .await?
            .into_iter()
            .find(|r| &r.id == id)),
        Kind::Snapshot => {
            let (images, snapshots) = tokio::join!(
                image::observe_images(aws, names.stack()),
                image::describe_snapshots(aws, names.stack())
            );
            Ok(image::stray_snapshots(names.stack(), snapshots?, &images?)
                .into_iter()
                .find(|r| &r.id == id))
        }
        Kind::Builder => Ok(image::observe_builders(aws, names.stack())
            .await?
            .into_iter()
            .find(|r| &r.id == id)),
        Kind::ScalingPolicy => {
            Ok(
                scaling_policy::observe_policies(aws, &names.auto_scaling_group(), names.stack())
                    .await?
                    .into_iter()
                    .find(|r| &r.id == id),
            )
        }
        Kind::ScheduledAction => {
            Ok(
                scaling_policy::observe_schedules(aws, &names.auto_scaling_group(), names.stack())
                    .await?
                    .into_iter()
                    .find(|r| &r.id == id),
            )
        }
        Kind::SecurityGroup => {
            Ok(
                security_group::observe(aws, vpc_id, std::slice::from_ref(&id.name))
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
        Kind::LaunchTemplate => launch_template::observe(aws, &id.name).await,
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
        // Policies and scheduled actions take no tags: the group's stand for them.
        Kind::ScalingPolicy | Kind::ScheduledAction => Ok(()),
        Kind::SecurityGroup
        | Kind::LaunchTemplate
        | Kind::Image
        | Kind::Builder
        | Kind::Snapshot => aws
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
