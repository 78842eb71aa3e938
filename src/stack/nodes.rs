//! A node group's instances, for the main group (`[node]`, `[scaling]`) and each extra group
//! alike: the boot template checked with the group's variables, the image (baked, or brought),
//! the launch template and the Auto Scaling Group.

use super::naming::{GroupNames, Names};
use super::spec::*;
use super::user_data::{BootContext, BootTemplate};
use super::{Environment, Resource, bake_spec, read_template, template_error};
use crate::profile::error::ProfileErrors;
use crate::profile::load::LoadedProfile;
use crate::profile::schema::{Node, Scaling};
use crate::profile::validate::parse_duration;

/// A resource of a node group: an extra group's component tag ends with the group's name.
pub(super) fn resource(
    group: Option<&str>,
    id: ResourceId,
    component: &str,
    spec: Spec,
) -> Resource {
    Resource {
        id,
        component: match group {
            None => component.to_string(),
            Some(name) => format!("{component}-{name}"),
        },
        spec,
        depends_on: vec![],
    }
}

/// One node group as the profile gives it.
pub(super) struct NodeGroup<'a> {
    pub names: GroupNames,
    /// The profile key of its node table: `node`, or `groups.<name>.node`.
    pub at: String,
    pub node: &'a Node,
    pub scaling: &'a Scaling,
    /// The bake's resolved base image (when the group bakes).
    pub base_image: Option<String>,
    /// Its load balancer, whose health checks the group takes; None: EC2's.
    pub load_balancer: Option<String>,
}

/// Add the group's image (when it bakes), launch template and Auto Scaling Group, its boot
/// template rendered with `context` (checked before anything else).
pub(super) fn add(
    loaded: &LoadedProfile,
    environment: &Environment,
    group: NodeGroup<'_>,
    context: BootContext,
    resources: &mut Vec<Resource>,
    warnings: &mut Vec<String>,
) -> Result<(), ProfileErrors> {
    let NodeGroup {
        names,
        at,
        node,
        scaling,
        base_image,
        load_balancer,
    } = group;
    let stack = Names::new(&loaded.profile.stack);
    let extra = names.group.clone();
    let mut add = |id: ResourceId, component: &str, spec: Spec| {
        resources.push(resource(extra.as_deref(), id, component, spec))
    };
    let boot_key = format!("{at}.boot_template");
    let (path, source) = read_template(loaded, &boot_key, &node.boot_template, "boot template")?;
    let boot = BootTemplate {
        path,
        source,
        context,
    };
    if let Err(error) = boot.check() {
        return Err(template_error(loaded, &boot_key, &boot, error));
    }
    let image = match (&node.image, &node.bake) {
        (Some(image), _) => NodeImage::Fixed(image.clone()),
        (None, Some(bake)) => {
            let base_image = base_image.expect("the base image is resolved before building a bake");
            let spec = bake_spec(
                loaded,
                &format!("{at}.bake.template"),
                (bake, base_image, names.group.as_deref()),
                &boot,
                environment,
                warnings,
            )?;
            let image = names.image(&spec.hash);
            add(
                ResourceId::new(Kind::Image, &image),
                "image",
                Spec::Image(Box::new(spec)),
            );
            NodeImage::Baked(image)
        }
        (None, None) => unreachable!("validation requires an image or a bake"),
    };
    add(
        ResourceId::new(Kind::LaunchTemplate, &names.launch_template),
        "launch-template",
        Spec::LaunchTemplate(Box::new(LaunchTemplateSpec {
            group: names.group.clone(),
            image,
            instance_type: node.instance_type.clone(),
            volume_size: node.volume_size,
            volume_type: node.volume_type.clone(),
            security_group: names.security_group.clone(),
            instance_profile: stack.node_role(),
            boot,
        })),
    );
    add(
        ResourceId::new(Kind::AutoScalingGroup, &names.auto_scaling_group),
        "auto-scaling-group",
        Spec::AutoScalingGroup(GroupSpec {
            min: scaling.min,
            max: scaling.max,
            desired: scaling.effective_desired(),
            health_check_grace_period: scaling.health_check_grace_period,
            subnets: environment.subnet_ids(),
            load_balancer,
            launch_template: names.launch_template.clone(),
            roll_batch: scaling.roll_batch.clone(),
            roll_timeout_seconds: parse_duration(&scaling.roll_timeout)
                .expect("validated duration")
                .as_secs(),
            instance_warmup: scaling.instance_warmup,
            termination_policies: scaling.termination_policies.clone(),
            reset_scale: false,
        }),
    );
    Ok(())
}
