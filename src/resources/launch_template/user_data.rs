//! The boot template: rendered into the launch template's user data with the stack's endpoints,
//! ports and secret ARNs (never secret values). Strict: an undefined variable is an error.

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};

/// A boot template and the variables known before any resource exists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BootTemplate {
    /// The template's path as the profile names it, for messages.
    pub path: String,
    pub source: String,
    pub context: BootContext,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BootContext {
    pub stack: String,
    pub region: String,
    /// The ports the nodes serve (listener instance ports and the health check port).
    pub ports: Vec<i32>,
    pub listeners: Vec<ListenerVars>,
    pub health_check: HealthCheckVars,
    pub vars: BTreeMap<String, String>,
    pub database: Option<DatabaseVars>,
    pub cache: Option<CacheVars>,
    /// The stack's extra node groups this template may point at (the main group's template sees
    /// them all; an extra group's sees none).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, GroupVars>,
    /// The log group the nodes' CloudWatch agent writes to, when the stack ships logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_group: Option<String>,
}

/// An extra node group as a boot template sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupVars {
    pub ports: Vec<i32>,
    /// Whether it has a load balancer, whose DNS name becomes `endpoint`.
    pub load_balancer: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListenerVars {
    pub port: i32,
    pub protocol: String,
    pub instance_port: i32,
    pub instance_protocol: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthCheckVars {
    pub target: String,
    pub protocol: String,
    pub port: i32,
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatabaseVars {
    pub name: String,
    pub username: String,
    pub port: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheVars {
    pub port: i32,
    pub tls: bool,
}

impl ListenerVars {
    pub fn of(listener: &crate::resources::load_balancer::ListenerSpec) -> Self {
        ListenerVars {
            port: listener.port,
            protocol: listener.protocol.as_str().into(),
            instance_port: listener.instance_port,
            instance_protocol: listener.instance_protocol.as_str().into(),
        }
    }
}

impl HealthCheckVars {
    /// A health check target, in parts; empty for a group nothing health-checks but EC2 (no
    /// load balancer).
    pub fn of(target: Option<&crate::profile::values::HealthTarget>) -> Self {
        match target {
            Some(target) => HealthCheckVars {
                target: target.to_string(),
                protocol: target.protocol.as_str().into(),
                port: target.port.into(),
                path: target.path.clone(),
            },
            None => HealthCheckVars {
                target: String::new(),
                protocol: String::new(),
                port: 0,
                path: String::new(),
            },
        }
    }
}

impl DatabaseVars {
    pub fn of(database: &crate::profile::schema::Database) -> Self {
        DatabaseVars {
            name: database.name.clone(),
            username: database.username.clone(),
            port: database.port.into(),
        }
    }
}

impl CacheVars {
    pub fn of(cache: &crate::profile::schema::Cache) -> Self {
        CacheVars {
            port: cache.port.into(),
            tls: cache.encryption_in_transit,
        }
    }
}

/// What the data tier reports once it exists.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Endpoints {
    pub database: Option<DatabaseEndpoint>,
    pub cache: Option<CacheEndpoint>,
    /// Each extra group's load balancer DNS name, by group name, once it exists.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, String>,
}

impl Endpoints {
    /// Whether everything `context` needs is known: its data tier and its groups' endpoints.
    pub fn cover(&self, context: &BootContext) -> Result<(), String> {
        if context.database.is_some() && self.database.is_none() {
            return Err("the database endpoint is not known".into());
        }
        if context.cache.is_some() && self.cache.is_none() {
            return Err("the cache endpoint is not known".into());
        }
        for (name, group) in &context.groups {
            if group.load_balancer && !self.groups.contains_key(name) {
                return Err(format!("the endpoint of group {name} is not known"));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseEndpoint {
    pub host: String,
    pub port: i32,
    /// The RDS-managed master user secret.
    pub secret_arn: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheEndpoint {
    pub host: String,
    pub port: i32,
    /// The AUTH token secret, when the group has one.
    pub auth_secret_arn: Option<String>,
}

/// A template that failed to render: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub path: String,
    pub line: Option<usize>,
    pub message: String,
}

/// EC2 refuses user data above 16 KiB.
pub const USER_DATA_LIMIT: usize = 16 * 1024;

impl BootTemplate {
    /// Render with the given endpoints. Fails on syntax errors, undefined variables, and output
    /// over EC2's user data limit.
    pub fn render(&self, endpoints: &Endpoints) -> Result<String, TemplateError> {
        let mut environment = Environment::new();
        environment.set_undefined_behavior(UndefinedBehavior::Strict);
        let fail = |error: minijinja::Error| TemplateError {
            path: self.path.clone(),
            line: error.line(),
            message: match error.detail() {
                Some(detail) => format!("{}: {detail}", error.kind()),
                None => error.kind().to_string(),
            },
        };
        environment
            .add_template("boot", &self.source)
            .map_err(fail)?;
        let template = environment.get_template("boot").map_err(fail)?;
        let rendered = template
            .render(minijinja::value::Serde(self.variables(endpoints)))
            .map_err(fail)?;
        // Keep the template's final newline (the engine drops it).
        let rendered = if self.source.ends_with('\n') && !rendered.ends_with('\n') {
            rendered + "\n"
        } else {
            rendered
        };
        if rendered.len() > USER_DATA_LIMIT {
            return Err(TemplateError {
                path: self.path.clone(),
                line: None,
                message: format!(
                    "the rendered user data has {} bytes; EC2 allows at most {USER_DATA_LIMIT}",
                    rendered.len()
                ),
            });
        }
        Ok(rendered)
    }

    /// Render with stand-in endpoints, to find template errors before any AWS call.
    pub fn check(&self) -> Result<String, TemplateError> {
        let endpoints = Endpoints {
            database: self.context.database.as_ref().map(|db| DatabaseEndpoint {
                host: "database.invalid".into(),
                port: db.port,
                secret_arn: "arn:aws:secretsmanager:region:000000000000:secret:rds!db-check".into(),
            }),
            cache: self.context.cache.as_ref().map(|cache| CacheEndpoint {
                host: "cache.invalid".into(),
                port: cache.port,
                auth_secret_arn: cache
                    .tls
                    .then(|| "arn:aws:secretsmanager:region:000000000000:secret:check".into()),
            }),
            groups: self
                .context
                .groups
                .iter()
                .filter(|(_, group)| group.load_balancer)
                .map(|(name, _)| (name.clone(), format!("{name}.group.invalid")))
                .collect(),
        };
        self.render(&endpoints)
    }

    /// The variables the template sees.
    pub fn variables(&self, endpoints: &Endpoints) -> serde_json::Value {
        let c = &self.context;
        let mut variables = serde_json::json!({
            "stack": c.stack,
            "region": c.region,
            "ports": c.ports,
            "listeners": c.listeners,
            "health_check": c.health_check,
            "vars": c.vars,
        });
        if let (Some(db), Some(endpoint)) = (&c.database, &endpoints.database) {
            variables["database"] = serde_json::json!({
                "host": endpoint.host,
                "port": endpoint.port,
                "name": db.name,
                "username": db.username,
                "secret_arn": endpoint.secret_arn,
            });
        }
        if let (Some(cache), Some(endpoint)) = (&c.cache, &endpoints.cache) {
            variables["cache"] = serde_json::json!({
                "host": endpoint.host,
                "port": endpoint.port,
                "tls": cache.tls,
                "auth_secret_arn": endpoint.auth_secret_arn,
            });
        }
        let groups: serde_json::Map<String, serde_json::Value> = c
            .groups
            .iter()
            .map(|(name, group)| {
                let mut vars = serde_json::json!({"ports": group.ports});
                if let Some(endpoint) = endpoints.groups.get(name).filter(|_| group.load_balancer) {
                    vars["endpoint"] = endpoint.clone().into();
                }
                (name.clone(), vars)
            })
            .collect();
        if !groups.is_empty() {
            variables["groups"] = groups.into();
        }
        if let Some(group) = &c.log_group {
            variables["log_group"] = group.clone().into();
        }
        variables
    }

    /// The variable names a template may use, for hints.
    pub fn variable_names(&self) -> String {
        let mut names = vec![
            "stack",
            "region",
            "ports",
            "listeners",
            "health_check",
            "vars",
        ];
        if self.context.database.is_some() {
            names.push("database (host, port, name, username, secret_arn)");
        }
        if self.context.cache.is_some() {
            names.push("cache (host, port, tls, auth_secret_arn)");
        }
        if !self.context.groups.is_empty() {
            names.push("groups.<name> (ports, endpoint)");
        }
        if self.context.log_group.is_some() {
            names.push("log_group");
        }
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(source: &str, with_database: bool) -> BootTemplate {
        BootTemplate {
            path: "templates/test.j2".into(),
            source: source.into(),
            context: BootContext {
                stack: "demo".into(),
                region: "us-east-1".into(),
                ports: vec![80],
                listeners: vec![],
                health_check: HealthCheckVars {
                    target: "HTTP:80/health".into(),
                    protocol: "HTTP".into(),
                    port: 80,
                    path: "/health".into(),
                },
                vars: BTreeMap::new(),
                database: with_database.then(|| DatabaseVars {
                    name: "app".into(),
                    username: "deployer".into(),
                    port: 5432,
                }),
                cache: None,
                groups: BTreeMap::new(),
                log_group: None,
            },
        }
    }

    #[test]
    fn renders_endpoints_into_the_template() {
        let t = template("DB={{ database.host }}:{{ database.port }}\n", true);
        let endpoints = Endpoints {
            database: Some(DatabaseEndpoint {
                host: "db.example".into(),
                port: 5432,
                secret_arn: "arn:secret".into(),
            }),
            cache: None,
            groups: BTreeMap::new(),
        };
        assert_eq!(t.render(&endpoints).unwrap(), "DB=db.example:5432\n");
    }

    #[test]
    fn an_undefined_variable_is_an_error_with_its_line() {
        let t = template("line one\n{{ cache.host }}\n", false);
        let error = t.check().unwrap_err();
        assert_eq!(error.line, Some(2));
        assert!(error.message.contains("undefined"), "{}", error.message);
    }

    #[test]
    fn a_group_endpoint_renders_once_known_and_is_needed_before() {
        let mut t = template(
            "MANAGER={{ groups.manager.endpoint }}:{{ groups.manager.ports[0] }}\n",
            false,
        );
        t.context.groups.insert(
            "manager".into(),
            GroupVars {
                ports: vec![9091],
                load_balancer: true,
            },
        );
        assert_eq!(t.check().unwrap(), "MANAGER=manager.group.invalid:9091\n");
        let mut endpoints = Endpoints::default();
        assert!(
            endpoints
                .cover(&t.context)
                .unwrap_err()
                .contains("group manager")
        );
        endpoints
            .groups
            .insert("manager".into(), "internal-shop-manager-lb.example".into());
        assert!(endpoints.cover(&t.context).is_ok());
        assert_eq!(
            t.render(&endpoints).unwrap(),
            "MANAGER=internal-shop-manager-lb.example:9091\n"
        );
        // A group without a load balancer has ports but no endpoint.
        t.context.groups.get_mut("manager").unwrap().load_balancer = false;
        assert!(t.check().unwrap_err().message.contains("undefined"));
    }

    #[test]
    fn is_defined_guards_optional_sections() {
        let t = template(
            "{% if database is defined %}db{% else %}none{% endif %}",
            false,
        );
        assert_eq!(t.check().unwrap(), "none");
    }
}
