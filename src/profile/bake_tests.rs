//! A profile's bake: its settings, its template's power-off, and `image` against `[node.bake]`
//! across `extends`.

use super::load::load;
use super::tests::{errors_in, errors_of, project, with};

const BAKE: &str = "[node.bake]\nbase_image = \"ami-0123456789abcdef1\"\n";

/// BASE baking instead of bringing an image, with `extra` lines in [node.bake].
fn baking(extra: &str) -> String {
    with("image = \"ami-0123456789abcdef0\"\n", "")
        .replace("[database]\n", &format!("{BAKE}{extra}\n[database]\n"))
}

#[test]
fn bake_settings_are_checked() {
    let dir = project(&[
        ("profiles/t.toml", &baking("")),
        (
            "templates/bake.sh.j2",
            "#!/bin/sh\necho {{ stack }}\necho deployer-bake: done\npoweroff\n",
        ),
    ]);
    assert_eq!(errors_in(dir.path(), "t"), Vec::<String>::new());

    let cases: Vec<(String, &str)> = vec![
        (
            with("[database]\n", &format!("{BAKE}\n[database]\n")),
            "profiles/t.toml:5:9: node.image: both `image` and [node.bake] are given | hint: give `image` to bring your own AMI, or [node.bake] to bake one, not both",
        ),
        (
            with("image = \"ami-0123456789abcdef0\"\n", ""),
            "profiles/t.toml:4:1: node: no image: neither `image` nor [node.bake] is given | hint: add image = \"ami-...\" (an existing AMI), or a [node.bake] table with base_image",
        ),
        (
            baking("timeout = \"half an hour\""),
            "profiles/t.toml:8:11: node.bake.timeout: `half an hour` is not a duration | hint: write a number with s, m or h: 90s, 30m, 1h",
        ),
        (
            baking("keep_images = 0"),
            "profiles/t.toml:8:15: node.bake.keep_images: 0 is out of range | hint: the number of images to keep must be from 1 to 100",
        ),
        (
            baking("volume_size = 50"),
            "profiles/t.toml:4:2: node.volume_size: the nodes' volume (20 GiB) is smaller than the baked image's (50 GiB) | hint: a node's root volume must be at least as big as its image's",
        ),
        (
            baking("").replace("base_image = \"ami-0123456789abcdef1\"", "base_image = 42"),
            "profiles/t.toml:7:14: node.bake.base_image: expected an AMI id, or a lookup { owner = \"...\", name = \"...\" }",
        ),
        (
            baking("").replace(
                "base_image = \"ami-0123456789abcdef1\"",
                "base_image = { owner = \"someone\", name = \"al2023-*\" }",
            ),
            "profiles/t.toml:7:24: node.bake.base_image.owner: `someone` is not an image owner | hint: give a 12-digit account id, or amazon, aws-marketplace or self",
        ),
    ];
    let mut failures = Vec::new();
    for (text, expected) in &cases {
        let got = errors_of(text);
        if got != vec![expected.to_string()] {
            failures.push(format!("expected: {expected}\n     got: {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_bake_template_without_a_power_off_is_a_warning_and_its_variables_are_bake_time_ones() {
    let dir = project(&[
        ("profiles/t.toml", &baking("")),
        (
            "templates/bake.sh.j2",
            "#!/bin/sh\necho {{ stack }}\n# done\n",
        ),
    ]);
    // Without the success marker no bake could be imaged: refused at the template's key.
    let errors = errors_in(dir.path(), "t");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("node.bake.template: templates/bake.sh.j2 never prints the bake's success marker `deployer-bake: done`"),
        "{errors:?}"
    );
    std::fs::write(
        dir.path().join("templates/bake.sh.j2"),
        "#!/bin/sh\necho {{ stack }}\necho deployer-bake: done\n# done\n",
    )
    .unwrap();
    let loaded = load(dir.path().join("profiles/t.toml").to_str().unwrap()).unwrap();
    let desired = crate::stack::check(&loaded, "us-east-1").unwrap();
    assert_eq!(desired.warnings.len(), 1);
    assert!(
        desired.warnings[0].contains("node.bake.template: ")
            && desired.warnings[0].contains("templates/bake.sh.j2 does not end with a power-off"),
        "{:?}",
        desired.warnings
    );

    // Endpoints do not exist at bake time: using one is an error, located in the template.
    std::fs::write(
        dir.path().join("templates/bake.sh.j2"),
        "#!/bin/sh\necho {{ database.host }}\necho deployer-bake: done\npoweroff\n",
    )
    .unwrap();
    let errors = errors_in(dir.path(), "t");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("node.bake.template: templates/bake.sh.j2:2: undefined value"),
        "{errors:?}"
    );
}

#[test]
fn image_and_bake_replace_each_other_across_extends() {
    let base = baking("");
    let with_image =
        "extends = \"base\"\nstack = \"mine\"\n[node]\nimage = \"ami-0123456789abcdef2\"\n";
    let dir = project(&[
        ("profiles/base.toml", &base),
        ("profiles/child.toml", with_image),
        (
            "templates/bake.sh.j2",
            "#!/bin/sh\necho deployer-bake: done\npoweroff\n",
        ),
    ]);
    let loaded = load(dir.path().join("profiles/child.toml").to_str().unwrap()).unwrap();
    assert_eq!(
        loaded.profile.node.image.as_deref(),
        Some("ami-0123456789abcdef2")
    );
    assert!(loaded.profile.node.bake.is_none());

    let baking_child = format!("extends = \"child\"\nstack = \"grandchild\"\n{BAKE}");
    std::fs::write(dir.path().join("profiles/grandchild.toml"), baking_child).unwrap();
    let loaded = load(
        dir.path()
            .join("profiles/grandchild.toml")
            .to_str()
            .unwrap(),
    )
    .unwrap();
    assert!(loaded.profile.node.image.is_none());
    assert!(loaded.profile.node.bake.is_some());
}
