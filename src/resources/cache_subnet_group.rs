//! The ElastiCache cache subnet group: the private subnets the cache may be placed in.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Map;

use super::attributes::{Attribute, Attributes, Changes, Mode, sorted};
use super::observed::{ObservedResource, Outputs, Status};
use super::{About, Known, Live, Resource, ResourceKind, Scope, StepContext};
use crate::aws::{Aws, AwsError, fail};
use crate::ids::{Kind, ResourceId};

pub const KIND: Kind = Kind::new("cache-subnet-group", "cache subnet group");

pub const SUBNETS: &str = "subnets";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    pub description: String,
    pub subnets: Vec<String>,
}

pub fn id(name: impl Into<String>) -> ResourceId {
    ResourceId::new(KIND, name)
}

pub struct CacheSubnetGroups;

impl ResourceKind for CacheSubnetGroups {
    const KIND: Kind = KIND;
    type Spec = Spec;

    fn about(&self) -> About {
        About::new("ElastiCache cache subnet group")
    }

    fn permissions(&self) -> &'static [&'static str] {
        &[
            "elasticache:DescribeCacheSubnetGroups",
            "elasticache:ListTagsForResource",
            "elasticache:CreateCacheSubnetGroup",
            "elasticache:AddTagsToResource",
            "elasticache:ModifyCacheSubnetGroup",
            "elasticache:DeleteCacheSubnetGroup",
        ]
    }

    fn attributes(
        &self,
        _resource: &Resource,
        spec: &Spec,
        _known: Known<'_>,
        _live: Option<&ObservedResource>,
    ) -> Vec<Attribute> {
        Attributes::new()
            .set(SUBNETS, sorted(spec.subnets.clone()), Mode::InPlace)
            .build()
    }

    fn live_dependencies(
        &self,
        live: &ObservedResource,
        observed: &super::observed::Observed,
    ) -> Vec<ResourceId> {
        super::names_in(live, SUBNETS, super::subnet::KIND, observed)
    }

    async fn observe(&self, scope: Scope<'_>) -> Result<Vec<ObservedResource>, AwsError> {
        Ok(
            observe_subnet_group(scope.aws, &scope.names.cache_subnet_group())
                .await?
                .into_iter()
                .collect(),
        )
    }

    async fn scan(&self, scope: Scope<'_>) -> Result<Vec<(String, String)>, AwsError> {
        // ElastiCache filters by no tag: found by its name, counted when it is ours.
        Ok(
            observe_subnet_group(scope.aws, &scope.names.cache_subnet_group())
                .await?
                .into_iter()
                .filter(|r| r.owner() == Some(scope.names.stack()))
                .map(|r| (r.id.to_string(), r.physical_id))
                .collect(),
        )
    }

    async fn create(
        &self,
        context: &StepContext<'_>,
        resource: &Resource,
        spec: &Spec,
    ) -> Result<Live, AwsError> {
        let name = &resource.id.name;
        create_subnet_group(context.aws(), name, spec, &context.tags).await?;
        Ok(Live::named(name.clone()))
    }

    async fn update(
        &self,
        context: &StepContext<'_>,
        resource: &Resource,
        spec: &Spec,
        _changes: Changes<'_>,
        live: Live,
    ) -> Result<Live, AwsError> {
        update_subnet_group(context.aws(), &resource.id.name, spec).await?;
        Ok(live)
    }

    async fn delete(
        &self,
        context: &StepContext<'_>,
        _live: Option<&Live>,
    ) -> Result<(), AwsError> {
        let (aws, name) = (context.aws(), &context.id.name);
        context
            .retry("the cache that still uses it", || {
                delete_subnet_group(aws, name)
            })
            .await
    }

    async fn tag(
        &self,
        context: &StepContext<'_>,
        physical_id: &str,
        key: &str,
        value: &str,
    ) -> Result<(), AwsError> {
        super::cache::add_tag(context.aws(), context.id, physical_id, key, value).await
    }
}

async fn observe_subnet_group(aws: &Aws, name: &str) -> Result<Option<ObservedResource>, AwsError> {
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
    let tags = super::cache::tags_of(aws, &arn, &what).await?;
    let mut attributes = Map::new();
    attributes.insert(
        SUBNETS.into(),
        sorted(
            group
                .subnets()
                .iter()
                .filter_map(|s| s.subnet_identifier().map(str::to_string)),
        ),
    );
    Ok(Some(ObservedResource {
        id: ResourceId::new(KIND, name),
        physical_id: arn,
        tags,
        attributes,
        status: Status::Ready,
        outputs: Outputs::default(),
    }))
}

async fn create_subnet_group(
    aws: &Aws,
    name: &str,
    spec: &Spec,
    tags: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    let created = aws
        .elasticache
        .create_cache_subnet_group()
        .cache_subnet_group_name(name)
        .cache_subnet_group_description(&spec.description)
        .set_subnet_ids(Some(spec.subnets.clone()))
        .set_tags(Some(super::cache::cache_tags(tags)))
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
                Some(live) if crate::aws::same_owner(&live, tags) => {
                    update_subnet_group(aws, name, spec).await
                }
                _ => Err(error),
            }
        }
    }
}

async fn update_subnet_group(aws: &Aws, name: &str, spec: &Spec) -> Result<(), AwsError> {
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
async fn delete_subnet_group(aws: &Aws, name: &str) -> Result<bool, AwsError> {
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
