//! From a validated profile and the facts of the account (region, VPC, subnets) to the list of
//! desired resources with their dependencies. Pure: no AWS calls.

mod alarms;
pub mod catalog;
mod data_tier;
mod groups;
pub mod network;
mod nodes;
mod policy;
pub mod quotas;
mod templates;

use policy::node_policy;
use templates::{bake_spec, read_template, template_error};

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use crate::aws::ec2::Subnet;
use crate::ids::ResourceId;
use crate::ids::names::{NODE_POLICY, Names, Tier};
use crate::profile::error::ProfileErrors;
use crate::profile::load::LoadedProfile;
use crate::resources::image::Retention;
use crate::resources::launch_template::user_data::{
    BootContext, CacheVars, DatabaseVars, HealthCheckVars, ListenerVars,
};
use crate::resources::load_balancer::{HealthCheckSpec, ListenerSpec};
use crate::resources::security_group::{IngressRule, Source};
use crate::resources::{
    REGISTRY, Resource, auto_scaling_group, load_balancer, log_bucket, log_group, node_role,
    scaling_policy, scheduled_action, security_group,
};

/// Facts about the account the stack is deployed into, found before planning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    pub account: String,
    pub partition: String,
    pub region: String,
    pub vpc_id: String,
    /// The nodes' subnets, one per Availability Zone (every tier's, unless the profile gives the
    /// load balancer its own).
    pub subnets: Vec<Subnet>,
    /// The load balancer's own subnets (public ones in front of the nodes' private ones); empty:
    /// the nodes'.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load_balancer_subnets: Vec<Subnet>,
    /// The database's and the cache's own subnets; empty: the nodes'.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_subnets: Vec<Subnet>,
    /// Set when deployer creates the VPC: the zones it spans. `vpc_id` is then the VPC's id if
    /// it exists already (else empty), and the subnets are references to the stack's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owned_zones: Option<Vec<String>>,
    /// The bake's base image, resolved to an AMI id (a lookup picks the newest match).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_image: Option<String>,
    /// Each extra node group's bake base image, by group name, resolved the same way.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub group_base_images: BTreeMap<String, String>,
    /// Instance type -> the Availability Zones that offer it (DescribeInstanceTypeOfferings). A
    /// type not in the map counts as offered everywhere (offline).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub offerings: BTreeMap<String, std::collections::BTreeSet<String>>,
    /// What AWS says of each instance type the profile names (DescribeInstanceTypes: its
    /// architectures and vCPUs), for plan's checks (not kept in a saved plan).
    #[serde(skip)]
    pub instance_types: BTreeMap<String, crate::aws::ec2::TypeFacts>,
    /// What AWS creates for the data tier (read by plan; not kept in a saved plan).
    #[serde(skip)]
    pub catalog: catalog::Catalog,
    /// What reading the account found worth saying (a base image kept, the domain a listener
    /// serves), located; shown with the plan.
    #[serde(skip)]
    pub notes: Vec<String>,
    /// What reading the account found worth a look (a certificate about to expire), located.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

impl Environment {
    /// A stand-in environment, to check a profile and its templates without AWS.
    pub fn offline(region: &str) -> Self {
        Environment {
            account: "000000000000".into(),
            partition: "aws".into(),
            region: region.into(),
            vpc_id: "vpc-00000000".into(),
            subnets: vec![
                Subnet {
                    id: "subnet-0000000a".into(),
                    zone: format!("{region}a"),
                    egress: None,
                },
                Subnet {
                    id: "subnet-0000000b".into(),
                    zone: format!("{region}b"),
                    egress: None,
                },
            ],
            load_balancer_subnets: Vec::new(),
            data_subnets: Vec::new(),
            owned_zones: None,
            base_image: Some("ami-00000000".into()),
            group_base_images: BTreeMap::new(),
            offerings: BTreeMap::new(),
            instance_types: BTreeMap::new(),
            catalog: catalog::Catalog::default(),
            notes: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Whether `zone` offers `instance_type`.
    pub(crate) fn offers(&self, instance_type: &str, zone: &str) -> bool {
        self.offerings
            .get(instance_type)
            .is_none_or(|zones| zones.contains(zone))
    }

    /// The subnets whose zone offers `instance_type`: a group's instances launch only there.
    pub(crate) fn subnet_ids_offering(&self, instance_type: &str) -> Vec<String> {
        self.subnets
            .iter()
            .filter(|s| self.offers(instance_type, &s.zone))
            .map(|s| s.id.clone())
            .collect()
    }

    /// The subnet a bake's builder of `instance_type` launches in, and whether it gets a public
    /// IP: of the subnets whose zone offers the type, one that gets out without a public IP (a
    /// NAT route) first, then one that routes to an internet gateway (with a public IP), then
    /// the first (offline, or no way out: plan refuses that).
    pub(crate) fn builder_subnet(&self, instance_type: &str) -> (String, bool) {
        let all = self.all_subnets();
        let offering: Vec<&Subnet> = all
            .iter()
            .copied()
            .filter(|s| self.offers(instance_type, &s.zone))
            .collect();
        let candidates = if offering.is_empty() { all } else { offering };
        if let Some(private) = candidates
            .iter()
            .find(|s| s.egress.as_ref().is_some_and(|e| e.without_public_ip()))
        {
            return (private.id.clone(), false);
        }
        if let Some(public) = candidates
            .iter()
            .find(|s| matches!(s.egress, Some(crate::aws::ec2::Egress::InternetGateway(_))))
        {
            return (public.id.clone(), true);
        }
        (
            candidates.first().map(|s| s.id.clone()).unwrap_or_default(),
            false,
        )
    }

    /// The VPC as specs name it: a reference to the stack's own, or the existing VPC's id.
    pub(crate) fn vpc_for_specs(&self, names: &Names) -> String {
        match self.owned_zones {
            Some(_) => crate::resources::reference(&crate::resources::vpc::id(names.vpc())),
            None => self.vpc_id.clone(),
        }
    }

    /// The nodes' subnet ids.
    pub(crate) fn subnet_ids(&self) -> Vec<String> {
        ids(&self.subnets)
    }

    /// The load balancer's subnets: its own, else the nodes'.
    pub(crate) fn load_balancer_subnets(&self) -> &[Subnet] {
        if self.load_balancer_subnets.is_empty() {
            &self.subnets
        } else {
            &self.load_balancer_subnets
        }
    }

    /// The data tier's subnets: its own, else the nodes'.
    pub(crate) fn data_subnets(&self) -> &[Subnet] {
        if self.data_subnets.is_empty() {
            &self.subnets
        } else {
            &self.data_subnets
        }
    }

    pub(crate) fn load_balancer_subnet_ids(&self) -> Vec<String> {
        ids(self.load_balancer_subnets())
    }

    pub(crate) fn data_subnet_ids(&self) -> Vec<String> {
        ids(self.data_subnets())
    }

    /// Every subnet of the stack, each once: the nodes', then the load balancer's and the data
    /// tier's own.
    pub(crate) fn all_subnets(&self) -> Vec<&Subnet> {
        let mut all: Vec<&Subnet> = Vec::new();
        for subnet in self
            .subnets
            .iter()
            .chain(&self.load_balancer_subnets)
            .chain(&self.data_subnets)
        {
            if !all.iter().any(|s| s.id == subnet.id) {
                all.push(subnet);
            }
        }
        all
    }
}

fn ids(subnets: &[Subnet]) -> Vec<String> {
    subnets.iter().map(|s| s.id.clone()).collect()
}

/// Everything a stack should consist of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Desired {
    pub stack: String,
    pub environment: Environment,
    /// Every desired resource, each with what it depends on: the graph apply follows.
    pub resources: Vec<Resource>,
    /// The extra node groups the profile declares.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// How many images of each node group to keep.
    pub retention: Retention,
    /// Things worth a look that do not stop the run, located like errors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// What deployer decided for the account's sake (a subnet left out of a group), located.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// What AWS would refuse if the plan sent it (a version AWS no longer creates): checked
    /// against the plan (see `catalog`). Not kept in a saved plan, which was checked when made.
    #[serde(skip)]
    pub refusals: Vec<catalog::Refusal>,
}

/// Images kept when the profile does not say (or bakes nothing).
pub const DEFAULT_KEEP_IMAGES: usize = 3;

impl Desired {
    /// `apply --reset-scale`: the groups return to the profile's capacity.
    pub fn reset_scale(&mut self) {
        for resource in &mut self.resources {
            if let Ok(mut group) = resource.spec::<auto_scaling_group::AutoScalingGroups>() {
                group.reset_scale = true;
                resource.spec = serde_json::to_value(&group).expect("a spec serializes");
            }
        }
    }

    pub fn names(&self) -> Names {
        Names::with_groups(&self.stack, &self.groups)
    }

    pub fn get(&self, id: &ResourceId) -> Option<&Resource> {
        self.resources.iter().find(|r| &r.id == id)
    }
}

/// Check what can be checked without AWS: the boot template renders with every variable defined.
pub fn check(loaded: &LoadedProfile, region: &str) -> Result<Desired, ProfileErrors> {
    let mut environment = Environment::offline(region);
    for name in loaded.profile.groups.keys() {
        environment
            .group_base_images
            .insert(name.clone(), "ami-00000000".into());
    }
    build(loaded, &environment)
}

/// A Classic Load Balancer takes an ACM certificate of its own region only (IAM server
/// certificates are global): refused here, before any AWS call.
fn certificates_in_region(loaded: &LoadedProfile, region: &str) -> Result<(), ProfileErrors> {
    let errors: Vec<_> = loaded
        .profile
        .load_balancer
        .listeners
        .iter()
        .enumerate()
        .filter_map(|(i, listener)| {
            let arn = listener.certificate.as_deref()?;
            let parts: Vec<&str> = arn.split(':').collect();
            let theirs = *parts.get(3)?;
            (parts.get(2) == Some(&"acm") && theirs != region).then(|| {
                loaded
                    .error_at(
                        &format!("load_balancer.listeners[{i}].certificate"),
                        format!(
                            "the certificate is in {theirs} and the stack in {region}: a load balancer can use an ACM certificate of its own region only"
                        ),
                    )
                    .with_code("certificate.other-region")
                    .with_hint(format!(
                        "request or import the certificate in {region} and use its ARN"
                    ))
            })
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ProfileErrors(errors))
    }
}

/// The desired resources of the loaded profile in `environment`, each with its dependencies.
pub fn build(loaded: &LoadedProfile, environment: &Environment) -> Result<Desired, ProfileErrors> {
    let profile = &loaded.profile;
    certificates_in_region(loaded, &environment.region)?;
    let names = Names::new(&profile.stack);
    let lb = &profile.load_balancer;
    let health_port = lb.health_check.target.port;

    let mut resources = Vec::new();
    let security_group = |tier: Tier, description: &str, ingress: Vec<IngressRule>| {
        security_group_resource(
            &names.security_group(tier),
            &format!("security-group-{}", tier.as_str()),
            security_group::Spec {
                tier,
                vpc_id: environment.vpc_for_specs(&names),
                description: format!("deployer {}: {description}", profile.stack),
                ingress,
            },
        )
    };

    // Load balancer tier: each listener port from the CIDRs the profile lets in.
    let mut lb_rules = Vec::new();
    for listener in &lb.listeners {
        for cidr in &listener.allow {
            lb_rules.push(IngressRule {
                from_port: listener.port.into(),
                to_port: listener.port.into(),
                source: Source::Cidr(cidr.clone()),
                description: format!("listener {}", listener.port),
            });
        }
    }
    resources.push(security_group(Tier::Lb, "load balancer", lb_rules));

    // Node tier: the instance ports (and the health check port) only from the load balancer.
    let node_ports: BTreeSet<i32> = lb
        .listeners
        .iter()
        .map(|l| i32::from(l.instance_port))
        .chain([i32::from(health_port)])
        .collect();
    let lb_group = names.security_group(Tier::Lb);
    let node_rules = node_ports
        .iter()
        .map(|&port| IngressRule {
            from_port: port,
            to_port: port,
            source: Source::Group(lb_group.clone()),
            description: "from the load balancer".into(),
        })
        .collect();
    resources.push(security_group(Tier::Nodes, "nodes", node_rules));
    // A live stack cannot move to another VPC (a change of `network.vpc` or of mode): its groups,
    // balancer, subnets groups and instances all belong to the one they were made in. Said once,
    // of the nodes' group, which every stack has.
    let vpc_refusal = catalog::Refusal {
        resource: security_group::id(names.security_group(Tier::Nodes)),
        attributes: vec![security_group::VPC_ID],
        error: loaded
            .error_at(
                "network.vpc",
                "the stack lives in another VPC than the profile names now: its security groups, load balancer, subnet groups and instances cannot move to another VPC",
            )
            .with_code("network.vpc-changed")
            .with_hint("keep the stack's VPC, or `deployer destroy` it with the profile it was applied with, then apply this one"),
        live_only: true,
    };

    let nodes_group = names.security_group(Tier::Nodes);
    // The data tier admits the main nodes and every group that says it uses the data tier.
    let data_clients: Vec<(String, String)> =
        std::iter::once((nodes_group.clone(), "from the nodes".to_string()))
            .chain(
                profile
                    .groups
                    .iter()
                    .filter(|(_, g)| g.data_tier)
                    .map(|(name, _)| {
                        (
                            names.group(Some(name)).security_group,
                            format!("from group {name}"),
                        )
                    }),
            )
            .collect();
    let from_nodes = |port: i32| {
        data_clients
            .iter()
            .map(|(group, description)| IngressRule {
                from_port: port,
                to_port: port,
                source: Source::Group(group.clone()),
                description: description.clone(),
            })
            .collect::<Vec<_>>()
    };

    let mut notes = environment.notes.clone();
    let mut refusals = vec![vpc_refusal];
    if let Some(db) = &profile.database {
        resources.push(security_group(
            Tier::Db,
            "database",
            from_nodes(db.port.into()),
        ));
        let version = catalog::database(
            loaded,
            &environment.catalog,
            &environment.region,
            &crate::resources::database::id(names.database()),
            &mut notes,
            &mut refusals,
        );
        resources.extend(data_tier::database(
            db,
            version,
            &names,
            environment,
            &profile.stack,
        ));
    }

    if let Some(cache) = &profile.cache {
        resources.push(security_group(
            Tier::Cache,
            "cache",
            from_nodes(cache.port.into()),
        ));
        let version = catalog::cache(
            loaded,
            &environment.catalog,
            &environment.region,
            &crate::resources::cache::id(names.cache()),
            &mut notes,
            &mut refusals,
        );
        resources.extend(data_tier::cache(
            cache,
            version,
            &names,
            environment,
            &profile.stack,
        ));
    }

    let listeners: Vec<ListenerSpec> = lb
        .listeners
        .iter()
        .map(|l| ListenerSpec {
            port: l.port.into(),
            protocol: l.protocol,
            instance_port: l.instance_port.into(),
            instance_protocol: l.effective_instance_protocol(),
            certificate: l.certificate.clone(),
        })
        .collect();
    // Access logs: a bucket of the stack's own, which the balancer needs before it can write.
    let access_log = lb.access_logs.enabled.then(|| {
        let bucket = names.log_bucket(&environment.account, &environment.region);
        let prefix = names.load_balancer();
        resources.push(Resource::new::<log_bucket::LogBuckets>(
            bucket.clone(),
            "log-bucket",
            &log_bucket::Spec {
                retention_days: lb.access_logs.retention_days,
                policy: log_bucket::policy(
                    &environment.partition,
                    &environment.account,
                    &environment.region,
                    &bucket,
                    &prefix,
                ),
            },
        ));
        load_balancer::AccessLogSpec {
            bucket,
            prefix,
            interval: lb.access_logs.interval,
        }
    });
    resources.push(
        Resource::new::<load_balancer::LoadBalancers>(
            names.load_balancer(),
            "load-balancer",
            &load_balancer::Spec {
                scheme: lb.scheme,
                subnets: environment.load_balancer_subnet_ids(),
                security_group: lb_group.clone(),
                listeners: listeners.clone(),
                health_check: HealthCheckSpec {
                    target: lb.health_check.target.to_string(),
                    interval: lb.health_check.interval,
                    timeout: lb.health_check.timeout,
                    healthy_threshold: lb.health_check.healthy_threshold,
                    unhealthy_threshold: lb.health_check.unhealthy_threshold,
                },
                idle_timeout: lb.idle_timeout,
                cross_zone: lb.cross_zone,
                connection_draining: lb
                    .connection_draining
                    .then_some(lb.connection_draining_timeout),
                desync_mitigation: lb.desync_mitigation,
                stickiness: lb
                    .stickiness
                    .enabled
                    .then_some(lb.stickiness.cookie_expiration),
                tls_policy: lb.tls_policy.clone(),
                access_log: access_log.clone(),
            },
        )
        .needs([security_group::id(&lb_group)])
        .needs(access_log.map(|log| log_bucket::id(log.bucket))),
    );

    if profile.logs.enabled {
        resources.push(Resource::new::<log_group::LogGroups>(
            names.log_group(),
            "log-group",
            &log_group::Spec {
                retention_days: profile.logs.retention_days,
            },
        ));
    }
    resources.push(Resource::new::<node_role::NodeRoles>(
        names.node_role(&environment.region),
        "node-role",
        &node_role::Spec {
            path: names.iam_path(),
            policy_name: NODE_POLICY.into(),
            policy: node_policy(profile, &names, environment),
        },
    ));

    let mut warnings = environment.warnings.clone();
    // Only where the selected file says it: a profile that extends one with HTTPS listeners and
    // swaps them for HTTP ones (as local extends prod) inherits the policy harmlessly.
    if loaded.sources.wrote_here("load_balancer.tls_policy")
        && !lb.listeners.iter().any(|l| l.protocol.is_secure())
    {
        warnings.push(
            loaded
                .error_at(
                    "load_balancer.tls_policy",
                    "has no effect: no listener is HTTPS or SSL",
                )
                .to_string(),
        );
    }
    let main_group = auto_scaling_group::id(names.auto_scaling_group());
    for policy in &profile.scaling.target_tracking {
        resources.push(
            Resource::new::<scaling_policy::ScalingPolicies>(
                policy.name.clone(),
                "scaling-policy",
                &scaling_policy::Spec {
                    group: names.auto_scaling_group(),
                    metric: policy.metric.predefined().to_string(),
                    target: policy.target,
                    disable_scale_in: policy.disable_scale_in,
                },
            )
            .needs([main_group.clone()]),
        );
    }
    for action in &profile.scaling.scheduled {
        resources.push(
            Resource::new::<scheduled_action::ScheduledActions>(
                action.name.clone(),
                "scheduled-action",
                &scheduled_action::Spec {
                    group: names.auto_scaling_group(),
                    recurrence: action.recurrence.clone(),
                    min: action.min,
                    max: action.max,
                    desired: action.desired,
                    time_zone: action.time_zone.clone(),
                },
            )
            .needs([main_group.clone()]),
        );
    }
    let context = BootContext {
        stack: profile.stack.clone(),
        region: environment.region.clone(),
        ports: node_ports.iter().copied().collect(),
        listeners: listeners.iter().map(ListenerVars::of).collect(),
        health_check: HealthCheckVars::of(Some(&lb.health_check.target)),
        vars: profile.node.vars.clone(),
        database: profile.database.as_ref().map(DatabaseVars::of),
        cache: profile.cache.as_ref().map(CacheVars::of),
        groups: groups::boot_vars(&profile.groups),
        log_group: profile.logs.enabled.then(|| names.log_group()),
    };
    let main = nodes::NodeGroup {
        names: names.group(None),
        at: "node".into(),
        node: &profile.node,
        scaling: &profile.scaling,
        base_image: environment.base_image.clone(),
        load_balancer: Some(names.load_balancer()),
        data_tier: true,
        // The main boot template points at the groups' load balancers.
        group_load_balancers: profile
            .groups
            .iter()
            .filter(|(_, g)| g.load_balancer)
            .map(|(name, _)| (name.clone(), names.group(Some(name)).load_balancer))
            .collect(),
    };
    offered_where_needed(loaded, environment, &mut notes)?;
    nodes::add(
        loaded,
        environment,
        main,
        context,
        &mut resources,
        &mut warnings,
    )?;
    for (name, group) in &profile.groups {
        groups::add(
            loaded,
            environment,
            name,
            group,
            &mut resources,
            &mut warnings,
        )?;
    }
    resources.extend(alarms::resources(
        &profile.alarms,
        &names,
        environment,
        alarms::Watch {
            database: profile.database.as_ref(),
            cache: profile.cache.as_ref(),
            groups: std::iter::once(None)
                .chain(profile.groups.keys().map(|g| Some(g.as_str())))
                .map(|g| names.group(g).auto_scaling_group)
                .collect(),
            main_min: profile.scaling.min,
            group_balancers: profile
                .groups
                .iter()
                .filter(|(_, g)| g.load_balancer)
                .map(|(name, g)| {
                    (
                        name.clone(),
                        names.group(Some(name)).load_balancer,
                        g.scaling.as_scaling().min,
                    )
                })
                .collect(),
        },
    ));
    // A VPC deployer creates: its pieces, and the nodes (and a bake's builder) wait for their
    // routes out.
    if let Some(zones) = &environment.owned_zones {
        let (network, ready) = network::resources(&names, &profile.network, zones);
        // A new range is a new VPC, which the stack in the old one cannot move to.
        refusals.push(catalog::Refusal {
            resource: crate::resources::vpc::id(names.vpc()),
            attributes: vec![crate::resources::vpc::CIDR],
            error: loaded
                .error_at(
                    if profile.network.cidr.is_some() {
                        "network.cidr"
                    } else {
                        "network.vpc"
                    },
                    format!(
                        "the VPC's range cannot change to {} while the stack lives in it: a new range is a new VPC, and the load balancer, nodes, database and cache cannot move into one",
                        profile.network.cidr()
                    ),
                )
                .with_code("network.cidr-changed")
                .with_hint("keep the VPC's range, or `deployer destroy` the stack and apply it anew"),
            live_only: true,
        });
        for resource in &mut resources {
            if resource.id.kind == auto_scaling_group::KIND
                || resource.id.kind == crate::resources::image::KIND
            {
                *resource = resource.clone().needs(ready.iter().cloned());
            }
        }
        resources.extend(network);
    }
    // Only what the stack has is waited for (no database: nothing waits for one).
    let present: BTreeSet<ResourceId> = resources.iter().map(|r| r.id.clone()).collect();
    for resource in &mut resources {
        resource.depends_on.retain(|id| present.contains(id));
    }
    // In the order plans list them: by kind as the registry lists kinds, tiers in reference
    // order (lb, nodes, db, cache). Apply follows the graph, not this order.
    resources.sort_by_key(|r| {
        let kind = REGISTRY.iter().position(|h| h.kind() == r.id.kind);
        let tier = r
            .spec::<security_group::SecurityGroups>()
            .ok()
            .and_then(|sg| Tier::ALL.iter().position(|t| *t == sg.tier));
        (kind, tier)
    });
    let mut retention = Retention {
        default: profile
            .node
            .bake
            .as_ref()
            .map(|b| b.keep_images as usize)
            .unwrap_or(DEFAULT_KEEP_IMAGES),
        by_prefix: BTreeMap::new(),
    };
    for (name, group) in &profile.groups {
        let keep = group.node.bake.as_ref().map(|b| b.keep_images as usize);
        retention.by_prefix.insert(
            names.group(Some(name)).image_prefix,
            keep.unwrap_or(DEFAULT_KEEP_IMAGES),
        );
    }
    Ok(Desired {
        stack: profile.stack.clone(),
        environment: environment.clone(),
        resources,
        groups: profile.groups.keys().cloned().collect(),
        retention,
        warnings,
        notes,
        refusals,
    })
}

/// Each node group's instance type, and its bake's, must be offered where it launches: a group
/// leaves out the subnets whose zone lacks its type (noted), and needs two zones left; a builder
/// needs one. AWS would otherwise fail the group's launches minutes into the apply
/// (terraform-provider-aws#27752: "not supported in your requested Availability Zone").
fn offered_where_needed(
    loaded: &LoadedProfile,
    environment: &Environment,
    notes: &mut Vec<String>,
) -> Result<(), ProfileErrors> {
    let zones = |instance_type: &str| -> (Vec<&Subnet>, Vec<&Subnet>) {
        environment
            .subnets
            .iter()
            .partition(|s| environment.offers(instance_type, &s.zone))
    };
    let listed = |subnets: &[&Subnet]| {
        subnets
            .iter()
            .map(|s| s.zone.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut errors = Vec::new();
    for (_, at, node) in loaded.profile.node_tables() {
        let key = format!("{at}.instance_type");
        let (kept, left) = zones(&node.instance_type);
        if kept.len() < 2 {
            errors.push(
                loaded
                    .error_at(
                        &key,
                        format!(
                            "{} is offered in {} of the stack's Availability Zones ({}); a group needs two",
                            node.instance_type,
                            kept.len(),
                            listed(&environment.subnets.iter().collect::<Vec<_>>())
                        ),
                    )
                    .with_code("instance-type.too-few-zones")
                    .with_hint("choose an instance type offered in two of them, or subnets in zones that offer it"),
            );
        } else if !left.is_empty() {
            notes.push(
                loaded
                    .error_at(
                        &key,
                        format!(
                            "{} is not offered in {}: the group's instances launch in {} only",
                            node.instance_type,
                            listed(&left),
                            listed(&kept)
                        ),
                    )
                    .to_string(),
            );
        }
        if let Some(bake) = &node.bake
            && zones(&bake.instance_type).0.is_empty()
        {
            errors.push(
                loaded
                    .error_at(
                        &format!("{at}.bake.instance_type"),
                        format!(
                            "{} is offered in none of the stack's Availability Zones ({})",
                            bake.instance_type,
                            listed(&environment.subnets.iter().collect::<Vec<_>>())
                        ),
                    )
                    .with_code("instance-type.not-offered")
                    .with_hint("choose a builder instance type offered in the region's zones"),
            );
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ProfileErrors(errors))
    }
}

/// A security group; it needs the groups its rules name to exist first.
fn security_group_resource(name: &str, component: &str, spec: security_group::Spec) -> Resource {
    let named: Vec<ResourceId> = spec
        .named_groups()
        .into_iter()
        .map(security_group::id)
        .collect();
    Resource::new::<security_group::SecurityGroups>(name, component, &spec).needs(named)
}
