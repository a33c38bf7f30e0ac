//! The engine: one pass turns a `GatewayEndpoint` into AWS reality and reports what is true.
//! It knows AWS (through the narrow [`Cloud`]/[`crate::aws::Ec2`] traits) and nothing of
//! Kubernetes beyond the object it is handed; the controller writes the status and events it
//! returns and decides when to look again.
//!
//! `desired` (pure) → `observe` → `plan` (pure) → `act` → `verify` → `probe` (started when due,
//! runs off the worker, reported by the pass after it finished) → `report` (pure). Cleanup has
//! the same shape.

pub mod act;
pub mod cleanup;
pub mod conditions;
pub mod coverage;
pub mod desired;
pub mod discovery;
pub mod egress;
pub mod events;
mod memory;
pub mod observe;
pub mod plan;
pub mod policy;
pub mod probe;
pub mod prober;
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

use kube::ResourceExt;

use crate::api::{GatewayEndpoint, GatewayEndpointStatus};
use crate::aws::Cloud;
use crate::error::Error;
use desired::Desired;
use memory::{Created, FullPass, FullPasses, UidSet, Unseen, findings, fingerprint};
use observe::Observed;
use plan::{Plan, PlanInput};
use prober::{ProbeOrigin, Prober};
use report::{Pass, PassInput};

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
    /// Latency of the probe this pass reported, when it succeeded.
    pub probe_latency: Option<Duration>,
    /// An endpoint mutation waits for the request budget: look again after this long.
    pub budget_wait: Option<Duration>,
}

/// Where the uids of the cluster's live GatewayEndpoints come from.
pub type LiveUids = Arc<dyn Fn() -> std::collections::BTreeSet<String> + Send + Sync>;

/// Turns `GatewayEndpoint` objects into AWS reality.
#[derive(Clone)]
pub struct Engine {
    cloud: Arc<dyn Cloud>,
    default_region: Option<String>,
    describe_lag: Duration,
    unseen: Arc<Unseen>,
    created: Arc<Created>,
    /// When this process last changed each object's endpoint (the probe distrusts a failing
    /// path right after a change).
    changed: Arc<Created>,
    path_settle: Duration,
    /// The cluster's nodes, as the controller last resolved them.
    nodes: tokio::sync::watch::Receiver<discovery::ClusterNodes>,
    /// The uids of the GatewayEndpoints that exist in the cluster (adoption never takes an
    /// endpoint one of them owns); installed by the controller.
    live: Arc<std::sync::Mutex<Option<LiveUids>>>,
    /// VPCs the operator may change; empty: any.
    allowed_vpcs: Arc<std::collections::BTreeSet<String>>,
    prober: Arc<Prober>,
    /// The process's budget for endpoint mutations.
    pacer: Arc<crate::aws::pacing::Pacer>,
    /// The last clean full pass of each object: between them, a pass that only has a probe to
    /// report or start reads nothing from EC2.
    full: Arc<FullPasses>,
    /// How often every object gets a full pass whatever the probes do (the resync); zero:
    /// every pass is full.
    full_every: Duration,
    /// Objects being deleted whose egress rules are already revoked.
    egress_cleared: Arc<UidSet>,
}

impl Engine {
    /// `default_region` applies to objects without `spec.region`.
    pub fn new(cloud: Arc<dyn Cloud>, default_region: Option<String>) -> Self {
        let prober = Prober::new(
            cloud.clone(),
            ProbeOrigin::Unknown("the operator's node is not known (NODE_NAME is not set)".into()),
        );
        Engine {
            cloud,
            default_region,
            describe_lag: DEFAULT_DESCRIBE_LAG,
            unseen: Arc::default(),
            created: Arc::default(),
            changed: Arc::default(),
            path_settle: probe::DEFAULT_PATH_SETTLE,
            nodes: tokio::sync::watch::channel(discovery::ClusterNodes::default()).1,
            live: Arc::default(),
            allowed_vpcs: Arc::default(),
            prober,
            pacer: Arc::default(),
            full: Arc::default(),
            full_every: Duration::ZERO,
            egress_cleared: Arc::default(),
        }
    }

    /// Passes within `resync` of an object's last clean full pass, at the same generation and
    /// with the same wishes, only report or start its probe: no EC2 call.
    pub fn with_resync(mut self, resync: Duration) -> Self {
        self.full_every = resync;
        self
    }

    /// Paces Create/Modify/DeleteVpcEndpoint(s) with these buckets (default: not paced).
    pub fn with_pacing(mut self, cfg: crate::aws::pacing::PaceConfig) -> Self {
        self.pacer = Arc::new(crate::aws::pacing::Pacer::new(cfg));
        self
    }

    /// Sets how long after a change of the endpoint a probe that finds traffic bypassing it is
    /// reported as not a verdict yet (AWS applies routes and policies with a delay).
    pub fn with_path_settle(mut self, settle: Duration) -> Self {
        self.path_settle = settle;
        self
    }

    /// Reads the cluster's nodes from this view (kept current by the controller's node watch).
    pub fn with_cluster_nodes(
        mut self,
        nodes: tokio::sync::watch::Receiver<discovery::ClusterNodes>,
    ) -> Self {
        self.nodes = nodes;
        self
    }

    /// Sets where probes run from (the operator's node).
    pub fn with_probe_origin(mut self, origin: ProbeOrigin) -> Self {
        self.prober = Prober::new(self.cloud.clone(), origin);
        self
    }

    /// Limits the VPCs the operator may change; an object in another VPC is refused with
    /// `VpcNotAllowed` before any AWS call.
    pub fn with_allowed_vpcs(mut self, vpcs: impl IntoIterator<Item = String>) -> Self {
        self.allowed_vpcs = Arc::new(vpcs.into_iter().collect());
        self
    }

    /// Installs where the uids of the cluster's live GatewayEndpoints come from.
    pub fn set_live_uids(&self, f: LiveUids) {
        *self.live.lock().unwrap_or_else(|e| e.into_inner()) = Some(f);
    }

    /// The uids of the cluster's live GatewayEndpoints (empty before the controller installed
    /// its source: then every other uid counts as dead).
    fn live_uids(&self) -> std::collections::BTreeSet<String> {
        let f = self.live.lock().unwrap_or_else(|e| e.into_inner()).clone();
        f.map(|f| f()).unwrap_or_default()
    }

    /// The probe runner (the controller installs its notifier; tests wait on it).
    pub fn prober(&self) -> &Arc<Prober> {
        &self.prober
    }

    /// `VpcNotAllowed` when an allow list is set and the VPC is not on it.
    fn allowed(&self, desired: &Desired) -> Result<(), Error> {
        if self.allowed_vpcs.is_empty() || self.allowed_vpcs.contains(&desired.vpc_id) {
            return Ok(());
        }
        Err(Error::VpcNotAllowed {
            vpc_id: desired.vpc_id.clone(),
            allowed: self
                .allowed_vpcs
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// Sets how long cleanup waits out the describe lag.
    pub fn with_describe_lag(mut self, lag: Duration) -> Self {
        self.describe_lag = lag;
        self
    }

    /// Resolves, observes and plans. Changes nothing in AWS (`vpcgate plan`).
    pub async fn preview(&self, obj: &GatewayEndpoint) -> Result<(Desired, Observed, Plan), Error> {
        let prev = obj.status.clone().unwrap_or_default();
        let account = self.account(obj).await?;
        let desired = desired::desired(
            obj,
            self.default_region.as_deref(),
            account.as_deref(),
            &self.nodes.borrow(),
        )?;
        self.allowed(&desired)?;
        let ec2 = self.cloud.ec2(&desired.region);
        let seen = observe::observe(
            ec2.as_ref(),
            &desired,
            &prev,
            obj.metadata.generation,
            &self.live_uids(),
        )
        .await?;
        let plan = plan::plan(&plan_input(&desired, &prev, obj, &seen))?;
        Ok((desired, seen, plan))
    }

    /// One reconcile pass for an object that exists. Never panics; every failure ends up in the
    /// returned status.
    pub async fn apply(&self, obj: &GatewayEndpoint, now: jiff::Timestamp) -> Outcome {
        let now = whole_seconds(now);
        let prev = obj.status.clone().unwrap_or_default();
        let desired = match self.account(obj).await.and_then(|account| {
            desired::desired(
                obj,
                self.default_region.as_deref(),
                account.as_deref(),
                &self.nodes.borrow(),
            )
        }) {
            Ok(d) => d,
            Err(e) => {
                // A finished probe belongs to a spec that no longer holds; the next pass that
                // can work is a full one.
                let uid = obj.metadata.uid.as_deref().unwrap_or_default();
                self.prober.forget(uid);
                self.full.forget(uid);
                let mut out = failed(obj, &prev, None, e, now);
                // What the nodes say is the point of NoNodes and MultipleVpcs.
                out.status.cluster_nodes = desired::uses_nodes(&obj.spec).then(|| {
                    let region = obj
                        .spec
                        .region
                        .as_deref()
                        .or(self.default_region.as_deref());
                    self.nodes.borrow().status(region.unwrap_or_default(), None)
                });
                return out;
            }
        };
        if let Err(e) = self.allowed(&desired) {
            self.prober.forget(&desired.uid);
            self.full.forget(&desired.uid);
            return failed(obj, &prev, Some(&desired), e, now);
        }
        if let Some(out) = self.probe_only(obj, &desired, &prev, now) {
            return out;
        }
        self.full.forget(&desired.uid);
        let ec2 = self.cloud.ec2(&desired.region);
        let seen = match observe::observe(
            ec2.as_ref(),
            &desired,
            &prev,
            obj.metadata.generation,
            &self.live_uids(),
        )
        .await
        {
            Ok(seen) => seen,
            Err(e) => return failed(obj, &prev, Some(&desired), e, now),
        };
        let own = &seen.ownership;
        self.unseen.forget(own.own_ids.difference(&own.unseen));
        let young = self
            .unseen
            .young(&seen.ownership.unseen, now, self.describe_lag);
        let plan = match plan::plan(&PlanInput {
            unseen_young: &young,
            ..plan_input(&desired, &prev, obj, &seen)
        }) {
            Ok(plan) => plan,
            Err(e) => return failed(obj, &prev, Some(&desired), e, now),
        };
        let mut acted = act::act(ec2.as_ref(), &self.pacer, &desired, &plan).await;
        if let Some(id) = plan.adopting.as_ref().filter(|_| acted.error.is_none()) {
            let changes: Vec<String> = plan
                .actions
                .iter()
                .filter(|a| !matches!(a, plan::Action::Tag { tags, .. } if tags.contains_key(crate::api::TAG_UID) && tags.len() == 1))
                .map(ToString::to_string)
                .collect();
            acted.events.insert(0, events::adopted(id, &changes));
        }
        if acted.created.is_some() {
            self.created.record(&desired.uid, now);
        }
        if acted.changed || acted.created.is_some() {
            self.changed.record(&desired.uid, now);
        }
        let mut seen = seen;
        if acted.egress_changed {
            // What the groups allow now that rules were added.
            match observe::egress(ec2.as_ref(), &desired, &seen.prefix_list).await {
                Ok((egress, blocked)) => {
                    seen.egress = egress;
                    seen.egress_blocked = blocked;
                }
                Err(e) => {
                    acted.error.get_or_insert(e);
                }
            }
        }
        let verified = act::verify(ec2.as_ref(), &desired.vpc_id, &seen, &plan, &acted).await;
        let verified = verified.map_err(|e| acted.error.get_or_insert(e)).ok();
        let probed = probe::step(
            &self.prober,
            &probe::Subject {
                uid: &desired.uid,
                name: &obj.name_any(),
                region: &desired.region,
                vpc_id: &desired.vpc_id,
                selected: &seen.selection.selected,
                changed_now: acted.changed || acted.created.is_some(),
                changed_at: self.changed.last(&desired.uid),
                path_settle: self.path_settle,
            },
            desired.probe.as_ref(),
            prev.probe.as_ref(),
            now,
        );
        let (status, mut events, settling) = report::from_pass(&PassInput {
            prev: &prev,
            generation: obj.metadata.generation,
            now: &Time(now),
            desired: &desired,
            seen: &seen,
            plan: &plan,
            acted: &acted,
            verified: verified.as_ref(),
            probe: probed.status.as_ref(),
        });
        events.extend(probed.event);
        let mut status = status;
        // Until the node list is read (after a restart), the last view of the nodes stands:
        // no flapping node marks, no warning repeated.
        let nodes_listed = self.nodes.borrow().listed;
        status.cluster_nodes = if nodes_listed {
            desired.cluster_nodes.clone()
        } else {
            prev.cluster_nodes.clone()
        };
        let tables = verified.as_ref().map_or(&seen.tables, |v| &v.tables);
        let coverage = coverage::coverage(
            &seen.subnets,
            tables,
            &seen.prefix_list.id,
            status.endpoint_id.as_deref(),
            &desired.node_subnets,
        );
        let before: &[String] = prev.coverage.as_ref().map_or(&[], |c| &c.bypassing);
        let newly: Vec<&String> = coverage
            .bypassing
            .iter()
            .filter(|s| !before.contains(s))
            .collect();
        if nodes_listed {
            if !newly.is_empty() && status.endpoint_id.is_some() {
                events.push(events::node_subnets_bypass(&coverage, &newly));
            }
            status.coverage = Some(coverage);
        } else {
            status.coverage = prev.coverage.clone();
        }
        status.security_groups = seen.egress.clone();
        if acted.error.is_none() && acted.budget.is_none() && !settling && verified.is_some() {
            self.full.record(
                &desired.uid,
                FullPass {
                    at: now,
                    wishes: fingerprint(&desired),
                    reported: findings(&status),
                    selected: seen.selection.selected.clone(),
                },
            );
        }
        Outcome {
            status,
            events,
            error: acted.error,
            next_probe: probed.next,
            settling,
            probe_latency: probed.latency,
            budget_wait: acted.budget.map(|b| b.wait),
        }
    }

    /// A pass that only reports a finished probe or starts a due one, from the last clean full
    /// pass's findings: `None` when a full pass is needed (another generation or other wishes,
    /// e.g. the nodes changed; the resync is due; probing is off; the last pass was not clean).
    fn probe_only(
        &self,
        obj: &GatewayEndpoint,
        desired: &Desired,
        prev: &GatewayEndpointStatus,
        now: jiff::Timestamp,
    ) -> Option<Outcome> {
        let plan = desired.probe.as_ref()?;
        let last = self.full.last(&desired.uid)?;
        // The status the object holds must be the one that pass reported (a lost or overtaken
        // status write, or a failure since, needs a full pass to heal).
        let fresh = elapsed(last.at, now) < self.full_every
            && prev.observed_generation == obj.metadata.generation
            && last.wishes == fingerprint(desired)
            && last.reported == findings(prev);
        if !fresh {
            return None;
        }
        let probed = probe::step(
            &self.prober,
            &probe::Subject {
                uid: &desired.uid,
                name: &obj.name_any(),
                region: &desired.region,
                vpc_id: &desired.vpc_id,
                selected: &last.selected,
                changed_now: false,
                changed_at: self.changed.last(&desired.uid),
                path_settle: self.path_settle,
            },
            Some(plan),
            prev.probe.as_ref(),
            now,
        );
        Some(Outcome {
            status: report::after_probe(
                prev,
                probed.status.as_ref(),
                obj.metadata.generation,
                &Time(now),
            ),
            events: probed.event.into_iter().collect(),
            error: None,
            next_probe: probed.next,
            settling: false,
            probe_latency: probed.latency,
            budget_wait: None,
        })
    }

    /// The caller's account, when the spec needs it (table ARNs); asked once per process.
    async fn account(&self, obj: &GatewayEndpoint) -> Result<Option<String>, Error> {
        if !desired::needs_account(&obj.spec) {
            return Ok(None);
        }
        // Without a region `desired` names spec.region as the problem; nothing to ask yet.
        let Some(region) = obj.spec.region.clone().or(self.default_region.clone()) else {
            return Ok(None);
        };
        Ok(Some(self.cloud.account_id(&region).await?))
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
        if let Some(uid) = obj.metadata.uid.as_deref() {
            // A probe never delays a deletion.
            self.prober.forget(uid);
        }
        let (Some(uid), Some(region)) = (obj.metadata.uid.as_deref(), region) else {
            // No uid or no region ever resolved: nothing can have been created.
            return CleanupOutcome {
                result: Cleanup::Gone,
                events: Vec::new(),
                retry_after: None,
            };
        };
        // The lag runs from the later of the deletion request and this process's last create
        // for the object (an apply pass may have been creating as deletion was requested).
        let asked = obj.metadata.deletion_timestamp.as_ref().map(|t| t.0);
        let from = match (asked, self.created.last(uid)) {
            (Some(a), Some(c)) => Some(a.max(c)),
            (a, c) => a.or(c),
        };
        let since = from.map(|t| elapsed(t, now)).unwrap_or_default();
        let ec2 = self.cloud.ec2(&region);
        let outcome = cleanup::cleanup(
            ec2.as_ref(),
            &cleanup::CleanupInput {
                uid,
                policy: obj.spec.deletion_policy,
                recorded_id: prev.endpoint_id.as_deref(),
                deleting_for: since,
                describe_lag: self.describe_lag,
                // Looked up by the uid tag on every delete (a spec edited since, or a Manage
                // object whose selector was removed, leaves no rule behind), once per deletion
                // in this process: the rules are tagged only when vpcgate adds them.
                egress_rules: !self.egress_cleared.contains(uid),
                region: &region,
                pacer: &self.pacer,
            },
        )
        .await;
        self.full.forget(uid);
        match &outcome.result {
            // Reached the endpoints: the egress rules were revoked (or there were none).
            Cleanup::Pending(_) => self.egress_cleared.insert(uid),
            Cleanup::Gone => self.egress_cleared.forget(uid),
            Cleanup::Failed(..) => {}
        }
        if matches!(outcome.result, Cleanup::Gone) {
            self.created.forget(uid);
            self.changed.forget(uid);
            self.prober.forget(uid);
        }
        outcome
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
        egress_blocked: &seen.egress_blocked,
        unseen_young: &EMPTY,
    }
}

static EMPTY: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();

/// Time from `since` to `now`; zero when the clocks disagree and `now` is earlier.
pub fn elapsed(since: jiff::Timestamp, now: jiff::Timestamp) -> Duration {
    Duration::try_from(now.duration_since(since)).unwrap_or_default()
}

/// The API server keeps whole seconds: finer times would make every status look changed.
pub fn whole_seconds(now: jiff::Timestamp) -> jiff::Timestamp {
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
        // A passing failure says nothing about the new spec: the status still describes the
        // generation it described.
        generation: if error.is_transient() {
            prev.observed_generation
        } else {
            obj.metadata.generation
        },
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
        budget_wait: None,
    }
}
