//! Calls for the RDS instance: describe, create (or adopt), modify, delete with a final
//! snapshot, and the final snapshots a destroy left.

use aws_sdk_rds::types::DbInstance;
use serde_json::{Map, json};

use super::*;
use crate::aws::{Aws, AwsError, fail, tag_map};
use crate::resources::attributes::{Changes, sorted};
use crate::resources::observed::{ObservedResource, Outputs, Status};

fn status(db: &DbInstance) -> Status {
    let state = db.db_instance_status().unwrap_or("unknown").to_string();
    match state.as_str() {
        "available"
        | "backing-up"
        | "storage-optimization"
        | "configuring-enhanced-monitoring"
        | "configuring-log-exports" => Status::Ready,
        "deleting" => Status::Deleting(state),
        "failed"
        | "storage-full"
        | "restore-error"
        | "stopped"
        | "stopping"
        | "inaccessible-encryption-credentials" => Status::Failed(state),
        s if s.starts_with("incompatible-") => Status::Failed(state),
        _ => Status::Pending(state),
    }
}

pub(super) async fn observe_instance(
    aws: &Aws,
    identifier: &str,
) -> Result<Option<ObservedResource>, AwsError> {
    let found = match aws
        .rds
        .describe_db_instances()
        .db_instance_identifier(identifier)
        .send()
        .await
    {
        Ok(found) => found,
        Err(error) => {
            let error = fail(format!("describe database {identifier}"))(error);
            return if error.is("DBInstanceNotFound") || error.is("DBInstanceNotFoundFault") {
                Ok(None)
            } else {
                Err(error)
            };
        }
    };
    let Some(db) = found.db_instances().first() else {
        return Ok(None);
    };
    // Pending modifications count as done: they are applied immediately and must not show up
    // as changes again while AWS works on them.
    let pending = db.pending_modified_values();
    let port = pending
        .and_then(|p| p.port())
        .or(db.endpoint().and_then(|e| e.port()))
        .or(db.db_instance_port());
    let mut a = Map::new();
    a.insert(ENGINE.into(), json!(db.engine()));
    a.insert(
        "engine_version".into(),
        json!(
            pending
                .and_then(|p| p.engine_version())
                .or(db.engine_version())
        ),
    );
    a.insert(
        "instance_class".into(),
        json!(
            pending
                .and_then(|p| p.db_instance_class())
                .or(db.db_instance_class())
        ),
    );
    a.insert(
        "allocated_storage".into(),
        json!(
            pending
                .and_then(|p| p.allocated_storage())
                .or(db.allocated_storage())
        ),
    );
    a.insert(
        "storage_type".into(),
        json!(pending.and_then(|p| p.storage_type()).or(db.storage_type())),
    );
    a.insert(
        "storage_encrypted".into(),
        json!(db.storage_encrypted().unwrap_or(false)),
    );
    a.insert(
        "multi_az".into(),
        json!(
            pending
                .and_then(|p| p.multi_az())
                .or(db.multi_az())
                .unwrap_or(false)
        ),
    );
    a.insert(PORT.into(), json!(port));
    a.insert(DB_NAME.into(), json!(db.db_name()));
    a.insert(MASTER_USERNAME.into(), json!(db.master_username()));
    a.insert(
        "managed_master_password".into(),
        json!(db.master_user_secret().is_some()),
    );
    a.insert(
        "publicly_accessible".into(),
        json!(db.publicly_accessible().unwrap_or(false)),
    );
    a.insert(
        "backup_retention_days".into(),
        json!(
            pending
                .and_then(|p| p.backup_retention_period())
                .or(db.backup_retention_period())
        ),
    );
    a.insert(
        "deletion_protection".into(),
        json!(db.deletion_protection().unwrap_or(false)),
    );
    a.insert(
        "auto_minor_version_upgrade".into(),
        json!(db.auto_minor_version_upgrade().unwrap_or(false)),
    );
    a.insert(
        "subnet_group".into(),
        json!(db.db_subnet_group().and_then(|g| g.db_subnet_group_name())),
    );
    a.insert(
        "security_groups".into(),
        sorted(
            db.vpc_security_groups()
                .iter()
                .filter_map(|g| g.vpc_security_group_id().map(str::to_string)),
        ),
    );
    Ok(Some(ObservedResource {
        id: ResourceId::new(KIND, identifier),
        physical_id: db.db_instance_arn().unwrap_or(identifier).to_string(),
        tags: tag_map(db.tag_list().iter().map(|t| (t.key(), t.value()))),
        attributes: a,
        status: status(db),
        outputs: Outputs {
            endpoint: db
                .endpoint()
                .and_then(|e| Some((e.address()?.to_string(), e.port().or(port)?))),
            arn: db
                .master_user_secret()
                .and_then(|s| s.secret_arn())
                .map(str::to_string),
            version: None,
        },
    }))
}

/// Start creating the database (or adopt the one a previous run started).
pub(super) async fn create_instance(
    aws: &Aws,
    identifier: &str,
    spec: &Spec,
    security_group_id: &str,
    tags: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    let created = aws
        .rds
        .create_db_instance()
        .db_instance_identifier(identifier)
        .engine("postgres")
        .engine_version(spec.version())
        .db_instance_class(&spec.instance_class)
        .allocated_storage(spec.allocated_storage)
        .storage_type(&spec.storage_type)
        .storage_encrypted(spec.encrypted)
        .multi_az(spec.multi_az)
        .port(spec.port)
        .db_name(&spec.db_name)
        .master_username(&spec.username)
        .manage_master_user_password(true)
        .publicly_accessible(false)
        .backup_retention_period(spec.backup_retention_days)
        .deletion_protection(spec.deletion_protection)
        .auto_minor_version_upgrade(spec.auto_minor_version_upgrade)
        .db_subnet_group_name(&spec.subnet_group)
        .vpc_security_group_ids(security_group_id)
        .copy_tags_to_snapshot(true)
        .set_tags(Some(rds_tags(tags)))
        .send()
        .await;
    match created {
        Ok(_) => Ok(()),
        Err(error) => {
            let error = fail(format!("create database {identifier}"))(error);
            if !error.is("DBInstanceAlreadyExists") && !error.is("DBInstanceAlreadyExistsFault") {
                return Err(error);
            }
            match observe_instance(aws, identifier).await? {
                Some(live) if crate::aws::same_owner(&live, tags) => Ok(()),
                _ => Err(error),
            }
        }
    }
}

/// Apply the changed attributes in place, immediately.
pub(super) async fn modify_instance(
    aws: &Aws,
    identifier: &str,
    spec: &Spec,
    security_group_id: &str,
    changes: Changes<'_>,
    live_engine_version: Option<&str>,
) -> Result<(), AwsError> {
    let has = |a: &str| changes.has(a);
    let mut request = aws
        .rds
        .modify_db_instance()
        .db_instance_identifier(identifier)
        .apply_immediately(true);
    if has(ENGINE_VERSION) {
        let major = |v: &str| v.split('.').next().unwrap_or("").to_string();
        let major_upgrade =
            live_engine_version.is_some_and(|live| major(live) != major(spec.version()));
        request = request
            .engine_version(spec.version())
            .allow_major_version_upgrade(major_upgrade);
    }
    if has(INSTANCE_CLASS) {
        request = request.db_instance_class(&spec.instance_class);
    }
    if has(ALLOCATED_STORAGE) {
        request = request.allocated_storage(spec.allocated_storage);
    }
    if has(STORAGE_TYPE) {
        request = request.storage_type(&spec.storage_type);
    }
    if has(MULTI_AZ) {
        request = request.multi_az(spec.multi_az);
    }
    if has(PORT) {
        request = request.db_port_number(spec.port);
    }
    if has(MANAGED_MASTER_PASSWORD) {
        request = request.manage_master_user_password(true);
    }
    if has(PUBLICLY_ACCESSIBLE) {
        request = request.publicly_accessible(false);
    }
    if has(BACKUP_RETENTION_DAYS) {
        request = request.backup_retention_period(spec.backup_retention_days);
    }
    if has(DELETION_PROTECTION) {
        request = request.deletion_protection(spec.deletion_protection);
    }
    if has(AUTO_MINOR_VERSION_UPGRADE) {
        request = request.auto_minor_version_upgrade(spec.auto_minor_version_upgrade);
    }
    if has(SECURITY_GROUPS) {
        request = request.vpc_security_group_ids(security_group_id);
    }
    request
        .send()
        .await
        .map(|_| ())
        .map_err(fail(format!("modify database {identifier}")))
}

/// Lift deletion protection and delete the database, leaving `final_snapshot` unless None.
pub(super) async fn delete_instance(
    aws: &Aws,
    identifier: &str,
    final_snapshot: Option<&str>,
) -> Result<(), AwsError> {
    let what = format!("delete database {identifier}");
    let Some(live) = observe_instance(aws, identifier).await? else {
        return Ok(());
    };
    if matches!(live.status, Status::Deleting(_)) {
        return Ok(());
    }
    if live.attributes.get(DELETION_PROTECTION) == Some(&json!(true)) {
        aws.rds
            .modify_db_instance()
            .db_instance_identifier(identifier)
            .deletion_protection(false)
            .apply_immediately(true)
            .send()
            .await
            .map_err(fail(format!(
                "lift the deletion protection of database {identifier}"
            )))?;
    }
    let mut request = aws
        .rds
        .delete_db_instance()
        .db_instance_identifier(identifier);
    request = match final_snapshot {
        Some(snapshot) => request.final_db_snapshot_identifier(snapshot),
        None => request.skip_final_snapshot(true),
    };
    match request.send().await {
        Ok(_) => Ok(()),
        Err(error) => {
            let error = fail(what)(error);
            if error.is("DBInstanceNotFound") || error.is("DBInstanceNotFoundFault") {
                return Ok(());
            }
            // A retried delete whose first attempt went through finds it being deleted.
            if error.is("InvalidDBInstanceState") || error.is("InvalidDBInstanceStateFault") {
                let deleting = observe_instance(aws, identifier)
                    .await?
                    .is_none_or(|live| matches!(live.status, Status::Deleting(_)));
                if deleting {
                    return Ok(());
                }
            }
            Err(error)
        }
    }
}

/// Manual snapshots of the stack's database (final snapshots a destroy left).
pub async fn final_snapshots(aws: &Aws, identifier: &str) -> Result<Vec<String>, AwsError> {
    let found = aws
        .rds
        .describe_db_snapshots()
        .db_instance_identifier(identifier)
        .snapshot_type("manual")
        .send()
        .await
        .map_err(fail(format!("list the snapshots of database {identifier}")))?;
    Ok(found
        .db_snapshots()
        .iter()
        .filter_map(|s| s.db_snapshot_identifier().map(str::to_string))
        .collect())
}
