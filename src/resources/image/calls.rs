//! Calls for baked images: the stack's images, one by name, imaging a builder, deregistering
//! (with the image's snapshots), and which images launch template versions reference.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{Filter, ResourceType, TagSpecification};
use serde_json::{Map, json};

use super::*;
use crate::aws::ec2::{ec2_tags, tag_filter, tags_of};
use crate::aws::{Aws, AwsError, fail};
use crate::ids::tags::TAG_STACK;
use crate::resources::observed::{ObservedResource, Outputs, Status};

pub(super) fn image_status(state: Option<&str>) -> Status {
    match state.unwrap_or("unknown") {
        "available" => Status::Ready,
        "pending" => Status::Pending("pending".into()),
        "deregistered" | "disabled" => Status::Deleting("deregistered".into()),
        other => Status::Failed(other.to_string()),
    }
}

/// The stack's images (owned by this account, tagged for the stack).
pub(super) async fn observe_images(
    aws: &Aws,
    stack: &str,
) -> Result<Vec<ObservedResource>, AwsError> {
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
            attributes.insert(CREATED_AT.into(), json!(image.creation_date()));
            attributes.insert(IN_USE.into(), json!(false));
            attributes.insert(
                SNAPSHOTS.into(),
                json!(
                    image
                        .block_device_mappings()
                        .iter()
                        .filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()))
                        .collect::<Vec<_>>()
                ),
            );
            ObservedResource {
                id: ResourceId::new(KIND, image.name().unwrap_or_default()),
                physical_id: image.image_id().unwrap_or_default().to_string(),
                tags: tags_of(image.tags()),
                attributes,
                status: image_status(image.state().map(|s| s.as_str())),
                outputs: Outputs::default(),
            }
        })
        .collect())
}

/// An image of this account by name: (id, state, tags).
pub(super) async fn find_image(
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
pub(super) async fn create_image(
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
                // EC2 says the name is taken (an earlier attempt made it) but its list does not
                // show the image yet: eventual consistency, tried again as any "not visible yet".
                None => Err(AwsError::not_visible_yet(
                    format!("create image {name}"),
                    "the image exists but EC2 does not list it yet",
                )),
                Some(_) => Err(error),
            }
        }
    }
}

/// Deregister an image and delete its snapshots.
pub(super) async fn deregister(aws: &Aws, image: &str) -> Result<(), AwsError> {
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
pub(super) async fn images_of_versions(
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

/// The stack's images, for destroy's final scan.
pub(super) async fn tagged(aws: &Aws, stack: &str) -> Result<Vec<(String, String)>, AwsError> {
    let found = aws
        .ec2
        .describe_images()
        .owners("self")
        .filters(tag_filter(TAG_STACK, stack))
        .send()
        .await
        .map_err(fail("scan images"))?;
    Ok(found
        .images()
        .iter()
        .map(|image| {
            (
                format!("image {}", image.name().unwrap_or_default()),
                image.image_id().unwrap_or_default().to_string(),
            )
        })
        .collect())
}
