use super::*;
use crate::plan::tests::{PROFILE, matching, set};
use crate::profile::load::load;
use crate::resources::observed::Observed;
use crate::stack::{Environment, build};

/// The plan tests' stack (a database, a cache with one replica, one group of 2 to 6 m5.large),
/// loaded from a file so that errors have places, and built against an account where m5.large
/// has 2 vCPUs.
fn loaded_and_desired(profile: &str) -> (LoadedProfile, Desired, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("profiles")).unwrap();
    std::fs::create_dir_all(dir.path().join("templates")).unwrap();
    std::fs::write(dir.path().join("templates/boot.sh.j2"), "boot\n").unwrap();
    std::fs::write(
        dir.path().join("templates/bake.sh.j2"),
        "echo deployer-bake: done\npoweroff\n",
    )
    .unwrap();
    let path = dir.path().join("profiles/shop.toml");
    std::fs::write(&path, profile).unwrap();
    let loaded = load(path.to_str().unwrap()).unwrap();
    let mut environment = Environment::offline("us-east-1");
    environment.base_image = Some("ami-0123456789abcdef1".into());
    let desired = build(&loaded, &environment).unwrap();
    (loaded, desired, dir)
}

fn vcpus() -> BTreeMap<String, u32> {
    BTreeMap::from([
        ("m5.large".to_string(), 2),
        ("m5.4xlarge".to_string(), 16),
        // Not of the standard families: its vCPUs count against another quota.
        ("g5.xlarge".to_string(), 4),
    ])
}

/// Every quota plentiful and unused.
fn plenty() -> BTreeMap<Quota, Reading> {
    Quota::ALL
        .iter()
        .map(|q| {
            (
                *q,
                Reading {
                    limit: Limit::Known(1000.0),
                    used: 0,
                    stack_used: 0,
                },
            )
        })
        .collect()
}

fn plan_of(desired: &Desired, observed: &Observed) -> Plan {
    crate::commands::make_plan(desired, observed).unwrap()
}

#[test]
fn a_new_stack_asks_each_quota_for_what_its_resources_take() {
    let (_, desired, _dir) = loaded_and_desired(PROFILE);
    let plan = plan_of(&desired, &Observed::default());
    let asked: BTreeMap<Quota, (u64, String)> = demands(&desired, &plan, &vcpus())
        .into_iter()
        .map(|d| (d.quota, (d.amount, d.key)))
        .collect();
    assert_eq!(
        asked,
        BTreeMap::from([
            (Quota::ClassicLoadBalancers, (1, "load_balancer".into())),
            (Quota::AutoScalingGroups, (1, "scaling".into())),
            (Quota::LaunchTemplates, (1, "node".into())),
            (Quota::DbInstances, (1, "database".into())),
            // The primary and its replica.
            (Quota::CacheNodes, (2, "cache".into())),
            // 6 × m5.large at the group's maximum.
            (Quota::StandardVcpus, (12, "scaling.max".into())),
        ])
    );
}

#[test]
fn a_plan_that_leaves_capacity_alone_asks_nothing() {
    let (_, desired, _dir) = loaded_and_desired(PROFILE);
    let observed = matching(&desired);
    assert!(demands(&desired, &plan_of(&desired, &observed), &vcpus()).is_empty());
    // A change that runs no more instances (the health check's grace) asks nothing either.
    let mut changed = observed.clone();
    set(
        &mut changed,
        auto_scaling_group::KIND,
        "health_check_grace_period",
        serde_json::json!(1),
    );
    let plan = plan_of(&desired, &changed);
    assert!(plan.has_changes());
    assert!(demands(&desired, &plan, &vcpus()).is_empty());
    // A raised maximum asks for the vCPUs of the whole stack.
    let mut lower = observed.clone();
    set(
        &mut lower,
        auto_scaling_group::KIND,
        auto_scaling_group::MAX_SIZE,
        serde_json::json!(3),
    );
    let asked = demands(&desired, &plan_of(&desired, &lower), &vcpus());
    assert_eq!(
        asked
            .iter()
            .map(|d| (d.quota, d.amount))
            .collect::<Vec<_>>(),
        [(Quota::StandardVcpus, 12)]
    );
}

#[test]
fn each_quota_refuses_a_plan_that_goes_over_it_at_its_key_and_names_the_increase() {
    let (loaded, desired, _dir) = loaded_and_desired(PROFILE);
    let asked = demands(&desired, &plan_of(&desired, &Observed::default()), &vcpus());
    for (quota, limit, used, key, says) in [
        (
            Quota::ClassicLoadBalancers,
            20.0,
            20,
            "load_balancer",
            "this plan adds 1 (load balancer shop-lb) to the 20 Classic load balancers in use: 21 is over the account's quota of 20 in us-east-1 (Classic Load Balancers per Region)",
        ),
        (
            Quota::AutoScalingGroups,
            500.0,
            500,
            "scaling",
            "--service-code autoscaling --quota-code L-CDE20ADC --desired-value 501",
        ),
        (
            Quota::LaunchTemplates,
            5000.0,
            5000,
            "node",
            "5001 is over the account's quota of 5000",
        ),
        (
            Quota::DbInstances,
            40.0,
            40,
            "database",
            "41 is over the account's quota of 40 in us-east-1 (DB instances)",
        ),
        (
            Quota::CacheNodes,
            300.0,
            299,
            "cache",
            "this plan adds 2 (cache shop-cache (2)) to the 299 cache nodes in use",
        ),
        (
            Quota::StandardVcpus,
            16.0,
            5,
            "scaling.max",
            "at their maximum the stack's instances use 12 On-Demand standard vCPUs (6 × m5.large (2 vCPUs) at scaling.max), and the rest of the account uses 5: 17 is over the account's quota of 16",
        ),
    ] {
        let mut readings = plenty();
        readings.insert(
            quota,
            Reading {
                limit: Limit::Known(limit),
                used,
                stack_used: 0,
            },
        );
        let (errors, warnings) = judge(&loaded, "us-east-1", &asked, &readings);
        assert!(warnings.is_empty(), "{quota:?}: {warnings:?}");
        let [error] = &errors[..] else {
            panic!("{quota:?}: {errors:?}");
        };
        assert_eq!(error.code, Some("quota.exceeded"), "{quota:?}");
        assert_eq!(error.key.as_deref(), Some(key), "{quota:?}");
        let text = format!(
            "{} {}",
            error.message,
            error.hint.clone().unwrap_or_default()
        );
        assert!(text.contains(says), "{quota:?}: {text}");
        // Exactly at the quota is allowed, with a warning.
        readings.get_mut(&quota).unwrap().used -= 1;
        let (errors, warnings) = judge(&loaded, "us-east-1", &asked, &readings);
        assert!(errors.is_empty(), "{quota:?}: {errors:?}");
        assert!(
            warnings.len() == 1 && warnings[0].contains("[quota.near]"),
            "{quota:?}: {warnings:?}"
        );
    }
    // All the quotas plentiful: nothing to say.
    let (errors, warnings) = judge(&loaded, "us-east-1", &asked, &plenty());
    assert!(errors.is_empty() && warnings.is_empty());
}

#[test]
fn the_stacks_own_instances_are_not_counted_twice() {
    let (loaded, desired, _dir) = loaded_and_desired(PROFILE);
    let observed = matching(&desired);
    let mut lower = observed.clone();
    set(
        &mut lower,
        auto_scaling_group::KIND,
        auto_scaling_group::MAX_SIZE,
        serde_json::json!(3),
    );
    let asked = demands(&desired, &plan_of(&desired, &lower), &vcpus());
    let mut readings = plenty();
    // 6 vCPUs run, all of them the stack's: at its new maximum it uses 12 of 13.
    readings.insert(
        Quota::StandardVcpus,
        Reading {
            limit: Limit::Known(13.0),
            used: 6,
            stack_used: 6,
        },
    );
    let (errors, warnings) = judge(&loaded, "us-east-1", &asked, &readings);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(warnings.len(), 1, "12 of 13 is near: {warnings:?}");
    // Another stack's 6 would take it over.
    readings.get_mut(&Quota::StandardVcpus).unwrap().stack_used = 0;
    let (errors, _) = judge(&loaded, "us-east-1", &asked, &readings);
    assert_eq!(errors.len(), 1);
}

#[test]
fn a_quota_that_cannot_be_read_is_taken_at_the_default_and_only_warns() {
    let (loaded, desired, _dir) = loaded_and_desired(PROFILE);
    let asked = demands(&desired, &plan_of(&desired, &Observed::default()), &vcpus());
    let mut readings = plenty();
    readings.insert(
        Quota::StandardVcpus,
        Reading {
            limit: Limit::Assumed("AccessDeniedException: not allowed".into()),
            used: 0,
            stack_used: 0,
        },
    );
    let (errors, warnings) = judge(&loaded, "us-east-1", &asked, &readings);
    assert!(errors.is_empty(), "{errors:?}");
    let [warning] = &warnings[..] else {
        panic!("{warnings:?}");
    };
    // 12 vCPUs against AWS's default of 5.
    assert!(warning.contains("[quota.unread]"), "{warning}");
    assert!(warning.contains("AWS's default quota of 5"), "{warning}");
    assert!(warning.contains("AccessDeniedException"), "{warning}");
}

#[test]
fn a_bake_counts_its_builder_and_a_group_of_other_families_counts_nothing() {
    let profile = PROFILE
        .replace(
            "image = \"ami-0123456789abcdef0\"\n",
            "instance_type = \"m5.4xlarge\"\n[node.bake]\nbase_image = \"ami-0123456789abcdef1\"\ninstance_type = \"m5.large\"\n",
        );
    let vcpu = vcpu_demand_of(&profile);
    // 6 × 16, and the builder's 2.
    assert_eq!(vcpu.amount, 98, "{:?}", vcpu.parts);
    assert!(
        vcpu.parts.iter().any(|p| p.contains("builder m5.large")),
        "{:?}",
        vcpu.parts
    );
    let gpu = PROFILE.replace(
        "image = \"ami-0123456789abcdef0\"\n",
        "image = \"ami-0123456789abcdef0\"\ninstance_type = \"g5.xlarge\"\n",
    );
    assert_eq!(vcpu_demand_of(&gpu).amount, 0);
}

/// The vCPUs a new stack of `profile` asks for.
fn vcpu_demand_of(profile: &str) -> Demand {
    let (_, desired, _dir) = loaded_and_desired(profile);
    let plan = plan_of(&desired, &Observed::default());
    demands(&desired, &plan, &vcpus())
        .into_iter()
        .find(|d| d.quota == Quota::StandardVcpus)
        .unwrap()
}

#[test]
fn a_warning_comes_from_90_percent_of_a_quota_on() {
    let (loaded, desired, _dir) = loaded_and_desired(PROFILE);
    let asked = demands(&desired, &plan_of(&desired, &Observed::default()), &vcpus());
    // The plan adds one load balancer to those in use, of 20.
    for (used, warns) in [(16, false), (17, true), (18, true)] {
        let mut readings = plenty();
        readings.insert(
            Quota::ClassicLoadBalancers,
            Reading {
                limit: Limit::Known(20.0),
                used,
                stack_used: 0,
            },
        );
        let (errors, warnings) = judge(&loaded, "us-east-1", &asked, &readings);
        assert!(errors.is_empty(), "{used}: {errors:?}");
        assert_eq!(
            warnings.iter().any(|w| w.contains("[quota.near]")),
            warns,
            "{} of 20: {warnings:?}",
            used + 1
        );
    }
}

#[test]
fn a_changed_instance_type_asks_for_the_vcpus_of_the_new_one() {
    let (_, desired, _dir) = loaded_and_desired(PROFILE);
    let mut observed = matching(&desired);
    set(
        &mut observed,
        launch_template::KIND,
        launch_template::INSTANCE_TYPE,
        serde_json::json!("t3.micro"),
    );
    let plan = plan_of(&desired, &observed);
    let asked = demands(&desired, &plan, &vcpus());
    assert_eq!(
        asked
            .iter()
            .map(|d| (d.quota, d.amount))
            .collect::<Vec<_>>(),
        [(Quota::StandardVcpus, 12)],
        "{plan:#?}"
    );
}

#[test]
fn a_scaled_maximum_is_judged_beside_the_rest_of_the_account() {
    let reading = |limit: f64| Reading {
        limit: Limit::Known(limit),
        // 4 of them the group's own (2 × t3.micro).
        used: 10,
        stack_used: 4,
    };
    // 8 × 2 = 16 beside the 6 others: 22.
    let over = judge_scale("us-east-1", &reading(20.0), ("t3.micro", 2), 8, 4).unwrap_err();
    assert!(
        over.0.contains("8 × t3.micro (2 vCPUs): 16 On-Demand standard vCPUs, and the rest of the account uses 6: 22 is over the account's quota of 20 in us-east-1")
            && over.0.ends_with("[quota.exceeded]"),
        "{over:?}"
    );
    assert!(over.1.contains("--desired-value 22"), "{}", over.1);
    // 22 of 24 is over 90 %: a warning, not a refusal.
    let near = judge_scale("us-east-1", &reading(24.0), ("t3.micro", 2), 8, 4).unwrap();
    assert!(near.is_some_and(|w| w.contains("[quota.near]")));
    assert_eq!(
        judge_scale("us-east-1", &reading(100.0), ("t3.micro", 2), 8, 4),
        Ok(None)
    );
    // Unread: AWS's default (5) stands in, and going over it only warns.
    let unread = Reading {
        limit: Limit::Assumed("AccessDenied".into()),
        ..reading(0.0)
    };
    let warned = judge_scale("us-east-1", &unread, ("t3.micro", 2), 8, 4).unwrap();
    assert!(warned.is_some_and(|w| w.contains("[quota.unread]") && w.contains("AccessDenied")));
}

#[test]
fn a_created_vpc_asks_for_a_vpc_an_internet_gateway_and_an_address_per_nat_gateway() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("profiles")).unwrap();
    std::fs::create_dir_all(dir.path().join("templates")).unwrap();
    std::fs::write(dir.path().join("templates/boot.sh.j2"), "boot\n").unwrap();
    std::fs::write(
        dir.path().join("templates/bake.sh.j2"),
        "echo deployer-bake: done\npoweroff\n",
    )
    .unwrap();
    let path = dir.path().join("profiles/shop.toml");
    std::fs::write(&path, format!("{PROFILE}\n[network]\nvpc = \"create\"\n")).unwrap();
    let loaded = load(path.to_str().unwrap()).unwrap();
    let mut environment = Environment::offline("us-east-1");
    environment.base_image = Some("ami-0123456789abcdef1".into());
    environment.owned_zones = Some(vec![
        "us-east-1a".into(),
        "us-east-1b".into(),
        "us-east-1c".into(),
    ]);
    let desired = build(&loaded, &environment).unwrap();
    let asked = demands(&desired, &plan_of(&desired, &Observed::default()), &vcpus());
    let of = |quota: Quota| {
        asked
            .iter()
            .find(|d| d.quota == quota)
            .map(|d| (d.amount, d.key.clone()))
    };
    assert_eq!(of(Quota::Vpcs), Some((1, "network.vpc".into())));
    assert_eq!(of(Quota::InternetGateways), Some((1, "network.vpc".into())));
    // A NAT gateway per zone, each with its address.
    assert_eq!(of(Quota::ElasticIps), Some((3, "network.nat".into())));
    let mut readings = plenty();
    readings.insert(
        Quota::InternetGateways,
        Reading {
            limit: Limit::Known(5.0),
            used: 5,
            stack_used: 0,
        },
    );
    let (errors, _) = judge(&loaded, "us-east-1", &asked, &readings);
    let [error] = &errors[..] else {
        panic!("{errors:?}");
    };
    assert_eq!(error.key.as_deref(), Some("network.vpc"));
    assert!(
        error
            .hint
            .as_deref()
            .unwrap_or_default()
            .contains("L-A4707A72"),
        "{error:?}"
    );
}
