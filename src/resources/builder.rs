//! A bake's builder instance, as an interrupted bake may leave it: the bake that runs again
//! adopts it; any other is terminated. Never desired on its own: the image's bake launches it.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, Filter, HttpTokensState, InstanceMetadataEndpointState,
    InstanceMetadataOptionsRequest, InstanceNetworkInterfaceSpecification, InstanceStateName,
    InstanceType, ResourceType, ShutdownBehavior, TagSpecification, VolumeType,
};
use serde_json::{Map, json};

use super::attributes::Action;
use super::observed::{Observed, ObservedResource, Outputs, Status};
use super::{About, Live, PlanScope, Resource, ResourceKind, Scope, StepContext, security_group};
use crate::aws::ec2::{ec2_tags, tag_filter, tags_of};
use crate::aws::{Aws, AwsError, fail};
use crate::ids::names::Names;
use crate::ids::tags::{TAG_BAKE_HASH, TAG_COMPONENT, TAG_STACK};
use crate::ids::{Kind, ResourceId};

pub const KIND: Kind = Kind::new("builder", "builder");

/// What observation records of a builder.
pub const STATE: &str = "state";
pub const SECURITY_GROUPS: &str = "security_groups";
/// On a failed bake's builder that `bake --keep-builder` left stopped: when it was kept.
pub const TAG_KEPT: &str = "deployer:kept";

pub struct Builders;

impl ResourceKind for Builders {
    const KIND: Kind = KIND;
    /// Never desired: nothing to specify.
    type Spec = ();

    fn about(&self) -> About {
        About {
            only_left_over: true,
            ..About::new("EC2 instance (a bake's builder)")
        }
    }

    fn permissions(&self) -> &'static [&'static str] {
        &[
            "ec2:DescribeInstances",
            "ec2:DescribeVolumes",
            "ec2:DescribeImages",
            "ec2:RunInstances",
            "ec2:CreateTags",
            "ec2:GetConsoleOutput",
            "ec2:StopInstances",
            "ec2:TerminateInstances",
        ]
    }

    /// The bake that runs again adopts its builder; any other is an interrupted bake's.
    fn leftover(
        &self,
        live: &ObservedResource,
        plan: &PlanScope<'_>,
    ) -> Option<(Action, Option<String>)> {
        let adopted = super::image::baking(plan)
            .iter()
            .any(|spec| live.tags.get(TAG_BAKE_HASH) == Some(&spec.hash));
        if let Some(kept) = live.tags.get(TAG_KEPT) {
            return Some(if adopted {
                (
                    Action::None,
                    Some(format!(
                        "a failed bake's builder, kept for inspection since {kept}: the bake replaces it"
                    )),
                )
            } else {
                (
                    Action::Delete,
                    Some(format!(
                        "a failed bake's builder, kept for inspection since {kept}"
                    )),
                )
            });
        }
        Some(if adopted {
            (
                Action::None,
                Some("an interrupted bake's builder: the bake adopts it".into()),
            )
        } else {
            (Action::Delete, Some("left by an interrupted bake".into()))
        })
    }

    /// Its security group goes after it.
    fn live_dependencies(&self, live: &ObservedResource, observed: &Observed) -> Vec<ResourceId> {
        super::names_in(live, SECURITY_GROUPS, security_group::KIND, observed)
    }

    async fn observe(&self, scope: Scope<'_>) -> Result<Vec<ObservedResource>, AwsError> {
        observe_builders(scope.aws, scope.names.stack()).await
    }

    async fn scan(&self, scope: Scope<'_>) -> Result<Vec<(String, String)>, AwsError> {
        scan(scope.aws, scope.names.stack()).await
    }

    async fn create(
        &self,
        context: &StepContext<'_>,
        _resource: &Resource,
        _spec: &(),
    ) -> Result<Live, AwsError> {
        Err(super::never_desired(context.id))
    }

    async fn delete(&self, context: &StepContext<'_>, live: Option<&Live>) -> Result<(), AwsError> {
        match live {
            Some(instance) => terminate_and_wait(context, &instance.physical_id).await,
            None => Ok(()),
        }
    }

    async fn tag(
        &self,
        context: &StepContext<'_>,
        physical_id: &str,
        key: &str,
        value: &str,
    ) -> Result<(), AwsError> {
        crate::aws::ec2::set_tag(context.aws(), context.id, physical_id, key, value).await
    }

    fn not_visible_yet(&self, error: &AwsError) -> bool {
        error.is("InvalidInstanceID.NotFound")
    }
}

/// Terminate an instance and wait until it is gone (`context` is the step's, whatever kind).
pub async fn terminate_and_wait(context: &StepContext<'_>, instance: &str) -> Result<(), AwsError> {
    let aws = context.aws();
    terminate(aws, instance).await?;
    context
        .retry("the builder to terminate", || async {
            Ok(matches!(
                instance_state(aws, instance).await?.as_deref(),
                None | Some("terminated")
            ))
        })
        .await
}

/// Instances and volumes still tagged for the stack, for destroy's final scan.
async fn scan(aws: &Aws, stack: &str) -> Result<Vec<(String, String)>, AwsError> {
    let filter = || tag_filter(TAG_STACK, stack);
    let (instances, volumes) = tokio::join!(
        aws.ec2
            .describe_instances()
            .filters(filter())
            .filters(
                Filter::builder()
                    .name("instance-state-name")
                    .values("pending")
                    .values("running")
                    .values("stopping")
                    .values("stopped")
                    .values("shutting-down")
                    .build(),
            )
            .send(),
        aws.ec2.describe_volumes().filters(filter()).send(),
    );
    let mut found = Vec::new();
    for reservation in instances.map_err(fail("scan instances"))?.reservations() {
        for instance in reservation.instances() {
            found.push((
                "instance".into(),
                instance.instance_id().unwrap_or_default().to_string(),
            ));
        }
    }
    for volume in volumes.map_err(fail("scan volumes"))?.volumes() {
        found.push((
            "volume".into(),
            volume.volume_id().unwrap_or_default().to_string(),
        ));
    }
    Ok(found)
}

/// Builders of the stack that are not terminated.
pub(super) async fn observe_builders(
    aws: &Aws,
    stack: &str,
) -> Result<Vec<ObservedResource>, AwsError> {
    let names = Names::new(stack);
    let found = aws
        .ec2
        .describe_instances()
        .filters(tag_filter(TAG_STACK, stack))
        .filters(tag_filter(TAG_COMPONENT, "builder"))
        .filters(
            Filter::builder()
                .name("instance-state-name")
                .set_values(Some(
                    ["pending", "running", "stopping", "stopped", "shutting-down"]
                        .map(String::from)
                        .to_vec(),
                ))
                .build(),
        )
        .send()
        .await
        .map_err(fail("describe the stack's builders"))?;
    let mut builders = Vec::new();
    for instance in found.reservations().iter().flat_map(|r| r.instances()) {
        let tags = tags_of(instance.tags());
        let hash = tags.get(TAG_BAKE_HASH).cloned().unwrap_or_default();
        let state = instance
            .state()
            .and_then(|s| s.name())
            .map(|n| n.as_str().to_string())
            .unwrap_or_default();
        let status = match state.as_str() {
            "stopped" => Status::Ready,
            "shutting-down" => Status::Deleting(state.clone()),
            _ => Status::Pending(state.clone()),
        };
        let mut attributes = Map::new();
        attributes.insert(STATE.into(), json!(state));
        attributes.insert(
            SECURITY_GROUPS.into(),
            json!(
                instance
                    .security_groups()
                    .iter()
                    .filter_map(|g| g.group_name())
                    .collect::<Vec<_>>()
            ),
        );
        builders.push(ObservedResource {
            id: ResourceId::new(KIND, names.builder(&hash)),
            physical_id: instance.instance_id().unwrap_or_default().to_string(),
            tags,
            attributes,
            status,
            outputs: Outputs::default(),
        });
    }
    Ok(builders)
}

/// The instance's state name, or None once AWS no longer knows it.
pub(super) async fn instance_state(aws: &Aws, instance: &str) -> Result<Option<String>, AwsError> {
    match aws
        .ec2
        .describe_instances()
        .instance_ids(instance)
        .send()
        .await
    {
        Ok(found) => Ok(found
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .next()
            .and_then(|i| i.state())
            .and_then(|s| s.name())
            .map(|n| n.as_str().to_string())),
        Err(error) => {
            let error = fail(format!("describe builder {instance}"))(error);
            if error.is("InvalidInstanceID.NotFound") {
                Ok(None)
            } else {
                Err(error)
            }
        }
    }
}

/// The client token of one builder launch: the content hash and a part of its own. The SDK's
/// retries of the call repeat it, so a launch whose answer was lost is not made twice. A later
/// bake of the same inputs (after a failed bake, or a destroy) needs a new builder: AWS answers a
/// repeated token with the instance it launched first, for a day or more after that one is gone.
/// (A run killed after its launch finds that builder by its tags and adopts it.)
fn launch_token(hash: &str) -> String {
    use rand::distr::{Alphanumeric, SampleString};
    let attempt = Alphanumeric.sample_string(&mut rand::rng(), 16);
    format!("{}-{attempt}", &hash[..40.min(hash.len())])
}

/// Launch the builder: IMDSv2, an encrypted root volume, powering off means stopping, tags at
/// creation and a client token of its own (see [`launch_token`]).
pub(super) async fn launch(
    aws: &Aws,
    spec: &super::image::Spec,
    security_group_id: &str,
    tags: &BTreeMap<String, String>,
) -> Result<String, AwsError> {
    let what = format!("launch the builder from {}", spec.base_image);
    let root = crate::aws::ec2::image_root_device(aws, &spec.base_image)
        .await?
        .ok_or_else(|| AwsError::other(what.clone(), "the base image does not exist"))?;
    let launched = aws
        .ec2
        .run_instances()
        .image_id(&spec.base_image)
        .instance_type(InstanceType::from(spec.instance_type.as_str()))
        .min_count(1)
        .max_count(1)
        .user_data(aws_smithy_types::base64::encode(&spec.user_data))
        .client_token(launch_token(&spec.hash))
        .instance_initiated_shutdown_behavior(ShutdownBehavior::Stop)
        // The public IP is asked for, not left to the subnet's MapPublicIpOnLaunch: a public
        // subnet of a VPC other than the default one maps none.
        .network_interfaces(
            InstanceNetworkInterfaceSpecification::builder()
                .device_index(0)
                .subnet_id(&spec.subnet)
                .groups(security_group_id)
                .associate_public_ip_address(spec.public_ip)
                .delete_on_termination(true)
                .build(),
        )
        .metadata_options(
            InstanceMetadataOptionsRequest::builder()
                .http_tokens(HttpTokensState::Required)
                .http_endpoint(InstanceMetadataEndpointState::Enabled)
                .build(),
        )
        .block_device_mappings(
            BlockDeviceMapping::builder()
                .device_name(root)
                .ebs(
                    EbsBlockDevice::builder()
                        .volume_size(spec.volume_size)
                        .volume_type(VolumeType::from(spec.volume_type.as_str()))
                        .encrypted(true)
                        .delete_on_termination(true)
                        .build(),
                )
                .build(),
        )
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Instance)
                .set_tags(Some(ec2_tags(tags)))
                .build(),
        )
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Volume)
                .set_tags(Some(ec2_tags(tags)))
                .build(),
        )
        .send()
        .await
        .map_err(fail(what.clone()))?;
    launched
        .instances()
        .first()
        .and_then(|i| i.instance_id())
        .map(str::to_string)
        .ok_or_else(|| AwsError::other(what, "AWS returned no instance"))
}

/// The instance's console output, by line (None when it cannot be read). The latest output
/// where AWS has it (Nitro instances that run), else what AWS posted at the last state change.
pub(crate) async fn console_lines(aws: &Aws, instance: &str) -> Option<Vec<String>> {
    let ask = |latest: bool| {
        aws.ec2
            .get_console_output()
            .instance_id(instance)
            .latest(latest)
            .send()
    };
    let output = match ask(true).await {
        Ok(output) => output,
        Err(_) => ask(false).await.ok()?,
    };
    // AWS sends the output base64-encoded; take it as text when it is not.
    let raw = output.output().unwrap_or_default();
    let text = aws_smithy_types::base64::decode(raw)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_else(|_| raw.to_string());
    Some(
        text.lines()
            .map(|l| l.trim_end_matches('\r').to_string())
            .collect(),
    )
}

/// The last `lines` lines of the instance's console output (best effort).
pub(crate) async fn console_tail(aws: &Aws, instance: &str, lines: usize) -> Vec<String> {
    match console_lines(aws, instance).await {
        None => vec!["(the console output could not be read)".into()],
        Some(all) if all.is_empty() => vec!["(the console output is empty)".into()],
        Some(all) => all[all.len().saturating_sub(lines)..].to_vec(),
    }
}

/// Stop a failed bake's builder and mark it kept (`bake --keep-builder`).
pub(crate) async fn keep(aws: &Aws, instance: &str) -> Result<(), AwsError> {
    aws.ec2
        .create_tags()
        .resources(instance)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key(TAG_KEPT)
                .value(chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string())
                .build(),
        )
        .send()
        .await
        .map_err(fail(format!("mark builder {instance} kept")))?;
    match aws.ec2.stop_instances().instance_ids(instance).send().await {
        Ok(_) => Ok(()),
        Err(error) => {
            let error = fail(format!("stop builder {instance}"))(error);
            // Stopped or stopping already.
            if error.is("IncorrectInstanceState") {
                Ok(())
            } else {
                Err(error)
            }
        }
    }
}

/// Terminate an instance (gone already is fine).
async fn terminate(aws: &Aws, instance: &str) -> Result<(), AwsError> {
    match aws
        .ec2
        .terminate_instances()
        .instance_ids(instance)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(error) => {
            let error = fail(format!("terminate builder {instance}"))(error);
            if error.is("InvalidInstanceID.NotFound") {
                Ok(())
            } else {
                Err(error)
            }
        }
    }
}

/// Whether an instance state means the builder has powered off.
pub(super) fn powered_off(state: &str) -> bool {
    state == InstanceStateName::Stopped.as_str()
}
