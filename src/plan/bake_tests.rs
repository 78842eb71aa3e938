//! Baked images in the plan: whether a bake is up to date and why not, retention, and what an
//! interrupted bake left.

use std::collections::BTreeMap;

use serde_json::json;

use super::tests::bakes_of;
use super::{Action, plan};
use crate::ids::ResourceId;
use crate::ids::tags::{TAG_BAKE_HASH, TAG_STACK};
use crate::profile::load::load;
use crate::resources::observed::{Observed, ObservedResource, Outputs, Status};
use crate::resources::{builder, image, launch_template, security_group};
use crate::stack::{Desired, Environment, build};

const BAKING: &str = r#"stack = "shop"
[node]
[node.bake]
base_image = "ami-0123456789abcdef1"
keep_images = 2
[load_balancer]
[[load_balancer.listeners]]
port = 80
protocol = "HTTP"
instance_port = 8080
allow = ["0.0.0.0/0"]
"#;

fn baking_desired(template: &str) -> Desired {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("profiles")).unwrap();
    std::fs::create_dir_all(dir.path().join("templates")).unwrap();
    std::fs::write(
        dir.path().join("templates/boot.sh.j2"),
        "boot {{ stack }}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("templates/bake.sh.j2"), template).unwrap();
    let path = dir.path().join("profiles/shop.toml");
    std::fs::write(&path, BAKING).unwrap();
    let loaded = load(path.to_str().unwrap()).unwrap();
    let mut environment = Environment::offline("us-east-1");
    environment.base_image = Some("ami-0123456789abcdef1".into());
    build(&loaded, &environment).unwrap()
}

/// An image of the stack as observation reports it.
fn image(name: &str, created: &str, in_use: bool, inputs: &[(&str, &str)]) -> ObservedResource {
    let mut tags = BTreeMap::from([(TAG_STACK.to_string(), "shop".to_string())]);
    for (k, v) in inputs {
        tags.insert(k.to_string(), v.to_string());
    }
    ObservedResource {
        id: ResourceId::new(image::KIND, name),
        physical_id: format!("ami-{name}"),
        tags,
        attributes: [
            ("created_at".to_string(), json!(created)),
            ("in_use".to_string(), json!(in_use)),
        ]
        .into_iter()
        .collect(),
        status: Status::Ready,
        outputs: Outputs::default(),
    }
}

#[test]
fn a_bake_is_up_to_date_when_an_image_of_its_hash_exists_and_says_which_inputs_changed() {
    let desired = baking_desired("install\necho deployer-bake: done\npoweroff\n");
    let image_id = desired
        .resources
        .iter()
        .find(|r| r.id.kind == image::KIND)
        .unwrap()
        .id
        .clone();
    assert!(
        image_id.name.starts_with("shop-node-") && image_id.name.len() == "shop-node-".len() + 12
    );

    let first = plan(&desired, &Observed::default()).unwrap();
    let bake = first.steps.iter().find(|s| s.id == image_id).unwrap();
    assert_eq!(bake.action, Action::Create);
    assert_eq!(bake.note.as_deref(), Some("bake: new image (first bake)"));
    // The launch template waits for the image and its id is known after apply.
    let template = first
        .steps
        .iter()
        .find(|s| s.id.kind == launch_template::KIND)
        .unwrap();
    assert!(template.depends_on.contains(&image_id));
    assert_eq!(
        template
            .changes
            .iter()
            .find(|c| c.attribute == "image")
            .unwrap()
            .new,
        None
    );

    // An older image with another template: a new bake, and the note says what changed.
    let older = image(
        "shop-node-000000000000",
        "2026-01-01T00:00:00Z",
        false,
        &[
            ("deployer:base-image", "ami-0123456789abcdef1"),
            (
                "deployer:bake-template",
                "templates/bake.sh.j2@000000000000",
            ),
            ("deployer:builder", "t3.medium 20 GiB gp3"),
        ],
    );
    let observed = Observed {
        resources: vec![older.clone()],
    };
    let second = plan(&desired, &observed).unwrap();
    let bake = second.steps.iter().find(|s| s.id == image_id).unwrap();
    assert_eq!(
        bake.note.as_deref(),
        Some("bake: new image (inputs changed: bake template)")
    );

    // The image of this hash exists: up to date, and the template uses it.
    let current = image(&image_id.name, "2026-02-01T00:00:00Z", false, &[]);
    let observed = Observed {
        resources: vec![older, current],
    };
    let third = plan(&desired, &observed).unwrap();
    let bake = third.steps.iter().find(|s| s.id == image_id).unwrap();
    assert_eq!(bake.action, Action::None);
    assert_eq!(bake.note.as_deref(), Some("bake: up to date"));
    let template = third
        .steps
        .iter()
        .find(|s| s.id.kind == launch_template::KIND)
        .unwrap();
    let image_change = template
        .changes
        .iter()
        .find(|c| c.attribute == "image")
        .unwrap();
    assert_eq!(
        image_change.new,
        Some(json!(format!("ami-{}", image_id.name)))
    );
}

#[test]
fn retention_keeps_the_newest_images_and_any_in_use() {
    let desired = baking_desired("install\necho deployer-bake: done\npoweroff\n");
    let image = |name: &str, created: &str, in_use: bool| image(name, created, in_use, &[]);
    let observed = Observed {
        resources: vec![
            image("shop-node-aaaaaaaaaaaa", "2026-01-01T00:00:00Z", true),
            image("shop-node-bbbbbbbbbbbb", "2026-02-01T00:00:00Z", false),
            image("shop-node-cccccccccccc", "2026-03-01T00:00:00Z", false),
        ],
    };
    // keep_images = 2 and a new image is baked: it and the newest old one are kept, the oldest
    // is in use, so only the middle one goes.
    let plan = plan(&desired, &observed).unwrap();
    let action = |name: &str| {
        plan.steps
            .iter()
            .find(|s| s.id == ResourceId::new(image::KIND, name))
            .unwrap()
            .action
    };
    assert_eq!(action("shop-node-cccccccccccc"), Action::None);
    assert_eq!(action("shop-node-bbbbbbbbbbbb"), Action::Delete);
    assert_eq!(action("shop-node-aaaaaaaaaaaa"), Action::None);
}

#[test]
fn an_interrupted_bake_is_adopted_and_its_strays_are_cleaned_up() {
    let desired = baking_desired("install\necho deployer-bake: done\npoweroff\n");
    let (_, spec) = bakes_of(&desired).remove(0);
    let names = desired.names();
    let builder = |hash: &str| ObservedResource {
        id: ResourceId::new(builder::KIND, names.builder(hash)),
        physical_id: format!("i-{}", &hash[..8]),
        tags: BTreeMap::from([
            (TAG_STACK.to_string(), "shop".to_string()),
            (TAG_BAKE_HASH.to_string(), hash.to_string()),
        ]),
        attributes: Default::default(),
        status: Status::Pending("running".into()),
        outputs: Outputs::default(),
    };
    // Each bake's builder has its own security group; `<stack>-builder` is the one bakes shared
    // before.
    let group = |name: String| ObservedResource {
        id: ResourceId::new(security_group::KIND, name),
        physical_id: "sg-1".into(),
        tags: BTreeMap::from([(TAG_STACK.to_string(), "shop".to_string())]),
        attributes: Default::default(),
        status: Status::Ready,
        outputs: Outputs::default(),
    };
    let observed = Observed {
        resources: vec![
            builder(&spec.hash),
            builder("feedfacefeedfacefeedface"),
            group(names.builder_security_group(&spec.hash)),
            group(names.builder_security_group("feedfacefeedfacefeedface")),
            group("shop-builder".into()),
        ],
    };
    let plan = plan(&desired, &observed).unwrap();
    let action = |index: usize| {
        plan.steps
            .iter()
            .find(|s| s.id == observed.resources[index].id)
            .unwrap()
            .action
    };
    assert_eq!(action(2), Action::None, "the adopted builder's group stays");
    assert_eq!(action(3), Action::Delete, "a stray builder's group goes");
    assert_eq!(action(4), Action::Delete, "the old shared group goes");
    let current = plan
        .steps
        .iter()
        .find(|s| s.id == observed.resources[0].id)
        .unwrap();
    assert_eq!(current.action, Action::None);
    assert!(
        current
            .note
            .as_deref()
            .unwrap()
            .contains("the bake adopts it")
    );
    let stray = plan
        .steps
        .iter()
        .find(|s| s.id == observed.resources[1].id)
        .unwrap();
    assert_eq!(stray.action, Action::Delete);
}
