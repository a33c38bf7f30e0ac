//! Report (pure): the status, computed from what a pass established (never from what it hoped),
//! for every path: a full pass, a pass that failed before it could observe, and a deletion in
//! progress. The conditions themselves are [`super::conditions`]'s.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::act::{Acted, Verified};
use super::cleanup::Waiting;
use super::conditions::{cond, conditions, kept, merge, synced};
use super::desired::Desired;
use super::events::{self, EngineEvent};
use super::observe::Observed;
use super::plan::{self, Plan};
use super::plan::{Holder, Selection};
use super::policy;
use super::reasons::*;
use crate::api::{GatewayEndpointStatus, ProbeStatus, RouteTableStatus};
use crate::aws::{Endpoint, EndpointState, RouteTable};
use crate::error::Error;

/// The status of every selected (or named but missing) route table.
pub fn route_table_statuses(
    selection: &Selection,
    holders: &BTreeMap<String, Holder>,
    tables: &[RouteTable],
    prefix_list_id: &str,
    endpoint_id: Option<&str>,
) -> Vec<RouteTableStatus> {
    let mut out: Vec<RouteTableStatus> = holders
        .iter()
        .map(|(id, holder)| {
            let target = tables
                .iter()
                .find(|t| &t.id == id)
                .and_then(|t| t.prefix_list_routes.get(prefix_list_id));
            RouteTableStatus {
                id: id.clone(),
                route_present: endpoint_id.is_some() && target.map(String::as_str) == endpoint_id,
                conflicting_endpoint_id: match holder {
                    Holder::Foreign(other) => Some(other.clone()),
                    _ => None,
                },
                settling_endpoint_id: match holder {
                    Holder::Settling(own) => Some(own.clone()),
                    _ => None,
                },
                not_found: false,
            }
        })
        .collect();
    out.extend(selection.missing_tables.iter().map(|id| RouteTableStatus {
        id: id.clone(),
        not_found: true,
        ..Default::default()
    }));
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// `present/selected`, for the printer column.
pub fn routes_summary(tables: &[RouteTableStatus]) -> String {
    let present = tables.iter().filter(|t| t.route_present).count();
    format!("{present}/{}", tables.len())
}

/// What a pass established about AWS (after verify).
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub prefix_list_id: &'a str,
    /// Our live endpoint, as last described.
    pub endpoint: Option<&'a Endpoint>,
    /// Policy and tags as declared.
    pub endpoint_in_sync: bool,
    /// AWS kept reporting another policy after vpcgate set the declared one.
    pub policy_not_converging: bool,
    pub route_tables: &'a [RouteTableStatus],
    pub missing_subnets: &'a [String],
    /// A dead endpoint being replaced: its id and state.
    pub replacing: Option<&'a (String, EndpointState)>,
    /// The recorded endpoint, not visible to describes yet.
    pub awaiting: Option<&'a str>,
    /// Whether the facts were read back after this pass's changes (false when that read
    /// failed: then they predate the changes and the conditions keep their statuses).
    pub verified: bool,
    /// The selected security groups' egress verdicts (empty: none selected).
    pub egress: &'a [crate::api::SecurityGroupStatus],
    /// The endpoint mutation that waits for the EC2 request budget.
    pub budget: Option<&'static str>,
}

/// Everything the status of an apply pass is computed from.
#[derive(Debug, Clone)]
pub struct Pass<'a> {
    pub prev: &'a GatewayEndpointStatus,
    pub generation: Option<i64>,
    pub now: &'a Time,
    /// Region, VPC and service name as resolved (`None` when the spec could not be resolved).
    pub resolved: Option<(&'a str, &'a str, &'a str)>,
    /// `None` when the pass failed before it could observe.
    pub facts: Option<Facts<'a>>,
    pub error: Option<&'a Error>,
    /// Whether probing applies; with it, the probe status to report.
    pub probing: bool,
    pub probe: Option<&'a ProbeStatus>,
    pub recreations: u32,
    pub policy_echo: Option<&'a str>,
    /// Tag keys vpcgate now manages (`None`: unknown this pass, keep the previous).
    pub managed_tag_keys: Option<Vec<String>>,
}

/// Whether the previous status already reported this failure for this generation (one event per
/// failure, not one per pass).
fn reported_before(prev: &GatewayEndpointStatus, err: &Error, generation: Option<i64>) -> bool {
    prev.conditions.iter().any(|c| {
        c.type_ == SYNCED && c.reason == err.reason() && c.observed_generation == generation
    })
}

/// The status of an apply pass, and the events its findings deserve.
pub fn report(pass: &Pass<'_>) -> (GatewayEndpointStatus, Vec<EngineEvent>) {
    let prev = pass.prev;
    let mut events = Vec::new();
    if let Some(e) = pass.error
        && !reported_before(prev, e, pass.generation)
    {
        events.push(events::failed(e.reason(), e.to_string()));
    }
    let updates = conditions(pass);
    // Selection problems are facts, not errors: a Warning when one first appears.
    let selection_problem = updates.iter().find(|c| {
        c.type_ == ROUTES_ASSOCIATED
            && [ROUTE_TABLE_NOT_FOUND, SUBNET_NOT_FOUND, NO_ROUTE_TABLES]
                .contains(&c.reason.as_str())
    });
    if let Some(routes) = selection_problem
        && let Some(reason) = [ROUTE_TABLE_NOT_FOUND, SUBNET_NOT_FOUND, NO_ROUTE_TABLES]
            .into_iter()
            .find(|r| *r == routes.reason)
        && !prev.conditions.iter().any(|c| {
            c.type_ == ROUTES_ASSOCIATED && c.reason == routes.reason && c.message == routes.message
        })
    {
        events.push(events::failed(reason, routes.message.clone()));
    }
    let mut status = GatewayEndpointStatus {
        observed_generation: pass.generation,
        recreations: pass.recreations,
        policy_echo: pass.policy_echo.map(str::to_owned),
        probe: if pass.probing {
            pass.probe.cloned()
        } else {
            None
        },
        managed_tag_keys: pass
            .managed_tag_keys
            .clone()
            .unwrap_or_else(|| prev.managed_tag_keys.clone()),
        conditions: merge(&prev.conditions, updates, pass.generation, pass.now),
        ..prev.clone()
    };
    if let Some((region, vpc, service)) = pass.resolved {
        status.region = Some(region.to_owned());
        status.vpc_id = Some(vpc.to_owned());
        status.service_name = Some(service.to_owned());
    }
    if let Some(f) = &pass.facts {
        let new_conflicts: Vec<String> = f
            .route_tables
            .iter()
            .filter_map(|t| {
                let other = t.conflicting_endpoint_id.as_ref()?;
                let known = prev
                    .route_tables
                    .iter()
                    .any(|p| p.id == t.id && p.conflicting_endpoint_id.as_ref() == Some(other));
                (!known).then(|| format!("{} is routed to {other}", t.id))
            })
            .collect();
        if !new_conflicts.is_empty() {
            events.push(events::conflict(&new_conflicts));
        }
        let was_held = prev
            .conditions
            .iter()
            .any(|c| c.type_ == ENDPOINT_AVAILABLE && c.reason == POLICY_NOT_CONVERGING);
        if let (Some(ep), true, false) = (f.endpoint, f.policy_not_converging, was_held) {
            events.push(events::policy_not_converging(&ep.id));
        }
        status.endpoint_id = f
            .endpoint
            .map(|e| e.id.clone())
            .or(f.awaiting.map(str::to_owned));
        status.state = f.endpoint.map(|e| e.state.to_string());
        status.prefix_list_id = Some(f.prefix_list_id.to_owned());
        status.route_tables = f.route_tables.to_vec();
        status.routes = Some(routes_summary(f.route_tables));
    }
    (status, events)
}

/// Everything a full pass established, for [`from_pass`].
#[derive(Debug, Clone, Copy)]
pub struct PassInput<'a> {
    pub prev: &'a GatewayEndpointStatus,
    pub generation: Option<i64>,
    pub now: &'a Time,
    pub desired: &'a Desired,
    pub seen: &'a Observed,
    pub plan: &'a Plan,
    pub acted: &'a Acted,
    /// What verify read back; `None` when that read failed.
    pub verified: Option<&'a Verified>,
    pub probe: Option<&'a ProbeStatus>,
}

/// The report of a full pass: status, events, and whether AWS is still converging. Facts come
/// from what verify read back, never from the plan's hopes.
pub fn from_pass(p: &PassInput<'_>) -> (GatewayEndpointStatus, Vec<EngineEvent>, bool) {
    let (desired, seen, plan, acted) = (p.desired, p.seen, p.plan, p.acted);
    let fallback = Verified {
        tables: seen.tables.clone(),
        endpoint: acted.created.clone().or(plan.endpoint.clone()),
    };
    let verified = p.verified.unwrap_or(&fallback);
    // An adoption IAM refused is not ours: nothing is recorded, so the next pass adopts anew.
    let adoption_denied = matches!(acted.error, Some(Error::AdoptionDenied { .. }));
    let endpoint = verified
        .endpoint
        .as_ref()
        .filter(|e| !e.state.is_leaving() && !adoption_denied);
    let mut own = plan.own_ids.clone();
    own.extend(acted.created.as_ref().map(|e| e.id.clone()));
    let holders = plan::holders(
        &seen.selection.selected,
        &verified.tables,
        &seen.prefix_list.id,
        endpoint.map(|e| e.id.as_str()),
        &own,
    );
    let drift = endpoint.map(|ep| plan::drift(desired, ep, &holders, &p.prev.managed_tag_keys));
    let policy_off = drift.as_ref().is_some_and(|d| d.policy.is_some());
    // Sent and still different: remember the echo and look again soon; the same echo on the
    // next pass (`policy_held`) is PolicyNotConverging.
    let policy_echo = match endpoint {
        Some(ep)
            if policy_off && p.verified.is_some() && (acted.policy_sent || plan.policy_held) =>
        {
            Some(policy::echo_fingerprint(
                desired.policy.as_ref(),
                ep.policy.as_deref(),
            ))
        }
        _ if p.verified.is_none() => p.prev.policy_echo.clone(),
        _ => None,
    };
    let route_tables = route_table_statuses(
        &seen.selection,
        &holders,
        &verified.tables,
        &seen.prefix_list.id,
        endpoint.map(|e| e.id.as_str()),
    );
    // `RouteAlreadyExists` while every holder is ours: AWS has not cleared our earlier route
    // yet. Settling, not a failure.
    let error = acted.error.as_ref().filter(|e| {
        e.aws_code() != Some("RouteAlreadyExists")
            || holders.values().any(|h| matches!(h, Holder::Foreign(_)))
    });
    let mut managed: Vec<String> = desired.tags.keys().cloned().collect();
    if error.is_some() {
        managed.extend(p.prev.managed_tag_keys.iter().cloned());
        managed.sort();
        managed.dedup();
    }
    let keep = p.verified.is_none() && error.is_some_and(Error::is_transient);
    let (status, mut events) = report(&Pass {
        prev: p.prev,
        generation: if keep {
            p.prev.observed_generation
        } else {
            p.generation
        },
        now: p.now,
        resolved: Some((&desired.region, &desired.vpc_id, &desired.service_name)),
        facts: Some(Facts {
            prefix_list_id: &seen.prefix_list.id,
            endpoint,
            endpoint_in_sync: drift.as_ref().is_some_and(plan::Drift::endpoint_in_sync),
            policy_not_converging: plan.policy_held && policy_off,
            route_tables: &route_tables,
            missing_subnets: &seen.selection.missing_subnets,
            replacing: plan.replacing.as_ref(),
            awaiting: plan.awaiting.as_deref(),
            verified: p.verified.is_some(),
            egress: &seen.egress,
            budget: acted.budget.map(|b| b.operation),
        }),
        error,
        probing: desired.probe.is_some(),
        probe: p.probe,
        recreations: acted.recreations,
        policy_echo: policy_echo.as_deref(),
        managed_tag_keys: Some(managed),
    });
    let mut all: Vec<EngineEvent> = plan
        .vanished
        .iter()
        .map(|id| events::recreated(id))
        .collect();
    all.extend(acted.events.iter().cloned());
    all.append(&mut events);
    let settling = endpoint.is_some_and(|e| e.state.is_pending())
        || plan.awaiting.is_some()
        || (acted.policy_sent && policy_off)
        || route_tables
            .iter()
            .any(|t| !t.route_present && t.conflicting_endpoint_id.is_none() && !t.not_found)
        || acted.error.as_ref().is_some_and(|e| {
            matches!(
                e.aws_code(),
                Some("IdempotentParameterMismatch" | "RouteAlreadyExists")
            )
        });
    (status, all, settling)
}

/// The status of a pass that only reported a probe (see [`super::Engine::apply`]): the last
/// full pass's findings with this probe. Pure.
pub fn after_probe(
    prev: &GatewayEndpointStatus,
    probe: Option<&ProbeStatus>,
    generation: Option<i64>,
    now: &Time,
) -> GatewayEndpointStatus {
    let updates = super::conditions::after_probe(&prev.conditions, probe);
    GatewayEndpointStatus {
        probe: probe.cloned(),
        conditions: merge(&prev.conditions, updates, generation, now),
        ..prev.clone()
    }
}

/// The status while AWS deletes the object's endpoints: `Ready=False, reason Deleting` with the
/// ids and states waited for; a failure says what blocks the deletion in `Synced`.
pub fn deleting(
    prev: &GatewayEndpointStatus,
    generation: Option<i64>,
    now: &Time,
    waiting_for: &[Waiting],
    error: Option<&Error>,
) -> GatewayEndpointStatus {
    let what = if waiting_for.is_empty() {
        "waiting for AWS's describes to settle before releasing the finalizer".to_owned()
    } else {
        format!(
            "waiting for AWS to delete {}",
            waiting_for
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let mut updates = kept(&prev.conditions, &[ROUTES_ASSOCIATED, DYNAMODB_REACHABLE]);
    updates.insert(0, cond(ENDPOINT_AVAILABLE, false, DELETING, what.clone()));
    updates.push(synced(error));
    updates.push(cond(READY, false, DELETING, what));
    GatewayEndpointStatus {
        conditions: merge(&prev.conditions, updates, generation, now),
        ..prev.clone()
    }
}
