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
