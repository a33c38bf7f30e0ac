//! Conditions (pure): each condition from what a pass established, `Ready` from the others,
//! and the merge that moves `lastTransitionTime` only when a status changes.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use super::reasons::*;
use super::report::{Facts, Pass};
use crate::api::{ProbePath, ProbeResult, ProbeStatus, RouteTableStatus};
use crate::aws::EndpointState;
use crate::error::Error;

/// A condition before timestamps are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionUpdate {
    pub type_: &'static str,
    pub status: &'static str,
    pub reason: String,
    pub message: String,
}

pub(crate) fn cond(
    type_: &'static str,
    ok: bool,
    reason: &str,
    message: impl Into<String>,
) -> ConditionUpdate {
    ConditionUpdate {
        type_,
        status: if ok { "True" } else { "False" },
        reason: reason.to_owned(),
        message: message.into(),
    }
}

/// A failed condition whose reason is mere progress takes a lasting failure's reason instead:
/// "out of sync" because Modify is denied is `AccessDenied`.
fn or_error(c: ConditionUpdate, error: Option<&Error>) -> ConditionUpdate {
    match error {
        Some(e)
            if c.status != "True"
                && !e.is_transient()
                && [CREATING, UPDATING, OUT_OF_SYNC, ROUTES_MISSING]
                    .contains(&c.reason.as_str()) =>
        {
            cond(c.type_, false, e.reason(), e.to_string())
        }
        _ => c,
    }
}

fn routes_associated(f: &Facts<'_>) -> ConditionUpdate {
    let pl = f.prefix_list_id;
    let ids = |pred: &dyn Fn(&RouteTableStatus) -> bool| -> Vec<String> {
        f.route_tables
            .iter()
            .filter(|t| pred(t))
            .map(|t| t.id.clone())
            .collect()
    };
    let not_found = ids(&|t| t.not_found);
    if !not_found.is_empty() {
        return cond(
            ROUTES_ASSOCIATED,
            false,
            ROUTE_TABLE_NOT_FOUND,
            format!(
                "spec.routeTables.ids: {} not found in the VPC (InvalidRouteTableID.NotFound); the other tables are kept associated",
                not_found.join(", ")
            ),
        );
    }
    if !f.missing_subnets.is_empty() {
        return cond(
            ROUTES_ASSOCIATED,
            false,
            SUBNET_NOT_FOUND,
            format!(
                "spec.routeTables.subnetIds: {} not found in the VPC (InvalidSubnetID.NotFound); the other tables are kept associated",
                f.missing_subnets.join(", ")
            ),
        );
    }
    if f.route_tables.is_empty() {
        return cond(
            ROUTES_ASSOCIATED,
            false,
            NO_ROUTE_TABLES,
            "spec.routeTables selects no route table in the VPC; check ids, subnetIds and tags",
        );
    }
    let conflicts = held(
        f,
        |t| t.conflicting_endpoint_id.as_ref(),
        |id, other| format!("{id} already routes {pl} to {other}"),
    );
    if !conflicts.is_empty() {
        return cond(
            ROUTES_ASSOCIATED,
            false,
            ROUTE_TABLE_CONFLICT,
            format!(
                "{}; a route table holds one route per prefix list: remove that endpoint from the table or deselect it",
                conflicts.join("; ")
            ),
        );
    }
    let settling = held(
        f,
        |t| t.settling_endpoint_id.as_ref(),
        |id, own| format!("{id} ({own})"),
    );
    if !settling.is_empty() {
        return cond(
            ROUTES_ASSOCIATED,
            false,
            ROUTES_SETTLING,
            format!(
                "waiting for AWS to clear the route of an earlier endpoint of this object from {}",
                settling.join(", ")
            ),
        );
    }
    let missing = ids(&|t| !t.route_present);
    if missing.is_empty() {
        let ep = f.endpoint.map(|e| e.id.as_str()).unwrap_or("the endpoint");
        return cond(
            ROUTES_ASSOCIATED,
            true,
            ROUTES_PRESENT,
            format!(
                "{} route tables route {pl} to {ep}",
                super::report::routes_summary(f.route_tables)
            ),
        );
    }
    cond(
        ROUTES_ASSOCIATED,
        false,
        ROUTES_MISSING,
        format!("no route to the endpoint yet in {}", missing.join(", ")),
    )
}

/// `say(table, holder)` for every table whose `holder` is set.
fn held(
    f: &Facts<'_>,
    holder: impl Fn(&RouteTableStatus) -> Option<&String>,
    say: impl Fn(&str, &str) -> String,
) -> Vec<String> {
    f.route_tables
        .iter()
        .filter_map(|t| Some(say(&t.id, holder(t)?)))
        .collect()
}

fn endpoint_available(f: &Facts<'_>, routes: &ConditionUpdate) -> ConditionUpdate {
    let Some(ep) = f.endpoint else {
        let usable = f.route_tables.iter().any(|t| {
            !t.not_found && t.conflicting_endpoint_id.is_none() && t.settling_endpoint_id.is_none()
        });
        let settling = f
            .route_tables
            .iter()
            .any(|t| t.settling_endpoint_id.is_some());
        if settling && usable && f.awaiting.is_none() {
            return cond(
                ENDPOINT_AVAILABLE,
                false,
                ROUTES_SETTLING,
                format!("not created yet: {}", routes.message),
            );
        }
        if !usable && f.awaiting.is_none() {
            // Never created without a route table to put it on.
            return cond(
                ENDPOINT_AVAILABLE,
                false,
                &routes.reason,
                format!(
                    "not created: no selected route table is free ({})",
                    routes.message
                ),
            );
        }
        if let Some(op) = f.budget {
            return cond(ENDPOINT_AVAILABLE, false, CREATING, waiting_for_budget(op));
        }
        let message = match (f.awaiting, f.replacing) {
            (Some(id), _) => format!(
                "{id} was created but EC2's describes do not show it yet (eventual consistency)"
            ),
            (None, Some((id, state))) => format!("replacing {id} ({state}) with a new endpoint"),
            (None, None) => "the endpoint is being created".to_owned(),
        };
        return cond(ENDPOINT_AVAILABLE, false, CREATING, message);
    };
    if ep.state.is_pending() {
        return cond(
            ENDPOINT_AVAILABLE,
            false,
            CREATING,
            format!("{} is {}", ep.id, ep.state),
        );
    }
    if ep.state != EndpointState::Available {
        return cond(
            ENDPOINT_AVAILABLE,
            false,
            ENDPOINT_FAILED,
            format!(
                "{} is {}; see the VPC console for its last error",
                ep.id, ep.state
            ),
        );
    }
    // A change of this endpoint waits (a duplicate's delete waiting is no news about it).
    if let Some(op) = f.budget.filter(|op| *op == "ModifyVpcEndpoint") {
        return cond(
            ENDPOINT_AVAILABLE,
            false,
            UPDATING,
            format!("{} is to be updated: {}", ep.id, waiting_for_budget(op)),
        );
    }
    if f.policy_not_converging {
        return cond(
            ENDPOINT_AVAILABLE,
            false,
            POLICY_NOT_CONVERGING,
            format!(
                "AWS still reports a policy on {} other than the declared one a pass after vpcgate set it; vpcgate does not modify again until spec.policy or the reported policy changes",
                ep.id
            ),
        );
    }
    if !f.endpoint_in_sync {
        return cond(
            ENDPOINT_AVAILABLE,
            false,
            OUT_OF_SYNC,
            format!("{} is being updated to the declared policy and tags", ep.id),
        );
    }
    cond(
        ENDPOINT_AVAILABLE,
        true,
        AVAILABLE,
        format!("{} is available with the declared policy and tags", ep.id),
    )
}

/// Why a change waits: vpcgate's own pacing, not a failure (no event, no backoff).
fn waiting_for_budget(operation: &str) -> String {
    format!(
        "waiting for the EC2 request budget before {operation} (vpcgate paces endpoint changes below AWS's request-rate limits; --endpoint-mutation-rate)"
    )
}

fn dynamodb_reachable(probing: bool, probe: Option<&ProbeStatus>) -> Option<ConditionUpdate> {
    if !probing {
        return None;
    }
    Some(match probe {
        None => ConditionUpdate {
            type_: DYNAMODB_REACHABLE,
            status: "Unknown",
            reason: PROBE_PENDING.into(),
            message: "no probe has run yet".into(),
        },
        // Reaching DynamoDB some other way is no proof of this endpoint: a failure where the
        // probe's route table is one this object selects.
        Some(p) if bypasses_endpoint(p) => cond(
            DYNAMODB_REACHABLE,
            false,
            PROBE_BYPASSES_ENDPOINT,
            p.path_message
                .clone()
                .unwrap_or_else(|| "the probe did not go through this endpoint".into()),
        ),
        // Off the object's path, another endpoint's policy refused the read: DynamoDB answered,
        // and that policy is not this object's to fix.
        Some(p)
            if p.route_table_selected == Some(false)
                && p.result == ProbeResult::AccessDeniedByEndpointPolicy =>
        {
            cond(
                DYNAMODB_REACHABLE,
                true,
                PROBE_SUCCEEDED,
                format!(
                    "DynamoDB answered {} from {}, which this object does not select, with a denial from another endpoint's policy: {}",
                    p.operation,
                    p.subnet_id.as_deref().unwrap_or("an unknown subnet"),
                    p.message.as_deref().unwrap_or("access denied")
                ),
            )
        }
        Some(p) if p.result == ProbeResult::Succeeded => {
            let path = match (p.path, p.path_message.as_deref()) {
                (Some(ProbePath::ThroughEndpoint), _) => {
                    "through this endpoint (the endpoint policy denied the canary)".to_owned()
                }
                (Some(path), Some(m)) => format!("path {}: {m}", path.as_str()),
                (Some(path), None) => format!("path {}", path.as_str()),
                (None, _) => "path not verified".to_owned(),
            };
            cond(
                DYNAMODB_REACHABLE,
                true,
                PROBE_SUCCEEDED,
                format!(
                    "{} answered in {}, {path}",
                    p.operation,
                    p.latency.as_deref().unwrap_or("?")
                ),
            )
        }
        Some(p) => cond(
            DYNAMODB_REACHABLE,
            false,
            for_probe(p.result),
            p.message
                .clone()
                .unwrap_or_else(|| format!("{} failed", p.operation)),
        ),
    })
}

/// `EgressAllowed`: every selected security group lets tcp/443 reach the service. Absent when
/// no group is selected.
fn egress_allowed(groups: &[crate::api::SecurityGroupStatus]) -> Option<ConditionUpdate> {
    if groups.is_empty() {
        return None;
    }
    let blocked: Vec<&crate::api::SecurityGroupStatus> =
        groups.iter().filter(|g| !g.allowed).collect();
    Some(if blocked.is_empty() {
        let rules: Vec<String> = groups
            .iter()
            .map(|g| format!("{} ({})", g.id, g.rule.as_deref().unwrap_or("allowed")))
            .collect();
        cond(
            EGRESS_ALLOWED,
            true,
            EGRESS_OPEN,
            format!("tcp/443 to the service is allowed by {}", rules.join(", ")),
        )
    } else {
        let not_found = blocked.iter().any(|g| {
            g.message
                .as_deref()
                .is_some_and(|m| m.contains("not found"))
        });
        let why: Vec<String> = blocked
            .iter()
            .map(|g| g.message.clone().unwrap_or_else(|| g.id.clone()))
            .collect();
        cond(
            EGRESS_ALLOWED,
            false,
            if not_found {
                SECURITY_GROUP_NOT_FOUND
            } else {
                EGRESS_BLOCKED
            },
            why.join("; "),
        )
    })
}

/// Whether the probe proved that traffic from a route table this object selects does not use
/// its endpoint.
pub fn bypasses_endpoint(p: &ProbeStatus) -> bool {
    match p.path {
        Some(ProbePath::Bypass) => true,
        Some(ProbePath::OtherEndpoint) => p.route_table_selected == Some(true),
        _ => false,
    }
}

pub(crate) fn synced(error: Option<&Error>) -> ConditionUpdate {
    match error {
        None => cond(
            SYNCED,
            true,
            RECONCILED,
            "the last pass completed every AWS call",
        ),
        Some(e) => cond(SYNCED, false, e.reason(), e.to_string()),
    }
}

fn ready(conditions: &[ConditionUpdate], error: Option<&Error>) -> ConditionUpdate {
    match conditions.iter().find(|c| c.status != "True") {
        Some(c) => ConditionUpdate {
            type_: READY,
            status: if c.status == "Unknown" && c.reason != PROBE_PENDING {
                "Unknown"
            } else {
                "False"
            },
            reason: c.reason.clone(),
            message: format!("{}: {}", c.type_, c.message),
        },
        None => match error {
            // Everything observed is fine but this pass hit a lasting failure (e.g. removing a
            // stale tag was denied): not Ready, and the failure is visible.
            Some(e) if !e.is_transient() => cond(READY, false, e.reason(), e.to_string()),
            _ => cond(
                READY,
                true,
                READY_REASON,
                "the endpoint is available, routed and reachable",
            ),
        },
    }
}

/// The conditions of an apply pass, `Ready` last. A transient failure before anything was
/// observed keeps the last known statuses: it is news about the pass (see `Synced`), not about
/// the endpoint.
pub fn conditions(pass: &Pass<'_>) -> Vec<ConditionUpdate> {
    let error = pass.error;
    let probe = dynamodb_reachable(pass.probing, pass.probe);
    let transient = error.is_some_and(Error::is_transient);
    let unverified = pass.facts.as_ref().is_none_or(|f| !f.verified);
    let kept = kept(
        &pass.prev.conditions,
        &[ENDPOINT_AVAILABLE, ROUTES_ASSOCIATED, EGRESS_ALLOWED],
    );
    let mut list = match &pass.facts {
        // A passing failure before the facts could be (re)read: the last known statuses stand.
        _ if transient && unverified && kept.len() >= 2 => kept,
        Some(f) => {
            let routes = routes_associated(f);
            let mut list = vec![
                or_error(endpoint_available(f, &routes), error),
                or_error(routes, error),
            ];
            list.extend(egress_allowed(f.egress));
            list
        }
        None => {
            let e = error.expect("a pass without facts has an error");
            let status = if e.is_transient() { "Unknown" } else { "False" };
            [ENDPOINT_AVAILABLE, ROUTES_ASSOCIATED]
                .into_iter()
                .map(|type_| ConditionUpdate {
                    type_,
                    status,
                    reason: e.reason().to_owned(),
                    message: e.to_string(),
                })
                .collect()
        }
    };
    list.extend(probe);
    let ready = ready(&list, error);
    list.push(synced(error));
    list.push(ready);
    list
}

/// The conditions after a pass that only reported a probe: what the last full pass found
/// stands, the probe's condition and `Ready` are computed anew.
pub fn after_probe(previous: &[Condition], probe: Option<&ProbeStatus>) -> Vec<ConditionUpdate> {
    let mut list = kept(
        previous,
        &[ENDPOINT_AVAILABLE, ROUTES_ASSOCIATED, EGRESS_ALLOWED],
    );
    list.extend(dynamodb_reachable(true, probe));
    let ready = ready(&list, None);
    list.push(synced(None));
    list.push(ready);
    list
}

/// The previous conditions of these types, unchanged, in this order.
pub fn kept(previous: &[Condition], types: &[&'static str]) -> Vec<ConditionUpdate> {
    types
        .iter()
        .filter_map(|t| {
            let c = previous.iter().find(|c| c.type_ == *t)?;
            Some(ConditionUpdate {
                type_: t,
                status: match c.status.as_str() {
                    "True" => "True",
                    "False" => "False",
                    _ => "Unknown",
                },
                reason: c.reason.clone(),
                message: c.message.clone(),
            })
        })
        .collect()
}

/// Applies updates to the previous conditions: `lastTransitionTime` is kept unless the status
/// changed, `observedGeneration` is set; conditions no longer computed are dropped.
pub fn merge(
    previous: &[Condition],
    updates: Vec<ConditionUpdate>,
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    updates
        .into_iter()
        .map(|u| {
            let prev = previous.iter().find(|c| c.type_ == u.type_);
            let last_transition_time = match prev {
                Some(p) if p.status == u.status => p.last_transition_time.clone(),
                _ => now.clone(),
            };
            Condition {
                type_: u.type_.to_owned(),
                status: u.status.to_owned(),
                reason: u.reason,
                message: u.message,
                observed_generation: generation,
                last_transition_time,
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "conditions_tests.rs"]
mod tests;
