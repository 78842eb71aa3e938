//! One step of a plan: the AWS calls that create, update, replace or delete one resource, and
//! the wait until it is ready or gone. Values decided by other resources (endpoints, group ids,
//! the launch template version) are read from the ledger of what is live.

use std::collections::BTreeMap;

use super::wait;
use super::{Context, Ledger, Live, Published};
use crate::aws::stack::set_tag;
use crate::aws::{
    AwsError, autoscaling, ec2, elasticache, elb, iam, image, launch_template, rds, scaling_policy,
    secrets, security_group,
};
use crate::plan::observed::Status;
use crate::plan::{Action, Step, differences};
use crate::stack::attributes::{Knowledge, applied_digest, desired_attributes};
use crate::stack::naming::{TAG_APPLIED, TAG_BAKE_HASH, TAG_GROUP, TAG_SCALE};
use crate::stack::ownership_tags;
use crate::stack::spec::{
    GroupSpec, IngressRule, Kind, LaunchTemplateSpec, NodeImage, Resource, ResourceId, Source, Spec,
};
use crate::stack::user_data::{CacheEndpoint, DatabaseEndpoint, Endpoints};

/// Carry out `step`. Returns what is live afterwards (None once deleted).
pub async fn step(
    context: &Context<'_>,
    step: &Step,
    ledger: &Ledger,
    published: &Published,
) -> Result<Option<Live>, AwsError> {
    let id = &step.id;
    let desired = context.desired.get(id);
    match (step.action, desired) {
        (Action::Retain, _) => Ok(ledger.get(id).cloned()),
        (Action::Delete, _) => {
            let text = match (id.kind, &context.options.final_snapshot) {
                (Kind::Database, Some(snapshot)) => format!("deleting, final snapshot {snapshot}"),
                (Kind::Database, None) => "deleting without a final snapshot".to_string(),
                _ => "deleting".to_string(),
            };
            context.progress.status(id, &text);
            delete(context, id, ledger).await?;
            Ok(None)
        }
        // Kept leftovers (an old image, the builder a bake adopts) are nothing to wait for.
        (Action::None, None) => Ok(ledger.get(id).cloned()),
        (Action::None, Some(_)) => {
            // A resource an earlier, interrupted run left being created: wait for it.
            match context.observed.get(id) {
                Some(live) if matches!(live.status, Status::Pending(_)) => {
                    context.progress.status(id, "waiting for it to be ready");
                    let ready = wait::until_ready(context, id).await?;
                    context.progress.finish(id, "ready", true);
                    Ok(Some(Live::of(&ready)))
                }
                _ => Ok(ledger.get(id).cloned()),
            }
        }
        (Action::Create, Some(resource)) => {
            if context
                .observed
                .get(id)
                .is_some_and(|live| matches!(live.status, Status::Deleting(_)))
            {
                context
                    .progress
                    .status(id, "waiting for the old one to be deleted");
                wait::until_gone(context, id).await?;
            }
            context.progress.status(id, "creating");
            create(context, resource, ledger, published)
                .await
                .map(|live| {
                    Some(Live {
                        fresh: true,
                        ..live
                    })
                })
        }
        (Action::Update, Some(resource)) => {
            if context
                .observed
                .get(id)
                .is_some_and(|live| matches!(live.status, Status::Pending(_)))
            {
                // AWS refuses changes while a resource is still being created or modified.
                wait::until_ready(context, id).await?;
            }
            context.progress.status(id, "updating");
            update(context, resource, ledger, published).await.map(Some)
        }
        (Action::Replace, Some(resource)) => {
            if id.kind.is_stateful() {
                return Err(AwsError::other(
                    format!("replace {id}"),
                    "deployer does not replace resources that hold data",
                ));
            }
            context
                .progress
                .status(id, "replacing: deleting the old one");
            delete(context, id, ledger).await?;
            let mut ledger = ledger.clone();
            ledger.remove(id);
            context
                .progress
                .status(id, "replacing: creating the new one");
            create(context, resource, &ledger, published)
                .await
                .map(|live| {
                    Some(Live {
                        fresh: true,
                        ..live
                    })
                })
        }
        (action, None) => Err(AwsError::other(
            format!("{action:?} {id}"),
            "the resource is not in the desired stack",
        )),
    }
}

/// Ownership tags, and the digest of what is being applied (see `TAG_APPLIED`).
fn tags(context: &Context<'_>, resource: &Resource, ledger: &Ledger) -> BTreeMap<String, String> {
    let mut tags = ownership_tags(
        &context.desired.stack,
        &resource.component,
        &resource.id.name,
    );
    if let Some(group) = context
        .desired
        .names()
        .extra_group_of(resource.id.kind, &resource.id.name)
    {
        tags.insert(TAG_GROUP.to_string(), group);
    }
    let attributes = desired_attributes(resource, &knowledge(context, ledger), None);
    if let Some(digest) = applied_digest(&attributes) {
        tags.insert(TAG_APPLIED.to_string(), digest);
    }
    tags
}

/// The ids of the security groups that `rules` name, once they exist.
async fn named_groups(
    rules: &[IngressRule],
    published: &Published,
    user: &ResourceId,
) -> Result<BTreeMap<String, String>, AwsError> {
    let names = rules
        .iter()
        .filter_map(|rule| match &rule.source {
            Source::Group(name) => Some(name.clone()),
            Source::Cidr(_) => None,
        })
        .collect();
    published.wait_for(&names, user).await
}

fn group_id(ledger: &Ledger, name: &str, user: &ResourceId) -> Result<String, AwsError> {
    ledger
        .get(&ResourceId::new(Kind::SecurityGroup, name))
        .map(|live| live.physical_id.clone())
        .ok_or_else(|| {
            AwsError::other(
                format!("configure {user}"),
                format!("security group {name} does not exist"),
            )
        })
}

/// What the ledger says of the endpoints and the launch template version.
fn knowledge(context: &Context<'_>, ledger: &Ledger) -> Knowledge {
    let names = context.desired.names();
    let database = ledger
        .get(&ResourceId::new(Kind::Database, names.database()))
        .and_then(|live| {
            let (host, port) = live.outputs.endpoint.clone()?;
            Some(DatabaseEndpoint {
                host,
                port,
                secret_arn: live.outputs.arn.clone()?,
            })
        });
    let auth_secret_arn = ledger
        .get(&ResourceId::new(
            Kind::CacheAuthSecret,
            names.cache_auth_secret(),
        ))
        .and_then(|live| live.outputs.arn.clone());
    let cache = ledger
        .get(&ResourceId::new(Kind::Cache, names.cache()))
        .and_then(|live| {
            let (host, port) = live.outputs.endpoint.clone()?;
            Some(CacheEndpoint {
                host,
                port,
                auth_secret_arn: auth_secret_arn.clone(),
            })
        });
    let mut knowledge = Knowledge {
        endpoints: Endpoints {
            database,
            cache,
            groups: Default::default(),
        },
        ..Knowledge::default()
    };
    for resource in &context.desired.resources {
        let Some(live) = ledger.get(&resource.id) else {
            continue;
        };
        let name = resource.id.name.clone();
        match &resource.spec {
            Spec::LoadBalancer(lb) => {
                if let (Some(group), Some((dns, _))) = (&lb.group, &live.outputs.endpoint) {
                    knowledge
                        .endpoints
                        .groups
                        .insert(group.clone(), dns.clone());
                }
                if live.fresh {
                    knowledge.new_load_balancers.insert(name);
                }
            }
            Spec::Image(_) => {
                knowledge.images.insert(name, live.physical_id.clone());
            }
            Spec::LaunchTemplate(_) => {
                if let Some(version) = live.outputs.version {
                    knowledge.launch_template_versions.insert(name, version);
                }
            }
            _ => {}
        }
    }
    knowledge
}

async fn create(
    context: &Context<'_>,
    resource: &Resource,
    ledger: &Ledger,
    published: &Published,
) -> Result<Live, AwsError> {
    let aws = context.aws;
    let id = &resource.id;
    let name = id.name.as_str();
    let tags = tags(context, resource, ledger);
    match &resource.spec {
        Spec::SecurityGroup(sg) => {
            let group =
                security_group::create(aws, name, &sg.vpc_id, &sg.description, &tags).await?;
            published.publish(name, &group);
            let ids = named_groups(&sg.ingress, published, id).await?;
            security_group::sync_ingress(aws, &group, &sg.ingress, &ids).await?;
            Ok(Live {
                physical_id: group,
                ..Live::default()
            })
        }
        Spec::DbSubnetGroup(group) => {
            rds::create_subnet_group(aws, name, group, &tags).await?;
            Ok(Live {
                physical_id: name.to_string(),
                ..Live::default()
            })
        }
        Spec::CacheSubnetGroup(group) => {
            elasticache::create_subnet_group(aws, name, group, &tags).await?;
            Ok(Live {
                physical_id: name.to_string(),
                ..Live::default()
            })
        }
        Spec::CacheAuthSecret(secret) => {
            let arn = secrets::create(aws, name, &secret.description, &tags).await?;
            let mut live = Live {
                physical_id: arn.clone(),
                ..Live::default()
            };
            live.outputs.arn = Some(arn);
            Ok(live)
        }
        Spec::Database(db) => {
            let group = group_id(ledger, &db.security_group, id)?;
            rds::create_instance(aws, name, db, &group, &tags).await?;
            context.progress.status(id, "waiting: creating");
            Ok(Live::of(&wait::until_ready(context, id).await?))
        }
        Spec::Cache(cache) => {
            let group = group_id(ledger, &cache.security_group, id)?;
            let token = if cache.auth_token {
                let secret = ResourceId::new(Kind::CacheAuthSecret, cache.auth_secret.clone());
                let arn = ledger
                    .get(&secret)
                    .and_then(|live| live.outputs.arn.clone())
                    .ok_or_else(|| {
                        AwsError::other(format!("create {id}"), format!("{secret} does not exist"))
                    })?;
                Some(secrets::value(aws, &arn).await?)
            } else {
                None
            };
            elasticache::create_replication_group(
                aws,
                name,
                cache,
                &group,
                token.as_deref(),
                &tags,
            )
            .await?;
            context.progress.status(id, "waiting: creating");
            Ok(Live::of(&wait::until_ready(context, id).await?))
        }
        Spec::LoadBalancer(lb) => {
            let group = group_id(ledger, &lb.security_group, id)?;
            let dns = elb::create(aws, name, lb, &group, &tags).await?;
            let mut live = Live {
                physical_id: name.to_string(),
                ..Live::default()
            };
            live.outputs.endpoint = Some((dns, 0));
            Ok(live)
        }
        Spec::NodeRole(role) => {
            iam::create(aws, name, role, &tags).await?;
            Ok(Live::of(&wait::until_ready(context, id).await?))
        }
        Spec::LaunchTemplate(template) => {
            let data = launch_data(context, id, template, ledger).await?;
            let (template_id, version) = launch_template::create(aws, name, &data, &tags).await?;
            let mut live = Live {
                physical_id: template_id,
                ..Live::default()
            };
            live.outputs.version = Some(version);
            Ok(live)
        }
        Spec::ScalingPolicy(policy) => {
            scaling_policy::put_policy(aws, name, policy).await?;
            Ok(Live {
                physical_id: name.to_string(),
                ..Live::default()
            })
        }
        Spec::ScheduledAction(action) => {
            scaling_policy::put_schedule(aws, name, action).await?;
            Ok(Live {
                physical_id: name.to_string(),
                ..Live::default()
            })
        }
        Spec::Image(spec) => {
            let mut tags = tags;
            tags.insert(TAG_BAKE_HASH.to_string(), spec.hash.clone());
            tags.extend(spec.inputs.clone());
            super::bake::bake(context, id, spec, &tags).await
        }
        Spec::AutoScalingGroup(group) => {
            let version = template_version(context, ledger, id, group)?;
            autoscaling::create(aws, name, group, version, &tags).await?;
            until_in_service(context, id).await?;
            Ok(Live {
                physical_id: name.to_string(),
                ..Live::default()
            })
        }
    }
}

fn template_version(
    context: &Context<'_>,
    ledger: &Ledger,
    user: &ResourceId,
    group: &GroupSpec,
) -> Result<i64, AwsError> {
    knowledge(context, ledger)
        .launch_template_versions
        .get(&group.launch_template)
        .copied()
        .ok_or_else(|| {
            AwsError::other(
                format!("configure {user}"),
                "the launch template does not exist",
            )
        })
}

/// The launch template version to create, with the boot template rendered with real endpoints.
async fn launch_data(
    context: &Context<'_>,
    id: &ResourceId,
    template: &LaunchTemplateSpec,
    ledger: &Ledger,
) -> Result<launch_template::LaunchData, AwsError> {
    let what = format!("create {id}");
    let Knowledge {
        endpoints,
        mut images,
        ..
    } = knowledge(context, ledger);
    endpoints
        .cover(&template.boot.context)
        .map_err(|message| AwsError::other(what.clone(), message))?;
    let user_data = template.boot.render(&endpoints).map_err(|error| {
        AwsError::other(
            what.clone(),
            format!(
                "the boot template {}{} failed to render: {}",
                error.path,
                error.line.map(|l| format!(":{l}")).unwrap_or_default(),
                error.message
            ),
        )
    })?;
    let image = match &template.image {
        NodeImage::Fixed(id) => id.clone(),
        NodeImage::Baked(name) => images
            .remove(name)
            .ok_or_else(|| AwsError::other(what.clone(), format!("image {name} does not exist")))?,
    };
    let root_device = ec2::image_root_device(context.aws, &image)
        .await?
        .ok_or_else(|| AwsError::other(what.clone(), format!("image {image} does not exist")))?;
    // Instances are named after their launch template: `<stack>-node`, `<stack>-<group>`.
    let instance_name = context
        .desired
        .names()
        .group(template.group.as_deref())
        .launch_template;
    Ok(launch_template::LaunchData {
        image,
        root_device,
        instance_type: template.instance_type.clone(),
        volume_size: template.volume_size,
        volume_type: template.volume_type.clone(),
        security_group_id: group_id(ledger, &template.security_group, id)?,
        instance_profile: template.instance_profile.clone(),
        user_data,
        instance_tags: ownership_tags(&context.desired.stack, "node", &instance_name),
    })
}

async fn update(
    context: &Context<'_>,
    resource: &Resource,
    ledger: &Ledger,
    published: &Published,
) -> Result<Live, AwsError> {
    let aws = context.aws;
    let id = &resource.id;
    let name = id.name.as_str();
    let observed = context.observed.get(id).ok_or_else(|| {
        AwsError::other(
            format!("update {id}"),
            "it no longer exists; run plan again",
        )
    })?;
    // Recompute with what is now known (endpoints, versions decided by earlier steps).
    let attributes = desired_attributes(
        resource,
        &knowledge(context, ledger),
        Some(&observed.attributes),
    );
    let changed: Vec<String> = differences(&attributes, observed)
        .into_iter()
        .map(|c| c.attribute)
        .collect();
    let mut live = ledger
        .get(id)
        .cloned()
        .unwrap_or_else(|| Live::of(observed));
    if changed.is_empty() {
        return Ok(live);
    }
    let tags = tags(context, resource, ledger);
    match &resource.spec {
        Spec::SecurityGroup(sg) => {
            let ids = named_groups(&sg.ingress, published, id).await?;
            security_group::sync_ingress(aws, &live.physical_id, &sg.ingress, &ids).await?;
        }
        Spec::DbSubnetGroup(group) => rds::update_subnet_group(aws, name, group).await?,
        Spec::CacheSubnetGroup(group) => elasticache::update_subnet_group(aws, name, group).await?,
        Spec::CacheAuthSecret(_) | Spec::Image(_) => {}
        Spec::ScalingPolicy(policy) => scaling_policy::put_policy(aws, name, policy).await?,
        Spec::ScheduledAction(action) => {
            // A put keeps the fields it does not name: clearing one takes a new action.
            let clears = differences(&attributes, observed)
                .iter()
                .any(|c| c.new.as_ref().is_some_and(|v| v.is_null()));
            if clears {
                scaling_policy::delete_schedule(aws, &action.group, name).await?;
            }
            scaling_policy::put_schedule(aws, name, action).await?
        }
        Spec::Database(db) => {
            let group = group_id(ledger, &db.security_group, id)?;
            let version = observed
                .attributes
                .get("engine_version")
                .and_then(|v| v.as_str());
            rds::modify_instance(aws, name, db, &group, &changed, version).await?;
            live = Live::of(&wait::until_ready(context, id).await?);
        }
        Spec::Cache(cache) => {
            let group = group_id(ledger, &cache.security_group, id)?;
            let clusters = observed
                .attributes
                .get("num_cache_clusters")
                .and_then(|v| v.as_i64())
                .unwrap_or(1);
            elasticache::modify_replication_group(aws, name, cache, &group, &changed, clusters)
                .await?;
            live = Live::of(&wait::until_ready(context, id).await?);
        }
        Spec::LoadBalancer(lb) => {
            let group = group_id(ledger, &lb.security_group, id)?;
            elb::configure(aws, name, lb, &group, Some(&changed)).await?;
        }
        Spec::NodeRole(role) => iam::update(aws, name, role, &tags).await?,
        Spec::LaunchTemplate(template) => {
            let data = launch_data(context, id, template, ledger).await?;
            let version =
                launch_template::create_version(aws, &live.physical_id, name, &data).await?;
            live.outputs.version = Some(version);
        }
        Spec::AutoScalingGroup(group) => {
            let version = template_version(context, ledger, id, group)?;
            let number = |key: &str| {
                attributes
                    .iter()
                    .find(|a| a.key == key)
                    .and_then(|a| match &a.value {
                        crate::stack::attributes::Val::Known(v) => v.as_i64(),
                        crate::stack::attributes::Val::Unknown => None,
                    })
                    .map(|v| v as i32)
            };
            let capacity = autoscaling::Capacity {
                min: number("min_size").unwrap_or(group.min),
                max: number("max_size").unwrap_or(group.max),
                desired: number("desired_capacity").unwrap_or(group.desired),
            };
            autoscaling::update(aws, name, group, version, capacity, &changed).await?;
            if changed
                .iter()
                .any(|c| c == "instances" || c == "launch_template")
            {
                super::roll::roll(context, id, group, version).await?;
            }
            if changed.iter().any(|c| c == "scale_override") {
                autoscaling::delete_tag(aws, name, TAG_SCALE).await?;
            }
            until_in_service(context, id).await?;
        }
    }
    if let Some(digest) = applied_digest(&attributes) {
        set_tag(aws, id, &live.physical_id, TAG_APPLIED, &digest).await?;
    }
    Ok(live)
}

async fn delete(context: &Context<'_>, id: &ResourceId, ledger: &Ledger) -> Result<(), AwsError> {
    let aws = context.aws;
    let name = id.name.as_str();
    let physical = ledger.get(id).map(|live| live.physical_id.clone());
    let group = context.desired.names().auto_scaling_group();
    match id.kind {
        Kind::ScalingPolicy => scaling_policy::delete_policy(aws, &group, name).await,
        Kind::ScheduledAction => scaling_policy::delete_schedule(aws, &group, name).await,
        Kind::Image => match physical {
            Some(ami) => image::deregister(aws, &ami).await,
            None => Ok(()),
        },
        Kind::Snapshot => image::delete_snapshot(aws, name).await,
        Kind::Builder => match physical {
            Some(instance) => super::bake::terminate_and_wait(context, id, &instance).await,
            None => Ok(()),
        },
        Kind::SecurityGroup => {
            let Some(group) = physical else {
                return Ok(());
            };
            wait::retry(
                context,
                id,
                "network interfaces and rules that still use it",
                || security_group::delete(aws, &group),
            )
            .await
        }
        Kind::DbSubnetGroup => {
            wait::retry(context, id, "the database that still uses it", || {
                rds::delete_subnet_group(aws, name)
            })
            .await
        }
        Kind::CacheSubnetGroup => {
            wait::retry(context, id, "the cache that still uses it", || {
                elasticache::delete_subnet_group(aws, name)
            })
            .await
        }
        Kind::CacheAuthSecret => secrets::delete(aws, name).await,
        Kind::Database => {
            rds::delete_instance(aws, name, context.options.final_snapshot.as_deref()).await?;
            wait::until_gone(context, id).await
        }
        Kind::Cache => {
            elasticache::delete_replication_group(aws, name).await?;
            wait::until_gone(context, id).await
        }
        Kind::LoadBalancer => elb::delete(aws, name).await,
        Kind::NodeRole => iam::delete(aws, name).await,
        Kind::LaunchTemplate => match physical {
            Some(template) => launch_template::delete(aws, &template).await,
            None => Ok(()),
        },
        Kind::AutoScalingGroup => {
            wait::retry(context, id, "scaling activity to finish", || {
                autoscaling::delete(aws, name)
            })
            .await?;
            wait::until_gone(context, id).await
        }
    }
}

/// Wait until the group has its desired number of instances in service and healthy.
async fn until_in_service(context: &Context<'_>, id: &ResourceId) -> Result<(), AwsError> {
    let begun = std::time::Instant::now();
    let limit = wait::timeout_for(id.kind);
    let mut ticks = wait::pace(context);
    loop {
        if let Some((group, members)) = autoscaling::describe(context.aws, &id.name).await? {
            let desired = group
                .attributes
                .get("desired_capacity")
                .and_then(|v| v.as_i64())
                .unwrap_or(0) as usize;
            let healthy = members
                .iter()
                .filter(|m| m.lifecycle == "InService" && m.health == "Healthy")
                .count();
            if healthy >= desired {
                return Ok(());
            }
            context.progress.status(
                id,
                &format!("waiting: {healthy}/{desired} instances in service"),
            );
        }
        if begun.elapsed() > limit {
            return Err(AwsError::other(
                format!("wait for {id}"),
                "its instances did not come into service in time; check the boot template and the health check",
            ));
        }
        ticks.tick().await;
    }
}
