//! Pure status computation: per-table route status and the four conditions, with
//! `lastTransitionTime` moving only when a condition's status changes.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::{ProbeStatus, RouteTableStatus};
use crate::aws::{Endpoint, RouteTable};
use crate::error::Error;

pub const ENDPOINT_AVAILABLE: &str = "EndpointAvailable";
pub const ROUTES_ASSOCIATED: &str = "RoutesAssociated";
pub const DYNAMODB_REACHABLE: &str = "DynamoDBReachable";
pub const READY: &str = "Ready";

/// The route status of every selected table: is `pl → our endpoint` really there?
pub fn route_table_statuses(
    selected: &BTreeSet<String>,
    tables: &[RouteTable],
    prefix_list_id: &str,
    endpoint_id: Option<&str>,
    conflicts: &BTreeMap<String, String>,
) -> Vec<RouteTableStatus> {
    selected
        .iter()
        .map(|id| {
            let target = tables
                .iter()
                .find(|t| &t.id == id)
                .and_then(|t| t.prefix_list_routes.get(prefix_list_id));
            RouteTableStatus {
                id: id.clone(),
                route_present: endpoint_id.is_some() && target.map(String::as_str) == endpoint_id,
                conflicting_endpoint_id: conflicts.get(id).cloned(),
            }
        })
        .collect()
}

/// `present/selected`, for the printer column.
pub fn routes_summary(tables: &[RouteTableStatus]) -> String {
    let present = tables.iter().filter(|t| t.route_present).count();
    format!("{present}/{}", tables.len())
}

/// What is known about the probe.
#[derive(Debug, Clone, Copy)]
pub enum ProbeFact<'a> {
    /// Probing is off or does not apply: no `DynamoDBReachable` condition.
    NotApplicable,
    /// No probe has run yet.
    Pending,
    /// The last probe's outcome.
    Done(&'a ProbeStatus),
}

/// Everything the conditions are computed from.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The failure that stopped or hit this reconcile, if any.
    pub error: Option<&'a Error>,
    /// Our endpoint as last observed.
    pub endpoint: Option<&'a Endpoint>,
    /// Whether the endpoint's policy and tags match the spec.
    pub endpoint_in_sync: bool,
    pub route_tables: &'a [RouteTableStatus],
    pub prefix_list_id: Option<&'a str>,
    pub probe: ProbeFact<'a>,
}

/// A condition before timestamps are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionUpdate {
    pub type_: &'static str,
    pub status: &'static str,
    pub reason: String,
    pub message: String,
}

fn cond(
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

fn endpoint_available(f: &Facts<'_>) -> ConditionUpdate {
    let Some(ep) = f.endpoint else {
        return match f.error {
            Some(e) => cond(ENDPOINT_AVAILABLE, false, e.reason(), e.to_string()),
            None => cond(
                ENDPOINT_AVAILABLE,
                false,
                "Creating",
                "the endpoint is being created",
            ),
        };
    };
    match ep.state.as_str() {
        "available" if f.endpoint_in_sync => cond(
            ENDPOINT_AVAILABLE,
            true,
            "Available",
            format!("{} is available with the declared policy and tags", ep.id),
        ),
        "available" => match f.error {
            Some(e) => cond(ENDPOINT_AVAILABLE, false, e.reason(), e.to_string()),
            None => cond(
                ENDPOINT_AVAILABLE,
                false,
                "OutOfSync",
                format!("{} is being updated to the declared policy and tags", ep.id),
            ),
        },
        "pending" | "pendingacceptance" => cond(
            ENDPOINT_AVAILABLE,
            false,
            "Creating",
            format!("{} is {}", ep.id, ep.state),
        ),
        other => cond(
            ENDPOINT_AVAILABLE,
            false,
            "EndpointFailed",
            format!(
                "{} is in state {other}; see the VPC console for its last error",
                ep.id
            ),
        ),
    }
}

fn routes_associated(f: &Facts<'_>) -> ConditionUpdate {
    if f.route_tables.is_empty() {
        return match f.error {
            Some(e) => cond(ROUTES_ASSOCIATED, false, e.reason(), e.to_string()),
            None => cond(
                ROUTES_ASSOCIATED,
                false,
                "NoRouteTables",
                "spec.routeTables selects no route table in the VPC; check ids, subnetIds and tags",
            ),
        };
    }
    let conflicts: Vec<String> = f
        .route_tables
        .iter()
        .filter_map(|t| {
            let other = t.conflicting_endpoint_id.as_ref()?;
            Some(format!(
                "{} already routes {} to {other}",
                t.id,
                f.prefix_list_id.unwrap_or("the prefix list")
            ))
        })
        .collect();
    if !conflicts.is_empty() {
        return cond(
            ROUTES_ASSOCIATED,
            false,
            "RouteTableConflict",
            format!(
                "{}; a route table holds one route per prefix list: remove that endpoint from the table or deselect it",
                conflicts.join("; ")
            ),
        );
    }
    let missing: Vec<&str> = f
        .route_tables
        .iter()
        .filter(|t| !t.route_present)
        .map(|t| t.id.as_str())
        .collect();
    if missing.is_empty() {
        let ep = f.endpoint.map(|e| e.id.as_str()).unwrap_or("the endpoint");
        return cond(
            ROUTES_ASSOCIATED,
            true,
            "RoutesPresent",
            format!(
                "{} route tables route {} to {ep}",
                routes_summary(f.route_tables),
                f.prefix_list_id.unwrap_or("the prefix list")
            ),
        );
    }
    match f.error {
        Some(e) => cond(ROUTES_ASSOCIATED, false, e.reason(), e.to_string()),
        None => cond(
            ROUTES_ASSOCIATED,
            false,
            "RoutesMissing",
            format!("no route to the endpoint yet in {}", missing.join(", ")),
        ),
    }
}

/// Maps a probe result to its condition reason.
pub fn probe_reason(result: &str) -> &str {
    match result {
        "Succeeded" => "ProbeSucceeded",
        "Timeout" => "ProbeTimeout",
        "Failed" => "ProbeFailed",
        other => other,
    }
}

fn dynamodb_reachable(f: &Facts<'_>) -> Option<ConditionUpdate> {
    match f.probe {
        ProbeFact::NotApplicable => None,
        ProbeFact::Pending => Some(ConditionUpdate {
            type_: DYNAMODB_REACHABLE,
            status: "Unknown",
            reason: "ProbePending".into(),
            message: "no probe has run yet".into(),
        }),
        ProbeFact::Done(p) => {
            let ok = p.result == "Succeeded";
            let message = if ok {
                let path = match p.in_prefix_list {
                    Some(true) => "addresses inside the prefix list",
                    Some(false) => {
                        "addresses OUTSIDE the prefix list: this traffic cannot use the gateway endpoint"
                    }
                    None => "path unknown",
                };
                format!(
                    "{} answered in {}, {path}",
                    p.operation,
                    p.latency.as_deref().unwrap_or("?")
                )
            } else {
                p.message
                    .clone()
                    .unwrap_or_else(|| format!("{} failed", p.operation))
            };
            Some(cond(
                DYNAMODB_REACHABLE,
                ok,
                probe_reason(&p.result),
                message,
            ))
        }
    }
}

/// The conditions for these facts, `Ready` last.
pub fn assess(f: &Facts<'_>) -> Vec<ConditionUpdate> {
    let mut conditions = vec![endpoint_available(f), routes_associated(f)];
    conditions.extend(dynamodb_reachable(f));
    let ready = match conditions.iter().find(|c| c.status != "True") {
        // Everything observed is fine but this pass failed (e.g. removing a stale tag was
        // denied): not Ready, and the failure is visible.
        None => match f.error {
            Some(e) => cond(READY, false, e.reason(), e.to_string()),
            None => cond(
                READY,
                true,
                "Ready",
                "the endpoint is available, routed and reachable",
            ),
        },
        Some(c) => ConditionUpdate {
            type_: READY,
            status: "False",
            reason: c.reason.clone(),
            message: format!("{}: {}", c.type_, c.message),
        },
    };
    conditions.push(ready);
    conditions
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
mod tests {
    use super::*;
    use crate::aws::AwsError;

    fn ep(state: &str) -> Endpoint {
        Endpoint {
            id: "vpce-1".into(),
            state: state.into(),
            ..Default::default()
        }
    }

    fn rts(spec: &[(&str, bool, Option<&str>)]) -> Vec<RouteTableStatus> {
        spec.iter()
            .map(|(id, present, other)| RouteTableStatus {
                id: id.to_string(),
                route_present: *present,
                conflicting_endpoint_id: other.map(str::to_owned),
            })
            .collect()
    }

    fn probe(result: &str) -> ProbeStatus {
        ProbeStatus {
            result: result.into(),
            operation: "ListTables".into(),
            latency: Some("7ms".into()),
            in_prefix_list: Some(true),
            message: (result != "Succeeded").then(|| format!("probe said {result}")),
            ..Default::default()
        }
    }

    /// (type, status, reason) triples, for compact expectations.
    fn summary(c: &[ConditionUpdate]) -> Vec<(&'static str, &'static str, String)> {
        c.iter()
            .map(|c| (c.type_, c.status, c.reason.clone()))
            .collect()
    }

    #[test]
    fn route_statuses_and_summary() {
        let tables = vec![
            RouteTable {
                id: "rtb-a".into(),
                prefix_list_routes: [("pl-1".to_string(), "vpce-1".to_string())].into(),
                ..Default::default()
            },
            RouteTable {
                id: "rtb-b".into(),
                prefix_list_routes: [("pl-1".to_string(), "vpce-2".to_string())].into(),
                ..Default::default()
            },
            RouteTable {
                id: "rtb-c".into(),
                ..Default::default()
            },
        ];
        let selected: BTreeSet<String> = ["rtb-a", "rtb-b", "rtb-c", "rtb-gone"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let conflicts = BTreeMap::from([("rtb-b".to_string(), "vpce-2".to_string())]);
        let got = route_table_statuses(&selected, &tables, "pl-1", Some("vpce-1"), &conflicts);
        assert_eq!(
            got,
            rts(&[
                ("rtb-a", true, None),
                ("rtb-b", false, Some("vpce-2")),
                ("rtb-c", false, None),
                ("rtb-gone", false, None)
            ])
        );
        assert_eq!(routes_summary(&got), "1/4");
        // Without an endpoint nothing is present, whatever the tables hold.
        let none = route_table_statuses(&selected, &tables, "pl-1", None, &BTreeMap::new());
        assert!(none.iter().all(|t| !t.route_present));
    }

    #[test]
    fn conditions_table() {
        let spec_err = Error::InvalidSpec {
            field: "spec.policy.document".into(),
            message: "has no Statement".into(),
        };
        let vpc_err = Error::VpcNotFound {
            vpc_id: "vpc-1".into(),
            region: "eu-west-1".into(),
        };
        let denied = Error::Aws(AwsError::new(
            "ec2",
            "ModifyVpcEndpoint",
            Some("UnauthorizedOperation"),
            "no",
        ));
        let available = ep("available");
        let pending = ep("pending");
        let failed = ep("failed");
        let ok_routes = rts(&[("rtb-a", true, None), ("rtb-b", true, None)]);
        let missing_routes = rts(&[("rtb-a", true, None), ("rtb-b", false, None)]);
        let conflict_routes = rts(&[("rtb-a", true, None), ("rtb-b", false, Some("vpce-9"))]);
        let ok_probe = probe("Succeeded");
        let slow_probe = probe("Timeout");
        let denied_probe = probe("AccessDeniedByEndpointPolicy");
        let t = |s: &str| s.to_string();

        let base = Facts {
            error: None,
            endpoint: Some(&available),
            endpoint_in_sync: true,
            route_tables: &ok_routes,
            prefix_list_id: Some("pl-1"),
            probe: ProbeFact::Done(&ok_probe),
        };
        type Expected<'e> = Vec<(&'e str, &'e str, String)>;
        let cases: Vec<(&str, Facts<'_>, Expected<'_>)> = vec![
            (
                "all good",
                base,
                vec![
                    (ENDPOINT_AVAILABLE, "True", t("Available")),
                    (ROUTES_ASSOCIATED, "True", t("RoutesPresent")),
                    (DYNAMODB_REACHABLE, "True", t("ProbeSucceeded")),
                    (READY, "True", t("Ready")),
                ],
            ),
            (
                "probe off",
                Facts {
                    probe: ProbeFact::NotApplicable,
                    ..base
                },
                vec![
                    (ENDPOINT_AVAILABLE, "True", t("Available")),
                    (ROUTES_ASSOCIATED, "True", t("RoutesPresent")),
                    (READY, "True", t("Ready")),
                ],
            ),
            (
                "probe pending",
                Facts {
                    probe: ProbeFact::Pending,
                    ..base
                },
                vec![
                    (ENDPOINT_AVAILABLE, "True", t("Available")),
                    (ROUTES_ASSOCIATED, "True", t("RoutesPresent")),
                    (DYNAMODB_REACHABLE, "Unknown", t("ProbePending")),
                    (READY, "False", t("ProbePending")),
                ],
            ),
            (
                "probe timeout",
                Facts {
                    probe: ProbeFact::Done(&slow_probe),
                    ..base
                },
                vec![
                    (ENDPOINT_AVAILABLE, "True", t("Available")),
                    (ROUTES_ASSOCIATED, "True", t("RoutesPresent")),
                    (DYNAMODB_REACHABLE, "False", t("ProbeTimeout")),
                    (READY, "False", t("ProbeTimeout")),
                ],
            ),
            (
                "probe denied by endpoint policy",
                Facts {
                    probe: ProbeFact::Done(&denied_probe),
                    ..base
                },
                vec![
                    (ENDPOINT_AVAILABLE, "True", t("Available")),
                    (ROUTES_ASSOCIATED, "True", t("RoutesPresent")),
                    (
                        DYNAMODB_REACHABLE,
                        "False",
                        t("AccessDeniedByEndpointPolicy"),
                    ),
                    (READY, "False", t("AccessDeniedByEndpointPolicy")),
                ],
            ),
            (
                "invalid spec",
                Facts {
                    error: Some(&spec_err),
                    endpoint: None,
                    route_tables: &[],
                    probe: ProbeFact::Pending,
                    ..base
                },
                vec![
                    (ENDPOINT_AVAILABLE, "False", t("InvalidSpec")),
                    (ROUTES_ASSOCIATED, "False", t("InvalidSpec")),
                    (DYNAMODB_REACHABLE, "Unknown", t("ProbePending")),
                    (READY, "False", t("InvalidSpec")),
                ],
            ),
            (
                "unknown vpc",
                Facts {
                    error: Some(&vpc_err),
                    endpoint: None,
                    route_tables: &[],
                    ..base
                },
                vec![
                    (ENDPOINT_AVAILABLE, "False", t("VpcNotFound")),
                    (ROUTES_ASSOCIATED, "False", t("VpcNotFound")),
                    (DYNAMODB_REACHABLE, "True", t("ProbeSucceeded")),
                    (READY, "False", t("VpcNotFound")),
                ],
            ),
            (
                "no endpoint, no error",
                Facts {
                    endpoint: None,
                    ..base
                },
                vec![
                    (ENDPOINT_AVAILABLE, "False", t("Creating")),
                    (ROUTES_ASSOCIATED, "True", t("RoutesPresent")),
                    (DYNAMODB_REACHABLE, "True", t("ProbeSucceeded")),
                    (READY, "False", t("Creating")),
                ],
            ),
            (
                "pending endpoint",
                Facts {
                    endpoint: Some(&pending),
                    ..base
                },
                vec![
                    (ENDPOINT_AVAILABLE, "False", t("Creating")),
                    (ROUTES_ASSOCIATED, "True", t("RoutesPresent")),
                    (DYNAMODB_REACHABLE, "True", t("ProbeSucceeded")),
                    (READY, "False", t("Creating")),
                ],
            ),
            (
                "failed endpoint",
                Facts {
                    endpoint: Some(&failed),
                    ..base
                },
                vec![
                    (ENDPOINT_AVAILABLE, "False", t("EndpointFailed")),
                    (ROUTES_ASSOCIATED, "True", t("RoutesPresent")),
                    (DYNAMODB_REACHABLE, "True", t("ProbeSucceeded")),
                    (READY, "False", t("EndpointFailed")),
                ],
            ),
            (
                "out of sync, modify denied",
                Facts {
                    endpoint_in_sync: false,
                    error: Some(&denied),
                    route_tables: &missing_routes,
                    ..base
                },
                vec![
                    (ENDPOINT_AVAILABLE, "False", t("AccessDenied")),
                    (ROUTES_ASSOCIATED, "False", t("AccessDenied")),
                    (DYNAMODB_REACHABLE, "True", t("ProbeSucceeded")),
                    (READY, "False", t("AccessDenied")),
                ],
            ),
            (
                "out of sync, no error yet",
                Facts {
                    endpoint_in_sync: false,
                    route_tables: &missing_routes,
                    ..base
                },
                vec![
                    (ENDPOINT_AVAILABLE, "False", t("OutOfSync")),
                    (ROUTES_ASSOCIATED, "False", t("RoutesMissing")),
                    (DYNAMODB_REACHABLE, "True", t("ProbeSucceeded")),
                    (READY, "False", t("OutOfSync")),
                ],
            ),
            (
                "all observed fine, but this pass failed",
                Facts {
                    error: Some(&denied),
                    ..base
                },
                vec![
                    (ENDPOINT_AVAILABLE, "True", t("Available")),
                    (ROUTES_ASSOCIATED, "True", t("RoutesPresent")),
                    (DYNAMODB_REACHABLE, "True", t("ProbeSucceeded")),
                    (READY, "False", t("AccessDenied")),
                ],
            ),
            (
                "conflict",
                Facts {
                    route_tables: &conflict_routes,
                    ..base
                },
                vec![
                    (ENDPOINT_AVAILABLE, "True", t("Available")),
                    (ROUTES_ASSOCIATED, "False", t("RouteTableConflict")),
                    (DYNAMODB_REACHABLE, "True", t("ProbeSucceeded")),
                    (READY, "False", t("RouteTableConflict")),
                ],
            ),
            (
                "selector matches nothing",
                Facts {
                    route_tables: &[],
                    ..base
                },
                vec![
                    (ENDPOINT_AVAILABLE, "True", t("Available")),
                    (ROUTES_ASSOCIATED, "False", t("NoRouteTables")),
                    (DYNAMODB_REACHABLE, "True", t("ProbeSucceeded")),
                    (READY, "False", t("NoRouteTables")),
                ],
            ),
        ];
        for (name, facts, expected) in cases {
            assert_eq!(summary(&assess(&facts)), expected, "{name}");
        }
    }

    #[test]
    fn messages_name_what_matters() {
        let conflict_routes = rts(&[("rtb-b", false, Some("vpce-9"))]);
        let available = ep("available");
        let f = Facts {
            error: None,
            endpoint: Some(&available),
            endpoint_in_sync: true,
            route_tables: &conflict_routes,
            prefix_list_id: Some("pl-1"),
            probe: ProbeFact::NotApplicable,
        };
        let c = assess(&f);
        assert!(
            c[1].message.contains("rtb-b already routes pl-1 to vpce-9"),
            "{}",
            c[1].message
        );
        assert!(
            c[2].message.starts_with("RoutesAssociated: "),
            "{}",
            c[2].message
        );

        let denied = Error::Aws(AwsError::new(
            "ec2",
            "CreateVpcEndpoint",
            Some("UnauthorizedOperation"),
            "no",
        ));
        let f = Facts {
            error: Some(&denied),
            endpoint: None,
            route_tables: &[],
            ..f
        };
        let c = assess(&f);
        assert!(
            c[0].message.contains("UnauthorizedOperation")
                && c[0].message.contains("ec2:CreateVpcEndpoint"),
            "{}",
            c[0].message
        );

        let mut p = probe("Succeeded");
        p.in_prefix_list = Some(false);
        let f = Facts {
            error: None,
            endpoint: Some(&available),
            route_tables: &[],
            probe: ProbeFact::Done(&p),
            ..f
        };
        assert!(assess(&f)[2].message.contains("OUTSIDE the prefix list"));
    }

    #[test]
    fn merge_moves_transition_time_only_on_status_change() {
        let t0 = Time(jiff::Timestamp::from_second(1_000).unwrap());
        let t1 = Time(jiff::Timestamp::from_second(2_000).unwrap());
        let upd = |status: &'static str, reason: &str| ConditionUpdate {
            type_: READY,
            status,
            reason: reason.into(),
            message: "m".into(),
        };
        let first = merge(&[], vec![upd("False", "Creating")], Some(1), &t0);
        assert_eq!(first[0].last_transition_time, t0);
        assert_eq!(first[0].observed_generation, Some(1));
        // Same status, new reason and generation: the time stays.
        let same = merge(&first, vec![upd("False", "RoutesMissing")], Some(2), &t1);
        assert_eq!(same[0].last_transition_time, t0);
        assert_eq!(same[0].reason, "RoutesMissing");
        assert_eq!(same[0].observed_generation, Some(2));
        // Status flips: the time moves.
        let flipped = merge(&same, vec![upd("True", "Ready")], Some(2), &t1);
        assert_eq!(flipped[0].last_transition_time, t1);
        // Unchanged input, unchanged output: nothing to write.
        assert_eq!(
            merge(&flipped, vec![upd("True", "Ready")], Some(2), &t1),
            flipped
        );
        // Conditions no longer computed are dropped.
        let other = ConditionUpdate {
            type_: DYNAMODB_REACHABLE,
            status: "True",
            reason: "ProbeSucceeded".into(),
            message: "m".into(),
        };
        let two = merge(&flipped, vec![other, upd("True", "Ready")], Some(2), &t1);
        assert_eq!(
            merge(&two, vec![upd("True", "Ready")], Some(2), &t1).len(),
            1
        );
    }
}
