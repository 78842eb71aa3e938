//! A snapshot of the stack's that no image of it uses: left when a deletion was interrupted
//! between deregistering an image and deleting its snapshots. Never desired; deleted.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Map;

use super::attributes::Action;
use super::observed::{Observed, ObservedResource, Outputs, Status};
use super::{About, Live, PlanScope, Resource, ResourceKind, Scope, StepContext};
use crate::aws::ec2::tag_filter;
use crate::aws::{Aws, AwsError, fail};
use crate::ids::tags::TAG_STACK;
use crate::ids::{Kind, ResourceId};

pub const KIND: Kind = Kind::new("snapshot", "snapshot");

pub struct Snapshots;

impl ResourceKind for Snapshots {
    const KIND: Kind = KIND;
    type Spec = ();

    fn about(&self) -> About {
        About {
            only_left_over: true,
            artifact: true,
            ..About::new("EBS snapshot (of a deregistered image)")
        }
    }

    fn permissions(&self) -> &'static [&'static str] {
        &[
            "ec2:DescribeSnapshots",
            "ec2:DeleteSnapshot",
            "ec2:CreateTags",
        ]
    }

    fn leftover(
        &self,
        _live: &ObservedResource,
        _plan: &PlanScope<'_>,
    ) -> Option<(Action, Option<String>)> {
        Some((
            Action::Delete,
            Some("its image is gone: left by an interrupted deletion".into()),
        ))
    }

    /// Every snapshot tagged for the stack; [`ResourceKind::refine`] keeps the strays.
    async fn observe(&self, scope: Scope<'_>) -> Result<Vec<ObservedResource>, AwsError> {
        let stack = scope.names.stack();
        let all = describe_snapshots(scope.aws, stack).await?;
        Ok(stray_snapshots(stack, all, &[]))
    }

    /// Only the snapshots no image of the stack uses are strays.
    async fn refine(&self, _scope: Scope<'_>, observed: &mut Observed) -> Result<(), AwsError> {
        let images: Vec<ObservedResource> = observed
            .resources
            .iter()
            .filter(|r| r.id.kind == super::image::KIND)
            .cloned()
            .collect();
        let used = used_snapshots(&images);
        observed
            .resources
            .retain(|r| r.id.kind != KIND || !used.contains(&r.physical_id));
        Ok(())
    }

    async fn scan(&self, scope: Scope<'_>) -> Result<Vec<(String, String)>, AwsError> {
        Ok(describe_snapshots(scope.aws, scope.names.stack())
            .await?
            .into_iter()
            .map(|id| ("snapshot".to_string(), id))
            .collect())
    }

    async fn create(
        &self,
        context: &StepContext<'_>,
        _resource: &Resource,
        _spec: &(),
    ) -> Result<Live, AwsError> {
        Err(super::never_desired(context.id))
    }

    async fn delete(
        &self,
        context: &StepContext<'_>,
        _live: Option<&Live>,
    ) -> Result<(), AwsError> {
        delete_snapshot(context.aws(), &context.id.name).await
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
}

/// The snapshots the images use.
fn used_snapshots(images: &[ObservedResource]) -> BTreeSet<String> {
    images
        .iter()
        .flat_map(|image| {
            image
                .attributes
                .get(super::image::SNAPSHOTS)
                .and_then(|v| v.as_array())
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// The ids of the stack's snapshots (tagged for it). Independent of the images, so it is read
/// alongside them; [`stray_snapshots`] then picks the ones no image uses.
async fn describe_snapshots(aws: &Aws, stack: &str) -> Result<Vec<String>, AwsError> {
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
fn stray_snapshots(
    stack: &str,
    snapshots: Vec<String>,
    images: &[ObservedResource],
) -> Vec<ObservedResource> {
    let used = used_snapshots(images);
    snapshots
        .into_iter()
        .filter(|id| !used.contains(id))
        .map(|id| ObservedResource {
            id: ResourceId::new(KIND, &id),
            physical_id: id,
            tags: BTreeMap::from([(TAG_STACK.to_string(), stack.to_string())]),
            attributes: Map::new(),
            status: Status::Ready,
            outputs: Outputs::default(),
        })
        .collect()
}

/// Delete a snapshot (gone already is fine).
async fn delete_snapshot(aws: &Aws, snapshot: &str) -> Result<(), AwsError> {
    let deleted = aws
        .ec2
        .delete_snapshot()
        .snapshot_id(snapshot)
        .send()
        .await
        .map_err(fail(format!("delete snapshot {snapshot}")));
    crate::aws::unless_absent(deleted, "InvalidSnapshot.NotFound").map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_snapshot_is_stray_only_when_no_image_of_the_stack_uses_it() {
        let image = ObservedResource {
            id: ResourceId::new(crate::resources::image::KIND, "shop-node-abc"),
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
        assert_eq!(strays[0].id, ResourceId::new(KIND, "snap-left"));
        assert_eq!(
            strays[0].tags.get(TAG_STACK).map(String::as_str),
            Some("shop")
        );
    }
}
