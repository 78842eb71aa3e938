//! The ElastiCache Redis replication group (cluster mode off): failover, Multi-AZ, encrypted at
//! rest and in transit, protected by an AUTH token kept in Secrets Manager (its value goes only
//! to ElastiCache). It holds data: never replaced by apply, deleted only by a confirmed destroy.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_elasticache::types::{AutomaticFailoverStatus, MultiAzStatus, Tag};
use serde::{Deserialize, Serialize};
use serde_json::{Map, json};

use super::attributes::{Attribute, Attributes, Change, Changes, Mode, sorted};
use super::observed::{Observed, ObservedResource, Outputs, Status};
use super::{
    About, Known, Live, Resource, ResourceKind, Scope, StepContext, cache_auth_secret,
    security_group,
};
use crate::aws::{Aws, AwsError, fail, tag_map};
use crate::ids::{Kind, ResourceId};
use crate::resources::quota::{Quota, QuotaUse};

pub const KIND: Kind = Kind::new("cache", "cache");

/// The attributes plan compares.
pub const ENGINE: &str = "engine";
pub const ENGINE_VERSION: &str = "engine_version";
pub const NODE_TYPE: &str = "node_type";
pub const NUM_CACHE_CLUSTERS: &str = "num_cache_clusters";
pub const AUTOMATIC_FAILOVER: &str = "automatic_failover";
pub const MULTI_AZ: &str = "multi_az";
pub const PORT: &str = "port";
pub const ENCRYPTION_AT_REST: &str = "encryption_at_rest";
pub const ENCRYPTION_IN_TRANSIT: &str = "encryption_in_transit";
pub const AUTH_TOKEN: &str = "auth_token";
pub const SUBNET_GROUP: &str = "subnet_group";
pub const SECURITY_GROUPS: &str = "security_groups";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    pub description: String,
    /// The profile's version, compared with the live one (`7` is satisfied by any 7.x).
    pub engine_version: String,
    /// The exact version a create (or an upgrade) sends: the newest ElastiCache creates that
    /// `engine_version` names, as plan found it; `None`: `engine_version` itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_version: Option<String>,
    pub node_type: String,
    /// The primary plus its replicas.
    pub num_cache_clusters: i32,
    pub automatic_failover: bool,
    pub multi_az: bool,
    pub port: i32,
    pub encryption_at_rest: bool,
    pub encryption_in_transit: bool,
    /// Whether an AUTH token (kept in `auth_secret`) protects the group.
    pub auth_token: bool,
    pub auth_secret: String,
    pub subnet_group: String,
    pub security_group: String,
}

impl Spec {
    /// The version sent to ElastiCache.
    pub fn version(&self) -> &str {
        self.create_version
            .as_deref()
            .unwrap_or(&self.engine_version)
    }
}

pub fn id(name: impl Into<String>) -> ResourceId {
    ResourceId::new(KIND, name)
}

pub struct Caches;

impl ResourceKind for Caches {
    const KIND: Kind = KIND;
    type Spec = Spec;

    fn about(&self) -> About {
        About {
            holds_data: true,
            // A replication group takes up to 40 minutes.
            wait_limit: Duration::from_secs(90 * 60),
            ..About::new("ElastiCache Redis replication group")
        }
    }

    /// Every node of the group: the primary and its replicas.
    fn quota_use(&self, spec: &Spec) -> Vec<QuotaUse> {
        vec![QuotaUse::Count(
            Quota::CacheNodes,
            spec.num_cache_clusters.max(0) as u64,
        )]
    }

    fn permissions(&self) -> &'static [&'static str] {
        &[
            "elasticache:DescribeReplicationGroups",
            "elasticache:DescribeCacheClusters",
            "elasticache:DescribeCacheEngineVersions",
            "elasticache:DescribeReservedCacheNodesOfferings",
            "elasticache:ListTagsForResource",
            "elasticache:CreateReplicationGroup",
            "elasticache:AddTagsToResource",
            "elasticache:ModifyReplicationGroup",
            "elasticache:IncreaseReplicaCount",
            "elasticache:DecreaseReplicaCount",
            "elasticache:DeleteReplicationGroup",
            "secretsmanager:GetSecretValue",
        ]
    }

    fn attributes(
        &self,
        _resource: &Resource,
        cache: &Spec,
        _known: Known<'_>,
        _live: Option<&ObservedResource>,
    ) -> Vec<Attribute> {
        use Mode::*;
        Attributes::new()
            .set(ENGINE, "redis", Replace)
            .set(ENGINE_VERSION, cache.engine_version.as_str(), Version)
            .set(NODE_TYPE, cache.node_type.as_str(), InPlace)
            .set(NUM_CACHE_CLUSTERS, cache.num_cache_clusters, InPlace)
            .set(AUTOMATIC_FAILOVER, cache.automatic_failover, InPlace)
            .set(MULTI_AZ, cache.multi_az, InPlace)
            .set(PORT, cache.port, Replace)
            .set(ENCRYPTION_AT_REST, cache.encryption_at_rest, Replace)
            .set(ENCRYPTION_IN_TRANSIT, cache.encryption_in_transit, Replace)
            .set(AUTH_TOKEN, cache.auth_token, Replace)
            .set(SUBNET_GROUP, cache.subnet_group.as_str(), Replace)
            .set(
                SECURITY_GROUPS,
                sorted([cache.security_group.clone()]),
                InPlace,
            )
            .build()
    }

    /// A new port is a new endpoint.
    fn keeps_outputs(&self, changes: &[Change]) -> bool {
        !changes.iter().any(|c| c.attribute == PORT)
    }

    /// What ElastiCache's scaling and upgrade guides say of each change applied immediately.
    fn disruption(&self, change: &Change) -> Option<&'static str> {
        match change.attribute.as_str() {
            NODE_TYPE => {
                Some("replaces the nodes: connections drop when the primary endpoint switches over")
            }
            ENGINE_VERSION => {
                Some("upgrades the nodes one at a time with a failover: connections drop briefly")
            }
            _ => None,
        }
    }

    /// Its security group, its subnet group and the AUTH token secret go after it.
    fn live_dependencies(&self, live: &ObservedResource, observed: &Observed) -> Vec<ResourceId> {
        let mut uses = super::names_in(live, SECURITY_GROUPS, security_group::KIND, observed);
        uses.extend(super::names_in(
            live,
            SUBNET_GROUP,
            super::cache_subnet_group::KIND,
            observed,
        ));
        uses.extend(
            observed
                .resources
                .iter()
                .filter(|r| r.id.kind == cache_auth_secret::KIND)
                .map(|r| r.id.clone()),
        );
        uses
    }

    fn outputs(&self, _id: &ResourceId, live: &Live) -> Vec<(&'static str, String)> {
        live.outputs
            .endpoint
            .iter()
            .map(|(host, port)| ("cache_endpoint", format!("{host}:{port}")))
            .collect()
    }

    async fn observe(&self, scope: Scope<'_>) -> Result<Vec<ObservedResource>, AwsError> {
        Ok(observe_replication_group(scope.aws, &scope.names.cache())
            .await?
            .into_iter()
            .collect())
    }

    async fn scan(&self, scope: Scope<'_>) -> Result<Vec<(String, String)>, AwsError> {
        // ElastiCache filters by no tag: found by its name, counted when it is ours.
        Ok(observe_replication_group(scope.aws, &scope.names.cache())
            .await?
            .into_iter()
            .filter(|r| r.owner() == Some(scope.names.stack()))
            .map(|r| (r.id.to_string(), r.physical_id))
            .collect())
    }

    async fn create(
        &self,
        context: &StepContext<'_>,
        resource: &Resource,
        spec: &Spec,
    ) -> Result<Live, AwsError> {
        let id = &resource.id;
        let group = context
            .known
            .require(&security_group::id(&spec.security_group), id)?;
        let token = if spec.auth_token {
            let secret = cache_auth_secret::id(spec.auth_secret.clone());
            let arn = context
                .known
                .get(&secret)
                .and_then(|live| live.outputs.arn.clone())
                .ok_or_else(|| {
                    AwsError::other(format!("create {id}"), format!("{secret} does not exist"))
                })?;
            Some(cache_auth_secret::value(context.aws(), &arn).await?)
        } else {
            None
        };
        create_replication_group(
            context.aws(),
            &id.name,
            spec,
            &group,
            token.as_deref(),
            &context.tags,
        )
        .await?;
        context.status("waiting: creating");
        Ok(Live::of(&context.until_ready().await?))
    }

    async fn update(
        &self,
        context: &StepContext<'_>,
        resource: &Resource,
        spec: &Spec,
        changes: Changes<'_>,
        _live: Live,
    ) -> Result<Live, AwsError> {
        let group = context
            .known
            .require(&security_group::id(&spec.security_group), &resource.id)?;
        let clusters = context
            .observed
            .and_then(|o| o.attributes.get(NUM_CACHE_CLUSTERS))
            .and_then(|v| v.as_i64())
            .unwrap_or(1);
        modify_replication_group(context, &resource.id.name, spec, &group, changes, clusters)
            .await?;
        Ok(Live::of(&context.until_ready().await?))
    }

    async fn delete(
        &self,
        context: &StepContext<'_>,
        _live: Option<&Live>,
    ) -> Result<(), AwsError> {
        while_busy(context, "delete", || {
            delete_replication_group(context.aws(), &context.id.name)
        })
        .await?;
        context.until_gone().await
    }

    async fn tag(
        &self,
        context: &StepContext<'_>,
        physical_id: &str,
        key: &str,
        value: &str,
    ) -> Result<(), AwsError> {
        add_tag(context.aws(), context.id, physical_id, key, value).await
    }

    /// The create reads the AUTH token from the secret its own step just made: Secrets Manager
    /// may not show a new secret at once (ElastiCache's own codes are `...NotFoundFault`).
    fn not_visible_yet(&self, error: &AwsError) -> bool {
        error.is("ResourceNotFoundException")
    }
}

/// Set one tag on an ElastiCache resource (by ARN).
pub(super) async fn add_tag(
    aws: &Aws,
    id: &ResourceId,
    arn: &str,
    key: &str,
    value: &str,
) -> Result<(), AwsError> {
    aws.elasticache
        .add_tags_to_resource()
        .resource_name(arn)
        .tags(Tag::builder().key(key).value(value).build())
        .send()
        .await
        .map(|_| ())
        .map_err(fail(format!("tag {id}")))
}

pub(super) fn cache_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

pub(super) async fn tags_of(
    aws: &Aws,
    arn: &str,
    what: &str,
) -> Result<BTreeMap<String, String>, AwsError> {
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

/// The node types ElastiCache offers Redis on in the region, as its reserved-node offerings list
/// them (DescribeReservedCacheNodesOfferings: ElastiCache has no other listing of what a region
/// runs). Just `node_type` when it is offered; when it is not, every type offered, for the hint.
pub async fn offered_node_types(
    aws: &Aws,
    node_type: &str,
) -> Result<std::collections::BTreeSet<String>, AwsError> {
    let offerings = |node_type: Option<String>| async move {
        let offerings = crate::aws::every_item!(
            aws.elasticache
                .describe_reserved_cache_nodes_offerings()
                .set_cache_node_type(node_type)
                .product_description("redis")
                .max_records(100),
            "list the node types ElastiCache offers Redis on"
        )?;
        Ok::<_, AwsError>(
            offerings
                .iter()
                .filter_map(|o| o.cache_node_type().map(str::to_string))
                .collect::<std::collections::BTreeSet<_>>(),
        )
    };
    let found = offerings(Some(node_type.to_string())).await?;
    if found.contains(node_type) {
        return Ok(found);
    }
    offerings(None).await
}

/// The Redis versions ElastiCache creates in the region (DescribeCacheEngineVersions).
pub async fn creatable_versions(aws: &Aws) -> Result<Vec<String>, AwsError> {
    let versions = crate::aws::every_item!(
        aws.elasticache
            .describe_cache_engine_versions()
            .engine("redis"),
        "list the Redis versions ElastiCache creates"
    )?;
    Ok(versions
        .iter()
        .filter_map(|v| v.engine_version().map(str::to_string))
        .collect())
}

async fn observe_replication_group(
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
        ENGINE.into(),
        json!(cluster.and_then(|c| c.engine()).unwrap_or("redis")),
    );
    a.insert(
        ENGINE_VERSION.into(),
        json!(cluster.and_then(|c| c.engine_version())),
    );
    a.insert(NODE_TYPE.into(), json!(group.cache_node_type()));
    a.insert(
        NUM_CACHE_CLUSTERS.into(),
        json!(group.member_clusters().len()),
    );
    a.insert(
        AUTOMATIC_FAILOVER.into(),
        json!(matches!(
            group.automatic_failover(),
            Some(AutomaticFailoverStatus::Enabled | AutomaticFailoverStatus::Enabling)
        )),
    );
    a.insert(
        MULTI_AZ.into(),
        json!(matches!(group.multi_az(), Some(MultiAzStatus::Enabled))),
    );
    a.insert(PORT.into(), json!(endpoint.as_ref().map(|e| e.1)));
    a.insert(
        ENCRYPTION_AT_REST.into(),
        json!(group.at_rest_encryption_enabled().unwrap_or(false)),
    );
    a.insert(
        ENCRYPTION_IN_TRANSIT.into(),
        json!(group.transit_encryption_enabled().unwrap_or(false)),
    );
    a.insert(
        AUTH_TOKEN.into(),
        json!(group.auth_token_enabled().unwrap_or(false)),
    );
    a.insert(
        SUBNET_GROUP.into(),
        json!(cluster.and_then(|c| c.cache_subnet_group_name())),
    );
    a.insert(
        SECURITY_GROUPS.into(),
        sorted(
            cluster
                .map(|c| c.security_groups())
                .unwrap_or_default()
                .iter()
                .filter_map(|g| g.security_group_id().map(str::to_string)),
        ),
    );
    Ok(Some(ObservedResource {
        id: ResourceId::new(KIND, id),
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
async fn create_replication_group(
    aws: &Aws,
    id: &str,
    spec: &Spec,
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
        .engine_version(spec.version())
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
                Some(live) if crate::aws::same_owner(&live, tags) => Ok(()),
                _ => Err(error),
            }
        }
    }
}

/// ElastiCache refuses changes to a group that is snapshotting (an automatic backup) or still
/// modifying (InvalidReplicationGroupState): `attempt` is tried again, with progress, until the
/// group is free or the kind's wait limit passes.
async fn while_busy<F, Fut>(
    context: &StepContext<'_>,
    doing: &str,
    mut attempt: F,
) -> Result<(), AwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), AwsError>>,
{
    context
        .retry(&format!("the cache is busy; {doing} again"), || {
            let tried = attempt();
            async move {
                match tried.await {
                    Ok(()) => Ok(true),
                    Err(error) if busy(&error) => Ok(false),
                    Err(error) => Err(error),
                }
            }
        })
        .await
}

fn busy(error: &AwsError) -> bool {
    error.is("InvalidReplicationGroupState") || error.is("InvalidReplicationGroupStateFault")
}

/// Apply the changed attributes in place, immediately: the replica count first, then (once the
/// group is available again: AWS refuses a change while one is in progress) the rest.
async fn modify_replication_group(
    context: &StepContext<'_>,
    id: &str,
    spec: &Spec,
    security_group_id: &str,
    changes: Changes<'_>,
    live_clusters: i64,
) -> Result<(), AwsError> {
    let aws = context.aws();
    let has = |a: &str| changes.has(a);
    let what = format!("modify cache {id}");
    let in_modify = [
        ENGINE_VERSION,
        NODE_TYPE,
        AUTOMATIC_FAILOVER,
        MULTI_AZ,
        SECURITY_GROUPS,
    ];
    if has(NUM_CACHE_CLUSTERS) {
        let replicas = spec.num_cache_clusters - 1;
        let increase = i64::from(spec.num_cache_clusters) > live_clusters;
        while_busy(context, "modify", || async {
            if increase {
                aws.elasticache
                    .increase_replica_count()
                    .replication_group_id(id)
                    .new_replica_count(replicas)
                    .apply_immediately(true)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(fail(what.clone()))
            } else {
                aws.elasticache
                    .decrease_replica_count()
                    .replication_group_id(id)
                    .new_replica_count(replicas)
                    .apply_immediately(true)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(fail(what.clone()))
            }
        })
        .await?;
        if in_modify.iter().any(|a| has(a)) {
            context.until_ready().await?;
        }
    }
    if !in_modify.iter().any(|a| has(a)) {
        return Ok(());
    }
    let mut request = aws
        .elasticache
        .modify_replication_group()
        .replication_group_id(id)
        .apply_immediately(true);
    if has(ENGINE_VERSION) {
        request = request.engine_version(spec.version());
    }
    if has(NODE_TYPE) {
        request = request.cache_node_type(&spec.node_type);
    }
    if has(AUTOMATIC_FAILOVER) {
        request = request.automatic_failover_enabled(spec.automatic_failover);
    }
    if has(MULTI_AZ) {
        request = request.multi_az_enabled(spec.multi_az);
    }
    if has(SECURITY_GROUPS) {
        request = request.security_group_ids(security_group_id);
    }
    while_busy(context, "modify", || {
        let request = request.clone();
        let what = what.clone();
        async move { request.send().await.map(|_| ()).map_err(fail(what)) }
    })
    .await
}

async fn delete_replication_group(aws: &Aws, id: &str) -> Result<(), AwsError> {
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
            if error.is("ReplicationGroupNotFoundFault") {
                return Ok(());
            }
            if !busy(&error) {
                return Err(error);
            }
            // Already being deleted is done; snapshotting or modifying is busy (tried again).
            let state = aws
                .elasticache
                .describe_replication_groups()
                .replication_group_id(id)
                .send()
                .await
                .ok()
                .and_then(|found| {
                    found
                        .replication_groups()
                        .first()
                        .and_then(|g| g.status().map(str::to_string))
                });
            match state.as_deref() {
                None | Some("deleting") => Ok(()),
                Some(_) => Err(error),
            }
        }
    }
}
