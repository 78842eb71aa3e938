//! The S3 bucket the load balancer writes its access logs to (`<stack>-logs-<account>-<region>`:
//! bucket names are global). Public access blocked, encrypted with S3's own keys (SSE-S3, the
//! only encryption Classic Load Balancer log delivery writes to), logs expired after
//! `retention_days`, and a policy that lets the region's load balancer log delivery write under
//! the balancer's prefix and nothing reach the bucket without TLS. It holds data: a profile that
//! stops logging keeps it; destroy empties and deletes it unless `--keep-logs`.

use std::time::Duration;

use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint,
    CreateBucketConfiguration, Delete, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleFilter, ObjectIdentifier, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Tag, Tagging,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::attributes::{Attribute, Attributes, Changes, Mode};
use super::observed::owned;
use super::observed::{ObservedResource, Outputs, Status};
use super::{About, Known, Live, Resource, ResourceKind, Scope, StepContext};
use crate::aws::ec2::scanned;
use crate::aws::{Aws, AwsError, fail, gone_is_done};
use crate::ids::{Kind, ResourceId};

pub const KIND: Kind = Kind::new("log-bucket", "access log bucket");

/// The attributes plan compares.
pub const RETENTION_DAYS: &str = "retention_days";
pub const ENCRYPTION: &str = "encryption";
pub const PUBLIC_ACCESS: &str = "public_access";
pub const POLICY: &str = "policy";

const LIFECYCLE_RULE: &str = "deployer-expire-logs";
const BLOCKED: &str = "blocked";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    pub retention_days: i32,
    /// The bucket policy (JSON).
    pub policy: String,
}

pub fn id(name: impl Into<String>) -> ResourceId {
    ResourceId::new(KIND, name)
}

/// The Elastic Load Balancing account of each region opened before August 2022, which log
/// delivery writes as (Classic Load Balancer guide, "Enable access logs": "Attach a policy to
/// your S3 bucket"; the same table as terraform-provider-aws's aws_elb_service_account). The
/// regions opened since take the service principal `logdelivery.elasticloadbalancing.amazonaws.com`.
const ELB_ACCOUNTS: &[(&str, &str)] = &[
    ("af-south-1", "098369216593"),
    ("ap-east-1", "754344448648"),
    ("ap-northeast-1", "582318560864"),
    ("ap-northeast-2", "600734575887"),
    ("ap-northeast-3", "383597477331"),
    ("ap-south-1", "718504428378"),
    ("ap-southeast-1", "114774131450"),
    ("ap-southeast-2", "783225319266"),
    ("ap-southeast-3", "589379963580"),
    ("ca-central-1", "985666609251"),
    ("cn-north-1", "638102146993"),
    ("cn-northwest-1", "037604701340"),
    ("eu-central-1", "054676820928"),
    ("eu-north-1", "897822967062"),
    ("eu-south-1", "635631232127"),
    ("eu-west-1", "156460612806"),
    ("eu-west-2", "652711504416"),
    ("eu-west-3", "009996457667"),
    ("me-south-1", "076674570225"),
    ("sa-east-1", "507241528517"),
    ("us-east-1", "127311923021"),
    ("us-east-2", "033677994240"),
    ("us-gov-east-1", "190560391635"),
    ("us-gov-west-1", "048591011584"),
    ("us-west-1", "027434742980"),
    ("us-west-2", "797873946194"),
];

/// The bucket policy: the region's log delivery may put objects under `prefix`'s logs of
/// `account`; nothing reaches the bucket without TLS.
pub fn policy(partition: &str, account: &str, region: &str, bucket: &str, prefix: &str) -> String {
    let principal = match ELB_ACCOUNTS.iter().find(|(r, _)| *r == region) {
        Some((_, elb)) => json!({"AWS": format!("arn:{partition}:iam::{elb}:root")}),
        None => json!({"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}),
    };
    let arn = format!("arn:{partition}:s3:::{bucket}");
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "LoadBalancerLogDelivery",
                "Effect": "Allow",
                "Principal": principal,
                "Action": "s3:PutObject",
                "Resource": format!("{arn}/{prefix}/AWSLogs/{account}/*")
            },
            {
                "Sid": "TlsOnly",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [arn.clone(), format!("{arn}/*")],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}
            }
        ]
    })
    .to_string()
}

pub struct LogBuckets;

impl ResourceKind for LogBuckets {
    const KIND: Kind = KIND;
    type Spec = Spec;

    fn about(&self) -> About {
        About {
            holds_data: true,
            logs: true,
            wait_limit: Duration::from_secs(30 * 60),
            ..About::new("S3 bucket (the load balancer's access logs)")
        }
    }

    fn permissions(&self) -> &'static [&'static str] {
        &[
            "s3:ListBucket",
            "s3:GetBucketTagging",
            "s3:GetLifecycleConfiguration",
            "s3:GetBucketPolicy",
            "s3:GetBucketPublicAccessBlock",
            "s3:GetEncryptionConfiguration",
            "s3:CreateBucket",
            "s3:TagResource",
            "s3:PutBucketTagging",
            "s3:PutBucketPublicAccessBlock",
            "s3:PutEncryptionConfiguration",
            "s3:PutLifecycleConfiguration",
            "s3:PutBucketPolicy",
            "s3:DeleteObject",
            "s3:DeleteBucket",
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
            .set(RETENTION_DAYS, spec.retention_days, Mode::InPlace)
            .set(ENCRYPTION, "AES256", Mode::InPlace)
            .set(PUBLIC_ACCESS, BLOCKED, Mode::InPlace)
            .set(POLICY, policy_value(&spec.policy), Mode::InPlace)
            .build()
    }

    async fn observe(&self, scope: Scope<'_>) -> Result<Vec<ObservedResource>, AwsError> {
        let (account, _) = scope.aws.identity().await?;
        let name = scope.names.log_bucket(&account, &scope.aws.region);
        Ok(describe(scope.aws, &name).await?.into_iter().collect())
    }

    async fn scan(&self, scope: Scope<'_>) -> Result<Vec<(String, String)>, AwsError> {
        let found = self.observe(scope).await?;
        Ok(scanned(
            "access log bucket",
            owned(found, scope.names.stack()),
        ))
    }

    async fn create(
        &self,
        context: &StepContext<'_>,
        resource: &Resource,
        spec: &Spec,
    ) -> Result<Live, AwsError> {
        let aws = context.aws();
        let name = &resource.id.name;
        let tags = context
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AwsError::other(format!("tag bucket {name}"), e.to_string()))?;
        // Tagged in the create call: a run interrupted right after it leaves a bucket that is the
        // stack's, not one plan must refuse as another's. us-east-1 is the one region that takes
        // no location constraint.
        let mut configuration = CreateBucketConfiguration::builder().set_tags(Some(tags.clone()));
        if aws.region != "us-east-1" {
            configuration = configuration
                .location_constraint(BucketLocationConstraint::from(aws.region.as_str()));
        }
        let request = aws
            .s3
            .create_bucket()
            .bucket(name)
            .create_bucket_configuration(configuration.build());
        match request.send().await {
            Ok(_) => {}
            Err(error) => {
                let error = fail(format!("create bucket {name}"))(error);
                // A resumed create: the bucket an interrupted one made.
                if error.is("BucketAlreadyExists") {
                    return Err(error.with_hint(
                        "bucket names are global and another account has this one: the stack's name, account and region make it",
                    ));
                }
                if !error.is("BucketAlreadyOwnedByYou") {
                    return Err(error);
                }
            }
        }
        let tagging = Tagging::builder()
            .set_tag_set(Some(tags))
            .build()
            .map_err(|e| AwsError::other(format!("tag bucket {name}"), e.to_string()))?;
        // A new bucket may answer NoSuchBucket for a moment: its settings are tried again.
        context
            .retry("the new bucket to be visible", || async {
                let tagged = aws
                    .s3
                    .put_bucket_tagging()
                    .bucket(name)
                    .tagging(tagging.clone())
                    .send()
                    .await
                    .map_err(fail(format!("tag bucket {name}")));
                match tagged {
                    Ok(_) => Ok(true),
                    Err(error) if error.is("NoSuchBucket") => Ok(false),
                    Err(error) => Err(error),
                }
            })
            .await?;
        configure(aws, name, spec, None).await?;
        Ok(Live::named(name.clone()))
    }

    async fn update(
        &self,
        context: &StepContext<'_>,
        resource: &Resource,
        spec: &Spec,
        changes: Changes<'_>,
        live: Live,
    ) -> Result<Live, AwsError> {
        configure(context.aws(), &resource.id.name, spec, Some(&changes)).await?;
        Ok(live)
    }

    async fn delete(
        &self,
        context: &StepContext<'_>,
        _live: Option<&Live>,
    ) -> Result<(), AwsError> {
        let aws = context.aws();
        let name = &context.id.name;
        // A bucket must be empty to go: its logs first, a thousand at a time.
        let mut deleted = 0usize;
        loop {
            let listed = match aws.s3.list_objects_v2().bucket(name).send().await {
                Ok(listed) => listed,
                Err(error) => {
                    let error = fail(format!("list the logs in bucket {name}"))(error);
                    return if error.is("NoSuchBucket") {
                        Ok(())
                    } else {
                        Err(error)
                    };
                }
            };
            let keys: Vec<ObjectIdentifier> = listed
                .contents()
                .iter()
                .filter_map(|o| o.key())
                .filter_map(|key| ObjectIdentifier::builder().key(key).build().ok())
                .collect();
            if keys.is_empty() {
                break;
            }
            deleted += keys.len();
            let batch = Delete::builder()
                .set_objects(Some(keys))
                .quiet(true)
                .build()
                .map_err(|e| AwsError::other(format!("empty bucket {name}"), e.to_string()))?;
            aws.s3
                .delete_objects()
                .bucket(name)
                .delete(batch)
                .send()
                .await
                .map_err(fail(format!("empty bucket {name}")))?;
            context.status(&format!("emptying: {deleted} log files deleted"));
        }
        gone_is_done(
            aws.s3.delete_bucket().bucket(name).send().await,
            format!("delete bucket {name}"),
            &["NoSuchBucket"],
        )
    }

    async fn tag(
        &self,
        context: &StepContext<'_>,
        physical_id: &str,
        key: &str,
        value: &str,
    ) -> Result<(), AwsError> {
        // PutBucketTagging replaces the set: the bucket's tags with this one set.
        let aws = context.aws();
        let mut tags = match aws.s3.get_bucket_tagging().bucket(physical_id).send().await {
            Ok(found) => found.tag_set().to_vec(),
            Err(_) => Vec::new(),
        };
        tags.retain(|t| t.key() != key);
        tags.push(
            Tag::builder()
                .key(key)
                .value(value)
                .build()
                .map_err(|e| AwsError::other(format!("tag bucket {physical_id}"), e.to_string()))?,
        );
        let tagging = Tagging::builder()
            .set_tag_set(Some(tags))
            .build()
            .map_err(|e| AwsError::other(format!("tag bucket {physical_id}"), e.to_string()))?;
        aws.s3
            .put_bucket_tagging()
            .bucket(physical_id)
            .tagging(tagging)
            .send()
            .await
            .map(|_| ())
            .map_err(fail(format!("tag bucket {physical_id}")))
    }
}

/// A policy as plan compares it: parsed, so that AWS's spacing is no difference.
fn policy_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::from(text))
}

/// Set what `changes` names (everything, for a new bucket): public access, encryption,
/// lifecycle, policy. The public access block goes first: the policy grants no public access.
async fn configure(
    aws: &Aws,
    name: &str,
    spec: &Spec,
    changes: Option<&Changes<'_>>,
) -> Result<(), AwsError> {
    let wants = |key: &str| changes.is_none_or(|c| c.has(key));
    let build = |what: &str| {
        let what = format!("{what} of bucket {name}");
        move |e: aws_smithy_types::error::operation::BuildError| {
            AwsError::other(what.clone(), e.to_string())
        }
    };
    if wants(PUBLIC_ACCESS) {
        aws.s3
            .put_public_access_block()
            .bucket(name)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .ignore_public_acls(true)
                    .block_public_policy(true)
                    .restrict_public_buckets(true)
                    .build(),
            )
            .send()
            .await
            .map_err(fail(format!("block public access to bucket {name}")))?;
    }
    if wants(ENCRYPTION) {
        let rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(
                ServerSideEncryptionByDefault::builder()
                    .sse_algorithm(ServerSideEncryption::Aes256)
                    .build()
                    .map_err(build("set the encryption"))?,
            )
            .build();
        aws.s3
            .put_bucket_encryption()
            .bucket(name)
            .server_side_encryption_configuration(
                ServerSideEncryptionConfiguration::builder()
                    .rules(rule)
                    .build()
                    .map_err(build("set the encryption"))?,
            )
            .send()
            .await
            .map_err(fail(format!("encrypt bucket {name}")))?;
    }
    if wants(RETENTION_DAYS) {
        let rule = LifecycleRule::builder()
            .id(LIFECYCLE_RULE)
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix("").build())
            .expiration(
                LifecycleExpiration::builder()
                    .days(spec.retention_days)
                    .build(),
            )
            .abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder()
                    .days_after_initiation(7)
                    .build(),
            )
            .build()
            .map_err(build("set the expiry"))?;
        aws.s3
            .put_bucket_lifecycle_configuration()
            .bucket(name)
            .lifecycle_configuration(
                BucketLifecycleConfiguration::builder()
                    .rules(rule)
                    .build()
                    .map_err(build("set the expiry"))?,
            )
            .send()
            .await
            .map_err(fail(format!("set the expiry of bucket {name}")))?;
    }
    if wants(POLICY) {
        aws.s3
            .put_bucket_policy()
            .bucket(name)
            .policy(&spec.policy)
            .send()
            .await
            .map_err(fail(format!("set the policy of bucket {name}")))?;
    }
    Ok(())
}

/// The bucket, if it exists: one that is not the account's (HeadBucket answers 403) is shown
/// without tags, so that plan refuses to touch it.
async fn describe(aws: &Aws, name: &str) -> Result<Option<ObservedResource>, AwsError> {
    match aws.s3.head_bucket().bucket(name).send().await {
        Ok(_) => {}
        Err(error) => {
            let status = error.raw_response().map(|r| r.status().as_u16());
            let error = fail(format!("look for bucket {name}"))(error);
            return match status {
                Some(404) => Ok(None),
                Some(403) => Ok(Some(ObservedResource {
                    id: id(name),
                    physical_id: name.to_string(),
                    tags: Default::default(),
                    attributes: Map::new(),
                    status: Status::Ready,
                    outputs: Outputs::default(),
                })),
                _ if error.is("NotFound") || error.is("NoSuchBucket") => Ok(None),
                _ => Err(error),
            };
        }
    }
    let (tags, lifecycle, policy, public, encryption) = tokio::join!(
        aws.s3.get_bucket_tagging().bucket(name).send(),
        aws.s3
            .get_bucket_lifecycle_configuration()
            .bucket(name)
            .send(),
        aws.s3.get_bucket_policy().bucket(name).send(),
        aws.s3.get_public_access_block().bucket(name).send(),
        aws.s3.get_bucket_encryption().bucket(name).send(),
    );
    // Each setting may be absent (a bucket being created): absent reads as null.
    let absent = |codes: &[&str], error: AwsError| {
        if codes.iter().any(|c| error.is(c)) {
            Ok(())
        } else {
            Err(error)
        }
    };
    let tags = match tags {
        Ok(found) => found
            .tag_set()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect(),
        Err(error) => {
            absent(
                &["NoSuchTagSet"],
                fail(format!("read the tags of bucket {name}"))(error),
            )?;
            Default::default()
        }
    };
    let mut a = Map::new();
    a.insert(
        RETENTION_DAYS.into(),
        match lifecycle {
            Ok(found) => json!(
                found
                    .rules()
                    .iter()
                    .find(|r| r.id() == Some(LIFECYCLE_RULE))
                    .and_then(|r| r.expiration())
                    .and_then(|e| e.days())
            ),
            Err(error) => {
                absent(
                    &["NoSuchLifecycleConfiguration"],
                    fail(format!("read the expiry of bucket {name}"))(error),
                )?;
                Value::Null
            }
        },
    );
    a.insert(
        POLICY.into(),
        match policy {
            Ok(found) => found.policy().map(policy_value).unwrap_or(Value::Null),
            Err(error) => {
                absent(
                    &["NoSuchBucketPolicy"],
                    fail(format!("read the policy of bucket {name}"))(error),
                )?;
                Value::Null
            }
        },
    );
    a.insert(
        PUBLIC_ACCESS.into(),
        match public {
            Ok(found) => {
                let blocked = found.public_access_block_configuration().is_some_and(|c| {
                    c.block_public_acls() == Some(true)
                        && c.ignore_public_acls() == Some(true)
                        && c.block_public_policy() == Some(true)
                        && c.restrict_public_buckets() == Some(true)
                });
                json!(if blocked { BLOCKED } else { "not blocked" })
            }
            Err(error) => {
                absent(
                    &["NoSuchPublicAccessBlockConfiguration"],
                    fail(format!("read the public access block of bucket {name}"))(error),
                )?;
                json!("not blocked")
            }
        },
    );
    a.insert(
        ENCRYPTION.into(),
        match encryption {
            Ok(found) => json!(
                found
                    .server_side_encryption_configuration()
                    .and_then(|c| c.rules().first())
                    .and_then(|r| r.apply_server_side_encryption_by_default())
                    .map(|d| d.sse_algorithm().as_str())
            ),
            Err(error) => {
                absent(
                    &["ServerSideEncryptionConfigurationNotFoundError"],
                    fail(format!("read the encryption of bucket {name}"))(error),
                )?;
                Value::Null
            }
        },
    );
    Ok(Some(ObservedResource {
        id: id(name),
        physical_id: name.to_string(),
        tags,
        attributes: a,
        status: Status::Ready,
        outputs: Outputs::default(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_delivery_is_the_regions_account_or_the_service_in_newer_regions() {
        let old: Value =
            serde_json::from_str(&policy("aws", "123456789012", "us-east-1", "b", "shop-lb"))
                .unwrap();
        assert_eq!(
            old["Statement"][0]["Principal"]["AWS"],
            "arn:aws:iam::127311923021:root"
        );
        assert_eq!(
            old["Statement"][0]["Resource"],
            "arn:aws:s3:::b/shop-lb/AWSLogs/123456789012/*"
        );
        let new: Value = serde_json::from_str(&policy(
            "aws",
            "123456789012",
            "eu-central-2",
            "b",
            "shop-lb",
        ))
        .unwrap();
        assert_eq!(
            new["Statement"][0]["Principal"]["Service"],
            "logdelivery.elasticloadbalancing.amazonaws.com"
        );
        assert_eq!(new["Statement"][1]["Effect"], "Deny");
    }
}
