//! What RDS creates: the PostgreSQL versions it still creates (DescribeDBEngineVersions lists
//! only those unless asked for all) and the classes and storage types each version is orderable
//! on (DescribeOrderableDBInstanceOptions). Plan reads them before any change.

use std::collections::BTreeSet;

use aws_sdk_rds::types::OrderableDbInstanceOption;

use crate::aws::{Aws, AwsError, every_item};

/// One orderable combination of a class: version, storage type, Multi-AZ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orderable {
    pub version: String,
    pub storage_type: String,
    pub multi_az: bool,
}

/// The PostgreSQL versions RDS creates in the region, in the order RDS lists them (without
/// IncludeAll, RDS lists only the versions it creates).
pub async fn creatable_versions(aws: &Aws) -> Result<Vec<String>, AwsError> {
    let versions = every_item!(
        aws.rds.describe_db_engine_versions().engine("postgres"),
        "list the PostgreSQL versions RDS creates"
    )?;
    Ok(versions
        .iter()
        .filter_map(|v| v.engine_version().map(str::to_string))
        .collect())
}

/// Every version, storage type and Multi-AZ combination `class` is orderable with (an empty
/// list: RDS does not run PostgreSQL on it in this region).
pub async fn orderable(aws: &Aws, class: &str) -> Result<Vec<Orderable>, AwsError> {
    let options = options(
        aws,
        None,
        Some(class),
        format!("read where RDS offers {class}"),
    )
    .await?;
    Ok(options
        .iter()
        .filter_map(|o| {
            Some(Orderable {
                version: o.engine_version()?.to_string(),
                storage_type: o.storage_type().unwrap_or("standard").to_string(),
                multi_az: o.multi_az_capable().unwrap_or(false),
            })
        })
        .collect())
}

/// The classes PostgreSQL `version` is orderable on (for a hint: read only when the profile's
/// class is not).
pub async fn classes_for(aws: &Aws, version: &str) -> Result<BTreeSet<String>, AwsError> {
    let what = format!("read the classes PostgreSQL {version} runs on");
    let options = options(aws, Some(version), None, what).await?;
    Ok(options
        .iter()
        .filter_map(|o| o.db_instance_class().map(str::to_string))
        .collect())
}

/// DescribeOrderableDBInstanceOptions for PostgreSQL, every page.
async fn options(
    aws: &Aws,
    version: Option<&str>,
    class: Option<&str>,
    what: String,
) -> Result<Vec<OrderableDbInstanceOption>, AwsError> {
    every_item!(
        aws.rds
            .describe_orderable_db_instance_options()
            .engine("postgres")
            .set_engine_version(version.map(str::to_string))
            .set_db_instance_class(class.map(str::to_string))
            .max_records(1000),
        what
    )
}
