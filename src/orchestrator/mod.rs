//! Orchestrator: describe a plan of typed operations across the fleet as a DAG, then run
//! it with a live report.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use osapi::orchestrator::Orchestrator;
//! let mut o = Orchestrator::new("http://localhost:8080", "<jwt>")?;
//! let health = o.health_check().id();
//! let hostname = o.node_hostname_get("_all").after(health).id();
//! o.command_exec("_any", "uptime", &[]).after(hostname).retry(2);
//! let report = o.run().await?;
//! println!("{}", report.summary());
//! # Ok(()) }
//! ```
//!
//! Layers: [`engine`] (plan, validation, levels, execution), [`guard`] and [`predicate`]
//! (conditions), [`result`] (what steps produce), [`render`] (live output), and the typed
//! operations in [`ops`], which call [`crate::sdk::Client`].
//!
//! Differences from the original, on purpose: guards compose (all must pass) instead of
//! the last one winning; `retry` and `on_error` are independent (a step can retry and
//! then continue); the report is returned even when a step stops the plan
//! ([`RunError::report`]); decoding a skipped step is an error, not a zero value.

pub mod engine;
pub mod guard;
pub mod ops;
pub mod predicate;
pub mod render;
pub mod result;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;

pub use engine::{Dep, ErrorStrategy, Plan, PlanError, Retry, RunError, StepId};
pub use predicate::Predicate;
pub use render::{Observer, Silent, TextRenderer};
pub use result::{
    DecodeError, HostResult, HostStatus, Report, Results, TaskError, TaskOutput, TaskResult,
    TaskStatus,
};

use crate::wire::agent::{AgentInfo, AgentList};
use guard::Guard;

/// Builds and runs a plan. `C` is the client the steps use: the SDK client for real
/// fleets, anything else for tests of plans made of task functions.
pub struct Orchestrator<C = crate::sdk::Client> {
    client: Arc<C>,
    plan: Plan<C>,
    names: HashMap<String, u32>,
    observer: Arc<dyn Observer>,
}

/// One builder method per named guard in [`guard`], calling it by the same name.
macro_rules! guard_shorthands {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        pub fn $name(self) -> Self {
            self.guard(guard::$name())
        }
    )*};
}

impl<C: Send + Sync + 'static> Orchestrator<C> {
    /// An orchestrator over `client`, printing its report to stdout.
    pub fn with_client(client: C) -> Self {
        Self {
            client: Arc::new(client),
            plan: Plan::default(),
            names: HashMap::new(),
            observer: Arc::new(TextRenderer::stdout(false)),
        }
    }

    /// Verbose report: each host's data (stdout, stderr, ...) and job ids.
    pub fn verbose(mut self) -> Self {
        self.observer = Arc::new(TextRenderer::stdout(true));
        self
    }

    /// Sends progress to `observer` instead of stdout ([`Silent`] for none).
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = observer;
        self
    }

    /// The client the steps use.
    pub fn client(&self) -> &Arc<C> {
        &self.client
    }

    /// A custom step: an async function of the client and the results so far.
    pub fn task_func<F, Fut>(&mut self, name: &str, f: F) -> Step<'_, C>
    where
        F: Fn(Arc<C>, Results) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<TaskOutput, TaskError>> + Send + 'static,
    {
        let id = self.plan.add(name, Arc::new(move |c, r| f(c, r).boxed()));
        Step { o: self, id }
    }

    /// An operation step named after `prefix`: `prefix`, then `prefix-2`, `prefix-3`...
    pub fn op<F, Fut>(&mut self, prefix: &str, f: F) -> Step<'_, C>
    where
        F: Fn(Arc<C>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<TaskOutput, TaskError>> + Send + 'static,
    {
        self.op_with_results(prefix, move |c, _| f(c))
    }

    /// [`Self::op`] whose body also gets the results view (for live progress).
    pub(crate) fn op_with_results<F, Fut>(&mut self, prefix: &str, f: F) -> Step<'_, C>
    where
        F: Fn(Arc<C>, Results) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<TaskOutput, TaskError>> + Send + 'static,
    {
        let n = self.names.entry(prefix.to_owned()).or_insert(0);
        *n += 1;
        let name = if *n == 1 {
            prefix.to_owned()
        } else {
            format!("{prefix}-{n}")
        };
        self.task_func(&name, f)
    }

    /// Reopens a step to change it.
    pub fn step(&mut self, id: StepId) -> Step<'_, C> {
        Step { o: self, id }
    }

    /// The plan's levels (step names), after validation.
    pub fn levels(&self) -> Result<Vec<Vec<String>>, PlanError> {
        self.plan.levels()
    }

    /// A text description of the plan.
    pub fn explain(&self) -> String {
        self.plan.explain()
    }

    /// Validates the plan, then runs it, reporting progress as it goes.
    pub async fn run(&self) -> Result<Report, RunError> {
        self.plan
            .run(self.client.clone(), self.observer.clone())
            .await
    }
}

/// Dependencies accepted by [`Step::after`]: one handle, an array, a slice or a vector.
pub trait IntoDeps {
    fn into_deps(self) -> Vec<StepId>;
}

impl IntoDeps for StepId {
    fn into_deps(self) -> Vec<StepId> {
        vec![self]
    }
}

impl<const N: usize> IntoDeps for [StepId; N] {
    fn into_deps(self) -> Vec<StepId> {
        self.to_vec()
    }
}

impl IntoDeps for &[StepId] {
    fn into_deps(self) -> Vec<StepId> {
        self.to_vec()
    }
}

impl IntoDeps for Vec<StepId> {
    fn into_deps(self) -> Vec<StepId> {
        self
    }
}

/// A step being configured; every method returns it for chaining. [`Step::id`] gives the
/// handle other steps depend on.
pub struct Step<'a, C> {
    o: &'a mut Orchestrator<C>,
    id: StepId,
}

impl<C: Send + Sync + 'static> Step<'_, C> {
    /// The step's handle.
    pub fn id(&self) -> StepId {
        self.id
    }

    fn edit(self, f: impl FnOnce(&mut engine::Task<C>)) -> Self {
        if let Some(t) = self.o.plan.task_mut(self.id) {
            f(t);
        }
        self
    }

    fn guard(self, g: Guard) -> Self {
        self.edit(|t| t.guards.push(g))
    }

    /// Renames the step (names must be unique in a plan).
    pub fn named(self, name: &str) -> Self {
        self.edit(|t| t.name = name.to_owned())
    }

    /// Runs after these steps; can be called repeatedly.
    pub fn after(self, deps: impl IntoDeps) -> Self {
        self.edit(|t| t.deps.extend(deps.into_deps().into_iter().map(Dep::Id)))
    }

    /// Runs after the step with this name (checked when the plan is validated).
    pub fn after_named(self, name: &str) -> Self {
        self.edit(|t| t.deps.push(Dep::Name(name.to_owned())))
    }

    /// Up to `n` more attempts when the step fails, immediately.
    pub fn retry(self, n: u32) -> Self {
        self.edit(|t| {
            t.retry = Some(Retry {
                retries: n,
                backoff: None,
            })
        })
    }

    /// Up to `n` more attempts, waiting `initial`, doubling up to `max`, in between.
    pub fn retry_with_backoff(self, n: u32, initial: Duration, max: Duration) -> Self {
        self.edit(|t| {
            t.retry = Some(Retry {
                retries: n,
                backoff: Some((initial, max)),
            })
        })
    }

    /// What a failure (after retries) does to the rest of the plan.
    pub fn on_error(self, strategy: ErrorStrategy) -> Self {
        self.edit(|t| t.on_error = strategy)
    }

    /// Same as `on_error(ErrorStrategy::Continue)`.
    pub fn continue_on_error(self) -> Self {
        self.on_error(ErrorStrategy::Continue)
    }

    /// Fails an attempt that takes longer than `limit`.
    pub fn timeout(self, limit: Duration) -> Self {
        self.edit(|t| t.timeout = Some(limit))
    }

    guard_shorthands! {
        /// Runs only if some dependency reported a change.
        only_if_changed;
        /// Runs only if some dependency failed (a cleanup or recovery step).
        only_if_failed;
        /// Runs only if every dependency changed.
        only_if_all_changed;
        /// Runs only if some host of some dependency failed.
        only_if_any_host_failed;
        /// Runs only if every host of every dependency failed.
        only_if_all_hosts_failed;
        /// Runs only if some host of some dependency was skipped.
        only_if_any_host_skipped;
        /// Runs only if some host of some dependency changed.
        only_if_any_host_changed;
        /// Runs only if every host of every dependency changed.
        only_if_all_hosts_changed;
    }

    /// Runs only if `pred` holds for the results so far.
    pub fn when(self, pred: impl Fn(&Results) -> bool + Send + Sync + 'static) -> Self {
        self.guard(guard::when(pred, "when: guard returned false"))
    }

    /// Like [`Step::when`], with the skip reason to report.
    pub fn when_with_reason(
        self,
        pred: impl Fn(&Results) -> bool + Send + Sync + 'static,
        reason: &str,
    ) -> Self {
        self.guard(guard::when(pred, reason))
    }

    /// Runs only if some agent listed by the `agents` step (an agent list) matches
    /// `pred`. Adds `agents` as a dependency, so it has run by then.
    pub fn when_fact(self, agents: StepId, pred: Predicate) -> Self {
        let Some(source) = self.o.plan.tasks().get(agents.0).map(|t| t.name.clone()) else {
            return self.after(agents);
        };
        let g: Guard = Arc::new(move |results, _| {
            let list: AgentList = results
                .decode(&source)
                .map_err(|e| format!("when-fact: step {source:?}: {e}"))?;
            if list.agents.is_empty() {
                return Err("when-fact: no agents returned".into());
            }
            let any = list.agents.iter().any(|a: &AgentInfo| pred.matches(a));
            if any {
                Ok(())
            } else {
                Err("when-fact: no matching agent".into())
            }
        });
        self.after(agents).guard(g)
    }
}

impl<C> From<Step<'_, C>> for StepId {
    fn from(s: Step<'_, C>) -> Self {
        s.id
    }
}

#[cfg(test)]
mod tests;
