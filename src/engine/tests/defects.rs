//! The traced defects of the engine-v2 issue, one named test each (`dN_`).

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::*;
use crate::api::{PolicyPreset, PolicySpec};
use crate::aws::{Ec2, EndpointState};
use crate::controller::requeue::{self, RequeueHint};
use crate::engine::Cleanup;
use crate::engine::reasons::*;

#[tokio::test]
async fn d1_no_create_when_every_selected_table_is_taken() {
    let mut env = Env::new(&["rtb-a", "rtb-b"]);
    env.aws.foreign_endpoint("vpce-other", "rtb-a");
    let mut obj = Obj::on(&["rtb-a"]);
    let out = env.pass(&mut obj).await;
    assert!(
        mutations(&env.aws.take_calls()).is_empty(),
        "no endpoint with no route table"
    );
    assert_eq!(env.aws.live().len(), 1);
    assert_eq!(
        obj.condition(ENDPOINT_AVAILABLE),
        ("False".into(), ROUTE_TABLE_CONFLICT.into())
    );
    assert_eq!(obj.condition(READY).1, ROUTE_TABLE_CONFLICT);
    assert!(reasons_of(&out).contains(&ROUTE_TABLE_CONFLICT));
    assert_eq!(
        requeue::after_apply(
            None,
            0,
            out.settling,
            out.next_probe,
            Duration::from_secs(300)
        ),
        Some(Duration::from_secs(300)),
        "a conflict waits for the resync, not a settle loop"
    );

    // Two objects created at once on the same table: the second waits, no duplicate.
    let mut first = Obj::on(&["rtb-b"]);
    let mut second = Obj::on(&["rtb-b"]);
    second.0.metadata.uid = Some("0c6a3f4e-9999-2222-3333-444455556666".into());
    env.pass(&mut first).await;
    env.pass(&mut second).await;
    assert_eq!(env.aws.live().len(), 2, "vpce-other and the first object's");
    assert_eq!(second.condition(READY).1, ROUTE_TABLE_CONFLICT);

    // A tag selector that matches nothing (a typo): NoRouteTables, nothing created.
    let mut typo = Obj::on(&[]).with(|s| {
        s.route_tables.tags = [("tier".to_string(), "privte".to_string())].into();
    });
    typo.0.metadata.uid = Some("0c6a3f4e-7777-2222-3333-444455556666".into());
    env.aws.take_calls();
    env.pass(&mut typo).await;
    assert!(mutations(&env.aws.take_calls()).is_empty());
    assert_eq!(
        typo.condition(ENDPOINT_AVAILABLE),
        ("False".into(), NO_ROUTE_TABLES.into())
    );
}

#[tokio::test]
async fn d2_cleanup_never_releases_while_an_endpoint_may_exist() {
    let mut env = Env::new(&["rtb-a"]);
    env.aws.world().describe_lag = 3;
    let mut obj = Obj::on(&["rtb-a"]);
    env.pass(&mut obj).await;
    // The status write of that pass was lost: nothing recorded, and describes lag.
    obj.0.status = None;
    assert!(
        matches!(env.cleanup(&mut obj, 1).await, Cleanup::Pending(ref w) if w.is_empty()),
        "nothing seen yet, inside the describe lag: keep the finalizer"
    );
    // The endpoint shows up: it is deleted, and the finalizer waits for AWS to say so.
    let ep = env.aws.live()[0].id.clone();
    env.aws.world().hidden.clear();
    match env.cleanup(&mut obj, 2).await {
        Cleanup::Pending(w) => assert_eq!(strings(&w), [format!("{} (deleting)", ep)]),
        other => panic!("{other:?}"),
    }
    // Still deleting: still pending.
    assert!(matches!(
        env.cleanup(&mut obj, 3).await,
        Cleanup::Pending(_)
    ));
    env.aws.settle();
    // Gone, but inside the describe lag since deletion: a lost create could still hide.
    assert!(matches!(
        env.cleanup(&mut obj, 4).await,
        Cleanup::Pending(ref w) if w.is_empty()
    ));
    assert!(matches!(env.cleanup(&mut obj, 21).await, Cleanup::Gone));

    // A recorded id whose delete AWS accepted is looked at again, not declared gone.
    let mut env = Env::new(&["rtb-a"]);
    let mut obj = Obj::on(&["rtb-a"]);
    env.pass(&mut obj).await;
    let id = obj.endpoint_id();
    env.aws.world().endpoints.get_mut(&id).unwrap().tags.clear();
    env.aws.world().hidden.insert(id.clone(), 10);
    assert!(matches!(
        env.cleanup(&mut obj, 30).await,
        Cleanup::Pending(_)
    ));
    assert!(matches!(
        env.cleanup(&mut obj, 31).await,
        Cleanup::Pending(_)
    ));
    env.aws.settle();
    env.aws.world().hidden.clear();
    assert!(matches!(env.cleanup(&mut obj, 32).await, Cleanup::Gone));

    // Nothing ever created and the lag passed: released.
    let mut env = Env::new(&["rtb-a"]);
    let mut never = Obj::on(&["rtb-a"]);
    assert!(matches!(env.cleanup(&mut never, 21).await, Cleanup::Gone));
}

#[tokio::test]
async fn a_lost_status_write_under_describe_lag_never_creates_twice() {
    let mut env = Env::new(&["rtb-a", "rtb-b"]);
    env.aws.world().describe_lag = 100;
    let mut obj = Obj::on(&["rtb-a"]);
    env.pass(&mut obj).await;
    let first = env.aws.live()[0].id.clone();
    // The status write was lost and the spec grew a table: the endpoint's own route on rtb-a
    // is the only trace, and it is not a conflict nor a reason to create on rtb-b.
    obj.0.status = None;
    obj.edit(|s| s.route_tables.ids.push("rtb-b".into()));
    for _ in 0..3 {
        env.aws.take_calls();
        let out = env.pass(&mut obj).await;
        assert!(mutations(&env.aws.take_calls()).is_empty());
        assert!(out.settling, "looked at again soon");
        assert_eq!(obj.condition(ROUTES_ASSOCIATED).1, ROUTES_SETTLING);
    }
    assert_eq!(env.aws.live().len(), 1);
    // Describes catch up: it is ours, and rtb-b is added to it.
    env.aws.world().hidden.clear();
    env.pass(&mut obj).await;
    assert_eq!(obj.endpoint_id(), first);
    assert_eq!(obj.condition(READY).0, "True");
    assert_eq!(env.aws.live().len(), 1);
}

#[tokio::test]
async fn d3_token_mismatch_after_the_endpoint_vanished_moves_to_the_next_token() {
    let mut env = Env::new(&["rtb-a", "rtb-b"]);
    let mut obj = Obj::on(&["rtb-a"]);
    env.pass(&mut obj).await;
    let old = obj.endpoint_id();
    // Deleted out of band and purged from describes; then the spec changes.
    env.aws.purge(&old);
    obj.edit(|s| s.route_tables.ids.push("rtb-b".into()));
    // The recorded endpoint missing from describes may be a moment old: nothing is created
    // until the describe lag has passed, then it is gone and replaced under the next token.
    env.aws.take_calls();
    let out = env.pass(&mut obj).await;
    assert!(out.settling && mutations(&env.aws.take_calls()).is_empty());
    assert_eq!(obj.endpoint_id(), old, "still recorded while waiting");
    env.now += Duration::from_secs(30);
    let out = env.pass(&mut obj).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(obj.status().recreations, 1);
    assert_ne!(obj.endpoint_id(), old);
    assert!(reasons_of(&out).contains(&EV_RECREATED));

    // With the status write of the create lost as well, only the token remembers: AWS refuses
    // it with other parameters, and vpcgate moves to the next token and persists it.
    let mut env = Env::new(&["rtb-a", "rtb-b"]);
    let mut obj = Obj::on(&["rtb-a"]);
    env.pass(&mut obj).await;
    let old = obj.endpoint_id();
    env.aws.purge(&old);
    obj.0.status = None;
    obj.edit(|s| s.route_tables.ids.push("rtb-b".into()));
    let out = env.pass(&mut obj).await;
    assert_eq!(
        out.error.as_ref().and_then(|e| e.aws_code()),
        Some("IdempotentParameterMismatch")
    );
    assert_eq!(obj.status().recreations, 1, "the next token is persisted");
    assert_eq!(
        out.error.as_ref().map(requeue::hint),
        Some(RequeueHint::Settle)
    );
    let out = env.pass(&mut obj).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_ne!(obj.endpoint_id(), old);
    assert_eq!(obj.condition(READY).0, "True");
    assert_eq!(env.aws.live().len(), 1);
}

#[tokio::test]
async fn d4_a_stripped_ownership_tag_is_restored_before_any_other_change() {
    // A role that may tag any endpoint (a broader policy than vpcgate's own).
    let mut env = Env::new(&["rtb-a", "rtb-b"]);
    let mut obj = Obj::on(&["rtb-a"]);
    env.pass(&mut obj).await;
    let id = obj.endpoint_id();
    env.aws.world().endpoints.get_mut(&id).unwrap().tags.clear();
    obj.edit(|s| s.route_tables.ids.push("rtb-b".into()));
    env.aws.take_calls();
    let out = env.pass(&mut obj).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    // The uid tag alone first (the only tag an endpoint not vpcgate's may get), then the rest.
    assert_eq!(
        mutations(&env.aws.take_calls()),
        ["CreateTags", "CreateTags", "ModifyVpcEndpoint"]
    );
    assert_eq!(obj.condition(READY).0, "True");
    // Deletion the same way.
    env.aws.world().endpoints.get_mut(&id).unwrap().tags.clear();
    assert!(matches!(
        env.cleanup(&mut obj, 1).await,
        Cleanup::Pending(_)
    ));
    env.aws.settle();
    assert!(matches!(env.cleanup(&mut obj, 21).await, Cleanup::Gone));
}

#[tokio::test]
async fn d4_under_the_least_privilege_policy_a_stripped_tag_is_reported_not_fought() {
    // vpcgate's own policy: tags and changes only on endpoints carrying the uid tag.
    let mut env = Env::new(&["rtb-a", "rtb-b"]);
    env.aws.world().require_owner_tag = true;
    let mut obj = Obj::on(&["rtb-a"]);
    env.pass(&mut obj).await;
    let id = obj.endpoint_id();
    env.aws.world().endpoints.get_mut(&id).unwrap().tags.clear();
    obj.edit(|s| s.route_tables.ids.push("rtb-b".into()));
    env.aws.take_calls();
    let out = env.pass(&mut obj).await;
    let err = out.error.expect("the restore is refused");
    assert_eq!(err.reason(), OWNERSHIP_LOST);
    assert!(err.to_string().contains(&id), "{err}");
    assert_eq!(
        requeue::hint(&err),
        RequeueHint::Resync,
        "looked at again at resync, not in a loop"
    );
    assert_eq!(
        mutations(&env.aws.take_calls()),
        ["CreateTags"],
        "no modify, no create"
    );
    assert_eq!(
        obj.condition(READY),
        ("False".into(), OWNERSHIP_LOST.into())
    );
    assert_eq!(env.aws.live().len(), 1, "no second endpoint");
    // A deletion lets go with a warning instead of holding the finalizer forever.
    let mut gone = env.cleanup(&mut obj, 21).await;
    if let Cleanup::Pending(_) = gone {
        env.aws.settle();
        gone = env.cleanup(&mut obj, 22).await;
    }
    assert!(matches!(gone, Cleanup::Gone), "{gone:?}");
    assert_eq!(env.aws.live().len(), 1, "the endpoint is left in place");
}

#[tokio::test]
async fn d5_a_transient_error_keeps_the_conditions_and_says_what_failed() {
    let mut env = Env::new(&["rtb-a"]);
    let mut obj = Obj::on(&["rtb-a"]);
    env.pass(&mut obj).await;
    let before = obj.status().clone();
    env.aws
        .fail_next("DescribeRouteTables", "RequestLimitExceeded");
    let out = env.pass(&mut obj).await;
    assert_eq!(out.error.as_ref().map(|e| e.reason()), Some(THROTTLED));
    for type_ in [ENDPOINT_AVAILABLE, ROUTES_ASSOCIATED, READY] {
        assert_eq!(obj.condition(type_).0, "True", "{type_} kept");
    }
    assert_eq!(obj.condition(SYNCED), ("False".into(), THROTTLED.into()));
    assert_eq!(obj.status().endpoint_id, before.endpoint_id);
    assert_eq!(obj.status().route_tables, before.route_tables);
    // The next good pass clears Synced; Ready never moved.
    let ready_since = obj
        .status()
        .conditions
        .iter()
        .find(|c| c.type_ == READY)
        .unwrap()
        .last_transition_time
        .clone();
    env.pass(&mut obj).await;
    assert_eq!(obj.condition(SYNCED).0, "True");
    let c = obj
        .status()
        .conditions
        .iter()
        .find(|c| c.type_ == READY)
        .unwrap();
    assert_eq!(c.last_transition_time, ready_since);
}

#[tokio::test]
async fn d5_a_missing_route_table_marks_only_that_table() {
    let mut env = Env::new(&["rtb-a", "rtb-b"]);
    let mut obj = Obj::on(&["rtb-a", "rtb-gone"]);
    let out = env.pass(&mut obj).await;
    assert!(out.error.is_none());
    let rts = &obj.status().route_tables;
    assert!(rts.iter().any(|t| t.id == "rtb-a" && t.route_present));
    assert!(rts.iter().any(|t| t.id == "rtb-gone" && t.not_found));
    assert_eq!(
        obj.condition(ROUTES_ASSOCIATED),
        ("False".into(), ROUTE_TABLE_NOT_FOUND.into())
    );
    // Drift repair goes on for the tables that exist.
    obj.edit(|s| s.route_tables.ids.push("rtb-b".into()));
    env.aws.take_calls();
    env.pass(&mut obj).await;
    assert_eq!(mutations(&env.aws.take_calls()), ["ModifyVpcEndpoint"]);
    assert_eq!(obj.status().routes.as_deref(), Some("2/3"));
}

#[tokio::test]
async fn d6_aws_side_invalid_input_is_looked_at_again_at_resync() {
    let mut env = Env::new(&["rtb-a"]);
    let mut obj = Obj::on(&["rtb-a"]);
    env.aws
        .fail_next("CreateVpcEndpoint", "InvalidParameterValue");
    let out = env.pass(&mut obj).await;
    let err = out.error.as_ref().expect("the create failed");
    assert_eq!(err.reason(), INVALID_PARAMETER);
    assert_eq!(requeue::hint(err), RequeueHint::Resync);
    let resync = Duration::from_secs(300);
    assert_eq!(
        requeue::after_apply(
            Some(requeue::hint(err)),
            1,
            out.settling,
            out.next_probe,
            resync
        ),
        Some(resync)
    );
    // Only an invalid spec waits for a change.
    let bad = Obj::on(&["rtb-a"]).with(|s| {
        s.policy = Some(PolicySpec {
            document: Some("{".into()),
            ..Default::default()
        })
    });
    let out = env.engine.apply(&bad.0, env.now).await;
    assert_eq!(
        out.error.as_ref().map(requeue::hint),
        Some(RequeueHint::AwaitChange)
    );
}

#[tokio::test]
async fn d7_our_own_lingering_route_is_settling_not_a_conflict() {
    let mut env = Env::new(&["rtb-a"]);
    let mut obj = Obj::on(&["rtb-a"]);
    env.pass(&mut obj).await;
    let old = obj.endpoint_id();
    // Deleted behind our back, still `deleting` with its route in place.
    env.aws
        .delete_endpoints(std::slice::from_ref(&old))
        .await
        .unwrap();
    env.aws.take_calls();
    let out = env.pass(&mut obj).await;
    assert!(
        mutations(&env.aws.take_calls()).is_empty(),
        "no create into RouteAlreadyExists"
    );
    assert_eq!(
        obj.condition(ROUTES_ASSOCIATED),
        ("False".into(), ROUTES_SETTLING.into())
    );
    assert!(!reasons_of(&out).contains(&ROUTE_TABLE_CONFLICT));
    assert!(out.settling, "looked at again soon");
    env.aws.settle();
    env.pass(&mut obj).await;
    assert_ne!(obj.endpoint_id(), old);
    assert_eq!(obj.condition(READY).0, "True");
}

#[tokio::test]
async fn d8_a_failed_endpoint_is_replaced_under_the_next_token() {
    let mut env = Env::new(&["rtb-a"]);
    let mut obj = Obj::on(&["rtb-a"]);
    env.pass(&mut obj).await;
    let old = obj.endpoint_id();
    // Failed, and its ownership tag stripped: the tag is restored before the delete (a role
    // that may tag any endpoint; under vpcgate's own policy see d4_under_the_least_privilege…).
    {
        let mut w = env.aws.world();
        let ep = w.endpoints.get_mut(&old).unwrap();
        ep.state = EndpointState::Failed;
        ep.tags.clear();
    }
    env.aws.take_calls();
    let out = env.pass(&mut obj).await;
    assert_eq!(
        mutations(&env.aws.take_calls()),
        ["CreateTags", "DeleteVpcEndpoints"]
    );
    assert!(reasons_of(&out).contains(&EV_REPLACED));
    assert_eq!(obj.status().recreations, 1);
    env.aws.settle();
    env.pass(&mut obj).await;
    assert_ne!(obj.endpoint_id(), old);
    assert_eq!(obj.condition(READY).0, "True");
    assert_eq!(env.aws.live().len(), 1);
}

#[tokio::test]
async fn d8_a_failed_endpoint_without_routes_is_replaced_on_the_next_pass_under_one_new_token() {
    let mut env = Env::new(&["rtb-a"]);
    let mut obj = Obj::on(&["rtb-a"]);
    env.pass(&mut obj).await;
    let old = obj.endpoint_id();
    {
        let mut w = env.aws.world();
        w.endpoints.get_mut(&old).unwrap().state = EndpointState::Failed;
        w.tables
            .get_mut("rtb-a")
            .unwrap()
            .prefix_list_routes
            .clear();
    }
    env.aws.take_calls();
    let out = env.pass(&mut obj).await;
    assert_eq!(
        mutations(&env.aws.take_calls()),
        ["DeleteVpcEndpoints"],
        "no create under the old token"
    );
    assert_eq!(reasons_of(&out), [EV_REPLACED]);
    let out = env.pass(&mut obj).await;
    assert_eq!(mutations(&env.aws.take_calls()), ["CreateVpcEndpoint"]);
    assert_eq!(reasons_of(&out), [EV_CREATED], "no false Recreated");
    assert_eq!(obj.status().recreations, 1);
    assert_ne!(obj.endpoint_id(), old);
}

#[tokio::test]
async fn d2_the_describe_lag_runs_from_a_create_after_the_deletion_request() {
    let mut env = Env::new(&["rtb-a"]);
    env.aws.world().describe_lag = 100;
    let mut obj = Obj::on(&["rtb-a"]);
    // Deletion was requested a minute ago, while this pass was still creating.
    obj.0.metadata.deletion_timestamp = Some(Time(env.now - Duration::from_secs(60)));
    env.pass(&mut obj).await;
    obj.0.status = None;
    let soon = env.now + Duration::from_secs(5);
    let out = env.engine.cleanup(&obj.0, soon).await;
    assert!(
        matches!(&out.result, Cleanup::Pending(w) if w.is_empty()),
        "{:?}",
        out.result
    );
}

#[tokio::test]
async fn d9_a_policy_aws_never_takes_is_reported_once_not_sent_forever() {
    let mut env = Env::new(&["rtb-a"]);
    // AWS echoes IAM-equivalent forms: that is not drift.
    env.aws.world().policy_echo =
        Some(|doc| doc.replace("\"Principal\":\"*\"", "\"Principal\":{\"AWS\":\"*\"}"));
    let mut obj = Obj::on(&["rtb-a"]).with(|s| {
        s.policy = Some(PolicySpec {
            preset: Some(PolicyPreset::ReadOnly),
            ..Default::default()
        })
    });
    env.pass(&mut obj).await;
    obj.edit(|s| s.policy.as_mut().unwrap().tables = vec!["Music".into()]);
    env.pass(&mut obj).await;
    assert_eq!(obj.condition(READY).0, "True");
    let sent = env.aws.world().endpoints[&obj.endpoint_id()]
        .policy
        .clone()
        .unwrap();
    assert!(
        sent.contains(&format!(
            "arn:aws:dynamodb:eu-west-1:{}:table/Music",
            crate::aws::fake::ACCOUNT
        )),
        "table ARNs pinned to the account: {sent}"
    );
    env.aws.take_calls();
    env.pass(&mut obj).await;
    assert!(mutations(&env.aws.take_calls()).is_empty());

    // AWS reports something else after every set: one Modify, one event, then no more.
    env.aws.world().policy_echo = Some(|doc| doc.replace("VpcgateGenerated", "Rewritten"));
    obj.edit(|s| s.policy.as_mut().unwrap().tables = vec!["Music".into(), "Books".into()]);
    // Sent once; AWS shows another text right after (maybe just describe lag): look again soon.
    env.aws.take_calls();
    let out = env.pass(&mut obj).await;
    assert_eq!(mutations(&env.aws.take_calls()), ["ModifyVpcEndpoint"]);
    assert_eq!(obj.condition(ENDPOINT_AVAILABLE).1, OUT_OF_SYNC);
    assert!(out.settling);
    // Still the same text on the next pass: PolicyNotConverging, once, and no second Modify.
    let out = env.pass(&mut obj).await;
    assert!(mutations(&env.aws.take_calls()).is_empty());
    assert_eq!(
        obj.condition(ENDPOINT_AVAILABLE),
        ("False".into(), POLICY_NOT_CONVERGING.into())
    );
    assert_eq!(
        out.events
            .iter()
            .filter(|e| e.reason == POLICY_NOT_CONVERGING)
            .count(),
        1
    );
    for _ in 0..3 {
        env.aws.take_calls();
        let out = env.pass(&mut obj).await;
        assert!(
            mutations(&env.aws.take_calls()).is_empty(),
            "no Modify loop"
        );
        assert!(out.events.is_empty());
        assert_eq!(obj.condition(ENDPOINT_AVAILABLE).1, POLICY_NOT_CONVERGING);
    }
    // A spec change tries again.
    obj.edit(|s| s.policy.as_mut().unwrap().tables = vec!["Music".into()]);
    env.aws.take_calls();
    env.pass(&mut obj).await;
    assert_eq!(mutations(&env.aws.take_calls()), ["ModifyVpcEndpoint"]);
}

#[tokio::test]
async fn d10_a_generated_policy_over_the_limit_is_an_invalid_spec_before_aws() {
    let mut env = Env::new(&["rtb-a"]);
    let mut obj = Obj::on(&["rtb-a"]).with(|s| {
        s.policy = Some(PolicySpec {
            tables: (0..100).map(|i| format!("{i:0>200}")).collect(),
            ..Default::default()
        })
    });
    let out = env.pass(&mut obj).await;
    assert!(env.aws.take_calls().is_empty(), "nothing asked of AWS");
    let err = out.error.expect("invalid");
    assert_eq!(err.reason(), INVALID_SPEC);
    assert!(err.to_string().starts_with("spec.policy.tables:"), "{err}");
}

#[tokio::test]
async fn d11_cleanup_reports_deleting_with_the_ids_it_waits_for() {
    let mut env = Env::new(&["rtb-a"]);
    let mut obj = Obj::on(&["rtb-a"]);
    env.pass(&mut obj).await;
    let id = obj.endpoint_id();
    // AWS refuses: the deletion names what it waits on and why.
    env.aws
        .fail_next("DeleteVpcEndpoints", "UnauthorizedOperation");
    match env.cleanup(&mut obj, 1).await {
        Cleanup::Failed(e, waiting) => {
            assert_eq!(e.reason(), ACCESS_DENIED);
            assert_eq!(strings(&waiting), [format!("{} (available)", id)]);
        }
        other => panic!("{other:?}"),
    }
    let waiting = match env.cleanup(&mut obj, 1).await {
        Cleanup::Pending(w) => w,
        other => panic!("{other:?}"),
    };
    let status =
        crate::engine::report::deleting(obj.status(), Some(1), &Time(env.now), &waiting, None);
    let ready = status.conditions.iter().find(|c| c.type_ == READY).unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", DELETING)
    );
    assert!(
        ready.message.contains(&format!("{id} (deleting)")),
        "{}",
        ready.message
    );
}
