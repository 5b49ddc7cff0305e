//! The DAG engine: a plan of tasks with dependencies, validated before anything runs,
//! then executed level by level. A task's level is one more than its deepest dependency;
//! the tasks of a level run concurrently and the next level starts when all of them are
//! done (a barrier: reports and hooks show whole levels, as in the original).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::task::JoinSet;

use super::guard::Guard;
use super::render::{Observer, PlanSummary};
use super::result::{Report, Results, TaskError, TaskOutput, TaskResult, TaskStatus};

/// A task body: the client and the results of the steps finished so far.
pub type TaskFn<C> =
    Arc<dyn Fn(Arc<C>, Results) -> BoxFuture<'static, Result<TaskOutput, TaskError>> + Send + Sync>;

/// Handle of a step in its plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StepId(pub(crate) usize);

/// What a failed step (after its retries) does to the rest of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorStrategy {
    /// Finish the current level, then stop: later levels do not run.
    #[default]
    StopAll,
    /// Keep going; dependents without a guard are skipped (transitively).
    Continue,
}

/// Retries of a failing step: `retries` more attempts, optionally with exponential
/// backoff (`initial`, doubling, capped at `max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    pub retries: u32,
    pub backoff: Option<(Duration, Duration)>,
}

impl Retry {
    /// The wait after the failed attempt with 0-based index `attempt`.
    pub fn delay(&self, attempt: u32) -> Duration {
        match self.backoff {
            None => Duration::ZERO,
            Some((initial, max)) => initial
                .checked_mul(2u32.saturating_pow(attempt))
                .map_or(max, |d| d.min(max)),
        }
    }
}

/// A dependency as written by the user: a handle, or a step name (resolved at validation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dep {
    Id(StepId),
    Name(String),
}

/// One step of a plan.
pub struct Task<C> {
    pub(crate) name: String,
    pub(crate) func: TaskFn<C>,
    pub(crate) deps: Vec<Dep>,
    pub(crate) guards: Vec<Guard>,
    pub(crate) on_error: ErrorStrategy,
    pub(crate) retry: Option<Retry>,
    pub(crate) timeout: Option<Duration>,
}

impl<C> Task<C> {
    /// The step's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The plan is not a valid DAG; nothing ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("duplicate step name {0:?}")]
    DuplicateName(String),
    #[error("step {step:?} depends on unknown step {dependency:?}")]
    UnknownStep { step: String, dependency: String },
    #[error("cycle detected: {from:?} depends on {to:?}, which leads back to it")]
    Cycle { from: String, to: String },
}

/// A run did not complete.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("plan validation: {0}")]
    Invalid(#[from] PlanError),
    /// A step failed under `StopAll`; the report holds every step reached.
    #[error("step {step:?} failed: {error}")]
    Stopped {
        step: String,
        error: String,
        report: Report,
    },
}

impl RunError {
    /// The partial report of a stopped run (none for an invalid plan).
    pub fn report(&self) -> Option<&Report> {
        match self {
            Self::Invalid(_) => None,
            Self::Stopped { report, .. } => Some(report),
        }
    }
}

/// A set of tasks with dependencies.
pub struct Plan<C> {
    pub(crate) tasks: Vec<Task<C>>,
}

impl<C> Default for Plan<C> {
    fn default() -> Self {
        Self { tasks: Vec::new() }
    }
}

impl<C: Send + Sync + 'static> Plan<C> {
    /// Adds a task and returns its handle.
    pub fn add(&mut self, name: &str, func: TaskFn<C>) -> StepId {
        self.tasks.push(Task {
            name: name.to_owned(),
            func,
            deps: Vec::new(),
            guards: Vec::new(),
            on_error: ErrorStrategy::default(),
            retry: None,
            timeout: None,
        });
        StepId(self.tasks.len() - 1)
    }

    /// The task behind a handle. Handles come from this plan, so a foreign one is the
    /// only way to miss; validation reports it.
    pub fn task_mut(&mut self, id: StepId) -> Option<&mut Task<C>> {
        self.tasks.get_mut(id.0)
    }

    /// Every task, in insertion order.
    pub fn tasks(&self) -> &[Task<C>] {
        &self.tasks
    }

    /// Checks names, dependencies and cycles; returns the levels (task indices, insertion
    /// order within a level).
    pub fn validate(&self) -> Result<Vec<Vec<usize>>, PlanError> {
        let deps = self.resolve()?;
        let mut level: Vec<Option<usize>> = vec![None; self.tasks.len()];
        let mut visiting = vec![false; self.tasks.len()];
        for i in 0..self.tasks.len() {
            self.level_of(i, &deps, &mut level, &mut visiting)?;
        }
        let depth = level.iter().flatten().max().map_or(0, |m| m + 1);
        let mut levels = vec![Vec::new(); depth];
        for (i, l) in level.into_iter().enumerate() {
            levels[l.unwrap_or(0)].push(i);
        }
        Ok(levels)
    }

    /// Step names by level, validated.
    pub fn levels(&self) -> Result<Vec<Vec<String>>, PlanError> {
        Ok(self
            .validate()?
            .into_iter()
            .map(|l| l.into_iter().map(|i| self.tasks[i].name.clone()).collect())
            .collect())
    }

    /// A text description of the plan: levels, each step with its dependencies and flags.
    pub fn explain(&self) -> String {
        let levels = match self.validate() {
            Ok(l) => l,
            Err(e) => return format!("invalid plan: {e}\n"),
        };
        let deps = self.resolve().unwrap_or_default();
        let mut out = format!("Plan: {} tasks, {} steps\n", self.tasks.len(), levels.len());
        for (n, level) in levels.iter().enumerate() {
            let mode = if level.len() > 1 { " (parallel)" } else { "" };
            out.push_str(&format!("Step {}{mode}:\n", n + 1));
            for &i in level {
                out.push_str(&format!("  {}", self.tasks[i].name));
                if !deps[i].is_empty() {
                    let names: Vec<&str> = deps[i]
                        .iter()
                        .map(|&d| self.tasks[d].name.as_str())
                        .collect();
                    out.push_str(&format!(" <- {}", names.join(", ")));
                }
                out.push_str(&self.flags(i));
                out.push('\n');
            }
        }
        out
    }

    fn flags(&self, i: usize) -> String {
        let t = &self.tasks[i];
        let mut flags = Vec::new();
        if !t.guards.is_empty() {
            flags.push(format!("{} guard(s)", t.guards.len()));
        }
        if let Some(r) = t.retry {
            flags.push(format!("retry {}", r.retries));
        }
        if t.on_error == ErrorStrategy::Continue {
            flags.push("continue on error".to_owned());
        }
        if flags.is_empty() {
            String::new()
        } else {
            format!(" ({})", flags.join(", "))
        }
    }

    /// Dependencies as task indices; rejects duplicate names and unknown steps.
    fn resolve(&self) -> Result<Vec<Vec<usize>>, PlanError> {
        let mut by_name = HashMap::new();
        for (i, t) in self.tasks.iter().enumerate() {
            if by_name.insert(t.name.as_str(), i).is_some() {
                return Err(PlanError::DuplicateName(t.name.clone()));
            }
        }
        self.tasks
            .iter()
            .map(|t| {
                t.deps
                    .iter()
                    .map(|d| {
                        let found = match d {
                            Dep::Id(id) => (id.0 < self.tasks.len()).then_some(id.0),
                            Dep::Name(n) => by_name.get(n.as_str()).copied(),
                        };
                        found.ok_or_else(|| PlanError::UnknownStep {
                            step: t.name.clone(),
                            dependency: match d {
                                Dep::Id(id) => format!("#{}", id.0),
                                Dep::Name(n) => n.clone(),
                            },
                        })
                    })
                    .collect()
            })
            .collect()
    }

    /// Depth-first level computation; meeting a task already on the path is a cycle.
    fn level_of(
        &self,
        i: usize,
        deps: &[Vec<usize>],
        level: &mut [Option<usize>],
        visiting: &mut [bool],
    ) -> Result<usize, PlanError> {
        if let Some(l) = level[i] {
            return Ok(l);
        }
        visiting[i] = true;
        let mut l = 0;
        for &d in &deps[i] {
            if visiting[d] {
                return Err(PlanError::Cycle {
                    from: self.tasks[i].name.clone(),
                    to: self.tasks[d].name.clone(),
                });
            }
            l = l.max(self.level_of(d, deps, level, visiting)? + 1);
        }
        visiting[i] = false;
        level[i] = Some(l);
        Ok(l)
    }

    /// Validates, then runs every level. Returns the report, or why the run stopped.
    pub async fn run(
        &self,
        client: Arc<C>,
        observer: Arc<dyn Observer>,
    ) -> Result<Report, RunError> {
        let levels = self.validate()?;
        let deps = self.resolve()?;
        let started = Instant::now();
        observer.plan_start(&PlanSummary {
            total: self.tasks.len(),
            steps: levels
                .iter()
                .map(|l| l.iter().map(|&i| self.tasks[i].name.clone()).collect())
                .collect(),
        });
        let mut done: BTreeMap<String, TaskResult> = BTreeMap::new();
        // Steps that failed, or were skipped because a dependency failed: their
        // unguarded dependents are skipped in turn.
        let mut poisoned: HashSet<String> = HashSet::new();
        let mut report = Report::default();
        for (n, level) in levels.iter().enumerate() {
            let names: Vec<String> = level.iter().map(|&i| self.tasks[i].name.clone()).collect();
            observer.level_start(n, &names, level.len() > 1);
            let results = self
                .run_level(
                    level,
                    &deps,
                    &client,
                    &observer,
                    Results::new(done.clone()),
                    &poisoned,
                )
                .await;
            observer.level_done(n, &results);
            let mut stop = None;
            for (&i, r) in level.iter().zip(&results) {
                let dependency_failed = r.skip_reason.as_deref() == Some(DEPENDENCY_FAILED);
                if r.status == TaskStatus::Failed || dependency_failed {
                    poisoned.insert(r.name.clone());
                }
                if r.status == TaskStatus::Failed
                    && self.tasks[i].on_error == ErrorStrategy::StopAll
                    && stop.is_none()
                {
                    stop = Some((r.name.clone(), r.error.clone().unwrap_or_default()));
                }
                done.insert(r.name.clone(), r.clone());
            }
            report.tasks.extend(results);
            if let Some((step, error)) = stop {
                report.duration = started.elapsed();
                observer.plan_done(&report);
                return Err(RunError::Stopped {
                    step,
                    error,
                    report,
                });
            }
        }
        report.duration = started.elapsed();
        observer.plan_done(&report);
        Ok(report)
    }

    async fn run_level(
        &self,
        level: &[usize],
        deps: &[Vec<usize>],
        client: &Arc<C>,
        observer: &Arc<dyn Observer>,
        results: Results,
        poisoned: &HashSet<String>,
    ) -> Vec<TaskResult> {
        let mut set = JoinSet::new();
        for (slot, &i) in level.iter().enumerate() {
            let task = &self.tasks[i];
            let dep_names: Vec<String> = deps[i]
                .iter()
                .map(|&d| self.tasks[d].name.clone())
                .collect();
            let run = TaskRun {
                name: task.name.clone(),
                func: task.func.clone(),
                dependency_failed: dep_names.iter().any(|d| poisoned.contains(d)),
                dep_names,
                guards: task.guards.clone(),
                retry: task.retry,
                timeout: task.timeout,
            };
            let (client, observer, results) = (client.clone(), observer.clone(), results.clone());
            set.spawn(async move { (slot, run.execute(client, observer, results).await) });
        }
        let mut out: Vec<Option<TaskResult>> = vec![None; level.len()];
        while let Some(joined) = set.join_next().await {
            // Task bodies run under catch_unwind, so a join error means the runtime is
            // shutting down; the slot stays empty and is reported below.
            if let Ok((slot, r)) = joined {
                out[slot] = Some(r);
            }
        }
        out.into_iter()
            .zip(level)
            .map(|(r, &i)| {
                r.unwrap_or_else(|| {
                    let e = TaskError::msg("the step's task was cancelled");
                    TaskResult::from_error(&self.tasks[i].name, e, 0, Duration::ZERO)
                })
            })
            .collect()
    }
}

/// Skip reason of a step whose dependency failed.
pub const DEPENDENCY_FAILED: &str = "dependency failed";

/// Everything one task needs to run on its own tokio task.
struct TaskRun<C> {
    name: String,
    func: TaskFn<C>,
    dep_names: Vec<String>,
    dependency_failed: bool,
    guards: Vec<Guard>,
    retry: Option<Retry>,
    timeout: Option<Duration>,
}

impl<C: Send + Sync + 'static> TaskRun<C> {
    async fn execute(
        self,
        client: Arc<C>,
        observer: Arc<dyn Observer>,
        results: Results,
    ) -> TaskResult {
        let started = Instant::now();
        if let Some(reason) = self.skip_reason(&results) {
            observer.task_skip(&self.name, &reason);
            let r = TaskResult::skipped(&self.name, &reason, started.elapsed());
            observer.task_done(&r);
            return r;
        }
        observer.task_start(&self.name);
        let results = results.for_step(&self.name, observer.clone());
        let max_attempts = self.retry.map_or(1, |r| r.retries.saturating_add(1));
        let mut attempt = 0;
        let r = loop {
            attempt += 1;
            match self.attempt(&client, &results).await {
                Ok(out) => {
                    break TaskResult::from_output(&self.name, out, attempt, started.elapsed())
                }
                Err(e) if attempt < max_attempts => {
                    observer.task_retry(&self.name, attempt, &e.message);
                    if let Some(retry) = self.retry {
                        tokio::time::sleep(retry.delay(attempt - 1)).await;
                    }
                }
                Err(e) => break TaskResult::from_error(&self.name, e, attempt, started.elapsed()),
            }
        };
        observer.task_done(&r);
        r
    }

    /// Why the task must not run, if it must not: a failed dependency (only for tasks
    /// without guards), else the first guard that says no.
    fn skip_reason(&self, results: &Results) -> Option<String> {
        if self.guards.is_empty() && self.dependency_failed {
            return Some(DEPENDENCY_FAILED.to_owned());
        }
        self.guards
            .iter()
            .find_map(|g| g(results, &self.dep_names).err())
    }

    /// One call of the body, bounded by the timeout, with a panic turned into a failure.
    async fn attempt(&self, client: &Arc<C>, results: &Results) -> Result<TaskOutput, TaskError> {
        let call = || (self.func)(client.clone(), results.clone());
        let body = match std::panic::catch_unwind(AssertUnwindSafe(call)) {
            Ok(future) => AssertUnwindSafe(future).catch_unwind(),
            Err(_) => return Err(TaskError::msg("the step panicked")),
        };
        let outcome = match self.timeout {
            Some(t) => tokio::time::timeout(t, body)
                .await
                .map_err(|_| TaskError::msg(format!("timed out after {t:?}")))?,
            None => body.await,
        };
        outcome.unwrap_or_else(|_| Err(TaskError::msg("the step panicked")))
    }
}
