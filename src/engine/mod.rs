//! The engine: one pass turns a `GatewayEndpoint` into AWS reality and reports what is true.
//! It knows AWS (through the narrow [`Cloud`]/[`crate::aws::Ec2`] traits) and nothing of
//! Kubernetes beyond the object it is handed; the controller writes the status and events it
//! returns and decides when to look again.
//!
//! `desired` (pure) → `observe` → `plan` (pure) → `act` → `verify` → `probe` (when due) →
//! `report` (pure). Cleanup has the same shape.

pub mod act;
pub mod cleanup;
pub mod conditions;
pub mod desired;
pub mod events;
pub mod observe;
pub mod plan;
pub mod policy;
pub mod probe;
pub mod reasons;
pub mod report;
pub mod resolve;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

pub use cleanup::{Cleanup, CleanupOutcome};
pub use events::{EngineEvent, EventType};

use crate::api::{GatewayEndpoint, GatewayEndpointStatus};
use crate::aws::Cloud;
use crate::error::Error;
use act::{Acted, Verified};
use desired::Desired;
use observe::Observed;
use plan::{Plan, PlanInput};
use probe::Probed;
use report::{Facts, Pass};

/// How long a fresh endpoint may stay invisible to `DescribeVpcEndpoints` (EC2 is eventually
/// consistent): cleanup does not trust "nothing found" before this has passed.
pub const DEFAULT_DESCRIBE_LAG: Duration = Duration::from_secs(20);

/// The result of one apply pass.
#[derive(Debug)]
pub struct Outcome {
    pub status: GatewayEndpointStatus,
    pub events: Vec<EngineEvent>,
    /// The failure that stopped or hit this pass; its reason is already in the conditions.
    pub error: Option<Error>,
    /// Time until the next probe is due; `None` when probing is off.
    pub next_probe: Option<Duration>,
    /// AWS is converging (endpoint pending, routes not visible yet, an earlier endpoint's route
    /// still in place): look again soon rather than at the next resync.
    pub settling: bool,
    /// Latency of the probe this pass ran, when it succeeded.
    pub probe_latency: Option<Duration>,
}

/// Turns `GatewayEndpoint` objects into AWS reality.
#[derive(Clone)]
pub struct Engine {
    cloud: Arc<dyn Cloud>,
    default_region: Option<String>,
    describe_lag: Duration,
}

impl Engine {
    /// `default_region` applies to objects without `spec.region`.
    pub fn new(cloud: Arc<dyn Cloud>, default_region: Option<String>) -> Self {
        Engine {
            cloud,
            default_region,
            describe_lag: DEFAULT_DESCRIBE_LAG,
        }
    }

    /// Sets how long cleanup waits out the describe lag.
    pub fn with_describe_lag(mut self, lag: Duration) -> Self {
        self.describe_lag = lag;
        self
    }

    /// Resolves, observes and plans. Changes nothing in AWS (`vpcgate plan`).
    pub async fn preview(&self, obj: &GatewayEndpoint) -> Result<(Desired, Observed, Plan), Error> {
        let prev = obj.status.clone().unwrap_or_default();
        let desired = desired::desired(obj, self.default_region.as_deref())?;
        let ec2 = self.cloud.ec2(&desired.region);
        let seen = observe::observe(ec2.as_ref(), &desired, &prev).await?;
        let plan = plan::plan(&plan_input(&desired, &prev, obj, &seen))?;
        Ok((desired, seen, plan))
    }

    /// One reconcile pass for an object that exists. Never panics; every failure ends up in the
    /// returned status.
    pub async fn apply(&self, obj: &GatewayEndpoint, now: jiff::Timestamp) -> Outcome {
        let now = whole_seconds(now);
        let prev = obj.status.clone().unwrap_or_default();
        let desired = match desired::desired(obj, self.default_region.as_deref()) {
            Ok(d) => d,
            Err(e) => return failed(obj, &prev, None, e, now),
        };
        let ec2 = self.cloud.ec2(&desired.region);
        let (seen, plan) = match observe::observe(ec2.as_ref(), &desired, &prev).await {
            Ok(seen) => match plan::plan(&plan_input(&desired, &prev, obj, &seen)) {
                Ok(plan) => (seen, plan),
                Err(e) => return failed(obj, &prev, Some(&desired), e, now),
            },
            Err(e) => return failed(obj, &prev, Some(&desired), e, now),
        };
        let mut acted = act::act(ec2.as_ref(), &desired, &plan).await;
        let before = Verified {
            tables: seen.tables.clone(),
            endpoint: plan.endpoint.clone(),
        };
        let verified =
            match act::verify(ec2.as_ref(), &desired.vpc_id, before.clone(), &acted).await {
                Ok(v) => v,
                Err(e) => {
                    acted.error.get_or_insert(e);
                    Verified {
                        endpoint: acted.created.clone().or(before.endpoint.clone()),
                        ..before
                    }
                }
            };
        let probed = probe::probe(
            self.cloud.as_ref(),
            &desired.region,
            desired.probe.as_ref(),
            &seen.prefix_list.cidrs,
            prev.probe.as_ref(),
            now,
        )
        .await;
        assemble(
            obj, &prev, &desired, &seen, &plan, acted, &verified, probed, now,
        )
    }

    /// One cleanup pass for an object being deleted. Tolerates apply never having run.
    pub async fn cleanup(&self, obj: &GatewayEndpoint, now: jiff::Timestamp) -> CleanupOutcome {
        let prev = obj.status.clone().unwrap_or_default();
        let region = obj
            .spec
            .region
            .clone()
            .or(prev.region.clone())
            .or(self.default_region.clone());
        let (Some(uid), Some(region)) = (obj.metadata.uid.as_deref(), region) else {
            // No uid or no region ever resolved: nothing can have been created.
            return CleanupOutcome {
                result: Cleanup::Gone,
                events: Vec::new(),
            };
        };
        let since = obj
            .metadata
            .deletion_timestamp
            .as_ref()
            .map(|t| now.duration_since(t.0).unsigned_abs())
            .unwrap_or_default();
        let ec2 = self.cloud.ec2(&region);
        cleanup::cleanup(
            ec2.as_ref(),
            &cleanup::CleanupInput {
                uid,
                policy: obj.spec.deletion_policy,
                recorded_id: prev.endpoint_id.as_deref(),
                deleting_for: since,
                describe_lag: self.describe_lag,
            },
        )
        .await
    }
}

fn plan_input<'a>(
    desired: &'a Desired,
    prev: &'a GatewayEndpointStatus,
    obj: &GatewayEndpoint,
    seen: &'a Observed,
) -> PlanInput<'a> {
    PlanInput {
        desired,
        prev,
        generation: obj.metadata.generation,
        selection: &seen.selection,
        tables: &seen.tables,
        prefix_list_id: &seen.prefix_list.id,
        ownership: &seen.ownership,
    }
}

/// The API server keeps whole seconds: finer times would make every status look changed.
fn whole_seconds(now: jiff::Timestamp) -> jiff::Timestamp {
    jiff::Timestamp::from_second(now.as_second()).unwrap_or(now)
}

/// Report for a pass that stopped before it could observe (or plan).
fn failed(
    obj: &GatewayEndpoint,
    prev: &GatewayEndpointStatus,
    desired: Option<&Desired>,
    error: Error,
    now: jiff::Timestamp,
) -> Outcome {
    let now = Time(now);
    let (status, events) = report::report(&Pass {
        prev,
        generation: obj.metadata.generation,
        now: &now,
        resolved: desired.map(|d| {
            (
                d.region.as_str(),
                d.vpc_id.as_str(),
                d.service_name.as_str(),
            )
        }),
        facts: None,
        error: Some(&error),
        probing: desired.map_or(prev.probe.is_some(), |d| d.probe.is_some()),
        probe: prev.probe.as_ref(),
        recreations: prev.recreations,
        policy_echo: prev.policy_echo.as_deref(),
        managed_tag_keys: None,
    });
    Outcome {
        status,
        events,
        error: Some(error),
        next_probe: None,
        settling: false,
        probe_latency: None,
    }
}

/// Report for a full pass: facts from what verify read back, never from the plan's hopes.
#[allow(clippy::too_many_arguments)]
fn assemble(
    obj: &GatewayEndpoint,
    prev: &GatewayEndpointStatus,
    desired: &Desired,
    seen: &Observed,
    plan: &Plan,
    acted: Acted,
    verified: &Verified,
    probed: Probed,
    now: jiff::Timestamp,
) -> Outcome {
    let endpoint = verified.endpoint.as_ref().filter(|e| !e.state.is_leaving());
    let mut own_ids = seen.ownership.own_ids.clone();
    own_ids.extend(acted.created.as_ref().map(|e| e.id.clone()));
    let holders = plan::holders(
        &seen.selection.selected,
        &verified.tables,
        &seen.prefix_list.id,
        endpoint.map(|e| e.id.as_str()),
        &own_ids,
    );
    let drift = endpoint.map(|ep| plan::drift(desired, ep, &holders, &prev.managed_tag_keys));
    let policy_off = drift.as_ref().is_some_and(|d| d.policy.is_some());
    // AWS did not take the policy we just sent, or still shows the echo we gave up on.
    let policy_echo = match endpoint {
        Some(ep) if policy_off && (acted.policy_sent || plan.policy_held) => Some(
            policy::echo_fingerprint(desired.policy.as_ref(), ep.policy.as_deref()),
        ),
        _ => None,
    };
    let route_tables = report::route_table_statuses(
        &seen.selection,
        &holders,
        &verified.tables,
        &seen.prefix_list.id,
        endpoint.map(|e| e.id.as_str()),
    );
    let mut managed: Vec<String> = desired_keys(desired);
    if acted.error.is_some() {
        managed.extend(prev.managed_tag_keys.iter().cloned());
        managed.sort();
        managed.dedup();
    }
    let now_t = Time(now);
    let (status, mut events) = report::report(&Pass {
        prev,
        generation: obj.metadata.generation,
        now: &now_t,
        resolved: Some((&desired.region, &desired.vpc_id, &desired.service_name)),
        facts: Some(Facts {
            prefix_list_id: &seen.prefix_list.id,
            endpoint,
            endpoint_in_sync: drift.as_ref().is_some_and(plan::Drift::endpoint_in_sync),
            policy_not_converging: policy_echo.is_some(),
            route_tables: &route_tables,
            missing_subnets: &seen.selection.missing_subnets,
            replacing: plan.replacing.as_ref(),
        }),
        error: acted.error.as_ref(),
        probing: desired.probe.is_some(),
        probe: probed.status.as_ref(),
        recreations: acted.recreations,
        policy_echo: policy_echo.as_deref(),
        managed_tag_keys: Some(managed),
    });
    let mut all = Vec::new();
    all.extend(plan.vanished.iter().map(|id| events::recreated(id)));
    all.extend(acted.events);
    all.append(&mut events);
    all.extend(probed.event);
    let settling = endpoint.is_some_and(|e| e.state.is_pending())
        || route_tables
            .iter()
            .any(|t| !t.route_present && t.conflicting_endpoint_id.is_none() && !t.not_found)
        || acted.error.as_ref().is_some_and(|e| {
            matches!(
                e.aws_code(),
                Some("IdempotentParameterMismatch" | "RouteAlreadyExists")
            )
        });
    Outcome {
        status,
        events: all,
        error: acted.error,
        next_probe: probed.next,
        settling,
        probe_latency: probed.latency,
    }
}

/// The tag keys vpcgate manages for this spec.
fn desired_keys(desired: &Desired) -> Vec<String> {
    desired.tags.keys().cloned().collect()
}
