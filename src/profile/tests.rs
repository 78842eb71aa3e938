//! Profile loading and validation: a table of broken profiles with the exact message each gets.

use std::path::Path;

use super::load::load;

const BASE: &str = r#"stack = "demo"
region = "us-east-1"

[node]
image = "ami-0123456789abcdef0"

[database]

[cache]

[load_balancer]
[[load_balancer.listeners]]
port = 443
protocol = "HTTPS"
instance_port = 80
certificate = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
allow = ["0.0.0.0/0"]

[[load_balancer.listeners]]
port = 8443
protocol = "HTTPS"
instance_port = 8080
certificate = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
allow = ["10.0.0.0/8"]

[scaling]
min = 2
max = 6
"#;

/// A project directory with `profiles/` and the default boot template.
pub(super) fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("profiles")).unwrap();
    std::fs::create_dir_all(dir.path().join("templates")).unwrap();
    std::fs::write(
        dir.path().join("templates/boot.sh.j2"),
        "#!/bin/sh\necho {{ stack }}\n",
    )
    .unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

/// The errors (with hints) of loading `profiles/t.toml` holding `text`, with the temporary
/// directory replaced by `<project>`.
pub(super) fn errors_of(text: &str) -> Vec<String> {
    let dir = project(&[("profiles/t.toml", text)]);
    errors_in(dir.path(), "t")
}

pub(super) fn errors_in(dir: &Path, name: &str) -> Vec<String> {
    let selector = dir.join("profiles").join(format!("{name}.toml"));
    let result = load(selector.to_str().unwrap())
        .and_then(|loaded| crate::stack::check(&loaded, "us-east-1").map(|_| ()));
    match result {
        Ok(()) => vec![],
        Err(errors) => errors
            .0
            .iter()
            .map(|e| {
                let text = match &e.hint {
                    Some(hint) => format!("{e} | hint: {hint}"),
                    None => e.to_string(),
                };
                text.replace(&format!("{}/", dir.display()), "")
            })
            .collect(),
    }
}

/// BASE with `from` replaced by `to` (which must occur).
pub(super) fn with(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "BASE lacks {from:?}");
    BASE.replacen(from, to, 1)
}

#[test]
fn the_base_profile_is_valid() {
    assert_eq!(errors_of(BASE), Vec::<String>::new());
}

#[test]
fn broken_profiles_get_located_messages() {
    let cases: Vec<(String, &str)> = vec![
        (
            with("stack = \"demo\"", "stack = \"demo"),
            "profiles/t.toml:1:14: invalid basic string, expected `\"` | hint: the file is not valid TOML (https://toml.io)",
        ),
        (
            with(
                "region = \"us-east-1\"",
                "region = \"us-east-1\"\ncolour = \"blue\"",
            ),
            "profiles/t.toml:3:1: colour: unknown key `colour` | hint: allowed keys here: extends, stack, region, network, node, database, cache, load_balancer, scaling, alarms, logs, ssm, groups",
        ),
        (
            with("region = \"us-east-1\"", "regoin = \"us-east-1\""),
            "profiles/t.toml:2:1: regoin: unknown key `regoin` | hint: did you mean `region`?",
        ),
        (
            with("[database]\n", "[database]\nsize = 100\n"),
            "profiles/t.toml:8:1: database.size: unknown key `size` | hint: allowed keys here: engine_version, instance_class, allocated_storage, storage_type, encrypted, multi_az, port, name, username, backup_retention_days, deletion_protection, auto_minor_version_upgrade",
        ),
        (
            with("[database]\n", "[database]\nport = \"5432\"\n"),
            "profiles/t.toml:8:8: database.port: invalid type: string \"5432\", expected an integer from 1 to 65535",
        ),
        (
            with("[database]\n", "[database]\nport = 70000\n"),
            "profiles/t.toml:8:8: database.port: invalid value: integer `70000`, expected an integer from 1 to 65535",
        ),
        (
            with("stack = \"demo\"\n", ""),
            "profiles/t.toml:1:1: stack: missing required key | hint: add `stack = ...` to this table",
        ),
        (
            with("stack = \"demo\"", "stack = \"Demo_Stack\""),
            "profiles/t.toml:1:9: stack: `Demo_Stack` is not a valid stack name | hint: use lowercase letters, digits and single hyphens, starting with a letter and not ending with a hyphen",
        ),
        (
            with(
                "stack = \"demo\"",
                "stack = \"a-very-long-stack-name-for-elb\"",
            ),
            "profiles/t.toml:1:9: stack: `a-very-long-stack-name-for-elb` is too long: the load balancer name `a-very-long-stack-name-for-elb-lb` would have 33 characters, and AWS allows at most 32 | hint: use a stack name of at most 29 characters",
        ),
        (
            with("region = \"us-east-1\"", "region = \"useast1\""),
            "profiles/t.toml:2:10: region: `useast1` is not an AWS region | hint: did you mean `us-east-1`? (a region newer than this deployer: set DEPLOYER_SKIP_REGION_VALIDATION=1)",
        ),
        (
            with("[database]\n", "[database]\nport = 80\n"),
            "profiles/t.toml:8:8: database.port: 80 is out of range | hint: an RDS PostgreSQL port must be from 1150 to 65535",
        ),
        (
            with("[database]\n", "[database]\nengine_version = \"9.3\"\n"),
            "profiles/t.toml:8:18: database.engine_version: PostgreSQL 9.3 is older than RDS supports | hint: use a version RDS creates: 14 to 18 (plan checks the region)",
        ),
        (
            with("[database]\n", "[database]\nbackup_retention_days = 3\n"),
            "profiles/t.toml:8:25: database.backup_retention_days: 3 days is below the baseline of 7 | hint: keep automated backups for 7 to 35 days",
        ),
        (
            with("[database]\n", "[database]\nusername = \"rdsadmin\"\n"),
            "profiles/t.toml:8:12: database.username: `rdsadmin` is reserved by RDS | hint: choose another master user name, e.g. deployer",
        ),
        (
            with("[cache]\n", "[cache]\nengine_version = \"3.2.0\"\n"),
            "profiles/t.toml:10:18: cache.engine_version: Redis 3.2.0 is older than 3.2.4 | hint: use Redis 3.2.4 or later (replication groups with failover need it)",
        ),
        (
            with("[cache]\n", "[cache]\nreplicas = 0\n"),
            "profiles/t.toml:9:2: cache.automatic_failover: automatic failover needs at least one replica | hint: set replicas = 1 or more, or automatic_failover = false",
        ),
        (
            with("[cache]\n", "[cache]\nautomatic_failover = false\n"),
            "profiles/t.toml:9:2: cache.multi_az: Multi-AZ needs automatic failover | hint: set automatic_failover = true, or multi_az = false",
        ),
        (
            with("[cache]\n", "[cache]\nnode_type = \"m3.medium\"\n"),
            "profiles/t.toml:10:13: cache.node_type: `m3.medium` is not an ElastiCache node type | hint: node types look like cache.m6g.large or cache.r6g.large",
        ),
        (
            with("[cache]\n", "[cache]\nnode_type = \"cache.m3.medium\"\n"),
            "profiles/t.toml:10:13: cache.node_type: `cache.m3.medium` is a previous-generation node type: ElastiCache no longer creates clusters of it | hint: use a current-generation type, such as cache.m6g.large (the smallest current general-purpose type)",
        ),
        (
            with("[cache]\n", "[cache]\nnode_type = \"cache.r6gd.xlarge\"\n"),
            "profiles/t.toml:10:13: cache.node_type: `cache.r6gd.xlarge` is a data-tiering node type, which needs data tiering; deployer does not turn it on | hint: use the r6g node type of the same size",
        ),
        (
            with(
                "[cache]\n",
                "[cache]\nengine_version = \"4\"\nnode_type = \"cache.t4g.micro\"\n",
            ),
            "profiles/t.toml:11:13: cache.node_type: ElastiCache runs t4g node types on Redis 5.0.6 or later, not 4 | hint: use engine_version = \"7\" (the newest 7.x), or an m5, r5 or t3 node type",
        ),
        (
            with("min = 2\nmax = 6", "min = 7\nmax = 6"),
            "profiles/t.toml:27:7: scaling.min: min (7) is greater than max (6) | hint: min <= desired <= max",
        ),
        (
            with("max = 6", "max = 6\ndesired = 9"),
            "profiles/t.toml:29:11: scaling.desired: desired (9) is outside min..max (2..6) | hint: min <= desired <= max",
        ),
        (
            with(
                "certificate = \"arn:aws:acm:us-east-1:123456789012:certificate/abc\"\nallow = [\"0.0.0.0/0\"]",
                "allow = [\"0.0.0.0/0\"]",
            ),
            "profiles/t.toml:12:1: load_balancer.listeners[0]: the HTTPS listener on port 443 needs a certificate | hint: add certificate = \"arn:aws:acm:...\" (an ACM or IAM certificate ARN), or use protocol = \"HTTP\"",
        ),
        (
            with(
                "protocol = \"HTTPS\"\ninstance_port = 80",
                "protocol = \"HTTP\"\ninstance_port = 80",
            ),
            "profiles/t.toml:16:15: load_balancer.listeners[0].certificate: a HTTP listener takes no certificate | hint: certificates are for HTTPS and SSL listeners; remove it or change the protocol",
        ),
        (
            with(
                "protocol = \"HTTPS\"\ninstance_port = 80",
                "protocol = \"FTP\"\ninstance_port = 80",
            ),
            "profiles/t.toml:14:12: load_balancer.listeners[0].protocol: `FTP` is not a valid value | hint: allowed values: HTTP, HTTPS, TCP, SSL",
        ),
        (
            with("allow = [\"10.0.0.0/8\"]", "allow = [\"10.1.2.3/8\"]"),
            "profiles/t.toml:24:10: load_balancer.listeners[1].allow[0]: `10.1.2.3/8` has host bits set: it is not a network address | hint: did you mean `10.0.0.0/8`?",
        ),
        (
            with(
                "certificate = \"arn:aws:acm:us-east-1:",
                "certificate = \"arn:aws:acm:eu-west-1:",
            ),
            "profiles/t.toml:16:15: load_balancer.listeners[0].certificate: the certificate is in eu-west-1 and the stack in us-east-1: a load balancer can use an ACM certificate of its own region only | hint: request or import the certificate in us-east-1 and use its ARN",
        ),
        (
            with("allow = [\"10.0.0.0/8\"]", "allow = [\"10.0.0.0/33\"]"),
            "profiles/t.toml:24:10: load_balancer.listeners[1].allow[0]: `10.0.0.0/33` is not a CIDR block | hint: CIDR blocks look like 203.0.113.0/24 or 0.0.0.0/0",
        ),
        (
            with("port = 8443", "port = 443"),
            "profiles/t.toml:20:8: load_balancer.listeners[1].port: port 443 has two listeners | hint: each load balancer port may have one listener",
        ),
        (
            with("allow = [\"10.0.0.0/8\"]", "allow = []"),
            "profiles/t.toml:24:9: load_balancer.listeners[1].allow: no CIDR may reach this listener | hint: list who may connect, e.g. allow = [\"0.0.0.0/0\"] for the public or [\"10.0.0.0/8\"]",
        ),
        (
            with(
                "[load_balancer]\n",
                "[load_balancer]\nhealth_check = { target = \"HTTP:80\" }\n",
            ),
            "profiles/t.toml:12:27: load_balancer.health_check.target: an HTTP health check needs a path, e.g. HTTP:80/health | hint: write PROTOCOL:PORT/path for HTTP and HTTPS (e.g. HTTP:80/health), PROTOCOL:PORT for TCP and SSL",
        ),
        (
            with(
                "[load_balancer]\n",
                "[load_balancer]\nhealth_check = { interval = 30 }\n",
            ),
            "profiles/t.toml:12:1: load_balancer.health_check.timeout: the timeout (59 s) must be shorter than the interval (30 s) | hint: lower the timeout or raise the interval",
        ),
        (
            with("[load_balancer]\n", "[load_balancer]\nidle_timeout = 0\n"),
            "profiles/t.toml:12:16: load_balancer.idle_timeout: 0 is out of range | hint: the idle timeout in seconds must be from 1 to 4000",
        ),
        (
            with("image = \"ami-0123456789abcdef0\"", "image = \"ubuntu\""),
            "profiles/t.toml:5:9: node.image: `ubuntu` is not an AMI id | hint: AMI ids look like ami-0a1b2c3d4e5f67890",
        ),
        (
            with(
                "region = \"us-east-1\"",
                "region = \"us-east-1\"\n\n[network]\nvpc = \"my-vpc\"",
            ),
            "profiles/t.toml:5:7: network.vpc: `my-vpc` is not a VPC id | hint: give a VPC id such as vpc-0a1b2c3d, \"create\" for one deployer creates, or \"default\" for the region's default VPC",
        ),
        (
            with(
                "region = \"us-east-1\"",
                "region = \"us-east-1\"\n\n[network]\nsubnets = [\"subnet-0123abcd\"]",
            ),
            "profiles/t.toml:5:11: network.subnets: 1 subnet(s) given; at least two are needed | hint: give subnets in at least two Availability Zones, or leave `subnets` out to use the VPC's",
        ),
        (
            with(
                "region = \"us-east-1\"",
                "region = \"us-east-1\"\n\n[network]\nsubnets = [\"subnet-0123abcd\", \"subnet-0123abce\"]\nnode_subnets = [\"subnet-0123abcf\", \"subnet-0123abd0\"]",
            ),
            "profiles/t.toml:5:11: network.subnets: `subnets` (shared by every tier) is given with a tier's own subnets | hint: give either `subnets`, or `load_balancer_subnets` and `node_subnets` (and `data_subnets` if the data tier has its own)",
        ),
        (
            with(
                "region = \"us-east-1\"",
                "region = \"us-east-1\"\n\n[network]\nnode_subnets = [\"subnet-0123abcf\", \"subnet-0123abd0\"]",
            ),
            "profiles/t.toml:5:16: network.node_subnets: `node_subnets` is given without `load_balancer_subnets` | hint: give the load balancer's (public) subnets too, or `subnets` for one set that every tier shares",
        ),
        (
            with(
                "region = \"us-east-1\"",
                "region = \"us-east-1\"\n\n[network]\nload_balancer_subnets = [\"subnet-0123abcf\", \"subnet-0123abd0\"]\nnode_subnets = [\"subnet-0123abd1\", \"subnet-0123abd1\"]",
            ),
            "profiles/t.toml:6:36: network.node_subnets[1]: `subnet-0123abd1` is listed twice",
        ),
        (
            with(
                "image = \"ami-0123456789abcdef0\"",
                "image = \"ami-0123456789abcdef0\"\nvolume_type = \"ssd\"",
            ),
            "profiles/t.toml:6:15: node.volume_type: `ssd` is not an EBS volume type | hint: allowed values: gp2, gp3, io1, io2, st1, sc1, standard",
        ),
        (
            with(
                "image = \"ami-0123456789abcdef0\"",
                "image = \"ami-0123456789abcdef0\"\nboot_template = \"templates/missing.j2\"",
            ),
            "profiles/t.toml:6:17: node.boot_template: cannot read the boot template templates/missing.j2: No such file or directory (os error 2) | hint: paths are relative to the project directory (the parent of profiles/)",
        ),
    ];
    let group = |extra: &str| {
        format!(
            "{BASE}\n[groups.manager]\nports = [9091]\n{extra}\n[groups.manager.node]\nimage = \"ami-0123456789abcdef0\"\n"
        )
    };
    let cases: Vec<(String, &str)> = cases
        .into_iter()
        .chain([
            (
                BASE.to_string() + "\n[groups.db.node]\nimage = \"ami-0123456789abcdef0\"\n",
                "profiles/t.toml:30:9: groups.db: `db` cannot name a group: its resources' names would collide with the stack's own | hint: pick another name; these are taken: lb, nodes, node, db, cache, builder, names ending in -lb and names starting with builder-",
            ),
            (
                BASE.to_string() + "\n[groups.builder-1.node]\nimage = \"ami-0123456789abcdef0\"\n",
                "profiles/t.toml:30:9: groups.builder-1: `builder-1` cannot name a group: its resources' names would collide with the stack's own | hint: pick another name; these are taken: lb, nodes, node, db, cache, builder, names ending in -lb and names starting with builder-",
            ),
            (
                group("").replace("ports = [9091]\n", ""),
                "profiles/t.toml:30:9: groups.manager.ports: the group has a load balancer but no ports for it to listen on | hint: list the ports the nodes reach the group on, e.g. ports = [9091], or set load_balancer = false",
            ),
            (
                group("load_balancer = false\nhealth_check = \"TCP:9091\""),
                "profiles/t.toml:33:16: groups.manager.health_check: a health check needs the group's load balancer | hint: remove health_check, or set load_balancer = true",
            ),
            (
                group("[groups.manager.scaling]\nmin = 3\nmax = 2\n"),
                "profiles/t.toml:33:7: groups.manager.scaling.min: min (3) is greater than max (2) | hint: min <= desired <= max",
            ),
            (
                group("[groups.manager.scaling]\n[[groups.manager.scaling.scheduled]]\nname = \"night\"\n"),
                "profiles/t.toml:33:26: groups.manager.scaling.scheduled: unknown key `scheduled` | hint: allowed keys here: min, max, desired, health_check_grace_period, roll_batch, roll_timeout, termination_policies",
            ),
            (
                group("") + "instance_type = \"huge\"\n",
                "profiles/t.toml:35:17: groups.manager.node.instance_type: `huge` is not an EC2 instance type | hint: instance types look like m5.large or t3.medium",
            ),
        ])
        .collect();
    let mut failures = Vec::new();
    for (text, expected) in &cases {
        let got = errors_of(text);
        if got != vec![expected.to_string()] {
            failures.push(format!("expected: {expected}\n     got: {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn extends_merges_tables_key_by_key() {
    let child =
        "extends = \"base\"\nstack = \"child\"\n\n[database]\ninstance_class = \"db.r6g.large\"\n";
    let dir = project(&[("profiles/base.toml", BASE), ("profiles/child.toml", child)]);
    let loaded = load(dir.path().join("profiles/child.toml").to_str().unwrap()).unwrap();
    let profile = &loaded.profile;
    assert_eq!(profile.stack, "child");
    let database = profile.database.as_ref().unwrap();
    // Overridden by the child, kept from the base, and defaulted.
    assert_eq!(database.instance_class, "db.r6g.large");
    assert_eq!(profile.load_balancer.listeners.len(), 2);
    assert_eq!(database.allocated_storage, 250);
    assert_eq!(profile.scaling.max, 6);
}

#[test]
fn an_error_in_an_extended_profile_names_that_file() {
    let base = with("[database]\n", "[database]\nport = 80\n");
    let child = "extends = \"base\"\nstack = \"child\"\n";
    let dir = project(&[
        ("profiles/base.toml", &base),
        ("profiles/child.toml", child),
    ]);
    assert_eq!(
        errors_in(dir.path(), "child"),
        vec![
            "profiles/base.toml:8:8: database.port: 80 is out of range | hint: an RDS PostgreSQL port must be from 1150 to 65535"
                .to_string()
        ]
    );
}

#[test]
fn extends_of_a_missing_profile_or_a_cycle_is_an_error() {
    let dir = project(&[("profiles/a.toml", "extends = \"nowhere\"\nstack = \"a\"\n")]);
    let errors = errors_in(dir.path(), "a");
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with(
            "profiles/a.toml:1:11: extends: cannot read the extended profile profiles/nowhere.toml"
        ),
        "{errors:?}"
    );
    assert!(
        errors[0].ends_with("| hint: profiles in profiles: a"),
        "{errors:?}"
    );

    let dir = project(&[
        ("profiles/a.toml", "extends = \"b\"\nstack = \"a\"\n"),
        ("profiles/b.toml", "extends = \"a\"\n"),
    ]);
    let errors = errors_in(dir.path(), "a");
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].contains("extends: `extends` makes a cycle"),
        "{errors:?}"
    );
    assert!(errors[0].starts_with("profiles/b.toml:1:11:"), "{errors:?}");
}

#[test]
fn a_tls_policy_without_a_secure_listener_is_a_located_warning() {
    let text = BASE
        .replace("protocol = \"HTTPS\"", "protocol = \"HTTP\"")
        .replace(
            "certificate = \"arn:aws:acm:us-east-1:123456789012:certificate/abc\"\n",
            "",
        );
    let plain = project(&[("profiles/t.toml", &text)]);
    let loaded = load(plain.path().join("profiles/t.toml").to_str().unwrap()).unwrap();
    let desired = crate::stack::check(&loaded, "us-east-1").unwrap();
    assert!(desired.warnings.is_empty(), "{:?}", desired.warnings);

    let with_policy = text.replace(
        "[load_balancer]\n",
        "[load_balancer]\ntls_policy = \"ELBSecurityPolicy-TLS-1-2-2017-01\"\n",
    );
    assert_ne!(
        with_policy, text,
        "the base profile has a [load_balancer] table"
    );
    let dir = project(&[("profiles/t.toml", &with_policy)]);
    let loaded = load(dir.path().join("profiles/t.toml").to_str().unwrap()).unwrap();
    let desired = crate::stack::check(&loaded, "us-east-1").unwrap();
    assert_eq!(desired.warnings.len(), 1, "{:?}", desired.warnings);
    assert!(
        desired.warnings[0]
            .contains("load_balancer.tls_policy: has no effect: no listener is HTTPS or SSL"),
        "{:?}",
        desired.warnings
    );
}

#[test]
fn a_mistyped_extends_gets_the_name_meant_and_a_child_must_name_its_own_stack() {
    let dir = project(&[
        ("profiles/local.toml", "stack = \"local\"\n"),
        ("profiles/a.toml", "extends = \"lcoal\"\nstack = \"a\"\n"),
        ("profiles/copy.toml", "extends = \"local\"\n"),
    ]);
    let errors = errors_in(dir.path(), "a");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("| hint: did you mean `local`?"),
        "{errors:?}"
    );

    // A copy of a profile that forgot its stack name would change the original's stack.
    let errors = errors_in(dir.path(), "copy");
    assert_eq!(
        errors,
        [
            "profiles/copy.toml:1:11: stack: this profile extends profiles/local.toml but names no `stack` of its own: it would plan, change and destroy the stack `local` of the profile it extends | hint: add `stack = \"copy\"` (the stack this profile deploys) to profiles/copy.toml"
        ]
    );
}

#[test]
fn a_template_with_an_undefined_variable_is_refused_with_its_line() {
    let dir = project(&[
        ("profiles/t.toml", &with("[cache]\n", "")),
        (
            "templates/boot.sh.j2",
            "#!/bin/sh\necho {{ database.host }}\necho {{ cache.host }}\n",
        ),
    ]);
    let errors = errors_in(dir.path(), "t");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with(
            "profiles/t.toml:4:2: node.boot_template: templates/boot.sh.j2:3: undefined value"
        ),
        "{errors:?}"
    );
    assert!(errors[0].contains("hint: variables this template may use: stack, region, ports, listeners, health_check, vars, database (host, port, name, username, secret_arn), log_group;"), "{errors:?}");
}

#[test]
fn several_problems_are_reported_together() {
    let text = with("min = 2\nmax = 6", "min = 7\nmax = 6")
        .replace("port = 443", "port = 0")
        .replace("[database]\n", "[database]\nport = 80\n");
    let errors = errors_of(&text);
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors[0].contains("database.port"));
    assert!(errors[1].contains("load_balancer.listeners[0].port"));
    assert!(errors[2].contains("scaling.min"));
}

#[test]
fn the_shipped_profiles_are_valid() {
    for name in ["prod", "local"] {
        let path = crate::profile::load::profile_path(name);
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
        let loaded = load(path.to_str().unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let desired = crate::stack::check(&loaded, "us-east-1").unwrap();
        assert!(
            desired.warnings.is_empty(),
            "{name}: {:?}",
            desired.warnings
        );
    }
}

/// The shipped bake sets up a web server that answers prod's health target on port 80 and every
/// port prod's listeners forward to (443 -> 80, 8443 -> 8080): on AWS a node the balancer does not
/// pass never serves, and apply waits for it.
#[test]
fn the_shipped_bake_serves_the_health_target_and_every_instance_port() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/prod.toml");
    let loaded = load(path.to_str().unwrap()).unwrap();
    let desired = crate::stack::check(&loaded, "us-east-1").unwrap();
    let image = desired
        .resources
        .iter()
        .find(|r| r.id.kind == crate::resources::image::KIND)
        .expect("prod bakes its image");
    let spec: crate::resources::image::Spec = serde_json::from_value(image.spec.clone()).unwrap();
    let script = &spec.user_data;
    let config = script
        .split("<<'NGINX'\n")
        .nth(1)
        .and_then(|rest| rest.split("\nNGINX\n").next())
        .unwrap_or_else(|| panic!("no nginx configuration in the bake:\n{script}"));
    for port in [80, 8080] {
        assert!(
            config.contains(&format!("server {{\n    listen {port};\n    location = /health {{ return 200 \"ok\\n\"; }}\n")),
            "port {port}:\n{config}"
        );
    }
    assert_eq!(config.matches("server {").count(), 2, "{config}");
    assert!(
        script.contains("systemctl enable nginx.service"),
        "{script}"
    );
}

/// A deterministic stream of numbers (a linear congruential generator), so that a failing
/// mutation can be found again from its index.
struct Numbers(u64);

impl Numbers {
    fn next(&mut self, bound: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % bound.max(1)
    }
}

/// Mutate `text`: delete, duplicate or swap lines, or drop, insert or replace characters with
/// ones that matter to TOML and templates.
fn mutate(text: &str, numbers: &mut Numbers) -> String {
    const ALPHABET: &[char] = &[
        '"',
        '\'',
        '[',
        ']',
        '{',
        '}',
        '=',
        '.',
        ',',
        '#',
        '\n',
        ' ',
        '0',
        '9',
        '-',
        'a',
        'z',
        '%',
        '\\',
        '\u{e9}',
        '\u{1f600}',
    ];
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for _ in 0..=numbers.next(3) {
        if lines.is_empty() {
            lines.push(String::new());
        }
        let at = numbers.next(lines.len());
        match numbers.next(6) {
            0 => {
                lines.remove(at);
            }
            1 => {
                let copy = lines[at].clone();
                lines.insert(at, copy);
            }
            2 => {
                let other = numbers.next(lines.len());
                lines.swap(at, other);
            }
            _ => {
                let mut chars: Vec<char> = lines[at].chars().collect();
                let position = numbers.next(chars.len() + 1);
                let c = ALPHABET[numbers.next(ALPHABET.len())];
                match numbers.next(3) {
                    0 if position < chars.len() => {
                        chars.remove(position);
                    }
                    1 if position < chars.len() => chars[position] = c,
                    _ => chars.insert(position, c),
                }
                lines[at] = chars.into_iter().collect();
            }
        }
    }
    lines.join("\n")
}

#[test]
fn randomly_broken_profiles_and_templates_give_errors_never_panics() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let prod = std::fs::read_to_string(root.join("profiles/prod.toml")).unwrap();
    let local = std::fs::read_to_string(root.join("profiles/local.toml")).unwrap();
    let boot = std::fs::read_to_string(root.join("templates/boot.sh.j2")).unwrap();
    let bake = std::fs::read_to_string(root.join("templates/bake.sh.j2")).unwrap();
    let mut numbers = Numbers(20261121);
    let (mut accepted, mut refused) = (0, 0);
    for case in 0..1500 {
        let (profile, boot_text, bake_text) = match case % 3 {
            0 => (mutate(&prod, &mut numbers), boot.clone(), bake.clone()),
            1 => (prod.clone(), mutate(&boot, &mut numbers), bake.clone()),
            _ => (prod.clone(), boot.clone(), mutate(&bake, &mut numbers)),
        };
        let dir = project(&[
            ("profiles/prod.toml", &profile),
            ("profiles/local.toml", &local),
            ("templates/boot.sh.j2", &boot_text),
            ("templates/bake.sh.j2", &bake_text),
        ]);
        let path = dir.path().join("profiles/local.toml");
        let outcome = std::panic::catch_unwind(|| {
            load(path.to_str().unwrap())
                .and_then(|loaded| crate::stack::check(&loaded, "us-east-1"))
        });
        match outcome {
            Ok(Ok(_)) => accepted += 1,
            Ok(Err(errors)) => {
                refused += 1;
                // Every error says where: a file, and for profile files a line.
                for error in &errors.0 {
                    assert!(!error.file.is_empty(), "case {case}: {error}");
                    assert!(!error.message.is_empty(), "case {case}: {error}");
                }
            }
            Err(_) => {
                panic!("case {case} panicked:\n{profile}\n---\n{boot_text}\n---\n{bake_text}")
            }
        }
    }
    assert!(
        accepted > 0 && refused > 0,
        "accepted {accepted}, refused {refused}"
    );
}
