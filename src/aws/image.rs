//! Images and their builders: resolving the base image, the builder instance of a bake, the AMI
//! made from it, which images launch template versions in use reference, and deregistration.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, Filter, HttpTokensState, InstanceMetadataEndpointState,
    InstanceMetadataOptionsRequest, InstanceStateName, InstanceType, ResourceType,
    ShutdownBehavior, TagSpecification, VolumeType,
};
use serde_json::{Map, json};

use super::ec2::{ec2_tags, image_root_device, tags_of};
use super::{Aws, AwsError, fail};
use crate::plan::observed::{ObservedResource, Outputs, Status};
use crate::profile::schema::BaseImage;
use crate::stack::naming::{Names, TAG_BAKE_HASH, TAG_COMPONENT, TAG_STACK};
use crate::stack::spec::{BakeSpec, Kind, ResourceId};

fn tag_filter(key: &str, value: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{key}"))
        .values(value)
        .build()
}

/// The base image as an AMI id: checked to exist, or the newest available match of a lookup.
/// None when there is no such image.
pub async fn resolve_base_image(aws: &Aws, base: &BaseImage) -> Result<Option<String>, AwsError> {
    match base {
        BaseImage::Id(id) => Ok(image_root_device(aws, id).await?.map(|_| id.clone())),
        BaseImage::Lookup(lookup) => {
            let found = aws
                .ec2
                .describe_images()
                .owners(&lookup.owner)
                .filters(Filter::builder().name("name").values(&lookup.name).build())
                .filters(Filter::builder().name("state").values("available").build())
                .send()
                .await
                .map_err(fail(format!(
                    "look up the base image {} of {}",
                    lookup.name, lookup.owner
                )))?;
            Ok(found
                .images()
                .iter()
                .max_by(|a, b| a.creation_date().cmp(&b.creation_date()))
                .and_then(|image| image.image_id().map(str::to_string)))
        }
    }
}

fn image_status(state: Option<&str>) -> Status {
    match state.unwrap_or("unknown") {
        "available" => Status::Ready,
        "pending" => Status::Pending("pending".into()),
        "deregistered" | "disabled" => Status::Deleting("deregistered".into()),
        other => Status::Failed(other.to_string()),
    }
}

/// The stack's images (owned by this account, tagged for the stack).
pub async fn observe_images(aws: &Aws, stack: &str) -> Result<Vec<ObservedResource>, AwsError> {
    let found = aws
        .ec2
        .describe_images()
        .owners("self")
        .filters(tag_filter(TAG_STACK, stack))
        .send()
        .await
        .map_err(fail("describe the stack's images"))?;
    Ok(found
        .images()
        .iter()
        .filter(|image| image.state().map(|s| s.as_str()) != Some("deregistered"))
        .map(|image| {
            let mut attributes = Map::new();
            attributes.insert("created_at".into(), json!(image.creation_date()));
            attributes.insert("in_use".into(), json!(false));
            attributes.insert(
                "snapshots".into(),
                json!(
                    image
                        .block_device_mappings()
                        .iter()
                        .filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()))
                        .collect::<Vec<_>>()
                ),
            );
            ObservedResource {
                id: ResourceId::new(Kind::Image, image.name().unwrap_or_default()),
                physical_id: image.image_id().unwrap_or_default().to_string(),
                tags: tags_of(image.tags()),
                attributes,
                status: image_status(image.state().map(|s| s.as_str())),
                outputs: Outputs::default(),
            }
        })
        .collect())
}

/// Builders of the stack that are not terminated.
pub async fn observe_builders(aws: &Aws, stack: &str) -> Result<Vec<ObservedResource>, AwsError> {
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
        attributes.insert("state".into(), json!(state));
        builders.push(ObservedResource {
            id: ResourceId::new(Kind::Builder, names.builder(&hash)),
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
pub async fn instance_state(aws: &Aws, instance: &str) -> Result<Option<String>, AwsError> {
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
pub async fn launch_builder(
    aws: &Aws,
    spec: &BakeSpec,
    security_group_id: &str,
    tags: &BTreeMap<String, String>,
) -> Result<String, AwsError> {
    let what = format!("launch the builder from {}", spec.base_image);
    let root = image_root_device(aws, &spec.base_image)
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
        .subnet_id(&spec.subnet)
        .security_group_ids(security_group_id)
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

/// The last `lines` lines of the instance's console output (best effort).
pub async fn console_tail(aws: &Aws, instance: &str, lines: usize) -> Vec<String> {
    let Ok(output) = aws
        .ec2
        .get_console_output()
        .instance_id(instance)
        .latest(true)
        .send()
        .await
    else {
        return vec!["(the console output could not be read)".into()];
    };
    // AWS sends the output base64-encoded; take it as text when it is not.
    let raw = output.output().unwrap_or_default();
    let text = aws_smithy_types::base64::decode(raw)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_else(|_| raw.to_string());
    let all: Vec<String> = text.lines().map(str::to_string).collect();
    if all.is_empty() {
        return vec!["(the console output is empty)".into()];
    }
    all[all.len().saturating_sub(lines)..].to_vec()
}

/// Terminate an instance (gone already is fine).
pub async fn terminate(aws: &Aws, instance: &str) -> Result<(), AwsError> {
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

/// An image of this account by name: (id, state, tags).
pub async fn find_image(
    aws: &Aws,
    name: &str,
) -> Result<Option<(String, Status, BTreeMap<String, String>)>, AwsError> {
    let found = aws
        .ec2
        .describe_images()
        .owners("self")
        .filters(Filter::builder().name("name").values(name).build())
        .send()
        .await
        .map_err(fail(format!("describe image {name}")))?;
    Ok(found
        .images()
        .iter()
        .find(|i| i.state().map(|s| s.as_str()) != Some("deregistered"))
        .map(|image| {
            (
                image.image_id().unwrap_or_default().to_string(),
                image_status(image.state().map(|s| s.as_str())),
                tags_of(image.tags()),
            )
        }))
}

/// Image the stopped builder as `name` (tags on the image and its snapshots), or adopt the image
/// of that name a previous run started. Returns the AMI id.
pub async fn create_image(
    aws: &Aws,
    instance: &str,
    name: &str,
    tags: &BTreeMap<String, String>,
) -> Result<String, AwsError> {
    let what = format!("create image {name}");
    let created = aws
        .ec2
        .create_image()
        .instance_id(instance)
        .name(name)
        .description(format!("deployer: baked by builder {instance}"))
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Image)
                .set_tags(Some(ec2_tags(tags)))
                .build(),
        )
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Snapshot)
                .set_tags(Some(ec2_tags(tags)))
                .build(),
        )
        .send()
        .await;
    match created {
        Ok(out) => out
            .image_id()
            .map(str::to_string)
            .ok_or_else(|| AwsError::other(what, "AWS returned no image id")),
        Err(error) => {
            let error = fail(what)(error);
            if !error.is("InvalidAMIName.Duplicate") {
                return Err(error);
            }
            match find_image(aws, name).await? {
                Some((id, _, live)) if live.get(TAG_STACK) == tags.get(TAG_STACK) => Ok(id),
                _ => Err(error),
            }
        }
    }
}

/// Deregister an image and delete its snapshots.
pub async fn deregister(aws: &Aws, image: &str) -> Result<(), AwsError> {
    let what = format!("deregister image {image}");
    let snapshots: Vec<String> = match aws.ec2.describe_images().image_ids(image).send().await {
        Ok(found) => found
            .images()
            .iter()
            .flat_map(|i| i.block_device_mappings())
            .filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()).map(str::to_string))
            .collect(),
        Err(error) => {
            let error = fail(what.clone())(error);
            if error.is("InvalidAMIID.NotFound") || error.is("InvalidAMIID.Unavailable") {
                vec![]
            } else {
                return Err(error);
            }
        }
    };
    if let Err(error) = aws.ec2.deregister_image().image_id(image).send().await {
        let error = fail(what.clone())(error);
        if !(error.is("InvalidAMIID.NotFound") || error.is("InvalidAMIID.Unavailable")) {
            return Err(error);
        }
    }
    for snapshot in snapshots {
        if let Err(error) = aws
            .ec2
            .delete_snapshot()
            .snapshot_id(&snapshot)
            .send()
            .await
        {
            let error = fail(format!("delete snapshot {snapshot} of image {image}"))(error);
            if !error.is("InvalidSnapshot.NotFound") {
                return Err(error);
            }
        }
    }
    Ok(())
}

/// The images that the given versions of a launch template reference.
pub async fn images_of_versions(
    aws: &Aws,
    template_id: &str,
    versions: &BTreeSet<String>,
) -> Result<BTreeSet<String>, AwsError> {
    if versions.is_empty() {
        return Ok(BTreeSet::new());
    }
    let found = aws
        .ec2
        .describe_launch_template_versions()
        .launch_template_id(template_id)
        .set_versions(Some(versions.iter().cloned().collect()))
        .send()
        .await
        .map_err(fail("describe the launch template versions in use"))?;
    Ok(found
        .launch_template_versions()
        .iter()
        .filter_map(|v| v.launch_template_data().and_then(|d| d.image_id()))
        .map(str::to_string)
        .collect())
}

/// Whether an instance state means the builder has powered off.
pub fn powered_off(state: &str) -> bool {
    state == InstanceStateName::Stopped.as_str()
}

/// The ids of the stack's snapshots (tagged for it). Independent of the images, so it is read
/// alongside them; [`stray_snapshots`] then picks the ones no image uses.
pub async fn describe_snapshots(aws: &Aws, stack: &str) -> Result<Vec<String>, AwsError> {
    let found = aws
        .ec2
        .describe_snapshots()
        .owner_ids("self")
        .filters(tag_filter(TAG_STACK, stack))
        .send()
        .await
        .map_err(fail("describe the stack's snapshots"))?;
    Ok(found
        .snapshots()
        .iter()
        .filter_map(|snapshot| snapshot.snapshot_id().map(str::to_string))
        .collect())
}

/// The stack's snapshots that no image of it uses: left when a deletion was interrupted between
/// deregistering an image and deleting its snapshots.
pub fn stray_snapshots(
    stack: &str,
    snapshots: Vec<String>,
    images: &[ObservedResource],
) -> Vec<ObservedResource> {
    let used: BTreeSet<String> = images
        .iter()
        .flat_map(|image| {
            image
                .attributes
                .get("snapshots")
                .and_then(|v| v.as_array())
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    snapshots
        .into_iter()
        .filter(|id| !used.contains(id))
        .map(|id| ObservedResource {
            id: ResourceId::new(Kind::Snapshot, &id),
            physical_id: id,
            tags: BTreeMap::from([(TAG_STACK.to_string(), stack.to_string())]),
            attributes: Map::new(),
            status: Status::Ready,
            outputs: Outputs::default(),
        })
        .collect()
}

/// Delete a snapshot (gone already is fine).
pub async fn delete_snapshot(aws: &Aws, snapshot: &str) -> Result<(), AwsError> {
    let deleted = aws
        .ec2
        .delete_snapshot()
        .snapshot_id(snapshot)
        .send()
        .await
        .map_err(fail(format!("delete snapshot {snapshot}")));
    super::unless_absent(deleted, "InvalidSnapshot.NotFound").map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_is_stray_only_when_no_image_of_the_stack_uses_it() {
        let image = ObservedResource {
            id: ResourceId::new(Kind::Image, "shop-node-abc"),
            physical_id: "ami-1".into(),
            tags: BTreeMap::new(),
            attributes: serde_json::from_value(json!({"snapshots": ["snap-used"]})).unwrap(),
            status: Status::Ready,
            outputs: Outputs::default(),
        };
        let strays = stray_snapshots(
            "shop",
            vec!["snap-used".into(), "snap-left".into()],
            &[image],
        );
        let ids: Vec<&str> = strays.iter().map(|s| s.physical_id.as_str()).collect();
        assert_eq!(ids, ["snap-left"]);
        assert_eq!(strays[0].id, ResourceId::new(Kind::Snapshot, "snap-left"));
        assert_eq!(
            strays[0].tags.get(TAG_STACK).map(String::as_str),
            Some("shop")
        );
    }
}
