//! The node templates: reading the ones a profile names, placing their errors at the profile's
//! key, and the bake's spec (the bake template rendered, and the content hash of everything that
//! shapes the image).

use std::collections::BTreeMap;

use sha2::Digest;

use super::Environment;
use crate::profile::error::ProfileErrors;
use crate::profile::load::LoadedProfile;
use crate::resources::image;
use crate::resources::launch_template::user_data::{self, BootTemplate};

/// Read a template the profile names at `key` (a path relative to the project directory).
pub(super) fn read_template(
    loaded: &LoadedProfile,
    key: &str,
    relative: &str,
    what: &str,
) -> Result<(String, String), ProfileErrors> {
    let path = loaded.project_dir.join(relative);
    match std::fs::read_to_string(&path) {
        Ok(source) => Ok((path.display().to_string(), source)),
        Err(error) => Err(loaded
            .error_at(
                key,
                format!("cannot read the {what} {}: {error}", path.display()),
            )
            .with_hint("paths are relative to the project directory (the parent of profiles/)")
            .into()),
    }
}

/// A template error, placed at the profile key that names the template.
pub(super) fn template_error(
    loaded: &LoadedProfile,
    key: &str,
    template: &BootTemplate,
    error: user_data::TemplateError,
) -> ProfileErrors {
    let location = match error.line {
        Some(line) => format!("{}:{line}", error.path),
        None => error.path.clone(),
    };
    loaded
        .error_at(key, format!("{location}: {}", error.message))
        .with_hint(format!(
            "variables this template may use: {}; guard optional ones with `is defined`",
            template.variable_names()
        ))
        .into()
}

/// The bake: the template rendered with what is known at bake time, and the content hash of
/// everything that shapes the image.
/// `bake` is the bake table, its resolved base image, and the extra group it bakes for (None for
/// the main group): a group's hash covers its name, so that two groups never share a builder.
pub(super) fn bake_spec(
    loaded: &LoadedProfile,
    key: &str,
    (bake, base_image, group): (&crate::profile::schema::Bake, String, Option<&str>),
    boot: &BootTemplate,
    environment: &Environment,
    warnings: &mut Vec<String>,
) -> Result<image::Spec, ProfileErrors> {
    let (path, source) = read_template(loaded, key, &bake.template, "bake template")?;
    // At bake time nothing of the data tier exists: the bake template sees no endpoints.
    let mut context = boot.context.clone();
    context.database = None;
    context.cache = None;
    let template = BootTemplate {
        path: path.clone(),
        source,
        context,
    };
    let user_data = template
        .render(&user_data::Endpoints::default())
        .map_err(|error| template_error(loaded, key, &template, error))?;
    let timeout = bake.timeout.get();
    // A builder that powers off without the success marker is never imaged: a template that
    // cannot print it would bake for nothing.
    if !user_data.contains(image::BAKE_DONE) {
        return Err(loaded
            .error_at(
                key,
                format!(
                    "{path} never prints the bake's success marker `{}`: deployer images only a builder whose console shows it",
                    image::BAKE_DONE
                ),
            )
            .with_code("bake.no-success-marker")
            .with_hint(format!(
                "end the template with `echo \"{}\" >/dev/console`, then `sync` and `poweroff` (templates/bake.sh.j2 shows how, with a trap that reports failures)",
                image::BAKE_DONE
            ))
            .into());
    }
    if !ends_with_power_off(&user_data) {
        warnings.push(
            loaded
                .error_at(
                    key,
                    format!(
                        "{path} does not end with a power-off: a bake waits for the builder to stop, so this one will run into its timeout ({})",
                        bake.timeout
                    ),
                )
                .with_hint("end the template with `poweroff` (or `shutdown -h now`)")
                .to_string(),
        );
    }
    let mut shape = serde_json::json!({
        "format": 1,
        "base_image": base_image,
        "user_data": user_data,
        "instance_type": bake.instance_type,
        "volume_size": bake.volume_size,
        "volume_type": bake.volume_type,
    });
    // The main group's hash is as it always was (its images stay up to date).
    if let Some(group) = group {
        shape["group"] = group.into();
    }
    let hash = hex::encode(sha2::Sha256::digest(shape.to_string().as_bytes()));
    let template_digest = hex::encode(sha2::Sha256::digest(user_data.as_bytes()));
    let inputs = BTreeMap::from([
        (
            crate::ids::tags::TAG_BASE_IMAGE.to_string(),
            base_image.clone(),
        ),
        (
            "deployer:bake-template".to_string(),
            format!("{}@{}", bake.template, &template_digest[..12]),
        ),
        (
            "deployer:builder".to_string(),
            format!(
                "{} {} GiB {}",
                bake.instance_type, bake.volume_size, bake.volume_type
            ),
        ),
    ]);
    // A subnet whose zone offers the builder's type (checked when the stack is built), with a
    // way out for its packages.
    let (subnet, public_ip) = environment.builder_subnet(&bake.instance_type);
    Ok(image::Spec {
        hash,
        base_image,
        template: path,
        user_data,
        instance_type: bake.instance_type.clone(),
        volume_size: bake.volume_size,
        volume_type: bake.volume_type.clone(),
        timeout_seconds: timeout.as_secs(),
        vpc_id: environment.vpc_for_specs(&crate::ids::names::Names::new(&loaded.profile.stack)),
        subnet,
        public_ip,
        inputs,
    })
}

/// Whether the last command of a script powers the machine off.
fn ends_with_power_off(script: &str) -> bool {
    script
        .lines()
        .map(str::trim)
        .rfind(|line| !line.is_empty() && !line.starts_with('#'))
        .is_some_and(|line| {
            ["poweroff", "shutdown", "halt"]
                .iter()
                .any(|word| line.contains(word))
        })
}
