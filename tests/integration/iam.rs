//! IAM enforced: the simulator authorizes every request against a policy, with the actions AWS
//! checks implicitly (tags given at create time, iam:PassRole of the nodes' instance profile,
//! ec2:RunInstances for a group given a launch template) and the ARNs the policy is scoped to.
//! The shipped policy must allow everything deployer does; a policy without an implicit action
//! must be refused the way AWS refuses it.

use serde_json::{Value, json};

use crate::harness::{Project, root};
use crate::reliability::Simulator;

fn shipped_policy() -> Value {
    serde_json::from_str(&std::fs::read_to_string(root().join("iam/deployer-policy.json")).unwrap())
        .unwrap()
}

/// The shipped policy with `action` taken out of every statement.
fn policy_without(action: &str) -> Value {
    let mut policy = shipped_policy();
    let mut found = false;
    for statement in policy["Statement"].as_array_mut().unwrap() {
        if let Some(actions) = statement["Action"].as_array_mut() {
            let before = actions.len();
            actions.retain(|a| a != action);
            found |= actions.len() != before;
        }
    }
    assert!(found, "the shipped policy does not grant {action}");
    policy
}

/// The shipped policy without its statement `sid`.
fn policy_without_statement(sid: &str) -> Value {
    let mut policy = shipped_policy();
    let statements = policy["Statement"].as_array_mut().unwrap();
    let before = statements.len();
    statements.retain(|s| s["Sid"] != sid);
    assert_eq!(statements.len(), before - 1, "no statement {sid}");
    policy
}

/// With `action` taken out of the policy, an apply of `project` is refused in `call`: exit 1,
/// AWS's message naming the action with deployer's hint, and the simulator's record of it.
fn assert_refused_without(simulator: &Simulator, project: &Project, action: &str, call: &str) {
    simulator.configure(json!({"iam": {"policy": policy_without(action)}}));
    let before = simulator.denials().len();
    let run = project.run(&["apply", "--yes"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr
            .contains(&format!("not authorized to perform: {action}"))
            && run.stderr.contains("attach iam/deployer-policy.json"),
        "{}",
        run.stderr
    );
    let denials = simulator.denials();
    assert!(
        denials[before..]
            .iter()
            .any(|d| d.starts_with(&format!("\"{call}\" needs \"{action}\""))),
        "{call} was not refused for {action}: {denials:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_shipped_policy_allows_a_whole_stack_and_each_implicit_action_is_enforced() {
    let simulator = Simulator::start();
    let mut project = Project::new("iam", "");
    project.endpoint = Some(simulator.url());

    let applied = project.run(&["apply", "--yes"]);
    assert_eq!(applied.code, 0, "{}", applied.all());
    let denials = simulator.denials();
    assert!(
        denials.is_empty(),
        "the shipped policy refused: {denials:#?}"
    );

    // A change to make: a new launch template version the group is updated to.
    project.write_profile("[node]\ninstance_type = \"t3.small\"\n");

    // The lock's PutParameter tags the parameter it creates: ssm:AddTagsToResource.
    assert_refused_without(
        &simulator,
        &project,
        "ssm:AddTagsToResource",
        "ssm:PutParameter",
    );
    // A group handed a launch template whose instance profile holds the nodes' role: iam:PassRole.
    assert_refused_without(
        &simulator,
        &project,
        "iam:PassRole",
        "autoscaling:UpdateAutoScalingGroup",
    );
    // A new stack's instance profile is created with tags: iam:TagInstanceProfile.
    let mut fresh = Project::new("iamtag", "");
    fresh.endpoint = Some(simulator.url());
    assert_refused_without(
        &simulator,
        &fresh,
        "iam:TagInstanceProfile",
        "iam:CreateInstanceProfile",
    );

    // With the shipped policy back, both stacks converge and go, and nothing more is refused.
    simulator.configure(json!({}));
    let before = simulator.denials().len();
    let converged = project.run(&["apply", "--yes"]);
    assert_eq!(converged.code, 0, "{}", converged.all());
    for stack in [&project, &fresh] {
        let gone = stack.run(&["destroy", "--yes", "--skip-final-snapshot"]);
        assert_eq!(gone.code, 0, "{}", gone.all());
    }
    let denials = simulator.denials();
    assert!(
        denials[before..].is_empty(),
        "the shipped policy refused: {:#?}",
        &denials[before..]
    );
}

/// A bake's base image from AWS's public SSM parameter is read under the shipped policy (AWS
/// names public parameters without an account: arn:aws:ssm:REGION::parameter/aws/service/...),
/// and refused without the statement that allows it.
#[test]
fn the_public_base_image_parameter_is_read_under_the_shipped_policy() {
    let simulator = Simulator::start();
    let mut project = Project::new(
        "iamssm",
        "[node.bake]\nbase_image = { ssm = \"/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-6.1-x86_64\" }\n",
    );
    project.endpoint = Some(simulator.url());
    let plan = project.run(&["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(simulator.denials().is_empty(), "{:#?}", simulator.denials());

    simulator.configure(
        json!({"iam": {"policy": policy_without_statement("PublicBaseImageParameter")}}),
    );
    let plan = project.run(&["plan"]);
    assert_eq!(plan.code, 1, "{}", plan.all());
    assert!(
        plan.stderr
            .contains("not authorized to perform: ssm:GetParameter"),
        "{}",
        plan.stderr
    );
}

/// The quotas a new stack counts against are read under the shipped policy (its `ReadQuotas`
/// statement); without that statement the plan still goes ahead, on AWS's defaults, and says so.
#[test]
fn the_quotas_are_read_under_the_shipped_policy_and_without_it_the_plan_warns() {
    let simulator = Simulator::start();
    let mut project = Project::new("iamquota", "");
    project.endpoint = Some(simulator.url());
    let plan = project.run(&["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(simulator.denials().is_empty(), "{:#?}", simulator.denials());
    assert!(!plan.stderr.contains("[quota."), "{}", plan.stderr);

    simulator.configure(json!({"iam": {"policy": policy_without_statement("ReadQuotas")}}));
    let plan = project.run(&["plan"]);
    // 6 × t3.micro at the group's maximum is 12 vCPUs, over AWS's default of 5 for a new
    // account: a warning, as the account's own quota may well be higher.
    assert_eq!(plan.code, 0, "{}", plan.all());
    for expected in [
        "scaling.max: at their maximum the stack's instances use 12 On-Demand standard vCPUs",
        "is over AWS's default quota of 5 (Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances); the account's own could not be read (AccessDeniedException: ",
        "servicequotas:GetServiceQuota",
        "[quota.unread]",
    ] {
        assert!(
            plan.stderr.contains(expected),
            "{expected}\n{}",
            plan.stderr
        );
    }
    assert!(
        simulator
            .denials()
            .iter()
            .any(|d| d.contains("servicequotas:GetServiceQuota")),
        "{:#?}",
        simulator.denials()
    );
}
