//! The engine: resolve → observe → plan (pure) → act → verify → probe → report (pure). It knows
//! AWS and nothing of Kubernetes beyond the object it is handed; the controller loop writes the
//! status and events it returns.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::desired::{Desired, desired};
use super::plan::{self, Action, PlanInput};
use super::policy;
use super::status::{self, Facts, ProbeFact};
use crate::api::{
    DeletionPolicy, GatewayEndpoint, GatewayEndpointStatus, ProbeStatus, TAG_NAME, TAG_UID,
};
use crate::aws::ec2::Ec2;
use crate::aws::{AwsClients, DeleteOutcome, Endpoint, PrefixList, RequeueHint, RouteTable};
use crate::error::Error;
use crate::probe::{self, ProbeRequest, ProbeResult};

/// Kubernetes event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

/// Something a human should see in `kubectl describe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineEvent {
    pub type_: EventType,
    /// CamelCase, e.g. `Created`, `DriftRepaired`.
    pub reason: &'static str,
    /// What vpcgate did, e.g. `CreateVpcEndpoint`.
    pub action: &'static str,
    pub note: String,
}

fn normal(reason: &'static str, action: &'static str, note: String) -> EngineEvent {
    EngineEvent {
        type_: EventType::Normal,
        reason,
        action,
        note,
    }
}

fn warning(reason: &'static str, action: &'static str, note: String) -> EngineEvent {
    EngineEvent {
        type_: EventType::Warning,
        reason,
        action,
        note,
    }
}

/// The result of one apply pass.
#[derive(Debug)]
pub struct Outcome {
    pub status: GatewayEndpointStatus,
    pub events: Vec<EngineEvent>,
    /// The failure that stopped or hit this pass; its reason is already in the conditions.
    pub error: Option<Error>,
    /// Time until the next probe is due; `None` when probing is off.
    pub next_probe: Option<Duration>,
    /// AWS is still converging (endpoint pending, a route not visible yet): look again soon
    /// rather than at the next resync.
    pub settling: bool,
    /// Latency of the probe this pass ran, when it got an answer.
    pub probe_latency: Option<Duration>,
}

impl Outcome {
    /// What the controller should do: `None` when all went well (requeue at resync or probe).
    pub fn requeue(&self) -> Option<RequeueHint> {
        self.error.as_ref().map(Error::requeue)
    }
}

/// The result of one cleanup pass.
#[derive(Debug)]
pub struct CleanupOutcome {
    /// True once AWS reports the endpoint gone (or it was retained): release the finalizer.
    pub done: bool,
    pub events: Vec<EngineEvent>,
    pub error: Option<Error>,
}

/// What resolve and observe found, and the plan for it.
#[derive(Debug, Clone)]
pub struct Observation {
    pub region: String,
    pub vpc_id: String,
    pub service_name: String,
    pub prefix_list: PrefixList,
    pub tables: Vec<RouteTable>,
    pub selected: BTreeSet<String>,
    /// Our endpoint, if it exists.
    pub endpoint: Option<Endpoint>,
    /// Other live endpoints carrying our uid tag.
    pub duplicates: Vec<Endpoint>,
    /// Set when the endpoint recorded in status vanished: its id.
    pub vanished: Option<String>,
    pub recreations: u32,
    pub conflicts: BTreeMap<String, String>,
    pub actions: Vec<Action>,
}

/// Turns `GatewayEndpoint` objects into AWS reality.
#[derive(Clone)]
pub struct Engine {
    clients: AwsClients,
    default_region: Option<String>,
}

impl Engine {
    /// `default_region` applies to objects without `spec.region`.
    pub fn new(clients: AwsClients, default_region: Option<String>) -> Self {
        Engine {
            clients,
            default_region,
        }
    }

    /// Resolves and observes, then plans. Changes nothing in AWS.
    pub async fn observe(&self, obj: &GatewayEndpoint) -> Result<(Desired, Observation), Error> {
        let prev = obj.status.clone().unwrap_or_default();
        let desired = desired(obj, self.default_region.as_deref())?;
        let ec2 = self.clients.ec2(&desired.region);
        let obs = observe(&ec2, &desired, &prev).await?;
        Ok((desired, obs))
    }

    /// One reconcile pass for an object that exists. Never panics; every failure ends up in the
    /// returned status.
    pub async fn apply(&self, obj: &GatewayEndpoint, now: jiff::Timestamp) -> Outcome {
        // The API server keeps whole seconds: finer times would make every status look changed.
        let now = jiff::Timestamp::from_second(now.as_second()).unwrap_or(now);
        let prev = obj.status.clone().unwrap_or_default();
        let generation = obj.metadata.generation;
        let desired = match desired(obj, self.default_region.as_deref()) {
            Ok(d) => d,
            Err(e) => return failed_before_aws(prev, e, generation, now),
        };
        let ec2 = self.clients.ec2(&desired.region);
        let mut obs = match observe(&ec2, &desired, &prev).await {
            Ok(o) => o,
            Err(e) => return failed_before_aws(prev, e, generation, now),
        };

        let mut events = Vec::new();
        let drift = prev.endpoint_id.is_some() && prev.observed_generation == generation;
        if let Some(old) = &obs.vanished {
            events.push(warning(
                "Recreated",
                "CreateVpcEndpoint",
                format!("endpoint {old} was deleted outside vpcgate; creating a replacement"),
            ));
        }
        let new_conflicts: Vec<String> =
            obs.conflicts
                .iter()
                .filter(|(rtb, other)| {
                    !prev.route_tables.iter().any(|t| {
                        &t.id == *rtb && t.conflicting_endpoint_id.as_ref() == Some(*other)
                    })
                })
                .map(|(rtb, other)| format!("{rtb} is routed to {other}"))
                .collect();
        if !new_conflicts.is_empty() {
            events.push(warning(
                "RouteTableConflict",
                "ModifyVpcEndpoint",
                format!(
                    "{}; those tables were left alone, the others are associated",
                    new_conflicts.join(", ")
                ),
            ));
        }

        // Act.
        let mut error: Option<Error> = None;
        let mut acted = false;
        let duplicates: Vec<String> = obs.duplicates.iter().map(|e| e.id.clone()).collect();
        if !duplicates.is_empty() {
            match ec2.delete_endpoints(&duplicates).await {
                Ok(outcomes) => {
                    let mut deleted = Vec::new();
                    for (id, outcome) in outcomes {
                        match outcome {
                            DeleteOutcome::Accepted => deleted.push(id),
                            DeleteOutcome::AlreadyGone => {}
                            DeleteOutcome::Failed(e) => error = error.or(Some(e.into())),
                        }
                    }
                    if !deleted.is_empty() {
                        acted = true;
                        events.push(warning(
                            "DuplicateDeleted",
                            "DeleteVpcEndpoints",
                            format!(
                                "deleted {} carrying this object's uid tag; kept {}",
                                deleted.join(", "),
                                obs.endpoint
                                    .as_ref()
                                    .map(|e| e.id.as_str())
                                    .unwrap_or("none")
                            ),
                        ));
                    }
                }
                Err(e) => error = Some(e.into()),
            }
        }
        for action in &obs.actions {
            if error.is_some() {
                break;
            }
            let mut action = action.clone();
            if let Action::Create(req) = &action {
                // The current token may belong to an endpoint that is gone by now (AWS answers a
                // repeated token with the original endpoint): then replace it under a new token.
                match ec2.create_endpoint(req).await {
                    Ok(ep) if !ep.is_live() => {
                        obs.recreations += 1;
                        events.push(warning(
                            "Recreated",
                            "CreateVpcEndpoint",
                            format!(
                                "endpoint {} was deleted outside vpcgate; creating a replacement",
                                ep.id
                            ),
                        ));
                        let mut again = req.clone();
                        again.client_token = desired.client_token(obs.recreations);
                        action = Action::Create(again);
                    }
                    Ok(ep) => {
                        acted = true;
                        obs.endpoint = Some(ep);
                        events.push(event_for(&action, drift, obs.endpoint.as_ref()));
                        continue;
                    }
                    Err(e) => {
                        error = Some(e.into());
                        break;
                    }
                }
            }
            match act(&ec2, &action).await {
                Ok(created) => {
                    acted = true;
                    if let Some(ep) = created {
                        obs.endpoint = Some(ep);
                    }
                    events.push(event_for(&action, drift, obs.endpoint.as_ref()));
                }
                Err(e) => error = Some(e),
            }
        }

        // Verify: a second observe after any change.
        if acted {
            match verify(&ec2, &obs).await {
                Ok((tables, endpoint)) => {
                    obs.tables = tables;
                    obs.endpoint = endpoint.or(obs.endpoint.take());
                }
                Err(e) => error = error.or(Some(e)),
            }
        }

        // Probe when due, never more often than the interval.
        let mut probe_status = prev.probe.clone();
        let mut next_probe = None;
        let mut probe_latency = None;
        if let Some(plan) = &desired.probe {
            let since = prev
                .probe
                .as_ref()
                .and_then(|p| p.last_time.as_ref())
                .map(|t| now.duration_since(t.0).unsigned_abs());
            match since {
                Some(elapsed) if elapsed < plan.interval => {
                    next_probe = Some(plan.interval - elapsed);
                }
                _ => {
                    let client = self.clients.dynamodb(&desired.region, plan.timeout);
                    let report = probe::run(
                        &client,
                        &ProbeRequest {
                            table: plan.table.as_deref(),
                            timeout: plan.timeout,
                            prefix_cidrs: &obs.prefix_list.cidrs,
                        },
                    )
                    .await;
                    let was_ok = prev.probe.as_ref().map(|p| p.result == "Succeeded");
                    let ok = report.result == ProbeResult::Succeeded;
                    if was_ok != Some(ok) && !(was_ok.is_none() && ok) {
                        events.push(if ok {
                            normal(
                                "ProbeRecovered",
                                "ProbeDynamoDB",
                                format!("{} succeeds again", report.operation),
                            )
                        } else {
                            warning(
                                "ProbeFailed",
                                "ProbeDynamoDB",
                                report
                                    .message
                                    .clone()
                                    .unwrap_or_else(|| report.result.as_str().to_owned()),
                            )
                        });
                    }
                    probe_latency = report.latency.filter(|_| ok);
                    probe_status = Some(ProbeStatus {
                        last_time: Some(Time(now)),
                        result: report.result.as_str().to_owned(),
                        latency: report.latency.map(probe::format_latency),
                        operation: report.operation,
                        addresses: report.addresses.iter().map(ToString::to_string).collect(),
                        in_prefix_list: report.in_prefix_list,
                        message: report.message,
                    });
                    next_probe = Some(plan.interval);
                }
            }
        }

        // Report.
        let endpoint_id = obs.endpoint.as_ref().map(|e| e.id.clone());
        let route_tables = status::route_table_statuses(
            &obs.selected,
            &obs.tables,
            &obs.prefix_list.id,
            endpoint_id.as_deref(),
            &obs.conflicts,
        );
        let in_sync = obs.endpoint.as_ref().is_some_and(|ep| {
            policy::equivalent(ep.policy.as_deref(), desired.policy.as_ref())
                && desired.tags.iter().all(|(k, v)| ep.tags.get(k) == Some(v))
        });
        let probe_fact = match (&desired.probe, &probe_status) {
            (None, _) => ProbeFact::NotApplicable,
            (Some(_), None) => ProbeFact::Pending,
            (Some(_), Some(p)) => ProbeFact::Done(p),
        };
        let updates = status::assess(&Facts {
            error: error.as_ref(),
            endpoint: obs.endpoint.as_ref(),
            endpoint_in_sync: in_sync,
            route_tables: &route_tables,
            prefix_list_id: Some(&obs.prefix_list.id),
            probe: probe_fact,
        });
        let conditions = status::merge(&prev.conditions, updates, generation, &Time(now));
        if let Some(e) = &error
            && !reported_before(&prev, e, generation)
        {
            events.push(warning(e.reason(), "Reconcile", e.to_string()));
        }
        let mut managed: BTreeSet<String> = desired.tags.keys().cloned().collect();
        if error.is_some() {
            managed.extend(prev.managed_tag_keys.iter().cloned());
        }
        let status = GatewayEndpointStatus {
            observed_generation: generation,
            region: Some(desired.region.clone()),
            vpc_id: Some(obs.vpc_id.clone()),
            service_name: Some(obs.service_name.clone()),
            endpoint_id,
            state: obs.endpoint.as_ref().map(|e| e.state.clone()),
            prefix_list_id: Some(obs.prefix_list.id.clone()),
            routes: Some(status::routes_summary(&route_tables)),
            route_tables,
            probe: if desired.probe.is_some() {
                probe_status
            } else {
                None
            },
            recreations: obs.recreations,
            managed_tag_keys: managed.into_iter().collect(),
            conditions,
        };
        let settling = error.is_none()
            && (status
                .state
                .as_deref()
                .is_some_and(|s| s.starts_with("pending"))
                || status
                    .route_tables
                    .iter()
                    .any(|t| !t.route_present && t.conflicting_endpoint_id.is_none()));
        Outcome {
            status,
            events,
            error,
            next_probe,
            settling,
            probe_latency,
        }
    }

    /// One cleanup pass for an object being deleted. Tolerates apply never having run.
    pub async fn cleanup(&self, obj: &GatewayEndpoint) -> CleanupOutcome {
        let prev = obj.status.clone().unwrap_or_default();
        let mut events = Vec::new();
        let Some(uid) = obj.metadata.uid.clone() else {
            return CleanupOutcome {
                done: true,
                events,
                error: None,
            };
        };
        let Some(region) = obj
            .spec
            .region
            .clone()
            .or(prev.region.clone())
            .or(self.default_region.clone())
        else {
            // No region ever resolved: nothing can have been created.
            return CleanupOutcome {
                done: true,
                events,
                error: None,
            };
        };
        let ec2 = self.clients.ec2(&region);
        let result: Result<bool, Error> = async {
            let mut present: Vec<Endpoint> = ec2
                .endpoints_by_tag(TAG_UID, &uid)
                .await?
                .into_iter()
                .filter(|e| e.state != "deleted")
                .collect();
            // The endpoint recorded in status, should its tag have been removed out of band, or
            // describes not show it yet (eventual consistency right after a create): it is asked
            // to be deleted all the same; AWS's answer says whether it existed.
            let mut unseen: Vec<String> = Vec::new();
            if let Some(id) = &prev.endpoint_id
                && obj.spec.deletion_policy == DeletionPolicy::Delete
                && !present.iter().any(|e| &e.id == id)
            {
                match ec2.endpoint(id).await? {
                    Some(ep) if ep.state != "deleted" => present.push(ep),
                    Some(_) => {}
                    None => unseen.push(id.clone()),
                }
            }
            match obj.spec.deletion_policy {
                DeletionPolicy::Retain => {
                    for ep in present.iter().filter(|e| e.is_live()) {
                        let keys = vec![TAG_UID.to_owned(), TAG_NAME.to_owned()];
                        ec2.delete_tags(&ep.id, &keys).await?;
                        events.push(normal(
                            "Retained",
                            "DeleteTags",
                            format!(
                                "left {} in place and removed vpcgate's ownership tags",
                                ep.id
                            ),
                        ));
                    }
                    Ok(true)
                }
                DeletionPolicy::Delete => {
                    let live: Vec<String> = present
                        .iter()
                        .filter(|e| e.is_live())
                        .map(|e| e.id.clone())
                        .chain(unseen.iter().cloned())
                        .collect();
                    if !live.is_empty() {
                        for (id, outcome) in ec2.delete_endpoints(&live).await? {
                            match outcome {
                                DeleteOutcome::Accepted => events.push(normal(
                                    "Deleting",
                                    "DeleteVpcEndpoints",
                                    format!("deleting {id}"),
                                )),
                                DeleteOutcome::AlreadyGone => {}
                                DeleteOutcome::Failed(e) => return Err(e.into()),
                            }
                        }
                    }
                    // Gone only when AWS describes it as deleted or not at all.
                    let mut remaining = Vec::new();
                    for ep in &present {
                        if let Some(now) = ec2.endpoint(&ep.id).await?
                            && now.state != "deleted"
                        {
                            remaining.push(format!("{} ({})", now.id, now.state));
                        }
                    }
                    if remaining.is_empty() {
                        if !present.is_empty() {
                            let ids: Vec<&str> = present.iter().map(|e| e.id.as_str()).collect();
                            events.push(normal(
                                "Deleted",
                                "DeleteVpcEndpoints",
                                format!("{} deleted", ids.join(", ")),
                            ));
                        }
                        Ok(true)
                    } else {
                        Ok(false)
                    }
                }
            }
        }
        .await;
        match result {
            Ok(done) => CleanupOutcome {
                done,
                events,
                error: None,
            },
            Err(e) => CleanupOutcome {
                done: false,
                events,
                error: Some(e),
            },
        }
    }
}

/// Resolve (VPC, route tables, prefix list) and observe (our endpoint), then plan.
async fn observe(
    ec2: &Ec2,
    desired: &Desired,
    prev: &GatewayEndpointStatus,
) -> Result<Observation, Error> {
    if !ec2.vpc_exists(&desired.vpc_id).await? {
        return Err(Error::VpcNotFound {
            vpc_id: desired.vpc_id.clone(),
            region: desired.region.clone(),
        });
    }
    let tables = ec2.route_tables(&desired.vpc_id).await?;
    let subnets = if desired.route_tables.subnet_ids.is_empty() {
        Vec::new()
    } else {
        ec2.subnet_ids(&desired.vpc_id).await?
    };
    let selected =
        plan::select_route_tables(&desired.route_tables, &desired.vpc_id, &tables, &subnets)?;
    let prefix_list = ec2
        .prefix_list(&desired.service_name)
        .await?
        .ok_or_else(|| Error::ServiceNotAvailable {
            name: desired.service_name.clone(),
            region: desired.region.clone(),
        })?;

    let tagged = ec2.endpoints_by_tag(TAG_UID, &desired.uid).await?;
    // Every endpoint that is or was ours: their routes are never a conflict.
    let mut own_ids: BTreeSet<String> = tagged.iter().map(|e| e.id.clone()).collect();
    own_ids.extend(prev.endpoint_id.clone());
    let (mut endpoint, duplicates) = plan::pick_owned(tagged, prev.endpoint_id.as_deref());
    // vpcId, service and region are immutable at the API server; an endpoint of ours elsewhere
    // means the object was edited around that rule. Never modify across VPCs or services.
    if let Some(ep) = &endpoint
        && (ep.vpc_id != desired.vpc_id || ep.service_name != desired.service_name)
    {
        return Err(Error::InvalidSpec {
            field: "spec.vpcId".into(),
            message: format!(
                "this object owns {} ({} in {}); vpcId, service and region cannot change: delete and recreate the object",
                ep.id, ep.service_name, ep.vpc_id
            ),
        });
    }
    let mut recreations = prev.recreations;
    let mut vanished = None;
    if endpoint.is_none()
        && let Some(old) = &prev.endpoint_id
    {
        match ec2.endpoint(old).await? {
            // Still there but our tag is gone: it is ours by status; the plan re-tags it.
            Some(ep) if ep.is_live() => endpoint = Some(ep),
            // AWS says it is deleted or deleting: a replacement needs a new token.
            Some(_) => {
                recreations += 1;
                vanished = Some(old.clone());
            }
            // Not visible at all: long gone, or created so recently that describes do not show
            // it yet (eventual consistency). The plan's create reuses the current token, so AWS
            // answers with that endpoint if it exists; `apply` bumps the counter only when the
            // answer is an endpoint that is gone.
            None => {}
        }
    }

    let conflicts = plan::conflicts(&selected, &tables, &prefix_list.id, &own_ids);
    let actions = plan::plan(&PlanInput {
        vpc_id: &desired.vpc_id,
        service_name: &desired.service_name,
        selected: &selected,
        conflicts: &conflicts,
        policy: desired.policy.as_ref(),
        tags: &desired.tags,
        managed_tag_keys: &prev.managed_tag_keys,
        endpoint: endpoint.as_ref(),
        client_token: desired.client_token(recreations),
    });
    Ok(Observation {
        region: desired.region.clone(),
        vpc_id: desired.vpc_id.clone(),
        service_name: desired.service_name.clone(),
        prefix_list,
        tables,
        selected,
        endpoint,
        duplicates,
        vanished,
        recreations,
        conflicts,
        actions,
    })
}

/// Runs one action; a create returns the endpoint it made (or found by its token).
async fn act(ec2: &Ec2, action: &Action) -> Result<Option<Endpoint>, Error> {
    match action {
        Action::Create(req) => Ok(Some(ec2.create_endpoint(req).await?)),
        Action::Modify(req) => ec2
            .modify_endpoint(req)
            .await
            .map(|_| None)
            .map_err(Into::into),
        Action::Tag { endpoint_id, tags } => ec2
            .create_tags(endpoint_id, tags)
            .await
            .map(|_| None)
            .map_err(Into::into),
        Action::Untag { endpoint_id, keys } => ec2
            .delete_tags(endpoint_id, keys)
            .await
            .map(|_| None)
            .map_err(Into::into),
    }
}

/// The second observe: route tables and the endpoint as AWS now reports them.
async fn verify(
    ec2: &Ec2,
    obs: &Observation,
) -> Result<(Vec<RouteTable>, Option<Endpoint>), Error> {
    let tables = ec2.route_tables(&obs.vpc_id).await?;
    let endpoint = match &obs.endpoint {
        Some(ep) => ec2.endpoint(&ep.id).await?,
        None => None,
    };
    Ok((tables, endpoint))
}

fn event_for(action: &Action, drift: bool, endpoint: Option<&Endpoint>) -> EngineEvent {
    let id = endpoint.map(|e| e.id.as_str()).unwrap_or("the endpoint");
    match action {
        Action::Create(c) => normal(
            "Created",
            "CreateVpcEndpoint",
            format!(
                "created {id} for {} on route tables [{}]",
                c.service_name,
                c.route_table_ids.join(", ")
            ),
        ),
        other if drift => normal(
            "DriftRepaired",
            action_name(other),
            format!("{other} (changed outside vpcgate)"),
        ),
        Action::Modify(m)
            if m.add_route_table_ids.is_empty() && m.remove_route_table_ids.is_empty() =>
        {
            normal("PolicyChanged", "ModifyVpcEndpoint", action.to_string())
        }
        Action::Modify(_) => normal(
            "RouteTablesChanged",
            "ModifyVpcEndpoint",
            action.to_string(),
        ),
        Action::Tag { .. } | Action::Untag { .. } => {
            normal("TagsChanged", action_name(action), action.to_string())
        }
    }
}

fn action_name(action: &Action) -> &'static str {
    match action {
        Action::Create(_) => "CreateVpcEndpoint",
        Action::Modify(_) => "ModifyVpcEndpoint",
        Action::Tag { .. } => "CreateTags",
        Action::Untag { .. } => "DeleteTags",
    }
}

/// Status for a pass that failed before any AWS change: previous facts kept, conditions say why.
fn failed_before_aws(
    prev: GatewayEndpointStatus,
    err: Error,
    generation: Option<i64>,
    now: jiff::Timestamp,
) -> Outcome {
    let probe_fact = match &prev.probe {
        Some(p) => ProbeFact::Done(p),
        None => ProbeFact::Pending,
    };
    let updates = status::assess(&Facts {
        error: Some(&err),
        endpoint: None,
        endpoint_in_sync: false,
        route_tables: &[],
        prefix_list_id: prev.prefix_list_id.as_deref(),
        probe: probe_fact,
    });
    let conditions = status::merge(&prev.conditions, updates, generation, &Time(now));
    let mut events = Vec::new();
    if !reported_before(&prev, &err, generation) {
        events.push(warning(err.reason(), "Reconcile", err.to_string()));
    }
    Outcome {
        status: GatewayEndpointStatus {
            observed_generation: generation,
            conditions,
            ..prev
        },
        events,
        error: Some(err),
        next_probe: None,
        settling: false,
        probe_latency: None,
    }
}

/// Whether the previous status already reported this failure for this generation (one event per
/// failure, not one per pass).
fn reported_before(prev: &GatewayEndpointStatus, err: &Error, generation: Option<i64>) -> bool {
    prev.conditions.iter().any(|c| {
        c.type_ == status::READY && c.reason == err.reason() && c.observed_generation == generation
    })
}
