//! The diff: desired against observed, without AWS.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Action, plan};
use crate::ids::tags::{TAG_APPLIED, TAG_COMPONENT, TAG_STACK};
use crate::ids::{Kind, ResourceId};
use crate::profile::load::load;
use crate::resources::attributes::{Val, applied_digest};
use crate::resources::observed::{Observed, ObservedResource, Outputs, Status};
use crate::resources::{
    Known, Ledger, Live, auto_scaling_group, cache, cache_auth_secret, cache_subnet_group,
    database, db_subnet_group, handler, image, launch_template, load_balancer, node_role,
    security_group,
};
#[allow(unused_imports)]
use crate::resources::{scaling_policy, scheduled_action, snapshot};
use crate::stack::{Desired, Environment, build};

pub(crate) const PROFILE: &str = r#"stack = "shop"
[node]
image = "ami-0123456789abcdef0"
[database]
[cache]
[load_balancer]
[[load_balancer.listeners]]
port = 80
protocol = "HTTP"
instance_port = 8080
allow = ["0.0.0.0/0"]
[scaling]
min = 2
max = 6
"#;

const BOOT: &str = "db={{ database.host }}:{{ database.port }} cache={{ cache.host }}\n";

pub(crate) fn desired_from(profile: &str, boot: &str) -> Desired {
    desired_with(profile, &[("templates/boot.sh.j2", boot)])
}

/// The stack of `profile` in a project holding `files` (path, text).
pub(crate) fn desired_with(profile: &str, files: &[(&str, &str)]) -> Desired {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("profiles")).unwrap();
    std::fs::create_dir_all(dir.path().join("templates")).unwrap();
    for (path, text) in files {
        std::fs::write(dir.path().join(path), text).unwrap();
    }
    let path = dir.path().join("profiles/shop.toml");
    std::fs::write(&path, profile).unwrap();
    let loaded = load(path.to_str().unwrap()).unwrap();
    build(&loaded, &Environment::offline("us-east-1")).unwrap()
}

/// The stack of a profile with a database, a cache and a ready image (no bake).
pub(crate) fn desired() -> Desired {
    desired_from(PROFILE, BOOT)
}

fn outputs_for(id: &ResourceId) -> Outputs {
    let kind = id.kind;
    if kind == database::KIND {
        Outputs {
            endpoint: Some(("db.example".into(), 5432)),
            arn: Some("arn:aws:secretsmanager:us-east-1:1:secret:rds!db-1".into()),
            version: None,
        }
    } else if kind == cache::KIND {
        Outputs {
            endpoint: Some(("cache.example".into(), 6379)),
            ..Outputs::default()
        }
    } else if kind == cache_auth_secret::KIND {
        Outputs {
            arn: Some("arn:aws:secretsmanager:us-east-1:1:secret:auth".into()),
            ..Outputs::default()
        }
    } else if kind == launch_template::KIND {
        Outputs {
            version: Some(1),
            ..Outputs::default()
        }
    } else if kind == load_balancer::KIND {
        Outputs {
            endpoint: Some((format!("{}.example", id.name), 0)),
            ..Outputs::default()
        }
    } else {
        Outputs::default()
    }
}

fn physical_id(id: &ResourceId) -> String {
    format!("id-{}", id.name)
}

/// What is known once the live stack of `matching` exists.
fn full_knowledge(desired: &Desired) -> Ledger {
    desired
        .resources
        .iter()
        .map(|r| {
            (
                r.id.clone(),
                Live {
                    physical_id: physical_id(&r.id),
                    outputs: outputs_for(&r.id),
                },
            )
        })
        .collect()
}

/// The attributes `resource` has with everything known.
fn attributes_of(
    desired: &Desired,
    resource: &crate::resources::Resource,
) -> Vec<crate::resources::attributes::Attribute> {
    let ledger = full_knowledge(desired);
    let fresh = Default::default();
    handler(resource.id.kind).attributes(
        resource,
        Known {
            ledger: &ledger,
            fresh: &fresh,
        },
        None,
    )
}

/// The bakes a desired stack asks for.
pub(crate) fn bakes_of(desired: &Desired) -> Vec<(ResourceId, image::Spec)> {
    desired
        .resources
        .iter()
        .filter_map(|r| Some((r.id.clone(), r.spec::<image::Images>().ok()?)))
        .collect()
}

/// A live stack that matches `desired` exactly.
pub(crate) fn matching(desired: &Desired) -> Observed {
    let resources = desired
        .resources
        .iter()
        .map(|resource| {
            let mut attributes: serde_json::Map<String, Value> = attributes_of(desired, resource)
                .into_iter()
                .map(|a| match a.value {
                    Val::Known(v) => (a.key, v),
                    Val::Unknown => panic!("{} unknown with full knowledge", a.key),
                })
                .collect();
            // What observation adds to a live group: its balancer passes all its instances.
            if let Ok(group) = resource.spec::<auto_scaling_group::AutoScalingGroups>()
                && let Some(balancer) = &group.load_balancer
            {
                attributes.insert(
                    auto_scaling_group::IN_SERVICE.into(),
                    serde_json::json!(format!("all InService in {balancer}")),
                );
            }
            ObservedResource {
                id: resource.id.clone(),
                physical_id: physical_id(&resource.id),
                tags: BTreeMap::from([
                    (TAG_STACK.to_string(), desired.stack.clone()),
                    (TAG_COMPONENT.to_string(), resource.component.clone()),
                ]),
                attributes,
                status: Status::Ready,
                outputs: outputs_for(&resource.id),
            }
        })
        .collect();
    Observed { resources }
}

pub(crate) fn set(observed: &mut Observed, kind: Kind, key: &str, value: Value) {
    let resource = observed
        .resources
        .iter_mut()
        .find(|r| r.id.kind == kind)
        .unwrap();
    resource.attributes.insert(key.into(), value);
}

fn action_of(plan: &super::Plan, kind: Kind) -> Action {
    plan.steps
        .iter()
        .find(|s| s.id.kind == kind)
        .unwrap()
        .action
}

#[test]
fn an_empty_account_creates_everything_in_dependency_order() {
    let desired = desired();
    let plan = plan(&desired, &Observed::default()).unwrap();
    assert_eq!(plan.count(Action::Create), desired.resources.len());
    // 13, the log group, and the alarms' key, topic and 15 alarms (5 of the load balancer, 3 of
    // the database, 3 of each of the cache's 2 nodes, 1 of the group).
    assert_eq!(desired.resources.len(), 31);
    let alarms = desired
        .resources
        .iter()
        .filter(|r| r.id.kind == crate::resources::alarm::KIND)
        .count();
    assert_eq!(alarms, 15);
    // Every step comes after the steps it depends on.
    for (index, step) in plan.steps.iter().enumerate() {
        for dependency in &step.depends_on {
            let at = plan.steps.iter().position(|s| &s.id == dependency).unwrap();
            assert!(at < index, "{} before {dependency}", step.id);
        }
    }
    // The endpoints and the launch template version are known only after apply.
    let template = plan
        .steps
        .iter()
        .find(|s| s.id.kind == launch_template::KIND)
        .unwrap();
    let user_data = template
        .changes
        .iter()
        .find(|c| c.attribute == "user_data")
        .unwrap();
    assert_eq!(user_data.new, None);
    let group = plan
        .steps
        .iter()
        .find(|s| s.id.kind == auto_scaling_group::KIND)
        .unwrap();
    let version = group
        .changes
        .iter()
        .find(|c| c.attribute == "launch_template")
        .unwrap();
    assert_eq!(version.new, None);
}

#[test]
fn a_matching_stack_has_nothing_to_do() {
    let desired = desired();
    let plan = plan(&desired, &matching(&desired)).unwrap();
    assert!(!plan.has_changes(), "{plan:#?}");
    assert_eq!(plan.count(Action::None), desired.resources.len());
}

#[test]
fn a_changed_attribute_is_an_update_with_old_and_new() {
    let desired = desired();
    let mut observed = matching(&desired);
    set(
        &mut observed,
        load_balancer::KIND,
        "idle_timeout",
        json!(60),
    );
    let plan = plan(&desired, &observed).unwrap();
    let step = plan
        .steps
        .iter()
        .find(|s| s.id.kind == load_balancer::KIND)
        .unwrap();
    assert_eq!(step.action, Action::Update);
    assert_eq!(step.changes.len(), 1);
    assert_eq!(step.changes[0].attribute, "idle_timeout");
    assert_eq!(step.changes[0].old, Some(json!(60)));
    assert_eq!(step.changes[0].new, Some(json!(300)));
    assert_eq!(plan.count(Action::Update), 1);
}

#[test]
fn a_database_class_or_cache_node_type_change_is_marked_as_disruptive_and_others_are_not() {
    let desired = desired();
    let mut observed = matching(&desired);
    set(
        &mut observed,
        load_balancer::KIND,
        "idle_timeout",
        json!(60),
    );
    assert!(plan(&desired, &observed).unwrap().disruptions().is_empty());

    set(
        &mut observed,
        database::KIND,
        database::INSTANCE_CLASS,
        json!("db.t3.micro"),
    );
    set(
        &mut observed,
        cache::KIND,
        cache::NODE_TYPE,
        json!("cache.t3.micro"),
    );
    let plan = plan(&desired, &observed).unwrap();
    let disruptions = plan.disruptions();
    assert_eq!(disruptions.len(), 2, "{disruptions:?}");
    assert!(
        disruptions
            .iter()
            .any(|d| d.contains("instance_class (reboots the database")),
        "{disruptions:?}"
    );
    assert!(
        disruptions
            .iter()
            .any(|d| d.contains("node_type (replaces the nodes")),
        "{disruptions:?}"
    );
    let heading = crate::render::plan::Heading {
        profile: "shop",
        region: "us-east-1",
    };
    let text = crate::render::plan::text(&plan, &heading);
    assert!(
        text.contains("! reboots the database") && text.contains("2 change(s) marked !"),
        "{text}"
    );
    let json = crate::render::plan::json(&plan, &heading);
    let marked: Vec<&serde_json::Value> = json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["changes"].as_array().unwrap().iter())
        .filter(|c| !c["disruption"].is_null())
        .collect();
    assert_eq!(marked.len(), 2, "{json}");
}

#[test]
fn an_immutable_attribute_means_replace_and_data_is_never_replaced_silently() {
    let desired = desired();
    let mut observed = matching(&desired);
    set(
        &mut observed,
        load_balancer::KIND,
        "scheme",
        json!("internal"),
    );
    set(
        &mut observed,
        database::KIND,
        "storage_encrypted",
        json!(false),
    );
    let plan = plan(&desired, &observed).unwrap();
    let lb = plan
        .steps
        .iter()
        .find(|s| s.id.kind == load_balancer::KIND)
        .unwrap();
    assert_eq!(lb.action, Action::Replace);
    assert_eq!(
        lb.reasons,
        vec!["scheme cannot change in place".to_string()]
    );
    let db = plan
        .steps
        .iter()
        .find(|s| s.id.kind == database::KIND)
        .unwrap();
    assert_eq!(db.action, Action::Replace);
    assert!(
        db.note.as_deref().unwrap().contains("does not replace"),
        "{db:?}"
    );
    assert!(db.is_destructive());
}

#[test]
fn newer_engine_versions_and_bigger_storage_are_not_drift() {
    let desired = desired();
    let mut observed = matching(&desired);
    set(
        &mut observed,
        database::KIND,
        "engine_version",
        json!("16.8"),
    );
    set(
        &mut observed,
        database::KIND,
        "allocated_storage",
        json!(400),
    );
    set(&mut observed, cache::KIND, "engine_version", json!("7.1.0"));
    let plan = plan(&desired, &observed).unwrap();
    assert!(!plan.has_changes(), "{plan:#?}");

    set(
        &mut observed,
        database::KIND,
        "engine_version",
        json!("15.2"),
    );
    set(
        &mut observed,
        database::KIND,
        "allocated_storage",
        json!(100),
    );
    let plan = super::plan(&desired, &observed).unwrap();
    let db = plan
        .steps
        .iter()
        .find(|s| s.id.kind == database::KIND)
        .unwrap();
    assert_eq!(db.action, Action::Update);
    let changed: Vec<&str> = db.changes.iter().map(|c| c.attribute.as_str()).collect();
    assert_eq!(changed, vec!["engine_version", "allocated_storage"]);
}

#[test]
fn a_scaled_group_keeps_its_capacity_unless_outside_the_limits() {
    let desired = desired();
    let mut observed = matching(&desired);
    set(
        &mut observed,
        auto_scaling_group::KIND,
        "desired_capacity",
        json!(5),
    );
    let plan = plan(&desired, &observed).unwrap();
    assert_eq!(action_of(&plan, auto_scaling_group::KIND), Action::None);

    set(
        &mut observed,
        auto_scaling_group::KIND,
        "desired_capacity",
        json!(9),
    );
    let plan = super::plan(&desired, &observed).unwrap();
    let group = plan
        .steps
        .iter()
        .find(|s| s.id.kind == auto_scaling_group::KIND)
        .unwrap();
    assert_eq!(group.changes[0].attribute, "desired_capacity");
    assert_eq!(group.changes[0].new, Some(json!(6)));
}

#[test]
fn a_moved_endpoint_changes_the_user_data_and_the_group_follows() {
    let desired = desired();
    let mut observed = matching(&desired);
    // The database's port changes: its endpoint is unknown until applied.
    set(&mut observed, database::KIND, "port", json!(5433));
    let plan = plan(&desired, &observed).unwrap();
    assert_eq!(action_of(&plan, database::KIND), Action::Update);
    let template = plan
        .steps
        .iter()
        .find(|s| s.id.kind == launch_template::KIND)
        .unwrap();
    assert_eq!(template.action, Action::Update);
    assert_eq!(template.changes[0].attribute, "user_data");
    assert_eq!(template.changes[0].new, None);
    let group = plan
        .steps
        .iter()
        .find(|s| s.id.kind == auto_scaling_group::KIND)
        .unwrap();
    assert_eq!(group.action, Action::Update);
}

#[test]
fn a_resource_deleted_out_of_band_is_created_again() {
    let desired = desired();
    let mut observed = matching(&desired);
    observed
        .resources
        .retain(|r| r.id.kind != load_balancer::KIND);
    let plan = plan(&desired, &observed).unwrap();
    assert_eq!(action_of(&plan, load_balancer::KIND), Action::Create);
    assert_eq!(plan.count(Action::Create), 1);
}

#[test]
fn a_same_named_resource_we_do_not_own_stops_the_plan() {
    let desired = desired();
    let mut observed = matching(&desired);
    let lb = observed
        .resources
        .iter_mut()
        .find(|r| r.id.kind == load_balancer::KIND)
        .unwrap();
    lb.tags.clear();
    let foreign = plan(&desired, &observed).unwrap_err();
    assert_eq!(foreign.len(), 1);
    assert_eq!(
        foreign[0].id,
        ResourceId::new(load_balancer::KIND, "shop-lb")
    );
    assert_eq!(
        foreign[0].to_string(),
        "load balancer shop-lb (id-shop-lb) exists but was not created by deployer (no deployer:stack tag)"
    );
}

#[test]
fn removed_data_stores_are_kept_with_what_they_use() {
    let full = desired();
    let observed = matching(&full);
    let without = desired_from(
        &PROFILE.replace("[database]\n", "").replace("[cache]\n", ""),
        "stateless {{ stack }}\n",
    );
    let plan = plan(&without, &observed).unwrap();
    let action = |kind: Kind, name: &str| {
        plan.steps
            .iter()
            .find(|s| s.id == ResourceId::new(kind, name))
            .unwrap()
            .action
    };
    for (kind, name) in [
        (database::KIND, "shop-db"),
        (db_subnet_group::KIND, "shop-db"),
        (security_group::KIND, "shop-db"),
        (cache::KIND, "shop-cache"),
        (cache_subnet_group::KIND, "shop-cache"),
        (cache_auth_secret::KIND, "deployer/shop/cache-auth-token"),
        (security_group::KIND, "shop-cache"),
    ] {
        assert_eq!(action(kind, name), Action::Retain, "{kind:?} {name}");
    }
    // Only the alarms on what the profile no longer has are deleted: 3 of the database, 3 of
    // each cache node.
    let deleted: Vec<&ResourceId> = plan
        .steps
        .iter()
        .filter(|s| s.action == Action::Delete)
        .map(|s| &s.id)
        .collect();
    assert_eq!(deleted.len(), 9, "{deleted:?}");
    assert!(
        deleted
            .iter()
            .all(|id| id.kind == crate::resources::alarm::KIND
                && (id.name.starts_with("shop/db-") || id.name.starts_with("shop/cache-"))),
        "{deleted:?}"
    );
    // The node role's policy no longer names the secrets, and the user data drops the endpoints.
    assert_eq!(
        action(node_role::KIND, "shop-node-us-east-1"),
        Action::Update
    );
    assert_eq!(action(launch_template::KIND, "shop-node"), Action::Update);
}

/// Record on each live resource the digest of what is desired now, as an apply would.
fn mark_applied(desired: &Desired, observed: &mut Observed) {
    for live in &mut observed.resources {
        let resource = desired.get(&live.id).unwrap();
        let attributes = attributes_of(desired, resource);
        let digest = applied_digest(&attributes).unwrap();
        live.tags.insert(TAG_APPLIED.to_string(), digest);
    }
}

#[test]
fn a_change_made_outside_deployer_is_labelled_drift_and_a_profile_change_is_not() {
    let desired = desired();
    let mut observed = matching(&desired);
    mark_applied(&desired, &mut observed);
    assert!(!plan(&desired, &observed).unwrap().has_changes());

    // Someone changes the load balancer by hand: the profile still asks for what was applied.
    set(
        &mut observed,
        load_balancer::KIND,
        "idle_timeout",
        json!(60),
    );
    let drifted = plan(&desired, &observed).unwrap();
    let lb = drifted
        .steps
        .iter()
        .find(|s| s.id.kind == load_balancer::KIND)
        .unwrap();
    assert_eq!(lb.action, Action::Update);
    assert!(lb.drift);

    // The profile changes instead: an update, not drift.
    let changed = desired_from(
        &PROFILE.replace("[load_balancer]\n", "[load_balancer]\nidle_timeout = 60\n"),
        BOOT,
    );
    let mut observed = matching(&desired);
    mark_applied(&desired, &mut observed);
    let plan = plan(&changed, &observed).unwrap();
    let lb = plan
        .steps
        .iter()
        .find(|s| s.id.kind == load_balancer::KIND)
        .unwrap();
    assert_eq!(lb.action, Action::Update);
    assert!(!lb.drift);
}

#[test]
fn a_capacity_set_by_scale_is_kept_until_reset() {
    let mut desired = desired();
    let mut observed = matching(&desired);
    set(
        &mut observed,
        auto_scaling_group::KIND,
        "max_size",
        json!(10),
    );
    set(
        &mut observed,
        auto_scaling_group::KIND,
        "desired_capacity",
        json!(8),
    );
    set(
        &mut observed,
        auto_scaling_group::KIND,
        "scale_override",
        json!("min=2 max=10 desired=8 at=2026-11-21T10:00:00Z"),
    );
    let kept = plan(&desired, &observed).unwrap();
    assert!(!kept.has_changes(), "{kept:#?}");
    let group = kept
        .steps
        .iter()
        .find(|s| s.id.kind == auto_scaling_group::KIND)
        .unwrap();
    assert_eq!(
        group.note.as_deref(),
        Some(
            "capacity min 2 max 10 (set by deployer scale at 2026-11-21T10:00:00Z; profile says 2..6): kept"
        )
    );

    desired.reset_scale();
    let reset = plan(&desired, &observed).unwrap();
    let group = reset
        .steps
        .iter()
        .find(|s| s.id.kind == auto_scaling_group::KIND)
        .unwrap();
    let changes: Vec<String> = group
        .changes
        .iter()
        .map(|c| {
            format!(
                "{} {} -> {}",
                c.attribute,
                c.old.as_ref().unwrap(),
                c.new.as_ref().unwrap()
            )
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            "max_size 10 -> 6".to_string(),
            "desired_capacity 8 -> 6".to_string(),
            "scale_override \"min=2 max=10 desired=8 at=2026-11-21T10:00:00Z\" -> null".to_string(),
        ]
    );
}

#[test]
fn instances_on_an_older_version_are_rolled() {
    let desired = desired();
    let mut observed = matching(&desired);
    set(
        &mut observed,
        auto_scaling_group::KIND,
        "instances",
        json!("1 on v0, 1 on v1"),
    );
    let plan = plan(&desired, &observed).unwrap();
    let group = plan
        .steps
        .iter()
        .find(|s| s.id.kind == auto_scaling_group::KIND)
        .unwrap();
    assert_eq!(group.action, Action::Update);
    assert_eq!(group.changes[0].attribute, "instances");
    assert_eq!(group.changes[0].new, Some(json!("all on v1")));
    assert!(
        group
            .note
            .as_deref()
            .unwrap()
            .starts_with("roll: 1 instance(s) at a time"),
        "{:?}",
        group.note
    );
}

#[test]
fn a_plan_survives_its_file_format() {
    // Null values (an attribute set to nothing) and unknown ones (known after apply) differ.
    let desired = desired();
    let plan = plan(&desired, &Observed::default()).unwrap();
    let group = plan
        .steps
        .iter()
        .find(|s| s.id.kind == auto_scaling_group::KIND)
        .unwrap();
    assert!(group.changes.iter().any(|c| c.new == Some(Value::Null)));
    assert!(group.changes.iter().any(|c| c.new.is_none()));
    let text = serde_json::to_string(&plan).unwrap();
    let back: super::Plan = serde_json::from_str(&text).unwrap();
    assert_eq!(back, plan);
}

/// The spec of the desired resource of kind `K` named `name`.
pub(crate) fn spec<K: crate::resources::ResourceKind>(desired: &Desired, name: &str) -> K::Spec {
    let resource: &crate::resources::Resource = desired
        .get(&ResourceId::new(K::KIND, name))
        .unwrap_or_else(|| panic!("no {:?} {name}", K::KIND));
    resource.spec::<K>().unwrap()
}

/// The stack of PROFILE built where the node type is offered only in `zones` of the three.
fn built_where_offered(zones: &[&str]) -> Result<Desired, crate::profile::error::ProfileErrors> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("profiles")).unwrap();
    std::fs::create_dir_all(dir.path().join("templates")).unwrap();
    std::fs::write(dir.path().join("templates/boot.sh.j2"), BOOT).unwrap();
    let path = dir.path().join("profiles/shop.toml");
    std::fs::write(&path, PROFILE).unwrap();
    let loaded = load(path.to_str().unwrap()).unwrap();
    let mut environment = Environment::offline("us-east-1");
    environment.subnets.push(crate::stack::Subnet {
        id: "subnet-0000000e".into(),
        zone: "us-east-1e".into(),
        egress: None,
    });
    let offered = zones.iter().map(|z| format!("us-east-1{z}")).collect();
    environment
        .offerings
        .insert(loaded.profile.node.instance_type.clone(), offered);
    build(&loaded, &environment)
}

#[test]
fn a_group_leaves_out_the_zones_that_do_not_offer_its_instance_type_and_needs_two() {
    let desired = built_where_offered(&["a", "b"]).unwrap();
    let group = spec::<auto_scaling_group::AutoScalingGroups>(&desired, "shop-nodes");
    assert_eq!(group.subnets, vec!["subnet-0000000a", "subnet-0000000b"]);
    assert_eq!(desired.notes.len(), 1, "{:?}", desired.notes);
    assert!(
        desired.notes[0].contains("is not offered in us-east-1e")
            && desired.notes[0].contains("node.instance_type"),
        "{:?}",
        desired.notes
    );
    // The load balancer and the data tier keep every zone.
    let balancer = spec::<load_balancer::LoadBalancers>(&desired, "shop-lb");
    assert_eq!(balancer.subnets.len(), 3);

    let Err(errors) = built_where_offered(&["a"]) else {
        panic!("one zone is refused");
    };
    let text = errors.to_string();
    assert!(
        text.contains("node.instance_type")
            && text.contains("is offered in 1 of the stack's Availability Zones"),
        "{text}"
    );
}
