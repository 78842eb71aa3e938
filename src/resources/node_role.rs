//! The nodes' IAM role: its inline policy (read exactly this stack's secrets) and its instance
//! profile, under the stack's IAM path.

use std::collections::BTreeMap;

use aws_sdk_iam::types::{InstanceProfile, Role, Tag};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::attributes::{Attribute, Attributes, Changes, Mode};
use super::observed::{ObservedResource, Outputs, Status};
use super::{About, Known, Live, Resource, ResourceKind, Scope, StepContext};
use crate::aws::{Aws, AwsError, fail, tag_map};
use crate::ids::names::NODE_POLICY;
use crate::ids::tags::TAG_REGION;
use crate::ids::{Kind, ResourceId};

pub const KIND: Kind = Kind::new("node-role", "node role");

/// The attributes plan compares.
pub const PATH: &str = "path";
pub const POLICY: &str = "policy";
pub const INSTANCE_PROFILE: &str = "instance_profile";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    pub path: String,
    /// The inline policy that lets nodes read exactly this stack's secrets.
    pub policy_name: String,
    pub policy: serde_json::Value,
}

pub fn id(name: impl Into<String>) -> ResourceId {
    ResourceId::new(KIND, name)
}

pub struct NodeRoles;

impl ResourceKind for NodeRoles {
    const KIND: Kind = KIND;
    type Spec = Spec;

    fn about(&self) -> About {
        About::new("IAM role and instance profile")
    }

    fn permissions(&self) -> &'static [&'static str] {
        &[
            "iam:GetRole",
            "iam:GetRolePolicy",
            "iam:GetInstanceProfile",
            "iam:CreateRole",
            "iam:TagRole",
            "iam:PutRolePolicy",
            "iam:DeleteRolePolicy",
            "iam:CreateInstanceProfile",
            "iam:TagInstanceProfile",
            "iam:AddRoleToInstanceProfile",
            "iam:RemoveRoleFromInstanceProfile",
            "iam:DeleteInstanceProfile",
            "iam:ListRolePolicies",
            "iam:DeleteRole",
            "iam:ListRoles",
            "iam:ListInstanceProfiles",
        ]
    }

    fn attributes(
        &self,
        resource: &Resource,
        role: &Spec,
        _known: Known<'_>,
        _live: Option<&ObservedResource>,
    ) -> Vec<Attribute> {
        Attributes::new()
            .set(PATH, role.path.as_str(), Mode::Replace)
            .set(POLICY, role.policy.clone(), Mode::InPlace)
            .set(INSTANCE_PROFILE, resource.id.name.as_str(), Mode::InPlace)
            .build()
    }

    async fn observe(&self, scope: Scope<'_>) -> Result<Vec<ObservedResource>, AwsError> {
        Ok(observe(
            scope.aws,
            &scope.names.iam_path(),
            &scope.names.node_role(&scope.aws.region),
            NODE_POLICY,
        )
        .await?
        .into_iter()
        .collect())
    }

    async fn scan(&self, scope: Scope<'_>) -> Result<Vec<(String, String)>, AwsError> {
        // Another region's stack of the same name has its role under the same path: not ours.
        Ok(tagged(scope.aws, &scope.names.iam_path())
            .await?
            .into_iter()
            .filter(|(_, _, name)| !scope.names.is_other_regions_role(name, &scope.aws.region))
            .map(|(what, arn, _)| (what, arn))
            .collect())
    }

    async fn create(
        &self,
        context: &StepContext<'_>,
        resource: &Resource,
        spec: &Spec,
    ) -> Result<Live, AwsError> {
        create(context.aws(), &resource.id.name, spec, &regional(context)).await?;
        Ok(Live::of(&context.until_ready().await?))
    }

    async fn update(
        &self,
        context: &StepContext<'_>,
        resource: &Resource,
        spec: &Spec,
        _changes: Changes<'_>,
        live: Live,
    ) -> Result<Live, AwsError> {
        update(context.aws(), &resource.id.name, spec, &regional(context)).await?;
        Ok(live)
    }

    async fn delete(
        &self,
        context: &StepContext<'_>,
        _live: Option<&Live>,
    ) -> Result<(), AwsError> {
        delete(context.aws(), &context.names().iam_path(), &context.id.name).await
    }

    async fn tag(
        &self,
        context: &StepContext<'_>,
        _physical_id: &str,
        key: &str,
        value: &str,
    ) -> Result<(), AwsError> {
        let what = format!("tag {}", context.id);
        let tag = Tag::builder()
            .key(key)
            .value(value)
            .build()
            .map_err(|e| AwsError::other(what.clone(), e.to_string()))?;
        context
            .aws()
            .iam
            .tag_role()
            .role_name(&context.id.name)
            .tags(tag)
            .send()
            .await
            .map(|_| ())
            .map_err(fail(what))
    }

    /// IAM is global and eventually consistent: a new role or profile is not seen at once.
    fn not_visible_yet(&self, error: &AwsError) -> bool {
        absent(error)
    }
}

/// The tags of a role and its instance profile: the stack's, and the region it belongs to.
fn regional(context: &StepContext<'_>) -> BTreeMap<String, String> {
    let mut tags = context.tags.clone();
    tags.insert(TAG_REGION.into(), context.aws().region.clone());
    tags
}

const ASSUME_ROLE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

fn iam_tags(tags: &BTreeMap<String, String>) -> Result<Vec<Tag>, AwsError> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<_, _>>()
        .map_err(|e| AwsError::other("build IAM tags", e.to_string()))
}

fn absent(error: &AwsError) -> bool {
    error.is("NoSuchEntity") || error.is("NoSuchEntityException")
}

fn exists(error: &AwsError) -> bool {
    error.is("EntityAlreadyExists") || error.is("EntityAlreadyExistsException")
}

/// IAM returns policy documents URL-encoded.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_policy(document: &str) -> Value {
    serde_json::from_str(document)
        .or_else(|_| serde_json::from_str(&percent_decode(document)))
        .unwrap_or_else(|_| Value::String(document.to_string()))
}

/// What exists of the role and of its instance profile, found by listing the stack's IAM path.
/// IAM authorizes a call that names a role or profile that does not exist against an ARN without
/// the path, which the shipped policy (scoped to the path) does not grant: AWS answers AccessDenied,
/// not NoSuchEntity. So nothing is read by name until a list has shown it exists.
async fn find(
    aws: &Aws,
    path: &str,
    name: &str,
) -> Result<(Option<Role>, Option<InstanceProfile>), AwsError> {
    let what = format!("describe node role {name}");
    let (roles, profiles) = tokio::join!(
        aws.iam
            .list_roles()
            .path_prefix(path)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>(),
        aws.iam
            .list_instance_profiles()
            .path_prefix(path)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>(),
    );
    let role = roles
        .map_err(fail(what.clone()))?
        .into_iter()
        .find(|r| r.role_name() == name);
    let profile = profiles
        .map_err(fail(what))?
        .into_iter()
        .find(|p| p.instance_profile_name() == name);
    Ok((role, profile))
}

async fn observe(
    aws: &Aws,
    path: &str,
    name: &str,
    policy_name: &str,
) -> Result<Option<ObservedResource>, AwsError> {
    let what = format!("describe node role {name}");
    let (listed, profile) = find(aws, path, name).await?;
    if listed.is_none() {
        return Ok(None);
    }
    // ListRoles leaves tags out: GetRole has them.
    let (role, policy) = tokio::join!(
        aws.iam.get_role().role_name(name).send(),
        aws.iam
            .get_role_policy()
            .role_name(name)
            .policy_name(policy_name)
            .send(),
    );
    let role = match role.map_err(fail(what.clone())) {
        Ok(found) => found,
        Err(error) if absent(&error) => return Ok(None),
        Err(error) => return Err(error),
    };
    let Some(role) = role.role() else {
        return Ok(None);
    };
    let policy = match policy.map_err(fail(what)) {
        Ok(found) => parse_policy(found.policy_document()),
        Err(error) if absent(&error) => Value::Null,
        Err(error) => return Err(error),
    };
    let profile_with_role = profile
        .as_ref()
        .filter(|p| p.roles().iter().any(|r| r.role_name() == name));
    let mut attributes = Map::new();
    attributes.insert(PATH.into(), json!(role.path()));
    attributes.insert(POLICY.into(), policy);
    attributes.insert(
        "instance_profile".into(),
        json!(profile_with_role.map(|p| p.instance_profile_name())),
    );
    Ok(Some(ObservedResource {
        id: ResourceId::new(KIND, name),
        physical_id: role.arn().to_string(),
        tags: tag_map(role.tags().iter().map(|t| (Some(t.key()), Some(t.value())))),
        attributes,
        status: Status::Ready,
        outputs: Outputs {
            arn: profile.map(|p| p.arn().to_string()),
            ..Outputs::default()
        },
    }))
}

/// Create the role, its policy and instance profile; adopt whatever a previous run created.
async fn create(
    aws: &Aws,
    name: &str,
    spec: &Spec,
    tags: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    let created = aws
        .iam
        .create_role()
        .role_name(name)
        .path(&spec.path)
        .assume_role_policy_document(ASSUME_ROLE)
        .description("deployer: the nodes of this stack")
        .set_tags(Some(iam_tags(tags)?))
        .send()
        .await;
    if let Err(error) = created {
        let error = fail(format!("create node role {name}"))(error);
        if !exists(&error) {
            return Err(error);
        }
        match observe(aws, &spec.path, name, &spec.policy_name).await? {
            Some(live) if crate::aws::same_owner(&live, tags) => {}
            // IAM says it exists (an earlier attempt made it) but does not show it yet: eventual
            // consistency, tried again as any "not visible yet".
            None => {
                let mut late = AwsError::other(
                    format!("create node role {name}"),
                    "the role exists but IAM does not show it yet",
                );
                late.code = Some("NoSuchEntity".into());
                return Err(late);
            }
            Some(_) => return Err(error),
        }
    }
    set_policy(aws, name, spec).await?;
    ensure_instance_profile(aws, name, &spec.path, tags).await
}

/// Bring the role's inline policy and instance profile to the spec.
async fn update(
    aws: &Aws,
    name: &str,
    spec: &Spec,
    tags: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    set_policy(aws, name, spec).await?;
    ensure_instance_profile(aws, name, &spec.path, tags).await
}

async fn set_policy(aws: &Aws, name: &str, spec: &Spec) -> Result<(), AwsError> {
    let what = format!("set the policy of node role {name}");
    if spec.policy.is_null() {
        return match aws
            .iam
            .delete_role_policy()
            .role_name(name)
            .policy_name(&spec.policy_name)
            .send()
            .await
            .map_err(fail(what))
        {
            Err(error) if !absent(&error) => Err(error),
            _ => Ok(()),
        };
    }
    aws.iam
        .put_role_policy()
        .role_name(name)
        .policy_name(&spec.policy_name)
        .policy_document(spec.policy.to_string())
        .send()
        .await
        .map(|_| ())
        .map_err(fail(what))
}

async fn ensure_instance_profile(
    aws: &Aws,
    name: &str,
    path: &str,
    tags: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    let what = format!("create instance profile {name}");
    if let Err(error) = aws
        .iam
        .create_instance_profile()
        .instance_profile_name(name)
        .path(path)
        .set_tags(Some(iam_tags(tags)?))
        .send()
        .await
    {
        let error = fail(what.clone())(error);
        if !exists(&error) {
            return Err(error);
        }
    }
    let profile = aws
        .iam
        .get_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
        .map_err(fail(what.clone()))?;
    let has_role = profile
        .instance_profile()
        .is_some_and(|p| p.roles().iter().any(|r| r.role_name() == name));
    if !has_role
        && let Err(error) = aws
            .iam
            .add_role_to_instance_profile()
            .instance_profile_name(name)
            .role_name(name)
            .send()
            .await
    {
        // A retried call whose first attempt went through finds the profile full.
        let error = fail(what.clone())(error);
        let added = aws
            .iam
            .get_instance_profile()
            .instance_profile_name(name)
            .send()
            .await
            .map_err(fail(what))?
            .instance_profile()
            .is_some_and(|p| p.roles().iter().any(|r| r.role_name() == name));
        if !(error.is("LimitExceeded") && added) {
            return Err(error);
        }
    }
    Ok(())
}

/// Delete the instance profile, the role's inline policies and the role: what a list shows of
/// them (a name that does not exist is AccessDenied under the shipped policy, see `find`).
async fn delete(aws: &Aws, path: &str, name: &str) -> Result<(), AwsError> {
    let what = format!("delete node role {name}");
    let ok_if_absent = |result: Result<(), AwsError>| match result {
        Err(error) if absent(&error) => Ok(()),
        other => other,
    };
    let (role, profile) = find(aws, path, name).await?;
    if let Some(profile) = profile {
        if profile.roles().iter().any(|r| r.role_name() == name) {
            ok_if_absent(
                aws.iam
                    .remove_role_from_instance_profile()
                    .instance_profile_name(name)
                    .role_name(name)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(fail(what.clone())),
            )?;
        }
        ok_if_absent(
            aws.iam
                .delete_instance_profile()
                .instance_profile_name(name)
                .send()
                .await
                .map(|_| ())
                .map_err(fail(what.clone())),
        )?;
    }
    if role.is_none() {
        return Ok(());
    }
    let policies = match aws.iam.list_role_policies().role_name(name).send().await {
        Ok(found) => found.policy_names().to_vec(),
        Err(error) => {
            let error = fail(what.clone())(error);
            if absent(&error) {
                return Ok(());
            }
            return Err(error);
        }
    };
    for policy in policies {
        ok_if_absent(
            aws.iam
                .delete_role_policy()
                .role_name(name)
                .policy_name(policy)
                .send()
                .await
                .map(|_| ())
                .map_err(fail(what.clone())),
        )?;
    }
    ok_if_absent(
        aws.iam
            .delete_role()
            .role_name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(fail(what)),
    )
}

/// Roles and instance profiles under the stack's IAM path, for destroy's final scan: (what, ARN,
/// name).
async fn tagged(aws: &Aws, path: &str) -> Result<Vec<(String, String, String)>, AwsError> {
    let (roles, profiles) = tokio::join!(
        aws.iam.list_roles().path_prefix(path).send(),
        aws.iam.list_instance_profiles().path_prefix(path).send(),
    );
    let mut found = Vec::new();
    for role in roles.map_err(fail("scan IAM roles"))?.roles() {
        found.push((
            format!("IAM role {}", role.role_name()),
            role.arn().to_string(),
            role.role_name().to_string(),
        ));
    }
    for profile in profiles
        .map_err(fail("scan instance profiles"))?
        .instance_profiles()
    {
        found.push((
            format!("instance profile {}", profile.instance_profile_name()),
            profile.arn().to_string(),
            profile.instance_profile_name().to_string(),
        ));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_documents_are_read_encoded_or_not() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%7D";
        assert_eq!(parse_policy(encoded), json!({"Version": "2012-10-17"}));
        assert_eq!(
            parse_policy(r#"{"Version":"2012-10-17"}"#),
            json!({"Version": "2012-10-17"})
        );
    }
}
