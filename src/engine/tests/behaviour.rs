//! Everyday engine behaviour: create once, repair drift, delete duplicates, probe flips, Retain.

use std::time::Duration;

use super::*;
use crate::api::{DeletionPolicy, ProbeResult, TAG_UID};
use crate::aws::{Ec2, EndpointState};
use crate::engine::Cleanup;
use crate::engine::reasons::*;

#[tokio::test]
async fn creates_once_then_an_unchanged_world_makes_no_call_but_describes() {
    let mut env = Env::new(&["rtb-a", "rtb-b"]);
    let mut obj = Obj::on(&["rtb-a", "rtb-b"]);
    let out = env.pass(&mut obj).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(reasons_of(&out), [EV_CREATED]);
    assert_eq!(obj.condition(READY), ("True".into(), READY_REASON.into()));
    assert_eq!(obj.condition(SYNCED), ("True".into(), RECONCILED.into()));
    assert_eq!(obj.status().routes.as_deref(), Some("2/2"));
    env.aws.take_calls();
    let before = obj.status().clone();
    let out = env.pass(&mut obj).await;
    assert!(mutations(&env.aws.take_calls()).is_empty());
    assert!(out.events.is_empty());
    assert_eq!(obj.status(), &before, "an unchanged world writes nothing");
}

#[tokio::test]
async fn drift_is_repaired_tags_before_routes() {
    let mut env = Env::new(&["rtb-a", "rtb-b"]);
    let mut obj = Obj::on(&["rtb-a", "rtb-b"]);
    env.pass(&mut obj).await;
    let id = obj.endpoint_id();
    env.aws
        .modify_endpoint(&crate::aws::ModifyEndpoint {
            endpoint_id: id.clone(),
            remove_route_table_ids: vec!["rtb-b".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    env.aws.delete_tags(&id, &["Name".into()]).await.unwrap();
    env.aws.take_calls();
    let out = env.pass(&mut obj).await;
    assert_eq!(
        mutations(&env.aws.take_calls()),
        ["CreateTags", "ModifyVpcEndpoint"]
    );
    assert_eq!(reasons_of(&out), [EV_DRIFT_REPAIRED, EV_DRIFT_REPAIRED]);
    assert_eq!(obj.condition(READY).0, "True");
}

#[tokio::test]
async fn duplicates_carrying_our_uid_are_deleted_and_the_recorded_one_kept() {
    let mut env = Env::new(&["rtb-a", "rtb-b"]);
    let mut obj = Obj::on(&["rtb-a"]);
    env.pass(&mut obj).await;
    let kept = obj.endpoint_id();
    // A foreign tool copied our tags onto another endpoint.
    env.aws.foreign_endpoint("vpce-copy", "rtb-b");
    env.aws
        .create_tags(
            "vpce-copy",
            &[(TAG_UID.to_string(), UID.to_string())].into(),
        )
        .await
        .unwrap();
    let out = env.pass(&mut obj).await;
    assert!(reasons_of(&out).contains(&EV_DUPLICATE_DELETED));
    assert_eq!(obj.endpoint_id(), kept);
    let live: Vec<String> = env.aws.live().into_iter().map(|e| e.id).collect();
    assert_eq!(live, [kept]);
}

#[tokio::test]
async fn probe_flips_give_one_event_each_and_retain_keeps_the_endpoint() {
    let mut env = Env::new(&["rtb-a"]);
    let mut obj = Obj::on(&["rtb-a"]).with(|s| s.probe = None);
    env.pass(&mut obj).await;
    assert_eq!(
        obj.condition(DYNAMODB_REACHABLE),
        ("True".into(), PROBE_SUCCEEDED.into())
    );
    *env.cloud.probe_result.lock().unwrap() = ProbeResult::Timeout;
    env.now += Duration::from_secs(60);
    let out = env.pass(&mut obj).await;
    assert_eq!(reasons_of(&out), [EV_PROBE_FAILED]);
    assert_eq!(obj.condition(READY), ("False".into(), PROBE_TIMEOUT.into()));
    // Not due yet: no probe, no event.
    let out = env.pass(&mut obj).await;
    assert!(out.events.is_empty());
    *env.cloud.probe_result.lock().unwrap() = ProbeResult::Succeeded;
    env.now += Duration::from_secs(60);
    let out = env.pass(&mut obj).await;
    assert_eq!(reasons_of(&out), [EV_PROBE_RECOVERED]);

    obj.0.spec.deletion_policy = DeletionPolicy::Retain;
    let id = obj.endpoint_id();
    assert!(matches!(env.cleanup(&mut obj, 0).await, Cleanup::Gone));
    let ep = env.aws.world().endpoints[&id].clone();
    assert_eq!(ep.state, EndpointState::Available);
    assert!(!ep.tags.contains_key(TAG_UID));
}
