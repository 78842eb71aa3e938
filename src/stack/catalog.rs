//! What AWS creates for the data tier: the engine version a profile's version resolves to (a
//! major takes the newest minor AWS still creates) and whether the database's class, storage
//! type and Multi-AZ are orderable with it. Problems are refusals that count only when the plan
//! would send the value to AWS (a create, or a change of one of those attributes): a running
//! database on a version AWS no longer creates is not broken.

use std::collections::BTreeSet;

use crate::ids::ResourceId;
use crate::profile::error::ProfileError;
use crate::profile::load::LoadedProfile;
use crate::resources::database::catalog::Orderable;
use crate::resources::{cache, database};

/// What the account says AWS creates for the data tier; `None` where it was not read (offline).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    /// The PostgreSQL versions RDS creates in the region.
    pub database_versions: Option<Vec<String>>,
    /// Every combination the profile's instance class is orderable with.
    pub database_orderable: Option<Vec<Orderable>>,
    /// The classes the resolved version is orderable on (read only when the profile's is not).
    pub database_classes: Option<BTreeSet<String>>,
    /// The Redis versions ElastiCache creates in the region.
    pub cache_versions: Option<Vec<String>>,
    /// The node types ElastiCache offers Redis on in the region: the profile's alone when it is
    /// offered, else all of them (for the hint).
    pub cache_node_types: Option<BTreeSet<String>>,
}

/// A problem that stops the run only when the plan creates `resource` (unless `live_only`), or
/// changes one of `attributes` on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub resource: ResourceId,
    pub attributes: Vec<&'static str>,
    pub error: ProfileError,
    /// Only a change of a live resource counts, not its create.
    pub live_only: bool,
}

fn parts(version: &str) -> Vec<u64> {
    version.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

fn newest<'a>(versions: impl Iterator<Item = &'a String>) -> Option<&'a String> {
    versions.max_by_key(|v| parts(v))
}

/// `requested` as AWS would create it: itself when AWS lists it, else the newest listed version
/// it is a prefix of (`16` -> `16.11`, `7` -> `7.1`). `Err(newest of its major)` when AWS lists
/// neither.
pub fn resolve(requested: &str, creatable: &[String]) -> Result<String, Option<String>> {
    if creatable.iter().any(|v| v == requested) {
        return Ok(requested.to_string());
    }
    let prefix = format!("{requested}.");
    if let Some(found) = newest(creatable.iter().filter(|v| v.starts_with(&prefix))) {
        return Ok(found.clone());
    }
    let major = format!("{}.", requested.split('.').next().unwrap_or(requested));
    Err(newest(creatable.iter().filter(|v| v.starts_with(&major))).cloned())
}

/// The majors among `versions`, oldest first (`14, 15, 16`).
fn majors(versions: &[String]) -> String {
    let mut found: Vec<u64> = versions.iter().map(|v| parts(v)[0]).collect();
    found.sort();
    found.dedup();
    let found: Vec<String> = found.iter().map(u64::to_string).collect();
    found.join(", ")
}

/// An engine whose version plan checks: where the profile says it, how messages name it, its
/// refusal's code, and the resource and attribute that send it to AWS.
struct Engine<'a> {
    key: &'static str,
    name: &'static str,
    service: &'static str,
    code: &'static str,
    resource: &'a ResourceId,
    attribute: &'static str,
}

/// The version to create with: the profile's as AWS lists it (noted when a major resolves to a
/// minor); or, when AWS would refuse it (a refusal is added), the newest of its major, which the
/// rest is checked against. None: AWS creates nothing of that major.
fn version(
    loaded: &LoadedProfile,
    engine: Engine<'_>,
    requested: &str,
    creatable: &[String],
    region: &str,
    notes: &mut Vec<String>,
    refusals: &mut Vec<Refusal>,
) -> Option<String> {
    let Engine {
        key,
        name,
        service,
        code,
        ..
    } = engine;
    let (error, newest) = match resolve(requested, creatable) {
        Ok(found) => {
            if found != requested {
                notes.push(
                    loaded
                        .error_at(
                            key,
                            format!(
                                "{name} {requested} is {found}, the newest {service} creates in {region}"
                            ),
                        )
                        .to_string(),
                );
            }
            return Some(found);
        }
        Err(Some(newest)) => {
            let major = newest.split('.').next().unwrap_or(&newest);
            let error = loaded
                .error_at(
                    key,
                    format!(
                        "{service} {} {name} {requested} in {region}",
                        if parts(requested) < parts(&newest) {
                            "no longer creates"
                        } else {
                            "does not create"
                        }
                    ),
                )
                .with_hint(format!(
                    "use {newest}, the newest {major} it creates, or the major alone (\"{major}\") for the newest at each create"
                ));
            (error, Some(newest))
        }
        Err(None) => (
            loaded
                .error_at(
                    key,
                    format!("{service} creates no {name} {requested} in {region}"),
                )
                .with_hint(format!(
                    "{service} creates {name} {} here",
                    majors(creatable)
                )),
            None,
        ),
    };
    refusals.push(Refusal {
        live_only: false,
        resource: engine.resource.clone(),
        attributes: vec![engine.attribute],
        error: error.with_code(code),
    });
    newest
}

/// The PostgreSQL version to create the database with (`None`: not checked, the profile's own),
/// and the refusals of its version, class, storage type and Multi-AZ.
pub(super) fn database(
    loaded: &LoadedProfile,
    catalog: &Catalog,
    region: &str,
    resource: &ResourceId,
    notes: &mut Vec<String>,
    refusals: &mut Vec<Refusal>,
) -> Option<String> {
    let db = loaded.profile.database.as_ref()?;
    let creatable = catalog.database_versions.as_ref()?;
    // A refused version is followed by the class checks against the newest of its major, so
    // that one plan reports both.
    let resolved = version(
        loaded,
        Engine {
            key: "database.engine_version",
            name: "PostgreSQL",
            service: "RDS",
            code: "database.version-not-creatable",
            resource,
            attribute: database::ENGINE_VERSION,
        },
        &db.engine_version,
        creatable,
        region,
        notes,
        refusals,
    )?;
    let Some(orderable) = &catalog.database_orderable else {
        return Some(resolved);
    };
    let mut refuse = |attributes: Vec<&'static str>, error: ProfileError| {
        refusals.push(Refusal {
            live_only: false,
            resource: resource.clone(),
            attributes,
            error,
        })
    };
    let combos: Vec<&Orderable> = orderable.iter().filter(|o| o.version == resolved).collect();
    let class = &db.instance_class;
    let changed = vec![
        database::ENGINE_VERSION,
        database::INSTANCE_CLASS,
        database::STORAGE_TYPE,
        database::MULTI_AZ,
    ];
    if combos.is_empty() {
        let message = if orderable.is_empty() {
            format!("RDS runs no PostgreSQL on {class} in {region}")
        } else {
            format!("RDS does not run PostgreSQL {resolved} on {class} in {region}")
        };
        let hint = match same_size("db", class, catalog.database_classes.as_ref()) {
            Some(other) => format!(
                "use {other}, the current-generation class of the same size that PostgreSQL {resolved} runs on"
            ),
            None => format!(
                "`aws rds describe-orderable-db-instance-options --engine postgres --engine-version {resolved}` lists the classes it runs on"
            ),
        };
        refuse(
            changed,
            loaded
                .error_at("database.instance_class", message)
                .with_code("database.class-not-orderable")
                .with_hint(hint),
        );
        return Some(resolved);
    }
    let storage = &db.storage_type;
    if !combos.iter().any(|o| &o.storage_type == storage) {
        let offered: BTreeSet<&str> = combos.iter().map(|o| o.storage_type.as_str()).collect();
        refuse(
            changed,
            loaded
                .error_at(
                    "database.storage_type",
                    format!("RDS offers no {storage} storage for PostgreSQL {resolved} on {class}"),
                )
                .with_code("database.storage-not-orderable")
                .with_hint(format!(
                    "storage types offered: {}",
                    offered.into_iter().collect::<Vec<_>>().join(", ")
                )),
        );
    } else if db.multi_az
        && !combos
            .iter()
            .any(|o| &o.storage_type == storage && o.multi_az)
    {
        refuse(
            changed,
            loaded
                .error_at(
                    "database.multi_az",
                    format!("RDS offers no Multi-AZ PostgreSQL {resolved} on {class} with {storage} storage"),
                )
                .with_code("database.multi-az-not-orderable")
                .with_hint("choose a class that is Multi-AZ capable, or multi_az = false"),
        );
    }
    Some(resolved)
}

/// The Redis version to create the cache with (`None`: not checked), or its refusal.
pub(super) fn cache(
    loaded: &LoadedProfile,
    catalog: &Catalog,
    region: &str,
    resource: &ResourceId,
    notes: &mut Vec<String>,
    refusals: &mut Vec<Refusal>,
) -> Option<String> {
    let cache = loaded.profile.cache.as_ref()?;
    let node_type = &cache.node_type;
    if let Some(offered) = &catalog.cache_node_types
        && !offered.contains(node_type)
    {
        let hint = match same_size("cache", node_type, Some(offered)) {
            Some(other) => format!(
                "use {other}, the current-generation node type of the same size offered here"
            ),
            None => "`aws elasticache describe-reserved-cache-nodes-offerings --product-description redis` lists the node types offered here".into(),
        };
        refusals.push(Refusal {
            live_only: false,
            resource: resource.clone(),
            attributes: vec![cache::NODE_TYPE],
            error: loaded
                .error_at(
                    "cache.node_type",
                    format!("ElastiCache offers no Redis on {node_type} in {region}"),
                )
                .with_code("cache.node-type-not-offered")
                .with_hint(hint),
        });
    }
    let creatable = catalog.cache_versions.as_ref()?;
    version(
        loaded,
        Engine {
            key: "cache.engine_version",
            name: "Redis",
            service: "ElastiCache",
            code: "cache.version-not-creatable",
            resource,
            attribute: cache::ENGINE_VERSION,
        },
        &cache.engine_version,
        creatable,
        region,
        notes,
        refusals,
    )
}

/// The families a class of a family gives way to, newest first, by its letter (m, r, t).
const CURRENT: &[&str] = &[
    "m6i", "m7g", "m6g", "m5", "r6i", "r7g", "r6g", "r5", "t3", "t4g",
];

/// A current-generation class (`db.` or `cache.`, as `service` says) of the same size as `class`
/// that `offered` holds, of the same kind (general purpose, memory, burstable) where one is.
fn same_size(service: &str, class: &str, offered: Option<&BTreeSet<String>>) -> Option<String> {
    let offered = offered?;
    let mut parts = class.splitn(3, '.');
    let (_, family, size) = (parts.next()?, parts.next()?, parts.next()?);
    let letter = family.chars().next()?;
    let candidates = CURRENT
        .iter()
        .filter(|f| f.starts_with(letter))
        .chain(CURRENT.iter().filter(|f| !f.starts_with(letter)));
    candidates
        .map(|f| format!("{service}.{f}.{size}"))
        .find(|c| offered.contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::load::load;
    use crate::resources::observed::Observed;
    use crate::stack::{Desired, Environment, build};

    /// What the fixture account orders: `class` -> (storage types, Multi-AZ) for every version.
    fn catalog_for(class: &str) -> Catalog {
        let versions = list(&["15.15", "16.9", "16.11", "17.7"]);
        let (storage, multi_az): (&[&str], bool) = match class {
            "db.m6i.large" => (&["gp2", "gp3", "standard"], true),
            "db.m6g.large" => (&["gp2", "gp3"], true),
            "db.t3.micro" => (&["gp2"], false),
            _ => (&[], false),
        };
        let orderable = versions
            .iter()
            .flat_map(|v| {
                storage.iter().map(move |s| Orderable {
                    version: v.clone(),
                    storage_type: s.to_string(),
                    multi_az,
                })
            })
            .collect();
        Catalog {
            database_versions: Some(versions),
            database_orderable: Some(orderable),
            database_classes: Some(["db.m6i.large", "db.m6g.large"].map(String::from).into()),
            cache_versions: Some(list(&["5.0.6", "6.2", "7.0", "7.1"])),
            cache_node_types: None,
        }
    }

    /// The node types the fixture region offers Redis on.
    const CACHE_NODE_TYPES: &[&str] = &[
        "cache.m6g.large",
        "cache.m7g.large",
        "cache.r7g.large",
        "cache.t4g.micro",
        "cache.t4g.medium",
    ];

    /// What `offered_node_types` answers in the fixture region for `node_type`.
    fn offered(node_type: &str) -> BTreeSet<String> {
        if CACHE_NODE_TYPES.contains(&node_type) {
            [node_type.to_string()].into()
        } else {
            CACHE_NODE_TYPES.iter().map(|t| t.to_string()).collect()
        }
    }

    /// The plan tests' stack with `database` and `cache` lines, built against the fixture.
    fn built(database: &str, cache: &str) -> Desired {
        let profile = crate::plan::tests::PROFILE
            .replace("[database]\n", &format!("[database]\n{database}"))
            .replace("[cache]\n", &format!("[cache]\n{cache}"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("profiles")).unwrap();
        std::fs::create_dir_all(dir.path().join("templates")).unwrap();
        std::fs::write(dir.path().join("templates/boot.sh.j2"), "boot\n").unwrap();
        let path = dir.path().join("profiles/shop.toml");
        std::fs::write(&path, profile).unwrap();
        let loaded = load(path.to_str().unwrap()).unwrap();
        let mut environment = Environment::offline("us-east-1");
        let class = loaded
            .profile
            .database
            .as_ref()
            .map(|d| d.instance_class.clone())
            .unwrap_or_default();
        environment.catalog = catalog_for(&class);
        environment.catalog.cache_node_types =
            loaded.profile.cache.as_ref().map(|c| offered(&c.node_type));
        let mut desired = build(&loaded, &environment).unwrap();
        // The data tier's refusals only (every stack has the one of a change of VPC).
        desired
            .refusals
            .retain(|r| r.error.code != Some("network.vpc-changed"));
        desired
    }

    /// Every data-tier check: what it refuses, with its code, at its key, naming what would do.
    #[test]
    fn each_data_tier_check_refuses_what_aws_would_at_its_key_with_its_code() {
        // A version and a class AWS would refuse: both at once.
        let desired = built(
            "engine_version = \"16.4\"\ninstance_class = \"db.m4.large\"\n",
            "",
        );
        let codes: Vec<_> = desired.refusals.iter().map(|r| r.error.code).collect();
        assert_eq!(
            codes,
            [
                Some("database.version-not-creatable"),
                Some("database.class-not-orderable")
            ]
        );
        for (database, cache, code, key, says) in [
            (
                "engine_version = \"16.4\"\n",
                "",
                "database.version-not-creatable",
                "database.engine_version",
                "use 16.11",
            ),
            (
                "engine_version = \"12\"\n",
                "",
                "database.version-not-creatable",
                "database.engine_version",
                "creates PostgreSQL 15, 16, 17",
            ),
            (
                "instance_class = \"db.m4.large\"\n",
                "",
                "database.class-not-orderable",
                "database.instance_class",
                "use db.m6i.large",
            ),
            (
                "instance_class = \"db.m6g.large\"\nstorage_type = \"standard\"\n",
                "",
                "database.storage-not-orderable",
                "database.storage_type",
                "gp2, gp3",
            ),
            (
                "instance_class = \"db.t3.micro\"\n",
                "",
                "database.multi-az-not-orderable",
                "database.multi_az",
                "multi_az = false",
            ),
            (
                "",
                "engine_version = \"6.0\"\n",
                "cache.version-not-creatable",
                "cache.engine_version",
                "use 6.2",
            ),
            (
                // t4g comes in micro, small and medium only.
                "",
                "node_type = \"cache.t4g.large\"\n",
                "cache.node-type-not-offered",
                "cache.node_type",
                "use cache.m7g.large, the current-generation node type of the same size",
            ),
            (
                "",
                "node_type = \"cache.r6g.4xlarge\"\n",
                "cache.node-type-not-offered",
                "cache.node_type",
                "describe-reserved-cache-nodes-offerings --product-description redis",
            ),
        ] {
            let desired = built(database, cache);
            let [refusal] = &desired.refusals[..] else {
                panic!("{database}{cache}: {:?}", desired.refusals);
            };
            let error = &refusal.error;
            assert_eq!(error.code, Some(code), "{error}");
            assert_eq!(error.key.as_deref(), Some(key), "{error}");
            let text = format!("{error} {}", error.hint.as_deref().unwrap_or(""));
            assert!(text.contains(says), "{text}");
            // Nothing live: the plan creates it, so the refusal stops the plan.
            let plan = crate::commands::make_plan(&desired, &Observed::default()).unwrap();
            let errors = crate::commands::refused(&desired, &plan);
            assert_eq!(errors.len(), 1, "{code}: {errors:?}");
            assert_eq!(errors[0].code, Some(code));
        }
    }

    #[test]
    fn the_shipped_defaults_resolve_to_the_newest_and_are_orderable() {
        let desired = built("", "");
        assert!(desired.refusals.is_empty(), "{:?}", desired.refusals);
        let db = crate::plan::tests::spec::<database::Databases>(&desired, "shop-db");
        assert_eq!((db.engine_version.as_str(), db.version()), ("16", "16.11"));
        let redis = crate::plan::tests::spec::<cache::Caches>(&desired, "shop-cache");
        assert_eq!(redis.version(), "7.1");
        assert!(
            desired
                .notes
                .iter()
                .any(|n| n.contains("PostgreSQL 16 is 16.11")),
            "{:?}",
            desired.notes
        );
    }

    /// A running database on a version RDS no longer creates is not broken: the refusal counts
    /// only when the plan would send the version (create, or change it).
    #[test]
    fn a_live_database_on_a_version_no_longer_created_is_left_alone() {
        let desired = built("engine_version = \"16.4\"\n", "");
        let mut observed = crate::plan::tests::matching(&desired);
        crate::plan::tests::set(
            &mut observed,
            database::KIND,
            database::ENGINE_VERSION,
            serde_json::json!("16.4"),
        );
        let plan = crate::commands::make_plan(&desired, &observed).unwrap();
        assert!(!plan.has_changes(), "{plan:#?}");
        assert!(crate::commands::refused(&desired, &plan).is_empty());
        // Live on 15: the plan would upgrade to 16.4, which RDS refuses.
        crate::plan::tests::set(
            &mut observed,
            database::KIND,
            database::ENGINE_VERSION,
            serde_json::json!("15.15"),
        );
        let plan = crate::commands::make_plan(&desired, &observed).unwrap();
        let codes: Vec<_> = crate::commands::refused(&desired, &plan)
            .iter()
            .map(|e| e.code)
            .collect();
        assert_eq!(codes, [Some("database.version-not-creatable")]);
    }

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_version_resolves_to_itself_or_the_newest_it_prefixes() {
        let creatable = list(&["15.15", "16.9", "16.10", "16.11", "17.7"]);
        for (requested, expected) in [
            ("16.10", Ok("16.10".to_string())),
            ("16", Ok("16.11".into())),
            ("17", Ok("17.7".into())),
            ("16.4", Err(Some("16.11".into()))),
            ("16.1", Err(Some("16.11".into()))),
            ("12", Err(None)),
        ] {
            assert_eq!(resolve(requested, &creatable), expected, "{requested}");
        }
        let redis = list(&["6.2", "7.0", "7.1"]);
        assert_eq!(resolve("7", &redis), Ok("7.1".into()));
        assert_eq!(resolve("7.1", &redis), Ok("7.1".into()));
        assert_eq!(resolve("6.0", &redis), Err(Some("6.2".into())));
    }

    #[test]
    fn the_same_size_in_a_current_generation_family_of_the_same_kind() {
        let offered: BTreeSet<String> = ["db.m6i.large", "db.r6i.large", "db.m6i.xlarge"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            same_size("db", "db.m4.large", Some(&offered)).as_deref(),
            Some("db.m6i.large")
        );
        assert_eq!(
            same_size("db", "db.r4.large", Some(&offered)).as_deref(),
            Some("db.r6i.large")
        );
        assert_eq!(same_size("db", "db.m4.4xlarge", Some(&offered)), None);
        assert_eq!(same_size("db", "db.m4.large", None), None);
    }
}
