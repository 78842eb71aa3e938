//! Snapshots of both renderings of what the commands report, from pure fixtures: a plan, an
//! apply (succeeded and failed), a destroy, a status, and the error messages. A change to any
//! output shows here as a snapshot diff (`cargo insta review`, or INSTA_UPDATE=always).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::aws::AwsError;
use crate::ids::ResourceId;
use crate::plan::Action;
use crate::plan::tests::{desired, matching};
use crate::profile::error::{ProfileError, ProfileErrors};
use crate::render::errors::{error_text, profile_errors_text, run_failures_text};
use crate::render::plan::{Heading, json, text};
use crate::render::status::{
    AlarmStatus, GroupStatus, InstanceStatus, ScaleOverride, StatusReport,
};
use crate::resources::observed::{ObservedResource, Outputs, Status};
use crate::resources::{load_balancer, security_group};

fn plain() {
    console::set_colors_enabled(false);
}

/// A plan with an update, a create and a delete.
fn a_plan() -> crate::plan::Plan {
    let desired = desired();
    let mut observed = matching(&desired);
    let balancer = observed
        .resources
        .iter_mut()
        .find(|r| r.id.kind == load_balancer::KIND)
        .unwrap();
    balancer
        .attributes
        .insert(load_balancer::IDLE_TIMEOUT.into(), json!(60));
    observed
        .resources
        .retain(|r| r.id != ResourceId::new(security_group::KIND, "shop-cache"));
    observed.resources.push(ObservedResource {
        id: ResourceId::new(security_group::KIND, "shop-old"),
        physical_id: "sg-0old".into(),
        tags: BTreeMap::from([("deployer:stack".to_string(), "shop".to_string())]),
        attributes: Default::default(),
        status: Status::Ready,
        outputs: Outputs::default(),
    });
    crate::plan::plan(&desired, &observed).unwrap()
}

const HEADING: Heading<'static> = Heading {
    profile: "shop",
    region: "us-east-1",
};

#[test]
fn a_plan_for_people_and_programs() {
    plain();
    let plan = a_plan();
    insta::assert_snapshot!("plan_text", text(&plan, &HEADING));
    insta::assert_snapshot!("plan_json", json_text(&json(&plan, &HEADING)));
}

fn outputs() -> Vec<(String, String)> {
    vec![
        (
            "load_balancer_dns".into(),
            "shop-lb.us-east-1.elb.amazonaws.com".into(),
        ),
        (
            "database_endpoint".into(),
            "shop-db.x.us-east-1.rds.amazonaws.com:5432".into(),
        ),
        (
            "group.manager.auto_scaling_group".into(),
            "shop-manager".into(),
        ),
    ]
}

#[test]
fn a_successful_apply_shows_its_outputs() {
    let report = ApplyReport {
        stack: "shop".into(),
        succeeded: true,
        interrupted: false,
        done: vec![Done {
            resource: "load balancer shop-lb".into(),
            action: Action::Update,
        }],
        failed: vec![],
        not_started: vec![],
        outputs: outputs(),
    };
    insta::assert_snapshot!("apply_text", report.text());
    insta::assert_snapshot!("apply_json", json_text(&report));
}

fn a_failure() -> (ResourceId, AwsError) {
    (
        ResourceId::new(load_balancer::KIND, "shop-lb"),
        AwsError::coded(
            "create load balancer shop-lb",
            "CertificateNotFound",
            "Server Certificate not found for the key: arn:aws:acm:us-east-1:1:certificate/x",
        )
        .with_hint("check the listener's certificate ARN"),
    )
}

#[test]
fn a_failed_apply_says_what_failed_and_what_did_not_start() {
    let (id, error) = a_failure();
    let report = ApplyReport {
        stack: "shop".into(),
        succeeded: false,
        interrupted: false,
        done: vec![],
        failed: vec![Failed {
            resource: id.to_string(),
            error: error.to_string(),
        }],
        not_started: vec!["auto scaling group shop-nodes".into()],
        outputs: vec![],
    };
    assert_eq!(report.text(), "", "a failure says nothing on stdout");
    insta::assert_snapshot!("apply_failed_json", json_text(&report));
    let not_started = [ResourceId::new(
        crate::resources::auto_scaling_group::KIND,
        "shop-nodes",
    )];
    insta::assert_snapshot!(
        "apply_failed_stderr",
        run_failures_text(&[(id, error)], &not_started)
    );
}

#[test]
fn a_destroy_says_what_it_kept_and_what_is_left() {
    let report = DestroyReport {
        stack: "shop".into(),
        succeeded: false,
        interrupted: false,
        done: vec![Done {
            resource: "database shop-db".into(),
            action: Action::Delete,
        }],
        deleted: vec!["database shop-db".into()],
        failed: vec![],
        not_started: vec![],
        not_owned: vec![],
        remaining: vec![Found {
            resource: "volume".into(),
            id: "vol-0123".into(),
        }],
        kept: vec![Kept {
            what: "final database snapshots".into(),
            ids: vec!["shop-db-final-20261202-120000".into()],
        }],
        kept_snapshots: vec!["shop-db-final-20261202-120000".into()],
        kept_images: vec![Found {
            resource: "image shop-node-0123456789ab".into(),
            id: "ami-0123".into(),
        }],
    };
    insta::assert_snapshot!("destroy_text", report.text());
    insta::assert_snapshot!("destroy_json", json_text(&report));
}

fn a_group(name: &str, instances: Vec<InstanceStatus>) -> GroupStatus {
    GroupStatus {
        name: name.into(),
        min: Some(2),
        max: Some(6),
        desired: Some(3),
        profile: Range { min: 2, max: 4 },
        scale_override: Some(ScaleOverride {
            min: 2,
            max: 6,
            desired: 3,
            set_at: "2026-12-02T12:00:00Z".into(),
        }),
        launch_template: Some(format!("{name} v2")),
        newest_version: Some(2),
        instances_on: Some("1 on v1, 2 on v2".into()),
        rolling: None,
        instances,
    }
}

#[test]
fn a_status_shows_every_group_and_its_instances() {
    let instance = |id: &str, version: &str, health: &str, reason: Option<&str>| InstanceStatus {
        id: id.into(),
        zone: "us-east-1a".into(),
        version: Some(version.into()),
        lifecycle: "InService".into(),
        health: health.into(),
        reason: reason.map(str::to_string),
        session: Some(format!(
            "aws ssm start-session --target {id} --region us-east-1"
        )),
    };
    let report = StatusReport {
        stack: "shop".into(),
        outputs: output_map(&outputs()),
        group: Some(a_group(
            "shop-nodes",
            vec![
                instance("i-01", "1", "InService", None),
                instance(
                    "i-02",
                    "2",
                    "OutOfService",
                    Some(
                        "Instance has failed at least the UnhealthyThreshold number of health checks consecutively.",
                    ),
                ),
            ],
        )),
        groups: BTreeMap::from([(
            "manager".to_string(),
            GroupStatus {
                scale_override: None,
                rolling: Some("desired=1 max=1 from=1 to=2".into()),
                ..a_group(
                    "shop-manager",
                    vec![instance("i-03", "2", "InService", None)],
                )
            },
        )]),
        alarms: vec![
            AlarmStatus {
                name: "shop/lb-unhealthy-hosts".into(),
                state: "ALARM".into(),
                reason: Some("Threshold Crossed: 5 datapoints [1.0 (04/12/26 02:00:00)] were greater than the threshold (0.0).".into()),
            },
            AlarmStatus {
                name: "shop/db-cpu".into(),
                state: "OK".into(),
                reason: Some("Threshold Crossed: no datapoint was greater than the threshold.".into()),
            },
        ],
    };
    insta::assert_snapshot!("status_text", report.text());
    insta::assert_snapshot!("status_json", json_text(&report));
    let nothing = StatusReport {
        stack: "shop".into(),
        outputs: BTreeMap::new(),
        group: None,
        groups: BTreeMap::new(),
        alarms: vec![],
    };
    assert_eq!(nothing.text(), "Stack shop\n\nNothing is deployed.\n");
}

#[test]
fn errors_say_what_where_and_what_to_do() {
    let (_, error) = a_failure();
    let text: Arc<str> = "stack = \"shop\"\n[database]\nport = 80\n".into();
    let start = text.find("80").unwrap();
    let profile = ProfileErrors(vec![
        ProfileError::new("profiles/shop.toml", "80 is out of range")
            .with_key("database.port")
            .with_hint("an RDS PostgreSQL port must be from 1150 to 65535")
            .at(&text, start..start + 2),
        ProfileError::new("profiles/shop.toml", "unknown key `colour`")
            .with_key("colour")
            .with_hint("allowed keys here: extends, stack, region"),
    ]);
    insta::assert_snapshot!(
        "errors",
        [
            error_text(&error.to_string(), error.hint.as_deref()),
            error_text(
                "stack shop is locked: `apply` by alice@build-3 pid 48213",
                Some("wait for it to finish, or run `deployer unlock`"),
            ),
            profile_errors_text(&profile, false),
        ]
        .concat()
    );
}
