//! The RDS PostgreSQL instance: Multi-AZ, encrypted, its master password managed by RDS (the
//! secret's ARN is an output; its value is never read). It holds data: never replaced by apply,
//! deleted only by a confirmed destroy, with a final snapshot unless told otherwise.

mod calls;
pub mod catalog;

use calls::*;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_rds::types::Tag;
use serde::{Deserialize, Serialize};

use super::attributes::{Attribute, Attributes, Change, Changes, Mode, sorted};
use super::observed::{Observed, ObservedResource};
use super::{
    About, Kept, Known, Live, Options, Resource, ResourceKind, Scope, StepContext, security_group,
};
use crate::aws::{Aws, AwsError, fail};
use crate::ids::{Kind, ResourceId};
use crate::resources::quota::{Quota, QuotaUse};

pub const KIND: Kind = Kind::new("database", "database");

/// The attributes plan compares.
pub const ENGINE: &str = "engine";
pub const ENGINE_VERSION: &str = "engine_version";
pub const INSTANCE_CLASS: &str = "instance_class";
pub const ALLOCATED_STORAGE: &str = "allocated_storage";
pub const STORAGE_TYPE: &str = "storage_type";
pub const STORAGE_ENCRYPTED: &str = "storage_encrypted";
pub const MULTI_AZ: &str = "multi_az";
pub const PORT: &str = "port";
pub const DB_NAME: &str = "db_name";
pub const MASTER_USERNAME: &str = "master_username";
pub const MANAGED_MASTER_PASSWORD: &str = "managed_master_password";
pub const PUBLICLY_ACCESSIBLE: &str = "publicly_accessible";
pub const BACKUP_RETENTION_DAYS: &str = "backup_retention_days";
pub const DELETION_PROTECTION: &str = "deletion_protection";
pub const AUTO_MINOR_VERSION_UPGRADE: &str = "auto_minor_version_upgrade";
pub const SUBNET_GROUP: &str = "subnet_group";
pub const SECURITY_GROUPS: &str = "security_groups";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// The profile's version, compared with the live one (`16` is satisfied by any 16.x).
    pub engine_version: String,
    /// The exact version a create (or an upgrade) sends: the newest RDS creates that
    /// `engine_version` names, as plan found it; `None`: `engine_version` itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_version: Option<String>,
    pub instance_class: String,
    pub allocated_storage: i32,
    pub storage_type: String,
    pub encrypted: bool,
    pub multi_az: bool,
    pub port: i32,
    pub db_name: String,
    pub username: String,
    pub backup_retention_days: i32,
    pub deletion_protection: bool,
    pub auto_minor_version_upgrade: bool,
    pub subnet_group: String,
    pub security_group: String,
}

impl Spec {
    /// The version sent to RDS.
    pub fn version(&self) -> &str {
        self.create_version
            .as_deref()
            .unwrap_or(&self.engine_version)
    }
}

pub fn id(name: impl Into<String>) -> ResourceId {
    ResourceId::new(KIND, name)
}

pub struct Databases;

impl ResourceKind for Databases {
    const KIND: Kind = KIND;
    type Spec = Spec;

    fn about(&self) -> About {
        About {
            holds_data: true,
            // Multi-AZ RDS takes 15-20 minutes, and a modification as long.
            wait_limit: Duration::from_secs(90 * 60),
            ..About::new("RDS PostgreSQL DB instance")
        }
    }

    fn quota_use(&self, _spec: &Spec) -> Vec<QuotaUse> {
        vec![QuotaUse::Count(Quota::DbInstances, 1)]
    }

    fn permissions(&self) -> &'static [&'static str] {
        &[
            "rds:DescribeDBInstances",
            "rds:DescribeDBEngineVersions",
            "rds:DescribeOrderableDBInstanceOptions",
            "rds:CreateDBInstance",
            "rds:AddTagsToResource",
            "rds:ModifyDBInstance",
            "rds:DeleteDBInstance",
            "rds:DescribeDBSnapshots",
            "rds:CreateDBSnapshot",
            "kms:DescribeKey",
            "secretsmanager:CreateSecret",
            "secretsmanager:TagResource",
        ]
    }

    fn attributes(
        &self,
        _resource: &Resource,
        db: &Spec,
        _known: Known<'_>,
        _live: Option<&ObservedResource>,
    ) -> Vec<Attribute> {
        use Mode::*;
        Attributes::new()
            .set(ENGINE, "postgres", Replace)
            .set(ENGINE_VERSION, db.engine_version.as_str(), Version)
            .set(INSTANCE_CLASS, db.instance_class.as_str(), InPlace)
            .set(ALLOCATED_STORAGE, db.allocated_storage, Grow)
            .set(STORAGE_TYPE, db.storage_type.as_str(), InPlace)
            .set(STORAGE_ENCRYPTED, db.encrypted, Replace)
            .set(MULTI_AZ, db.multi_az, InPlace)
            .set(PORT, db.port, InPlace)
            .set(DB_NAME, db.db_name.as_str(), Replace)
            .set(MASTER_USERNAME, db.username.as_str(), Replace)
            .set(MANAGED_MASTER_PASSWORD, true, InPlace)
            .set(PUBLICLY_ACCESSIBLE, false, InPlace)
            .set(BACKUP_RETENTION_DAYS, db.backup_retention_days, InPlace)
            .set(DELETION_PROTECTION, db.deletion_protection, InPlace)
            .set(
                AUTO_MINOR_VERSION_UPGRADE,
                db.auto_minor_version_upgrade,
                InPlace,
            )
            .set(SUBNET_GROUP, db.subnet_group.as_str(), Replace)
            .set(
                SECURITY_GROUPS,
                sorted([db.security_group.clone()]),
                InPlace,
            )
            .build()
    }

    /// A new port is a new endpoint.
    fn keeps_outputs(&self, changes: &[Change]) -> bool {
        !changes.iter().any(|c| c.attribute == PORT)
    }

    /// What RDS's "Settings for DB instances" says of each change applied immediately.
    fn disruption(&self, change: &Change) -> Option<&'static str> {
        match change.attribute.as_str() {
            INSTANCE_CLASS => Some(
                "reboots the database: an outage of minutes (with Multi-AZ, a failover of a minute or two)",
            ),
            ENGINE_VERSION => Some(
                "upgrades and reboots the database: an outage (a major version upgrades the standby at the same time)",
            ),
            PORT => {
                Some("reboots the database at once: an outage, and clients must use the new port")
            }
            MULTI_AZ if change.new == Some(serde_json::Value::Bool(true)) => {
                Some("creates a standby from a snapshot: no outage, but I/O can slow for a while")
            }
            _ => None,
        }
    }

    fn live_dependencies(&self, live: &ObservedResource, observed: &Observed) -> Vec<ResourceId> {
        let mut uses = super::names_in(live, SECURITY_GROUPS, security_group::KIND, observed);
        uses.extend(super::names_in(
            live,
            SUBNET_GROUP,
            super::db_subnet_group::KIND,
            observed,
        ));
        uses
    }

    fn outputs(&self, _id: &ResourceId, live: &Live) -> Vec<(&'static str, String)> {
        let mut outputs = Vec::new();
        if let Some((host, port)) = &live.outputs.endpoint {
            outputs.push(("database_endpoint", format!("{host}:{port}")));
        }
        if let Some(arn) = &live.outputs.arn {
            outputs.push(("database_secret_arn", arn.clone()));
        }
        outputs
    }

    async fn kept(&self, scope: Scope<'_>) -> Result<Kept, AwsError> {
        let snapshots = final_snapshots(scope.aws, &scope.names.database()).await?;
        Ok((!snapshots.is_empty()).then_some(("final database snapshots", snapshots)))
    }

    async fn observe(&self, scope: Scope<'_>) -> Result<Vec<ObservedResource>, AwsError> {
        Ok(observe_instance(scope.aws, &scope.names.database())
            .await?
            .into_iter()
            .collect())
    }

    async fn scan(&self, scope: Scope<'_>) -> Result<Vec<(String, String)>, AwsError> {
        // RDS filters by no tag: the database is found by its name, and counts when it is ours.
        Ok(observe_instance(scope.aws, &scope.names.database())
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
        let group = context
            .known
            .require(&security_group::id(&spec.security_group), &resource.id)?;
        create_instance(
            context.aws(),
            &resource.id.name,
            spec,
            &group,
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
        let version = context
            .observed
            .and_then(|o| o.attributes.get(ENGINE_VERSION))
            .and_then(|v| v.as_str());
        modify_instance(
            context.aws(),
            &resource.id.name,
            spec,
            &group,
            changes,
            version,
        )
        .await?;
        Ok(Live::of(&context.until_ready().await?))
    }

    async fn delete(
        &self,
        context: &StepContext<'_>,
        _live: Option<&Live>,
    ) -> Result<(), AwsError> {
        delete_instance(
            context.aws(),
            &context.id.name,
            context.options.final_snapshot.as_deref(),
        )
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

    fn delete_note(&self, options: &Options) -> Option<String> {
        Some(match &options.final_snapshot {
            Some(snapshot) => {
                format!("final snapshot {snapshot}; deletion protection is lifted first")
            }
            None => "NO final snapshot (--skip-final-snapshot): its data will be lost".into(),
        })
    }

    fn deleting_text(&self, options: &Options) -> String {
        match &options.final_snapshot {
            Some(snapshot) => format!("deleting, final snapshot {snapshot}"),
            None => "deleting without a final snapshot".to_string(),
        }
    }
}

pub(super) fn rds_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Set one tag on an RDS resource (by ARN).
pub(super) async fn add_tag(
    aws: &Aws,
    id: &ResourceId,
    arn: &str,
    key: &str,
    value: &str,
) -> Result<(), AwsError> {
    aws.rds
        .add_tags_to_resource()
        .resource_name(arn)
        .tags(Tag::builder().key(key).value(value).build())
        .send()
        .await
        .map(|_| ())
        .map_err(fail(format!("tag {id}")))
}
