//! The handler trait: what one resource kind is, typed ([`ResourceKind`], which a kind's module
//! implements) and with its spec type erased ([`Handler`], what the engine, the plan, observe and
//! the docs see). Every `ResourceKind` is a `Handler`.

use std::future::Future;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::attributes::{Action, Attribute, Change, Changes};
use super::observed::{Observed, ObservedResource};
use super::quota::QuotaUse;
use super::{Known, Live, NoteContext, Options, PlanScope, Resource, Scope, StepContext};
use crate::aws::AwsError;
use crate::ids::{Kind, ResourceId};

/// What a destroy deliberately leaves of a kind: (what, AWS ids).
pub type Kept = Option<(&'static str, Vec<String>)>;

/// Facts about a kind that the engine, the plan and the docs use.
#[derive(Debug, Clone, Copy)]
pub struct About {
    /// What it is in AWS's terms, for the docs: `EC2 security group`.
    pub aws: &'static str,
    /// It holds data: never replaced by apply, deleted only by a confirmed destroy.
    pub holds_data: bool,
    /// Never desired: only found left over by an interrupted run (a bake's builder).
    pub only_left_over: bool,
    /// A baked artifact (an image, its snapshot): kept by `destroy --keep-images`.
    pub artifact: bool,
    /// It holds the stack's logs: kept by `destroy --keep-logs`.
    pub logs: bool,
    /// Usable by others as soon as it exists, before its own step finishes (a security group:
    /// its id can be named while its rules are still being set).
    pub usable_once_created: bool,
    /// Its creates wait for the deletes of the same kind (one per name or metric per group).
    pub creates_after_deletes: bool,
    /// Its AWS ids appear in other resources' attributes and are shown by name there.
    pub shown_by_name: bool,
    /// Each node group has one (a load balancer, a launch template, a group): observation looks
    /// for those of the groups the profile no longer declares too.
    pub per_node_group: bool,
    /// How long a wait on it may take before deployer gives up.
    pub wait_limit: Duration,
}

impl About {
    pub const fn new(aws: &'static str) -> About {
        About {
            aws,
            holds_data: false,
            only_left_over: false,
            artifact: false,
            logs: false,
            usable_once_created: false,
            creates_after_deletes: false,
            shown_by_name: false,
            per_node_group: false,
            wait_limit: Duration::from_secs(15 * 60),
        }
    }
}

/// One resource kind, typed. Implement this; [`Handler`] (what the engine sees) follows.
pub trait ResourceKind: Send + Sync + 'static {
    const KIND: Kind;
    /// The desired spec the stack builds and the handler creates from.
    type Spec: Serialize + DeserializeOwned + Send + Sync;

    fn about(&self) -> About;

    /// The IAM actions its calls need, implicit ones (tag on create, PassRole) included.
    fn permissions(&self) -> &'static [&'static str];

    /// The attributes a resource of the kind should have, in the form its observation gives.
    fn attributes(
        &self,
        _resource: &Resource,
        _spec: &Self::Spec,
        _known: Known<'_>,
        _live: Option<&ObservedResource>,
    ) -> Vec<Attribute> {
        vec![]
    }

    /// Whether the outputs others use (an endpoint, a version) survive an update with
    /// `changes`: when not, what depends on them is known only after apply.
    fn keeps_outputs(&self, _changes: &[Change]) -> bool {
        true
    }

    /// When AWS applies `change` with an interruption (a reboot, a failover): what it does, for
    /// the plan's label; apply asks for confirmation of such changes (`--allow-disruption`).
    fn disruption(&self, _change: &Change) -> Option<&'static str> {
        None
    }

    /// What the plan should say of the resource besides its changes (by default, what it says
    /// already).
    fn note(&self, context: &NoteContext<'_>, _spec: &Self::Spec) -> Option<String> {
        context.note.map(str::to_string)
    }

    /// What a resource of the kind takes of the account's quotas while it exists (plan checks
    /// what a plan creates against what the account has left).
    fn quota_use(&self, _spec: &Self::Spec) -> Vec<QuotaUse> {
        Vec::new()
    }

    /// What becomes of a live resource of the kind that the profile no longer asks for; None
    /// for the rule of every kind (data is retained, the rest deleted).
    fn leftover(
        &self,
        _live: &ObservedResource,
        _plan: &PlanScope<'_>,
    ) -> Option<(Action, Option<String>)> {
        None
    }

    /// The resources a live resource of the kind uses (so goes before, when deleting).
    fn live_dependencies(&self, _live: &ObservedResource, _observed: &Observed) -> Vec<ResourceId> {
        vec![]
    }

    /// Every resource of the kind the stack has (and any with one of its names that is not
    /// its own, so that plan refuses to touch it): one request for the whole stack.
    fn observe(
        &self,
        scope: Scope<'_>,
    ) -> impl Future<Output = Result<Vec<ObservedResource>, AwsError>> + Send;

    /// Complete the observation once every kind is observed (which images launch templates in
    /// use reference, ...).
    fn refine(
        &self,
        _scope: Scope<'_>,
        _observed: &mut Observed,
    ) -> impl Future<Output = Result<(), AwsError>> + Send {
        async { Ok(()) }
    }

    /// One resource again, while waiting for it.
    fn observe_one(
        &self,
        scope: Scope<'_>,
        id: &ResourceId,
    ) -> impl Future<Output = Result<Option<ObservedResource>, AwsError>> + Send {
        async move { Ok(self.observe(scope).await?.into_iter().find(|r| &r.id == id)) }
    }

    /// Anything of the kind still tagged for the stack, as (what, AWS id): destroy's last look.
    fn scan(
        &self,
        _scope: Scope<'_>,
    ) -> impl Future<Output = Result<Vec<(String, String)>, AwsError>> + Send {
        async { Ok(vec![]) }
    }

    /// Create the resource (adopting what an interrupted run created), and wait until it is
    /// usable.
    fn create(
        &self,
        context: &StepContext<'_>,
        resource: &Resource,
        spec: &Self::Spec,
    ) -> impl Future<Output = Result<Live, AwsError>> + Send;

    /// Carry out `changes` in place.
    fn update(
        &self,
        context: &StepContext<'_>,
        _resource: &Resource,
        _spec: &Self::Spec,
        _changes: Changes<'_>,
        live: Live,
    ) -> impl Future<Output = Result<Live, AwsError>> + Send {
        let _ = context;
        async move { Ok(live) }
    }

    /// Delete the resource and wait until it is gone; deleting what is gone succeeds.
    fn delete(
        &self,
        context: &StepContext<'_>,
        live: Option<&Live>,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Set one tag on the live resource.
    fn tag(
        &self,
        context: &StepContext<'_>,
        physical_id: &str,
        key: &str,
        value: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// The values an operator needs of a live resource of the kind, by output name (an extra
    /// node group's are shown as `group.<name>.<output>`).
    fn outputs(&self, _id: &ResourceId, _live: &Live) -> Vec<(&'static str, String)> {
        vec![]
    }

    /// What a destroy deliberately leaves of the kind (a database's final snapshots), as
    /// (what, AWS ids).
    fn kept(&self, _scope: Scope<'_>) -> impl Future<Output = Result<Kept, AwsError>> + Send {
        async { Ok(None) }
    }

    /// What deleting it leaves or loses, for the plan (a database's final snapshot).
    fn delete_note(&self, _options: &Options) -> Option<String> {
        None
    }

    /// What the progress line says while it is deleted.
    fn deleting_text(&self, _options: &Options) -> String {
        "deleting".into()
    }

    /// Whether AWS's answer means "what was just created is not visible yet" (eventual
    /// consistency): the call is tried again, for up to `Options::visibility_timeout`.
    fn not_visible_yet(&self, _error: &AwsError) -> bool {
        false
    }
}

/// A resource kind as the engine, the plan and the docs see it: [`ResourceKind`] with its spec
/// type erased. Every `ResourceKind` is one.
pub trait Handler: Send + Sync {
    fn kind(&self) -> Kind;
    fn about(&self) -> About;
    fn permissions(&self) -> &'static [&'static str];
    fn attributes(
        &self,
        resource: &Resource,
        known: Known<'_>,
        live: Option<&ObservedResource>,
    ) -> Vec<Attribute>;
    fn keeps_outputs(&self, changes: &[Change]) -> bool;
    fn disruption(&self, change: &Change) -> Option<&'static str>;
    fn note(&self, context: &NoteContext<'_>) -> Option<String>;
    fn quota_use(&self, resource: &Resource) -> Vec<QuotaUse>;
    fn leftover(
        &self,
        live: &ObservedResource,
        plan: &PlanScope<'_>,
    ) -> Option<(Action, Option<String>)>;
    fn live_dependencies(&self, live: &ObservedResource, observed: &Observed) -> Vec<ResourceId>;
    fn observe<'a>(
        &'a self,
        scope: Scope<'a>,
    ) -> BoxFuture<'a, Result<Vec<ObservedResource>, AwsError>>;
    fn refine<'a>(
        &'a self,
        scope: Scope<'a>,
        observed: &'a mut Observed,
    ) -> BoxFuture<'a, Result<(), AwsError>>;
    fn observe_one<'a>(
        &'a self,
        scope: Scope<'a>,
        id: &'a ResourceId,
    ) -> BoxFuture<'a, Result<Option<ObservedResource>, AwsError>>;
    fn scan<'a>(
        &'a self,
        scope: Scope<'a>,
    ) -> BoxFuture<'a, Result<Vec<(String, String)>, AwsError>>;
    fn create<'a>(
        &'a self,
        context: &'a StepContext<'a>,
        resource: &'a Resource,
    ) -> BoxFuture<'a, Result<Live, AwsError>>;
    fn update<'a>(
        &'a self,
        context: &'a StepContext<'a>,
        resource: &'a Resource,
        changes: Changes<'a>,
        live: Live,
    ) -> BoxFuture<'a, Result<Live, AwsError>>;
    fn delete<'a>(
        &'a self,
        context: &'a StepContext<'a>,
        live: Option<&'a Live>,
    ) -> BoxFuture<'a, Result<(), AwsError>>;
    fn tag<'a>(
        &'a self,
        context: &'a StepContext<'a>,
        physical_id: &'a str,
        key: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<(), AwsError>>;
    fn outputs(&self, id: &ResourceId, live: &Live) -> Vec<(&'static str, String)>;
    fn kept<'a>(&'a self, scope: Scope<'a>) -> BoxFuture<'a, Result<Kept, AwsError>>;
    fn delete_note(&self, options: &Options) -> Option<String>;
    fn deleting_text(&self, options: &Options) -> String;
    fn not_visible_yet(&self, error: &AwsError) -> bool;
}

impl<T: ResourceKind> Handler for T {
    fn kind(&self) -> Kind {
        T::KIND
    }

    fn about(&self) -> About {
        ResourceKind::about(self)
    }

    fn permissions(&self) -> &'static [&'static str] {
        ResourceKind::permissions(self)
    }

    fn attributes(
        &self,
        resource: &Resource,
        known: Known<'_>,
        live: Option<&ObservedResource>,
    ) -> Vec<Attribute> {
        match resource.named_spec::<T>() {
            Ok(spec) => ResourceKind::attributes(self, resource, &spec, known, live),
            Err(_) => vec![],
        }
    }

    fn keeps_outputs(&self, changes: &[Change]) -> bool {
        ResourceKind::keeps_outputs(self, changes)
    }

    fn disruption(&self, change: &Change) -> Option<&'static str> {
        ResourceKind::disruption(self, change)
    }

    fn note(&self, context: &NoteContext<'_>) -> Option<String> {
        match context.resource.named_spec::<T>() {
            Ok(spec) => ResourceKind::note(self, context, &spec),
            Err(_) => context.note.map(str::to_string),
        }
    }

    fn quota_use(&self, resource: &Resource) -> Vec<QuotaUse> {
        resource
            .named_spec::<T>()
            .map(|spec| ResourceKind::quota_use(self, &spec))
            .unwrap_or_default()
    }

    fn leftover(
        &self,
        live: &ObservedResource,
        plan: &PlanScope<'_>,
    ) -> Option<(Action, Option<String>)> {
        ResourceKind::leftover(self, live, plan)
    }

    fn live_dependencies(&self, live: &ObservedResource, observed: &Observed) -> Vec<ResourceId> {
        ResourceKind::live_dependencies(self, live, observed)
    }

    fn observe<'a>(
        &'a self,
        scope: Scope<'a>,
    ) -> BoxFuture<'a, Result<Vec<ObservedResource>, AwsError>> {
        Box::pin(ResourceKind::observe(self, scope))
    }

    fn refine<'a>(
        &'a self,
        scope: Scope<'a>,
        observed: &'a mut Observed,
    ) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(ResourceKind::refine(self, scope, observed))
    }

    fn observe_one<'a>(
        &'a self,
        scope: Scope<'a>,
        id: &'a ResourceId,
    ) -> BoxFuture<'a, Result<Option<ObservedResource>, AwsError>> {
        Box::pin(ResourceKind::observe_one(self, scope, id))
    }

    fn scan<'a>(
        &'a self,
        scope: Scope<'a>,
    ) -> BoxFuture<'a, Result<Vec<(String, String)>, AwsError>> {
        Box::pin(ResourceKind::scan(self, scope))
    }

    fn create<'a>(
        &'a self,
        context: &'a StepContext<'a>,
        resource: &'a Resource,
    ) -> BoxFuture<'a, Result<Live, AwsError>> {
        Box::pin(async move {
            let spec = resource.resolved_spec::<T>(context.known)?;
            ResourceKind::create(self, context, resource, &spec)
                .await
                .map_err(|e| super::late_if_fresh_reference(e, resource, context.known))
        })
    }

    fn update<'a>(
        &'a self,
        context: &'a StepContext<'a>,
        resource: &'a Resource,
        changes: Changes<'a>,
        live: Live,
    ) -> BoxFuture<'a, Result<Live, AwsError>> {
        Box::pin(async move {
            let spec = resource.resolved_spec::<T>(context.known)?;
            ResourceKind::update(self, context, resource, &spec, changes, live)
                .await
                .map_err(|e| super::late_if_fresh_reference(e, resource, context.known))
        })
    }

    fn delete<'a>(
        &'a self,
        context: &'a StepContext<'a>,
        live: Option<&'a Live>,
    ) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(ResourceKind::delete(self, context, live))
    }

    fn tag<'a>(
        &'a self,
        context: &'a StepContext<'a>,
        physical_id: &'a str,
        key: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(ResourceKind::tag(self, context, physical_id, key, value))
    }

    fn outputs(&self, id: &ResourceId, live: &Live) -> Vec<(&'static str, String)> {
        ResourceKind::outputs(self, id, live)
    }

    fn kept<'a>(&'a self, scope: Scope<'a>) -> BoxFuture<'a, Result<Kept, AwsError>> {
        Box::pin(ResourceKind::kept(self, scope))
    }

    fn delete_note(&self, options: &Options) -> Option<String> {
        ResourceKind::delete_note(self, options)
    }

    fn deleting_text(&self, options: &Options) -> String {
        ResourceKind::deleting_text(self, options)
    }

    fn not_visible_yet(&self, error: &AwsError) -> bool {
        ResourceKind::not_visible_yet(self, error)
    }
}
