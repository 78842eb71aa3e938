//! The stack's alarms (`[alarms]`): what each watches and when it fires, the topic they notify
//! and the key that encrypts it.
//!
//! Every metric here is one AWS publishes at one-minute periods without extra cost: the Classic
//! Load Balancer's (AWS/ELB, by LoadBalancerName), RDS's (AWS/RDS, by DBInstanceIdentifier),
//! ElastiCache's per node (AWS/ElastiCache, by CacheClusterId: a replication group's member
//! clusters are `<group>-001`, `<group>-002`, ...) and the Auto Scaling group metrics the groups
//! collect (AWS/AutoScaling, by AutoScalingGroupName).

use std::collections::BTreeMap;

use super::Environment;
use crate::ids::ResourceId;
use crate::ids::names::Names;
use crate::profile::schema::{Alarms as Profile, Cache, Database};
use crate::resources::alarm::{Alarms, Spec, Watched};
use crate::resources::alarm_key::{self, AlarmKeys};
use crate::resources::alarm_topic::{self, AlarmTopics};
use crate::resources::{Resource, auto_scaling_group, cache, database, load_balancer, reference};

const MIB: f64 = 1024.0 * 1024.0;
const GIB: f64 = 1024.0 * MIB;

/// What the alarms watch: the stack's parts that have them.
pub struct Watch<'a> {
    pub database: Option<&'a Database>,
    pub cache: Option<&'a Cache>,
    /// Each node group's Auto Scaling group, the main one first.
    pub groups: Vec<String>,
    /// The main group's minimum size.
    pub main_min: i32,
    /// Each extra group's internal load balancer: (group, balancer, the group's minimum size).
    pub group_balancers: Vec<(String, String, i32)>,
}

/// The key, the topic and the alarms; nothing when alarms are off.
pub fn resources(
    profile: &Profile,
    names: &Names,
    environment: &Environment,
    watch: Watch<'_>,
) -> Vec<Resource> {
    if !profile.enabled {
        return vec![];
    }
    let key = names.alarm_key();
    let mut resources = vec![Resource::new::<AlarmKeys>(
        key.clone(),
        "alarm-key",
        &alarm_key::Spec {
            description: format!(
                "deployer {}: encrypts the alarm topic {}",
                names.stack(),
                names.alarm_topic()
            ),
            policy: alarm_key::policy(
                &environment.partition,
                &environment.account,
                &environment.region,
                &names.alarm_prefix(),
            ),
        },
    )];
    let topic = alarm_topic::id(names.alarm_topic());
    resources.push(
        Resource::new::<AlarmTopics>(
            names.alarm_topic(),
            "alarm-topic",
            &alarm_topic::Spec {
                kms_key: key.clone(),
                subscriptions: profile.notify.clone(),
            },
        )
        .needs([alarm_key::id(&key)]),
    );
    let minutes = profile.minutes;
    let alarm = |what: &str,
                 description: String,
                 metric: Watched,
                 comparison: &str,
                 threshold: f64,
                 missing: &str,
                 watched: ResourceId| {
        Resource::new::<Alarms>(
            names.alarm(what),
            "alarm",
            &Spec {
                description,
                metrics: vec![metric],
                expression: None,
                comparison: comparison.into(),
                threshold,
                evaluation_periods: minutes,
                datapoints_to_alarm: minutes,
                treat_missing_data: missing.into(),
                topic: reference(&topic),
            },
        )
        .needs([watched])
    };
    let per_minute =
        |namespace: &str, name: &str, dimension: (&str, &str), statistic: &str| Watched {
            id: String::new(),
            namespace: namespace.into(),
            name: name.into(),
            dimensions: BTreeMap::from([(dimension.0.to_string(), dimension.1.to_string())]),
            statistic: statistic.into(),
            period: 60,
        };

    // The load balancer. Its host alarms start once the group is in service: before, its nodes
    // are still booting, and the alarms would fire on every first deploy.
    let lb = names.load_balancer();
    let lb_id = load_balancer::id(&lb);
    let main_group: Vec<ResourceId> = watch
        .groups
        .first()
        .map(auto_scaling_group::id)
        .into_iter()
        .collect();
    let elb = |name: &str, statistic: &str| {
        per_minute("AWS/ELB", name, ("LoadBalancerName", &lb), statistic)
    };
    resources.push(
        alarm(
            "lb-unhealthy-hosts",
            format!("A node of {lb} has failed its health check for {minutes} minutes."),
            elb("UnHealthyHostCount", "Maximum"),
            "GreaterThanThreshold",
            0.0,
            "notBreaching",
            lb_id.clone(),
        )
        .needs(main_group.clone()),
    );
    let main_min = watch.main_min;
    if main_min > 0 {
        resources.push(alarm(
            "lb-healthy-hosts",
            format!(
                "{lb} has had fewer healthy nodes than the group's minimum ({main_min}) for {minutes} minutes."
            ),
            elb("HealthyHostCount", "Minimum"),
            "LessThanThreshold",
            main_min.into(),
            "breaching",
            lb_id.clone(),
        ).needs(main_group.clone()));
    }
    resources.push(alarm(
        "lb-backend-5xx",
        format!(
            "The nodes behind {lb} have answered more than {} 5XX responses a minute for {minutes} minutes.",
            profile.backend_5xx_per_minute
        ),
        elb("HTTPCode_Backend_5XX", "Sum"),
        "GreaterThanThreshold",
        profile.backend_5xx_per_minute,
        "notBreaching",
        lb_id.clone(),
    ));
    resources.push(alarm(
        "lb-5xx",
        format!(
            "{lb} itself has answered more than {} 5XX responses a minute for {minutes} minutes (no healthy node, or its queue full).",
            profile.load_balancer_5xx_per_minute
        ),
        elb("HTTPCode_ELB_5XX", "Sum"),
        "GreaterThanThreshold",
        profile.load_balancer_5xx_per_minute,
        "notBreaching",
        lb_id.clone(),
    ));
    resources.push(alarm(
        "lb-latency",
        format!(
            "The nodes behind {lb} have taken more than {} s on average to answer for {minutes} minutes.",
            profile.latency_seconds
        ),
        elb("Latency", "Average"),
        "GreaterThanThreshold",
        profile.latency_seconds,
        "notBreaching",
        lb_id,
    ));

    // Each extra group's internal balancer: its nodes' health (TCP listeners: no HTTP codes).
    for (group, balancer, min) in &watch.group_balancers {
        let id = load_balancer::id(balancer);
        let in_service = [auto_scaling_group::id(
            names.group(Some(group)).auto_scaling_group,
        )];
        let elb = |name: &str, statistic: &str| {
            per_minute("AWS/ELB", name, ("LoadBalancerName", balancer), statistic)
        };
        resources.push(
            alarm(
                &format!("{group}-lb-unhealthy-hosts"),
                format!("A node of {balancer} has failed its health check for {minutes} minutes."),
                elb("UnHealthyHostCount", "Maximum"),
                "GreaterThanThreshold",
                0.0,
                "notBreaching",
                id.clone(),
            )
            .needs(in_service.clone()),
        );
        if *min > 0 {
            resources.push(alarm(
                &format!("{group}-lb-healthy-hosts"),
                format!(
                    "{balancer} has had fewer healthy nodes than group {group}'s minimum ({min}) for {minutes} minutes."
                ),
                elb("HealthyHostCount", "Minimum"),
                "LessThanThreshold",
                (*min).into(),
                "breaching",
                id,
            ).needs(in_service));
        }
    }

    // The database.
    if let Some(db) = watch.database {
        let instance = names.database();
        let id = database::id(&instance);
        let rds = |name: &str, statistic: &str| {
            per_minute(
                "AWS/RDS",
                name,
                ("DBInstanceIdentifier", &instance),
                statistic,
            )
        };
        resources.push(alarm(
            "db-cpu",
            format!(
                "Database {instance} has used more than {} % CPU for {minutes} minutes.",
                profile.database_cpu_percent
            ),
            rds("CPUUtilization", "Average"),
            "GreaterThanThreshold",
            profile.database_cpu_percent,
            "missing",
            id.clone(),
        ));
        let free_storage =
            f64::from(db.allocated_storage) * GIB * profile.database_free_storage_percent / 100.0;
        resources.push(alarm(
            "db-free-storage",
            format!(
                "Database {instance} has had less than {} % of its {} GiB free for {minutes} minutes.",
                profile.database_free_storage_percent, db.allocated_storage
            ),
            rds("FreeStorageSpace", "Minimum"),
            "LessThanThreshold",
            free_storage.round(),
            "missing",
            id.clone(),
        ));
        resources.push(alarm(
            "db-free-memory",
            format!(
                "Database {instance} has had less than {} MiB of freeable memory for {minutes} minutes.",
                profile.database_free_memory_mib
            ),
            rds("FreeableMemory", "Average"),
            "LessThanThreshold",
            profile.database_free_memory_mib * MIB,
            "missing",
            id,
        ));
    }

    // Each cache node.
    if let Some(cache) = watch.cache {
        let group = names.cache();
        let id = cache::id(&group);
        for n in 1..=cache.replicas + 1 {
            let member = format!("{group}-{n:03}");
            let node = |name: &str, statistic: &str| {
                per_minute(
                    "AWS/ElastiCache",
                    name,
                    ("CacheClusterId", &member),
                    statistic,
                )
            };
            resources.push(alarm(
                &format!("cache-{n:03}-cpu"),
                format!(
                    "Cache node {member}'s Redis engine has used more than {} % CPU for {minutes} minutes.",
                    profile.cache_cpu_percent
                ),
                node("EngineCPUUtilization", "Average"),
                "GreaterThanThreshold",
                profile.cache_cpu_percent,
                "missing",
                id.clone(),
            ));
            resources.push(alarm(
                &format!("cache-{n:03}-memory"),
                format!(
                    "Cache node {member} has used more than {} % of its memory for {minutes} minutes.",
                    profile.cache_memory_percent
                ),
                node("DatabaseMemoryUsagePercentage", "Average"),
                "GreaterThanThreshold",
                profile.cache_memory_percent,
                "missing",
                id.clone(),
            ));
            resources.push(alarm(
                &format!("cache-{n:03}-evictions"),
                format!(
                    "Cache node {member} has evicted more than {} keys a minute for {minutes} minutes.",
                    profile.cache_evictions_per_minute
                ),
                node("Evictions", "Sum"),
                "GreaterThanThreshold",
                profile.cache_evictions_per_minute,
                "notBreaching",
                id.clone(),
            ));
        }
    }

    // Each node group: fewer instances in service than it wants.
    for group in &watch.groups {
        let in_group = |id: &str, name: &str| Watched {
            id: id.into(),
            ..per_minute(
                "AWS/AutoScaling",
                name,
                ("AutoScalingGroupName", group),
                "Maximum",
            )
        };
        // `nodes-in-service` for the main group (`<stack>-nodes`), `<name>-in-service` for another.
        let what = format!(
            "{}-in-service",
            group
                .strip_prefix(&format!("{}-", names.stack()))
                .unwrap_or(group)
        );
        resources.push(
            Resource::new::<Alarms>(
                names.alarm(&what),
                "alarm",
                &Spec {
                    description: format!(
                        "Group {group} has had fewer instances in service than it wants for {minutes} minutes."
                    ),
                    metrics: vec![
                        in_group("desired", "GroupDesiredCapacity"),
                        Watched {
                            statistic: "Minimum".into(),
                            ..in_group("in_service", "GroupInServiceInstances")
                        },
                    ],
                    expression: Some("desired - in_service".into()),
                    comparison: "GreaterThanThreshold".into(),
                    threshold: 0.0,
                    evaluation_periods: minutes,
                    datapoints_to_alarm: minutes,
                    treat_missing_data: "missing".into(),
                    topic: reference(&topic),
                },
            )
            .needs([auto_scaling_group::id(group)]),
        );
    }
    resources
}

#[cfg(test)]
mod tests {
    use crate::plan::tests::{PROFILE, desired_from};
    use crate::resources::alarm::{self, Alarms};

    const BOOT: &str = "db={{ database.host }} cache={{ cache.host }}\n";

    fn alarms(profile: &str) -> Vec<(String, crate::resources::alarm::Spec)> {
        let boot = if profile.contains("[database]") {
            BOOT
        } else {
            "stateless\n"
        };
        desired_from(profile, boot)
            .resources
            .iter()
            .filter(|r| r.id.kind == alarm::KIND)
            .map(|r| (r.id.name.clone(), r.named_spec::<Alarms>().unwrap()))
            .collect()
    }

    #[test]
    fn each_part_of_the_stack_gets_its_alarms_with_the_profiles_thresholds() {
        let found = alarms(&format!(
            "{PROFILE}[alarms]\nminutes = 3\ndatabase_free_storage_percent = 20\ncache_cpu_percent = 75\n"
        ));
        let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
        for name in [
            "shop/lb-unhealthy-hosts",
            "shop/lb-healthy-hosts",
            "shop/lb-backend-5xx",
            "shop/lb-5xx",
            "shop/lb-latency",
            "shop/db-cpu",
            "shop/db-free-storage",
            "shop/db-free-memory",
            "shop/cache-001-cpu",
            "shop/cache-002-evictions",
            "shop/nodes-in-service",
        ] {
            assert!(names.contains(&name), "{name} in {names:?}");
        }
        let of = |name: &str| &found.iter().find(|(n, _)| n == name).unwrap().1;
        // 20 % of the default 250 GiB, in bytes; every alarm over 3 minutes; the topic by name.
        assert_eq!(
            of("shop/db-free-storage").threshold,
            50.0 * 1024.0 * 1024.0 * 1024.0
        );
        assert_eq!(of("shop/cache-002-cpu").threshold, 75.0);
        assert_eq!(
            of("shop/cache-002-cpu").metrics[0].dimensions["CacheClusterId"],
            "shop-cache-002"
        );
        assert!(found.iter().all(|(_, a)| a.evaluation_periods == 3
            && a.datapoints_to_alarm == 3
            && a.topic == "shop-alarms"));
        // The healthy-host floor is the group's minimum.
        assert_eq!(of("shop/lb-healthy-hosts").threshold, 2.0);
        // The host alarms wait for the group to be in service, not only for the balancer.
        let desired = desired_from(&format!("{PROFILE}[alarms]\nminutes = 3\n"), BOOT);
        let healthy = desired
            .resources
            .iter()
            .find(|r| r.id.name == "shop/lb-healthy-hosts")
            .unwrap();
        assert!(
            healthy
                .depends_on
                .contains(&crate::resources::auto_scaling_group::id("shop-nodes")),
            "{:?}",
            healthy.depends_on
        );
    }

    #[test]
    fn an_extra_groups_internal_balancer_is_watched_for_its_nodes_health() {
        let profile = format!(
            "{PROFILE}[groups.manager]\nports = [9091]\n[groups.manager.node]\nimage = \"ami-0123456789abcdef0\"\nboot_template = \"templates/manager.sh.j2\"\n[groups.manager.scaling]\nmin = 1\nmax = 1\n"
        );
        let desired = crate::plan::tests::desired_with(
            &profile,
            &[
                ("templates/boot.sh.j2", BOOT),
                ("templates/manager.sh.j2", "manager\n"),
            ],
        );
        let found: Vec<(String, crate::resources::alarm::Spec)> = desired
            .resources
            .iter()
            .filter(|r| r.id.kind == alarm::KIND)
            .map(|r| (r.id.name.clone(), r.named_spec::<Alarms>().unwrap()))
            .collect();
        let of = |name: &str| {
            &found
                .iter()
                .find(|(n, _)| n == name)
                .unwrap_or_else(|| panic!("{name} in {found:?}"))
                .1
        };
        assert_eq!(
            of("shop/manager-lb-unhealthy-hosts").metrics[0].dimensions["LoadBalancerName"],
            "shop-manager-lb"
        );
        assert_eq!(of("shop/manager-lb-healthy-hosts").threshold, 1.0);
        assert_eq!(
            of("shop/manager-in-service").metrics[0].dimensions["AutoScalingGroupName"],
            "shop-manager"
        );
    }

    #[test]
    fn no_alarm_watches_what_the_stack_lacks_and_none_exist_when_they_are_off() {
        let without_data = PROFILE
            .replace("[database]\n", "")
            .replace("[cache]\n", "")
            .replace("min = 2", "min = 0");
        let found = alarms(&without_data);
        assert!(!found.is_empty());
        assert!(
            found
                .iter()
                .all(|(n, _)| !n.starts_with("shop/db-") && !n.starts_with("shop/cache-")),
            "{found:?}"
        );
        // A group that may shrink to nothing has no healthy-host floor.
        assert!(!found.iter().any(|(n, _)| n == "shop/lb-healthy-hosts"));
        let off = desired_from(&format!("{PROFILE}[alarms]\nenabled = false\n"), BOOT);
        assert!(off.resources.iter().all(|r| r.id.kind != alarm::KIND
            && r.id.kind != crate::resources::alarm_topic::KIND
            && r.id.kind != crate::resources::alarm_key::KIND));
    }
}
