//! Table tests of the pure condition functions.

use super::*;
use crate::api::GatewayEndpointStatus;
use crate::aws::{AwsError, Endpoint};

fn rts(spec: &[(&str, bool, Option<&str>)]) -> Vec<RouteTableStatus> {
    spec.iter()
        .map(|(id, present, other)| RouteTableStatus {
            id: id.to_string(),
            route_present: *present,
            conflicting_endpoint_id: other.map(str::to_owned),
            ..Default::default()
        })
        .collect()
}

fn summary(c: &[ConditionUpdate]) -> Vec<(&'static str, &'static str, String)> {
    c.iter()
        .map(|c| (c.type_, c.status, c.reason.clone()))
        .collect()
}

fn pass<'a>(
    prev: &'a GatewayEndpointStatus,
    now: &'a Time,
    facts: Option<Facts<'a>>,
    error: Option<&'a Error>,
) -> Pass<'a> {
    Pass {
        prev,
        generation: Some(1),
        now,
        resolved: None,
        facts,
        error,
        probing: false,
        probe: None,
        recreations: 0,
        policy_echo: None,
        managed_tag_keys: None,
    }
}

#[test]
fn conditions_from_facts() {
    let available = Endpoint {
        id: "vpce-1".into(),
        state: EndpointState::Available,
        ..Default::default()
    };
    let ok = rts(&[("rtb-a", true, None)]);
    let missing = rts(&[("rtb-a", false, None)]);
    let conflict = rts(&[("rtb-a", true, None), ("rtb-b", false, Some("vpce-9"))]);
    let facts = |routes: &'static [RouteTableStatus], in_sync: bool| Facts {
        prefix_list_id: "pl-1",
        endpoint: None,
        endpoint_in_sync: in_sync,
        policy_not_converging: false,
        route_tables: routes,
        missing_subnets: &[],
        replacing: None,
        awaiting: None,
        verified: true,
        egress: &[],
        budget: None,
    };
    let ok: &'static [RouteTableStatus] = Box::leak(ok.into_boxed_slice());
    let missing: &'static [RouteTableStatus] = Box::leak(missing.into_boxed_slice());
    let conflict: &'static [RouteTableStatus] = Box::leak(conflict.into_boxed_slice());
    let denied = Error::Aws(AwsError::new(
        "ec2",
        "ModifyVpcEndpoint",
        Some("UnauthorizedOperation"),
        "no",
    ));
    let prev = GatewayEndpointStatus::default();
    let now = Time(jiff::Timestamp::UNIX_EPOCH);
    let t = |s: &str| s.to_string();
    type Expected = Vec<(&'static str, &'static str, String)>;
    let cases: Vec<(Facts, Option<&Error>, Expected)> = vec![
        (
            Facts {
                endpoint: Some(&available),
                ..facts(ok, true)
            },
            None,
            vec![
                (ENDPOINT_AVAILABLE, "True", t(AVAILABLE)),
                (ROUTES_ASSOCIATED, "True", t(ROUTES_PRESENT)),
                (SYNCED, "True", t(RECONCILED)),
                (READY, "True", t(READY_REASON)),
            ],
        ),
        // Out of sync because Modify is denied: the denial is the reason.
        (
            Facts {
                endpoint: Some(&available),
                ..facts(ok, false)
            },
            Some(&denied),
            vec![
                (ENDPOINT_AVAILABLE, "False", t(ACCESS_DENIED)),
                (ROUTES_ASSOCIATED, "True", t(ROUTES_PRESENT)),
                (SYNCED, "False", t(ACCESS_DENIED)),
                (READY, "False", t(ACCESS_DENIED)),
            ],
        ),
        (
            Facts {
                endpoint: Some(&available),
                ..facts(missing, true)
            },
            None,
            vec![
                (ENDPOINT_AVAILABLE, "True", t(AVAILABLE)),
                (ROUTES_ASSOCIATED, "False", t(ROUTES_MISSING)),
                (SYNCED, "True", t(RECONCILED)),
                (READY, "False", t(ROUTES_MISSING)),
            ],
        ),
        (
            Facts {
                endpoint: Some(&available),
                ..facts(conflict, true)
            },
            None,
            vec![
                (ENDPOINT_AVAILABLE, "True", t(AVAILABLE)),
                (ROUTES_ASSOCIATED, "False", t(ROUTE_TABLE_CONFLICT)),
                (SYNCED, "True", t(RECONCILED)),
                (READY, "False", t(ROUTE_TABLE_CONFLICT)),
            ],
        ),
        // Nothing selected, nothing created: NoRouteTables on both.
        (
            facts(&[], true),
            None,
            vec![
                (ENDPOINT_AVAILABLE, "False", t(NO_ROUTE_TABLES)),
                (ROUTES_ASSOCIATED, "False", t(NO_ROUTE_TABLES)),
                (SYNCED, "True", t(RECONCILED)),
                (READY, "False", t(NO_ROUTE_TABLES)),
            ],
        ),
    ];
    for (f, err, expected) in cases {
        let got = conditions(&pass(&prev, &now, Some(f), err));
        assert_eq!(summary(&got), expected, "{f:?} {err:?}");
    }
}

#[test]
fn merge_moves_transition_time_only_on_status_change() {
    let t0 = Time(jiff::Timestamp::from_second(1000).unwrap());
    let t1 = Time(jiff::Timestamp::from_second(2000).unwrap());
    let first = merge(&[], vec![cond(READY, false, CREATING, "x")], Some(1), &t0);
    assert_eq!(first[0].last_transition_time, t0);
    let same = merge(
        &first,
        vec![cond(READY, false, ROUTES_MISSING, "y")],
        Some(2),
        &t1,
    );
    assert_eq!(same[0].last_transition_time, t0);
    assert_eq!(same[0].observed_generation, Some(2));
    let flipped = merge(
        &same,
        vec![cond(READY, true, READY_REASON, "z")],
        Some(2),
        &t1,
    );
    assert_eq!(flipped[0].last_transition_time, t1);
}
