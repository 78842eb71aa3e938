//! AWS is eventually consistent: what a call just created may not be visible to the next call for
//! seconds (EC2, IAM and Secrets Manager document it). The simulator hides every created security
//! group, instance, image, launch template, instance profile, role and secret for a while, answering
//! with the error AWS gives; a first apply must still converge in one run.

use serde_json::json;

use crate::harness::Project;
use crate::reliability::Simulator;

#[tokio::test(flavor = "multi_thread")]
async fn a_first_apply_converges_while_what_it_creates_is_not_visible_yet() {
    let simulator = Simulator::start();
    simulator.configure(json!({"consistency": {"default": 3.0}}));
    let mut project = Project::new("consistent", "");
    project.endpoint = Some(simulator.url());

    let applied = project.run(&["apply", "--yes"]);
    let stats = simulator.stats();
    assert_eq!(
        applied.code,
        0,
        "the first apply did not converge: {}\nnot visible: {}",
        applied.all(),
        stats["not_visible"]
    );
    // The simulator did hide what was created, for each kind of call that names it at once.
    let hidden = stats["not_visible"].as_object().unwrap();
    eprintln!("consistency: first apply converged; answered not visible yet: {hidden:?}");
    for code in [
        "InvalidGroup.NotFound",
        "NoSuchEntity",
        "ResourceNotFoundException",
        "ValidationError",
        // Left out of a filtered list.
        "omitted",
    ] {
        assert!(
            hidden.keys().any(|key| key.ends_with(code)),
            "no {code} was answered: {hidden:?}"
        );
    }
    assert!(
        applied.stderr.contains("not visible yet"),
        "{}",
        applied.stderr
    );

    let again = project.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}", again.all());
    project
        .run(&["destroy", "--yes", "--skip-final-snapshot"])
        .ok();
}

/// What AWS keeps busy for a while: a replication group snapshotting (it refuses delete and
/// modify) or still modifying after a change, and the name of a secret force-deleted a moment ago
/// (CreateSecret: "already scheduled for deletion"). A change, a destroy and an apply at once after
/// it all wait.
#[tokio::test(flavor = "multi_thread")]
async fn busy_caches_and_a_secret_name_still_being_deleted_are_waited_for() {
    let simulator = Simulator::start();
    let mut project = Project::new("busy", "");
    project.endpoint = Some(simulator.url());
    let applied = project.run(&["apply", "--yes"]);
    assert_eq!(applied.code, 0, "{}", applied.all());

    // A node type change while the group is snapshotting: ModifyReplicationGroup is refused until
    // the snapshot ends, then goes through.
    simulator.configure(json!({"busy": {"snapshotting": 3.0}}));
    project.write_profile("[cache]\nnode_type = \"cache.t3.small\"\n");
    let changed = project.run(&["apply", "--yes", "--allow-disruption"]);
    assert_eq!(changed.code, 0, "{}", changed.all());
    assert!(
        changed.stderr.contains("the cache is busy"),
        "{}",
        changed.stderr
    );
    let plan = project.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.all());

    simulator.configure(json!({"busy": {"snapshotting": 8.0, "secret_deletion": 8.0}}));
    let destroyed = project.run(&["destroy", "--yes", "--skip-final-snapshot"]);
    assert_eq!(destroyed.code, 0, "{}", destroyed.all());
    assert!(
        destroyed.stderr.contains("the cache is busy"),
        "{}",
        destroyed.stderr
    );
    let again = project.run(&["apply", "--yes"]);
    assert_eq!(again.code, 0, "{}", again.all());
    let refused: Vec<String> = simulator.stats()["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["fault"] == "busy")
        .map(|entry| entry["action"].as_str().unwrap_or_default().to_string())
        .collect();
    for action in ["DeleteReplicationGroup", "CreateSecret"] {
        assert!(
            refused.iter().any(|a| a == action),
            "{action} was never refused as busy: {refused:?}"
        );
    }
    project
        .run(&["destroy", "--yes", "--skip-final-snapshot"])
        .ok();
}

/// A certificate ACM issued a moment ago is not known to ELB yet (CertificateNotFound): the load
/// balancer's create waits for it instead of failing. A certificate still pending validation is
/// refused by plan at its listener.
#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_just_issued_is_waited_for() {
    let simulator = Simulator::start();
    // The test issues the certificate itself: deployer's policy rightly does not allow that.
    simulator.configure(json!({"consistency": {"certificate": 8.0}, "iam": false}));
    let config = crate::harness::sdk_config().await;
    let acm = aws_sdk_acm::Client::from_conf(
        aws_sdk_acm::config::Builder::from(&config)
            .endpoint_url(simulator.url())
            .build(),
    );
    let arn = acm
        .request_certificate()
        .domain_name("fresh.deployer.example")
        .send()
        .await
        .unwrap()
        .certificate_arn()
        .unwrap()
        .to_string();
    // Issued (ACM validates it after a few seconds): from then on, ELB lags behind.
    crate::check::issued(&acm, &arn).await;
    let listeners = format!(
        "[[load_balancer.listeners]]\nport = 443\nprotocol = \"HTTPS\"\ninstance_port = 80\ncertificate = \"{arn}\"\nallow = [\"0.0.0.0/0\"]\n"
    );
    let mut project = Project::new("cert", &listeners);
    project.endpoint = Some(simulator.url());
    let applied = project.run(&["apply", "--yes"]);
    assert_eq!(applied.code, 0, "{}", applied.all());
    let hidden = simulator.stats()["not_visible"].clone();
    assert!(
        hidden
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.ends_with(":CertificateNotFound")),
        "ELB never answered CertificateNotFound: {hidden}"
    );
    project
        .run(&["destroy", "--yes", "--skip-final-snapshot"])
        .ok();
}
