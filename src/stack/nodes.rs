//! A node group's instances, for the main group (`[node]`, `[scaling]`) and each extra group
//! alike: the boot template checked with the group's variables, the image (baked, or brought),
//! the launch template and the Auto Scaling Group.

use std::collections::BTreeMap;

use super::{Environment, bake_spec, read_template, template_error};
use crate::ids::names::{GroupNames, Names};
use crate::profile::error::ProfileErrors;
use crate::profile::load::LoadedProfile;
use crate::profile::schema::{Node, Scaling};
use crate::resources::launch_template::user_data::{BootContext, BootTemplate};
use crate::resources::launch_template::{self, EndpointSources, NodeImage};
use crate::resources::{
    Resource, auto_scaling_group, cache, database, image, load_balancer, node_role, security_group,
};

/// A resource of a node group: an extra group's component tag ends with the group's name, and
/// it carries the group's name (the `deployer:group` tag).
pub(super) fn of_group(group: Option<&str>, mut resource: Resource) -> Resource {
    if let Some(name) = group {
        resource.component = format!("{}-{name}", resource.component);
        resource.group = Some(name.to_string());
    }
    resource
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
    /// Whether its nodes use the database and the cache (and so wait for them).
    pub data_tier: bool,
    /// The extra groups' load balancers its boot template points at, by group name.
    pub group_load_balancers: BTreeMap<String, String>,
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
        data_tier,
        group_load_balancers,
    } = group;
    let stack = Names::new(&loaded.profile.stack);
    let extra = names.group.clone();
    let mut add = |resource: Resource| resources.push(of_group(extra.as_deref(), resource));
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
    let mut needs = vec![
        security_group::id(&names.security_group),
        node_role::id(stack.node_role(&environment.region)),
    ];
    let image = match (&node.image, &node.bake) {
        (Some(image), _) => NodeImage::Fixed(image.clone()),
        (None, Some(bake)) => {
            let Some(base_image) = base_image else {
                return Err(loaded
                    .error_at(
                        &format!("{at}.bake.base_image"),
                        "the base image was not resolved to an AMI id",
                    )
                    .into());
            };
            let spec = bake_spec(
                loaded,
                &format!("{at}.bake.template"),
                (bake, base_image, names.group.as_deref()),
                &boot,
                environment,
                warnings,
            )?;
            let image = names.image(&spec.hash);
            add(Resource::new::<image::Images>(&image, "image", &spec));
            // The launch template waits for the bake (its name is the content hash).
            needs.push(image::id(&image));
            NodeImage::Baked(image)
        }
        (None, None) => {
            return Err(loaded
                .error_at(&at, "no image: neither `image` nor a bake is given")
                .into());
        }
    };
    let mut endpoints = EndpointSources {
        groups: group_load_balancers,
        ..EndpointSources::default()
    };
    if data_tier {
        // A group that does not use the data tier does not wait for it.
        if boot.context.database.is_some() {
            endpoints.database = Some(stack.database());
            needs.push(database::id(stack.database()));
        }
        if let Some(cache_vars) = &boot.context.cache {
            endpoints.cache = Some(stack.cache());
            needs.push(cache::id(stack.cache()));
            if cache_vars.tls {
                endpoints.cache_auth_secret = Some(stack.cache_auth_secret());
            }
        }
    }
    needs.extend(
        endpoints
            .groups
            .values()
            .map(|lb| load_balancer::id(lb.as_str())),
    );
    add(Resource::new::<launch_template::LaunchTemplates>(
        &names.launch_template,
        "launch-template",
        &launch_template::Spec {
            image,
            instance_type: node.instance_type.clone(),
            volume_size: node.volume_size,
            volume_type: node.volume_type.clone(),
            security_group: names.security_group.clone(),
            instance_profile: stack.node_role(&environment.region),
            boot,
            endpoints,
        },
    )
    .needs(needs));
    let mut group_needs = vec![launch_template::id(&names.launch_template)];
    group_needs.extend(load_balancer.iter().map(load_balancer::id));
    add(Resource::new::<auto_scaling_group::AutoScalingGroups>(
        &names.auto_scaling_group,
        "auto-scaling-group",
        &auto_scaling_group::Spec {
            min: scaling.min,
            max: scaling.max,
            desired: scaling.effective_desired(),
            health_check_grace_period: scaling.health_check_grace_period,
            subnets: environment.subnet_ids_offering(&node.instance_type),
            load_balancer,
            launch_template: names.launch_template.clone(),
            roll_batch: scaling.roll_batch.clone(),
            roll_timeout_seconds: scaling.roll_timeout.as_secs(),
            instance_warmup: scaling.instance_warmup,
            termination_policies: scaling.termination_policies.clone(),
            reset_scale: false,
            // What the group's alarm watches.
            metrics: if loaded.profile.alarms.enabled {
                vec![
                    "GroupDesiredCapacity".to_string(),
                    "GroupInServiceInstances".to_string(),
                ]
            } else {
                vec![]
            },
        },
    )
    .needs(group_needs));
    Ok(())
}
