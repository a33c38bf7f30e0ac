//! What a human should see in `kubectl describe`: one named constructor per event, so reasons,
//! types and the AWS action each names live in one place.

use super::reasons::*;

/// Kubernetes event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

/// One event for the controller to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineEvent {
    pub type_: EventType,
    /// CamelCase, from [`super::reasons`].
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

pub fn created(id: &str, service_name: &str, tables: &[String]) -> EngineEvent {
    normal(
        EV_CREATED,
        "CreateVpcEndpoint",
        format!(
            "created {id} for {service_name} on route tables [{}]",
            tables.join(", ")
        ),
    )
}

/// A change made because the spec changed (`drift: false`) or because AWS drifted from it.
pub fn changed(
    reason: &'static str,
    action: &'static str,
    what: String,
    drift: bool,
) -> EngineEvent {
    if drift {
        normal(
            EV_DRIFT_REPAIRED,
            action,
            format!("{what} (changed outside vpcgate)"),
        )
    } else {
        normal(reason, action, what)
    }
}

pub fn recreated(old: &str) -> EngineEvent {
    warning(
        EV_RECREATED,
        "CreateVpcEndpoint",
        format!("endpoint {old} was deleted outside vpcgate; creating a replacement"),
    )
}

pub fn replaced(old: &str, state: &str) -> EngineEvent {
    warning(
        EV_REPLACED,
        "DeleteVpcEndpoints",
        format!("endpoint {old} is {state}; deleting it and creating a replacement"),
    )
}

pub fn duplicates_deleted(ids: &[String], kept: Option<&str>) -> EngineEvent {
    warning(
        EV_DUPLICATE_DELETED,
        "DeleteVpcEndpoints",
        format!(
            "deleted {} carrying this object's uid tag; kept {}",
            ids.join(", "),
            kept.unwrap_or("none")
        ),
    )
}

pub fn conflict(tables: &[String]) -> EngineEvent {
    warning(
        ROUTE_TABLE_CONFLICT,
        "ModifyVpcEndpoint",
        format!("{}; those tables were left alone", tables.join(", ")),
    )
}

pub fn policy_not_converging(id: &str) -> EngineEvent {
    warning(
        POLICY_NOT_CONVERGING,
        "ModifyVpcEndpoint",
        format!(
            "AWS still reports a different policy on {id} a pass after vpcgate set the declared one; not modifying again until the spec or the reported policy changes"
        ),
    )
}

pub fn probe_failed(message: String) -> EngineEvent {
    warning(EV_PROBE_FAILED, "ProbeDynamoDB", message)
}

pub fn probe_recovered(operation: &str) -> EngineEvent {
    normal(
        EV_PROBE_RECOVERED,
        "ProbeDynamoDB",
        format!("{operation} succeeds again"),
    )
}

/// A failure, the first time it appears.
pub fn failed(reason: &'static str, message: String) -> EngineEvent {
    warning(reason, "Reconcile", message)
}

pub fn deleting(id: &str) -> EngineEvent {
    normal(EV_DELETING, "DeleteVpcEndpoints", format!("deleting {id}"))
}

pub fn deleted(ids: &[String]) -> EngineEvent {
    normal(
        EV_DELETED,
        "DeleteVpcEndpoints",
        format!("{} deleted", ids.join(", ")),
    )
}

pub fn retained(id: &str) -> EngineEvent {
    normal(
        EV_RETAINED,
        "DeleteTags",
        format!("left {id} in place and removed vpcgate's ownership tags"),
    )
}

pub fn node_subnets_bypass(
    coverage: &crate::api::CoverageStatus,
    newly: &[&String],
) -> EngineEvent {
    let detail: Vec<String> = newly
        .iter()
        .map(|s| {
            let d = coverage.details.iter().find(|d| &&d.subnet_id == s);
            match d.and_then(|d| d.route_table_id.as_deref()) {
                Some(t) => format!("{s} (route table {t})"),
                None => (*s).clone(),
            }
        })
        .collect();
    warning(
        EV_NODE_SUBNET_BYPASSES,
        "DescribeRouteTables",
        format!(
            "the cluster's nodes in {} reach the service without this endpoint ({}); select those tables in spec.routeTables, or use clusterNodeSubnets",
            detail.join(", "),
            coverage.summary
        ),
    )
}

pub fn egress_rule_added(group: &str, prefix_list: &str) -> EngineEvent {
    normal(
        EV_EGRESS_RULE_ADDED,
        "AuthorizeSecurityGroupEgress",
        format!(
            "allowed tcp/443 to {prefix_list} in {group}'s egress (rule tagged vpcgate.dev/uid)"
        ),
    )
}

pub fn egress_rules_removed(group: &str, rules: &[String]) -> EngineEvent {
    normal(
        EV_EGRESS_RULE_REMOVED,
        "RevokeSecurityGroupEgress",
        format!(
            "removed vpcgate's egress rule(s) {} from {group}",
            rules.join(", ")
        ),
    )
}

pub fn adopted(id: &str, changes: &[String]) -> EngineEvent {
    normal(
        EV_ADOPTED,
        "CreateTags",
        if changes.is_empty() {
            format!("adopted {id}; it already matches the spec")
        } else {
            format!("adopted {id}; to match the spec: {}", changes.join("; "))
        },
    )
}

pub fn ownership_lost(id: &str, uid: &str) -> EngineEvent {
    warning(
        EV_OWNERSHIP_LOST,
        "CreateTags",
        format!(
            "left {id} in place: it no longer carries vpcgate.dev/uid={uid}, and vpcgate's IAM policy allows deleting only endpoints that do; delete it yourself if it is not wanted"
        ),
    )
}

pub fn deletion_failed(message: String) -> EngineEvent {
    warning(
        EV_DELETION_FAILED,
        "DeleteVpcEndpoints",
        format!("{message}; the finalizer stays until AWS reports the endpoint gone"),
    )
}
