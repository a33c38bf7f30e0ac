//! The Kubernetes side of a reconcile: finalizer, status by server-side apply (only when it
//! changed), events, metrics and the requeue. All AWS work is the engine's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event, finalizer};
use kube::{Client, Resource, ResourceExt};
use tracing::{info, instrument, warn};

use super::requeue::{self, RequeueHint};
use crate::api::{GatewayEndpoint, GatewayEndpointStatus};
use crate::engine::reasons::READY;
use crate::engine::report;
use crate::engine::{Cleanup, Engine, events};
use crate::error::Error;
use crate::metrics::Metrics;

/// The finalizer that keeps an object until its endpoint is gone (or retained).
pub const FINALIZER: &str = "vpcgate.dev/cleanup";
/// Field manager for status patches.
pub const FIELD_MANAGER: &str = "vpcgate";

/// Everything a reconcile needs, shared by all of them.
pub struct Context {
    pub client: Client,
    pub engine: Engine,
    pub events: super::events::Events,
    pub metrics: Arc<Metrics>,
    pub resync: Duration,
    /// What `/readyz` answers; the watch reports into it.
    pub readiness: Arc<crate::readiness::Readiness>,
    /// Consecutive transient failures per object uid, for the exponential backoff.
    failures: Mutex<HashMap<String, u32>>,
    /// Names of objects to reconcile now: their probe finished (sent by the engine's prober),
    /// or the cluster's nodes changed under them. Taken by the running controller.
    probe_done: Mutex<Option<futures::channel::mpsc::UnboundedReceiver<String>>>,
    /// The sending side of `probe_done`.
    trigger: futures::channel::mpsc::UnboundedSender<String>,
    /// Node discovery, waiting for the controller (leader only) to start it.
    pub discovery: Mutex<Option<super::nodes::Discovery>>,
    /// The controller's cache of objects (set when the controller starts): who waits for a
    /// first pass.
    pub objects: std::sync::OnceLock<kube::runtime::reflector::Store<GatewayEndpoint>>,
    /// First passes and spec changes before periodic ones.
    pub fairness: super::fairness::Fairness,
}

impl Context {
    pub fn new(
        client: Client,
        engine: Engine,
        events: super::events::Events,
        metrics: Arc<Metrics>,
        resync: Duration,
        readiness: Arc<crate::readiness::Readiness>,
    ) -> Self {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let trigger = tx.clone();
        engine.prober().set_notify(Arc::new(move |name: &str| {
            let _ = tx.unbounded_send(name.to_owned());
        }));
        Context {
            client,
            engine,
            events,
            metrics,
            resync,
            readiness,
            failures: Mutex::new(HashMap::new()),
            probe_done: Mutex::new(Some(rx)),
            trigger,
            discovery: Mutex::new(None),
            objects: std::sync::OnceLock::new(),
            fairness: super::fairness::Fairness::default(),
        }
    }

    /// Asks the controller to reconcile the object `name` soon.
    pub fn reconcile_soon(&self, name: &str) {
        let _ = self.trigger.unbounded_send(name.to_owned());
    }

    /// The stream of objects whose probe finished; there is one, taken by the controller.
    pub fn take_probe_done(&self) -> Option<futures::channel::mpsc::UnboundedReceiver<String>> {
        self.probe_done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Counts a failure (or resets on success) and returns the new count.
    fn track_failure(&self, uid: &str, failed: bool) -> u32 {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failed {
            let n = map.entry(uid.to_owned()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        } else {
            map.remove(uid);
            0
        }
    }
}

/// One reconcile: the finalizer decides between apply and cleanup.
#[instrument(skip_all, fields(object = %obj.name_any()))]
pub async fn reconcile(obj: Arc<GatewayEndpoint>, ctx: Arc<Context>) -> Result<Action, Error> {
    if let Some(objects) = ctx.objects.get() {
        let state = objects.state();
        let turn = ctx.fairness.turn(
            &obj.uid().unwrap_or_default(),
            obj.metadata.generation,
            obj.metadata.deletion_timestamp.is_some(),
            state.iter().map(|o| {
                (
                    o.metadata.uid.as_deref().unwrap_or_default(),
                    o.metadata.generation,
                )
            }),
        );
        if let super::fairness::Turn::Yield(after) = turn {
            ctx.metrics.yielded();
            return Ok(Action::requeue(after));
        }
    }
    let started = Instant::now();
    let api: Api<GatewayEndpoint> = Api::all(ctx.client.clone());
    let result = finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Event::Apply(o) => apply(o, &ctx).await,
            Event::Cleanup(o) => cleanup(o, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)));
    // A deletion waiting for AWS keeps the finalizer by returning an error; it is not a failure.
    let waiting = matches!(&result, Err(Error::Finalizer(inner)) if matches!(inner.as_ref(),
        kube::runtime::finalizer::Error::CleanupFailed(e) if matches!(e, Error::DeletionPending(..))));
    ctx.metrics
        .reconciled(result.is_ok() || waiting, started.elapsed());
    result
}

/// Requeue after a reconcile that returned an error (Kubernetes trouble, deletion pending or
/// blocked).
pub fn error_policy(obj: Arc<GatewayEndpoint>, err: &Error, ctx: Arc<Context>) -> Action {
    let uid = obj.uid().unwrap_or_default();
    if matches!(requeue::hint(err), RequeueHint::Settle) {
        // A delete waiting for the request budget comes back when its token is due.
        if let Error::Finalizer(inner) = err
            && let kube::runtime::finalizer::Error::CleanupFailed(e) = inner.as_ref()
            && let Error::DeletionPending(_, Some(wait)) = e
        {
            return Action::requeue(requeue::after_budget(*wait, &uid));
        }
        return Action::requeue(requeue::DELETION_POLL);
    }
    ctx.metrics.failed(err.reason());
    warn!(error = %err, "reconcile failed");
    let failures = ctx.track_failure(&uid, true);
    // A deletion waits on AWS or on a human: keep retrying with backoff, never only at resync.
    if matches!(err, Error::Finalizer(inner) if matches!(inner.as_ref(), kube::runtime::finalizer::Error::CleanupFailed(_)))
    {
        return Action::requeue(requeue::jittered_backoff(failures, &uid));
    }
    match requeue::hint(err) {
        RequeueHint::AwaitChange => Action::await_change(),
        RequeueHint::Resync => Action::requeue(ctx.resync),
        RequeueHint::Backoff | RequeueHint::Settle => {
            Action::requeue(requeue::jittered_backoff(failures, &uid))
        }
    }
}

async fn apply(obj: Arc<GatewayEndpoint>, ctx: &Context) -> Result<Action, Error> {
    let uid = obj.uid().unwrap_or_default();
    ctx.fairness.applied(&uid, obj.metadata.generation);
    let outcome = ctx.engine.apply(&obj, jiff::Timestamp::now()).await;
    ctx.events.publish(&obj, &outcome.events).await;
    if obj.status.as_ref() != Some(&outcome.status) {
        patch_status(ctx, &obj, &outcome.status).await?;
    }
    if let Some(latency) = outcome.probe_latency {
        ctx.metrics.probed(latency);
    }
    let ready = outcome.status.conditions.iter().find(|c| c.type_ == READY);
    ctx.metrics
        .set_ready(&uid, ready.map(|c| c.status.as_str()));
    if let Some(c) = ready.filter(|c| c.status != "True") {
        ctx.metrics.failed(&c.reason);
    }
    if let Some(wait) = outcome.budget_wait {
        // Its token in the request budget is due then: no failure, no backoff, no yielding.
        ctx.track_failure(&uid, false);
        let after = requeue::after_budget(wait, &uid);
        ctx.fairness.budget_due(&uid, after);
        return Ok(Action::requeue(after));
    }
    let hint = outcome.error.as_ref().map(requeue::hint);
    let failures = ctx.track_failure(&uid, hint == Some(RequeueHint::Backoff));
    if let Some(e) = &outcome.error {
        info!(reason = e.reason(), error = %e, "not ready");
    }
    if hint == Some(RequeueHint::Backoff) {
        // Objects throttled in one wave must not retry in one wave.
        return Ok(Action::requeue(requeue::jittered_backoff(failures, &uid)));
    }
    Ok(
        match requeue::after_apply(
            hint,
            failures,
            outcome.settling,
            outcome.next_probe,
            ctx.resync,
        ) {
            Some(d) => Action::requeue(d),
            None => Action::await_change(),
        },
    )
}

/// Deletes (or retains) the endpoints, writes `Ready=False, reason Deleting` while AWS works,
/// and lets the finalizer go only when the engine says everything is gone.
async fn cleanup(obj: Arc<GatewayEndpoint>, ctx: &Context) -> Result<Action, Error> {
    let now = jiff::Timestamp::now();
    let out = ctx.engine.cleanup(&obj, now).await;
    ctx.events.publish(&obj, &out.events).await;
    let (waiting, error) = match out.result {
        Cleanup::Gone => {
            let uid = obj.uid().unwrap_or_default();
            ctx.metrics.set_ready(&uid, None);
            ctx.track_failure(&uid, false);
            ctx.events.forget(&uid);
            ctx.fairness.forget(&uid);
            return Ok(Action::await_change());
        }
        Cleanup::Pending(waiting) => (waiting, None),
        Cleanup::Failed(e, waiting) => {
            // A stuck deletion must be visible on `kubectl describe`, not only in the logs.
            ctx.events
                .publish(&obj, &[events::deletion_failed(e.to_string())])
                .await;
            (waiting, Some(e))
        }
    };
    let prev = obj.status.clone().unwrap_or_default();
    let now =
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(crate::engine::whole_seconds(now));
    let status = report::deleting(
        &prev,
        obj.metadata.generation,
        &now,
        &waiting,
        error.as_ref(),
    );
    if status != prev {
        patch_status(ctx, &obj, &status).await?;
    }
    Err(error.unwrap_or_else(|| {
        Error::DeletionPending(
            if waiting.is_empty() {
                "describes to settle".to_owned()
            } else {
                waiting
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            out.retry_after,
        )
    }))
}

/// Server-side apply of the whole status, as field manager `vpcgate`.
async fn patch_status(
    ctx: &Context,
    obj: &GatewayEndpoint,
    status: &GatewayEndpointStatus,
) -> Result<(), Error> {
    let api: Api<GatewayEndpoint> = Api::all(ctx.client.clone());
    let patch = serde_json::json!({
        "apiVersion": GatewayEndpoint::api_version(&()),
        "kind": GatewayEndpoint::kind(&()),
        "status": status,
    });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    ctx.metrics.status_written();
    Ok(())
}
