//! ElastiCache: the Redis replication group (cluster mode off) and its cache subnet group.

use std::collections::BTreeMap;

use aws_sdk_elasticache::types::{AutomaticFailoverStatus, MultiAzStatus, Tag};
use serde_json::{Map, json};

use super::{Aws, AwsError, fail, tag_map};
use crate::plan::observed::{ObservedResource, Outputs, Status};
use crate::stack::attributes::sorted;
use crate::stack::spec::{CacheSpec, Kind, ResourceId, SubnetGroupSpec};

fn cache_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

async fn tags_of(aws: &Aws, arn: &str, what: &str) -> Result<BTreeMap<String, String>, AwsError> {
    let tags = aws
        .elasticache
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .map_err(fail(what))?;
    Ok(tag_map(
        tags.tag_list().iter().map(|t| (t.key(), t.value())),
    ))
}

pub async fn observe_subnet_group(
    aws: &Aws,
    name: &str,
) -> Result<Option<ObservedResource>, AwsError> {
    let what = format!("describe cache subnet group {name}");
    let found = match aws
        .elasticache
        .describe_cache_subnet_groups()
        .cache_subnet_group_name(name)
        .send()
        .await
    {
        Ok(found) => found,
        Err(error) => {
            let error = fail(what)(error);
            return if error.is("CacheSubnetGroupNotFoundFault") {
                Ok(None)
            } else {
                Err(error)
            };
        }
    };
    let Some(group) = found.cache_subnet_groups().first() else {
        return Ok(None);
    };
    let arn = group.arn().unwrap_or_default().to_string();
    let tags = tags_of(aws, &arn, &what).await?;
    let mut attributes = Map::new();
    attributes.insert(
        "subnets".into(),
        sorted(
            group
                .subnets()
                .iter()
                .filter_map(|s| s.subnet_identifier().map(str::to_string)),
        ),
    );
    Ok(Some(ObservedResource {
        id: ResourceId::new(Kind::CacheSubnetGroup, name),
        physical_id: arn,
        tags,
        attributes,
        status: Status::Ready,
        outputs: Outputs::default(),
    }))
}

pub async fn create_subnet_group(
    aws: &Aws,
    name: &str,
    spec: &SubnetGroupSpec,
    tags: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    let created = aws
        .elasticache
        .create_cache_subnet_group()
        .cache_subnet_group_name(name)
        .cache_subnet_group_description(&spec.description)
        .set_subnet_ids(Some(spec.subnets.clone()))
        .set_tags(Some(cache_tags(tags)))
        .send()
        .await;
    match created {
        Ok(_) => Ok(()),
        Err(error) => {
            let error = fail(format!("create cache subnet group {name}"))(error);
            if !error.is("CacheSubnetGroupAlreadyExists") {
                return Err(error);
            }
            match observe_subnet_group(aws, name).await? {
                Some(live) if super::same_owner(&live, tags) => {
                    update_subnet_group(aws, name, spec).await
                }
                _ => Err(error),
            }
        }
    }
}

pub async fn update_subnet_group(
    aws: &Aws,
    name: &str,
    spec: &SubnetGroupSpec,
) -> Result<(), AwsError> {
    aws.elasticache
        .modify_cache_subnet_group()
        .cache_subnet_group_name(name)
        .set_subnet_ids(Some(spec.subnets.clone()))
        .send()
        .await
        .map(|_| ())
        .map_err(fail(format!("update cache subnet group {name}")))
}

/// Delete the subnet group; `Ok(false)` while a cache still uses it.
pub async fn delete_subnet_group(aws: &Aws, name: &str) -> Result<bool, AwsError> {
    match aws
        .elasticache
        .delete_cache_subnet_group()
        .cache_subnet_group_name(name)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(error) => {
            let error = fail(format!("delete cache subnet group {name}"))(error);
            if error.is("CacheSubnetGroupNotFoundFault") {
                Ok(true)
            } else if error.is("CacheSubnetGroupInUse") {
                Ok(false)
            } else {
                Err(error)
            }
        }
    }
}

pub async fn observe_replication_group(
    aws: &Aws,
    id: &str,
) -> Result<Option<ObservedResource>, AwsError> {
    let what = format!("describe cache {id}");
    let found = match aws
        .elasticache
        .describe_replication_groups()
        .replication_group_id(id)
        .send()
        .await
    {
        Ok(found) => found,
        Err(error) => {
            let error = fail(what)(error);
            return if error.is("ReplicationGroupNotFoundFault") {
                Ok(None)
            } else {
                Err(error)
            };
        }
    };
    let Some(group) = found.replication_groups().first() else {
        return Ok(None);
    };
    let arn = group.arn().unwrap_or_default().to_string();
    let member = group.member_clusters().first().cloned();
    let (tags, cluster) = tokio::join!(tags_of(aws, &arn, &what), async {
        match &member {
            Some(member) => aws
                .elasticache
                .describe_cache_clusters()
                .cache_cluster_id(member)
                .send()
                .await
                .map(Some)
                .map_err(fail(what.clone())),
            None => Ok(None),
        }
    });
    let tags = tags?;
    let cluster = cluster?;
    let cluster = cluster.as_ref().and_then(|c| c.cache_clusters().first());
    let state = group.status().unwrap_or("unknown").to_string();
    let status = match state.as_str() {
        "available" | "snapshotting" => Status::Ready,
        "deleting" => Status::Deleting(state),
        "create-failed" => Status::Failed(state),
        _ => Status::Pending(state),
    };
    let endpoint = group
        .node_groups()
        .first()
        .and_then(|n| n.primary_endpoint())
        .and_then(|e| Some((e.address()?.to_string(), e.port()?)));
    let mut a = Map::new();
    a.insert(
        "engine".into(),
        json!(cluster.and_then(|c| c.engine()).unwrap_or("redis")),
    );
    a.insert(
        "engine_version".into(),
        json!(cluster.and_then(|c| c.engine_version())),
    );
    a.insert("node_type".into(), json!(group.cache_node_type()));
    a.insert(
        "num_cache_clusters".into(),
        json!(group.member_clusters().len()),
    );
    a.insert(
        "automatic_failover".into(),
        json!(matches!(
            group.automatic_failover(),
            Some(AutomaticFailoverStatus::Enabled | AutomaticFailoverStatus::Enabling)
        )),
    );
    a.insert(
        "multi_az".into(),
        json!(matches!(group.multi_az(), Some(MultiAzStatus::Enabled))),
    );
    a.insert("port".into(), json!(endpoint.as_ref().map(|e| e.1)));
    a.insert(
        "encryption_at_rest".into(),
        json!(group.at_rest_encryption_enabled().unwrap_or(false)),
    );
    a.insert(
        "encryption_in_transit".into(),
        json!(group.transit_encryption_enabled().unwrap_or(false)),
    );
    a.insert(
        "auth_token".into(),
        json!(group.auth_token_enabled().unwrap_or(false)),
    );
    a.insert(
        "subnet_group".into(),
        json!(cluster.and_then(|c| c.cache_subnet_group_name())),
    );
    a.insert(
        "security_groups".into(),
        sorted(
            cluster
                .map(|c| c.security_groups())
                .unwrap_or_default()
                .iter()
                .filter_map(|g| g.security_group_id().map(str::to_string)),
        ),
    );
    Ok(Some(ObservedResource {
        id: ResourceId::new(Kind::Cache, id),
        physical_id: arn,
        tags,
        attributes: a,
        status,
        outputs: Outputs {
            endpoint,
            ..Outputs::default()
        },
    }))
}

/// Start creating the replication group (or adopt the one a previous run started).
/// `auth_token` is the secret value: passed to AWS, never logged.
pub async fn create_replication_group(
    aws: &Aws,
    id: &str,
    spec: &CacheSpec,
    security_group_id: &str,
    auth_token: Option<&str>,
    tags: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    let created = aws
        .elasticache
        .create_replication_group()
        .replication_group_id(id)
        .replication_group_description(&spec.description)
        .engine("redis")
        .engine_version(&spec.engine_version)
        .cache_node_type(&spec.node_type)
        .num_cache_clusters(spec.num_cache_clusters)
        .automatic_failover_enabled(spec.automatic_failover)
        .multi_az_enabled(spec.multi_az)
        .port(spec.port)
        .cache_subnet_group_name(&spec.subnet_group)
        .security_group_ids(security_group_id)
        .at_rest_encryption_enabled(spec.encryption_at_rest)
        .transit_encryption_enabled(spec.encryption_in_transit)
        .set_auth_token(auth_token.map(str::to_string))
        .set_tags(Some(cache_tags(tags)))
        .send()
        .await;
    match created {
        Ok(_) => Ok(()),
        Err(error) => {
            let error = fail(format!("create cache {id}"))(error);
            if !error.is("ReplicationGroupAlreadyExists")
                && !error.is("ReplicationGroupAlreadyExistsFault")
            {
                return Err(error);
            }
            match observe_replication_group(aws, id).await? {
                Some(live) if super::same_owner(&live, tags) => Ok(()),
                _ => Err(error),
            }
        }
    }
}

/// Apply the changed attributes in place, immediately.
pub async fn modify_replication_group(
    aws: &Aws,
    id: &str,
    spec: &CacheSpec,
    security_group_id: &str,
    changed: &[String],
    live_clusters: i64,
) -> Result<(), AwsError> {
    let has = |a: &str| changed.iter().any(|c| c == a);
    let what = format!("modify cache {id}");
    if has("num_cache_clusters") {
        let replicas = spec.num_cache_clusters - 1;
        if i64::from(spec.num_cache_clusters) > live_clusters {
            aws.elasticache
                .increase_replica_count()
                .replication_group_id(id)
                .new_replica_count(replicas)
                .apply_immediately(true)
                .send()
                .await
                .map_err(fail(what.clone()))?;
        } else {
            aws.elasticache
                .decrease_replica_count()
                .replication_group_id(id)
                .new_replica_count(replicas)
                .apply_immediately(true)
                .send()
                .await
                .map_err(fail(what.clone()))?;
        }
    }
    let in_modify = [
        "engine_version",
        "node_type",
        "automatic_failover",
        "multi_az",
        "security_groups",
    ];
    if !in_modify.iter().any(|a| has(a)) {
        return Ok(());
    }
    let mut request = aws
        .elasticache
        .modify_replication_group()
        .replication_group_id(id)
        .apply_immediately(true);
    if has("engine_version") {
        request = request.engine_version(&spec.engine_version);
    }
    if has("node_type") {
        request = request.cache_node_type(&spec.node_type);
    }
    if has("automatic_failover") {
        request = request.automatic_failover_enabled(spec.automatic_failover);
    }
    if has("multi_az") {
        request = request.multi_az_enabled(spec.multi_az);
    }
    if has("security_groups") {
        request = request.security_group_ids(security_group_id);
    }
    request.send().await.map(|_| ()).map_err(fail(what))
}

pub async fn delete_replication_group(aws: &Aws, id: &str) -> Result<(), AwsError> {
    match aws
        .elasticache
        .delete_replication_group()
        .replication_group_id(id)
        .retain_primary_cluster(false)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(error) => {
            let error = fail(format!("delete cache {id}"))(error);
            if error.is("ReplicationGroupNotFoundFault")
                || error.is("InvalidReplicationGroupState")
                || error.is("InvalidReplicationGroupStateFault")
            {
                Ok(())
            } else {
                Err(error)
            }
        }
    }
}
