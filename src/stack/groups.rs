//! Extra node groups (`[groups.<name>]`): each its own security group, optional internal load
//! balancer (with its own security group), image, launch template and Auto Scaling Group. The
//! main nodes reach a group on its ports; its balancer's DNS name is their boot template's
//! `groups.<name>.endpoint`.

use std::collections::BTreeMap;

use super::nodes::{NodeGroup, of_group};
use super::{Environment, security_group_resource};
use crate::ids::names::{GroupNames, Names, Tier};
use crate::profile::error::ProfileErrors;
use crate::profile::load::LoadedProfile;
use crate::profile::schema::{Group, Protocol, Scheme};
use crate::profile::values::HealthTarget;
use crate::resources::Resource;
use crate::resources::launch_template::user_data::{
    BootContext, CacheVars, DatabaseVars, GroupVars, HealthCheckVars, ListenerVars,
};
use crate::resources::load_balancer::{self, HealthCheckSpec, ListenerSpec};
use crate::resources::security_group::{self, IngressRule, Source};

/// What the main nodes' boot template sees of the extra groups.
pub fn boot_vars(groups: &BTreeMap<String, Group>) -> BTreeMap<String, GroupVars> {
    groups
        .iter()
        .map(|(name, group)| {
            (
                name.clone(),
                GroupVars {
                    ports: group.ports.iter().map(|&p| i32::from(p)).collect(),
                    load_balancer: group.load_balancer,
                },
            )
        })
        .collect()
}

/// The group's health check target: the profile's, or TCP on its first port.
fn health_target(group: &Group) -> Option<HealthTarget> {
    group
        .health_check
        .clone()
        .or_else(|| group.ports.first().map(|port| HealthTarget::tcp(*port)))
}

/// Add one extra group's resources, with their dependencies.
pub fn add(
    loaded: &LoadedProfile,
    environment: &Environment,
    name: &str,
    group: &Group,
    resources: &mut Vec<Resource>,
    warnings: &mut Vec<String>,
) -> Result<(), ProfileErrors> {
    let profile = &loaded.profile;
    let stack_names = Names::new(&profile.stack);
    let names: GroupNames = stack_names.group(Some(name));
    let at = format!("groups.{name}");
    let mut add = |resource: Resource| resources.push(of_group(Some(name), resource));
    let security_group = |group: &str,
                          component: &str,
                          tier: Tier,
                          description: String,
                          ingress: Vec<IngressRule>| {
        security_group_resource(
            group,
            component,
            security_group::Spec {
                tier,
                vpc_id: environment.vpc_for_specs(&stack_names),
                description: format!("deployer {}: {description}", profile.stack),
                ingress,
            },
        )
    };
    let rule = |port: i32, source: &str, description: &str| IngressRule {
        from_port: port,
        to_port: port,
        source: Source::Group(source.to_string()),
        description: description.to_string(),
    };
    let main_nodes = stack_names.security_group(Tier::Nodes);
    let ports: Vec<i32> = group.ports.iter().map(|&p| i32::from(p)).collect();
    let health = health_target(group).filter(|_| group.load_balancer);

    // Who reaches the instances: the group's balancer, or the main nodes directly.
    let instance_source = if group.load_balancer {
        add(security_group(
            &names.load_balancer_security_group,
            "security-group-lb",
            Tier::Lb,
            format!("group {name}'s load balancer"),
            ports
                .iter()
                .map(|&port| rule(port, &main_nodes, "from the nodes"))
                .collect(),
        ));
        (
            names.load_balancer_security_group.clone(),
            "from the load balancer",
        )
    } else {
        (main_nodes.clone(), "from the nodes")
    };
    let mut instance_ports = ports.clone();
    if let Some(target) = &health {
        instance_ports.push(target.port.into());
    }
    instance_ports.sort();
    instance_ports.dedup();
    add(security_group(
        &names.security_group,
        "security-group-nodes",
        Tier::Nodes,
        format!("group {name}"),
        instance_ports
            .iter()
            .map(|&port| rule(port, &instance_source.0, instance_source.1))
            .collect(),
    ));

    let listeners: Vec<ListenerSpec> = ports
        .iter()
        .map(|&port| ListenerSpec {
            port,
            protocol: Protocol::Tcp,
            instance_port: port,
            instance_protocol: Protocol::Tcp,
            certificate: None,
        })
        .collect();
    if let Some(target) = &health {
        let defaults = crate::profile::schema::HealthCheck::default();
        let main = &profile.load_balancer;
        add(Resource::new::<load_balancer::LoadBalancers>(
            &names.load_balancer,
            "load-balancer",
            &load_balancer::Spec {
                scheme: Scheme::Internal,
                subnets: environment.subnet_ids(),
                security_group: names.load_balancer_security_group.clone(),
                listeners: listeners.clone(),
                health_check: HealthCheckSpec {
                    target: target.to_string(),
                    interval: 10,
                    timeout: 5,
                    healthy_threshold: defaults.healthy_threshold,
                    unhealthy_threshold: defaults.unhealthy_threshold,
                },
                idle_timeout: main.idle_timeout,
                cross_zone: true,
                connection_draining: main
                    .connection_draining
                    .then_some(main.connection_draining_timeout),
                desync_mitigation: main.desync_mitigation,
                stickiness: None,
                tls_policy: main.tls_policy.clone(),
                access_log: None,
            },
        )
        .needs([security_group::id(&names.load_balancer_security_group)]));
    }

    let context = BootContext {
        stack: profile.stack.clone(),
        region: environment.region.clone(),
        ports: instance_ports,
        listeners: listeners.iter().map(ListenerVars::of).collect(),
        // Without a balancer nothing health-checks the group but EC2: an empty target.
        health_check: HealthCheckVars::of(health.as_ref()),
        vars: group.node.vars.clone(),
        database: (profile.database.as_ref())
            .filter(|_| group.data_tier)
            .map(DatabaseVars::of),
        cache: (profile.cache.as_ref())
            .filter(|_| group.data_tier)
            .map(CacheVars::of),
        groups: BTreeMap::new(),
        log_group: profile
            .logs
            .enabled
            .then(|| Names::new(&profile.stack).log_group()),
    };
    let nodes = NodeGroup {
        load_balancer: health.is_some().then(|| names.load_balancer.clone()),
        data_tier: group.data_tier,
        group_load_balancers: BTreeMap::new(),
        names,
        at: format!("{at}.node"),
        node: &group.node,
        scaling: &group.scaling.as_scaling(),
        base_image: environment.group_base_images.get(name).cloned(),
    };
    super::nodes::add(loaded, environment, nodes, context, resources, warnings)
}
