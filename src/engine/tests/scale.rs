//! Scale behaviour on the fake account (issue 11): objects in one VPC share one view, a steady
//! pass reads nothing, mutations wait for the request budget without a warning, and passes
//! that only have a probe to report make no EC2 call and write status only when it is news.

use std::time::Duration;

use super::*;
use crate::aws::pacing::PaceConfig;
use crate::engine::reasons::*;

const OTHER_UID: &str = "9d1e2f3a-aaaa-bbbb-cccc-ddddeeeeffff";

/// An engine on the fake account behind a shared view, as `vpcgate run` builds it.
fn shared_env(tables: &[&str], ttl: Duration) -> Env {
    let mut env = Env::new(tables);
    env.cloud = env.cloud.clone().shared(ttl);
    env.engine = Engine::new(Arc::new(env.cloud.clone()), None);
    env
}

fn second_object(table: &str) -> Obj {
    let mut obj = Obj::on(&[table]);
    obj.0.metadata.name = Some("ddb-2".into());
    obj.0.metadata.uid = Some(OTHER_UID.into());
    obj
}

/// An object on rtb-a probed every 60s.
fn probed_every_minute() -> Obj {
    Obj::on(&["rtb-a"]).with(|s| {
        s.probe = Some(crate::api::ProbeSpec {
            enabled: Some(true),
            interval: Some("60s".into()),
            ..Default::default()
        })
    })
}

fn message(obj: &Obj, type_: &str) -> String {
    obj.status()
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.message.clone())
        .unwrap_or_default()
}

async fn until_ready(env: &mut Env, obj: &mut Obj) {
    for _ in 0..4 {
        env.pass(obj).await;
        if obj.condition(READY).0 == "True" {
            return;
        }
    }
    panic!("not Ready: {:?}", obj.status().conditions);
}

#[tokio::test]
async fn objects_in_one_vpc_share_one_view_and_a_steady_pass_reads_nothing() {
    let mut env = shared_env(&["rtb-a", "rtb-b"], Duration::from_secs(600));
    let (mut a, mut b) = (Obj::on(&["rtb-a"]), second_object("rtb-b"));
    until_ready(&mut env, &mut a).await;
    until_ready(&mut env, &mut b).await;
    assert_eq!(env.aws.live().len(), 2);
    env.aws.take_calls();
    for _ in 0..3 {
        env.pass(&mut a).await;
        env.pass(&mut b).await;
    }
    assert_eq!(
        env.aws.take_calls(),
        Vec::<&str>::new(),
        "steady passes of two objects in one VPC within the freshness window"
    );
    // A change by vpcgate marks what it touched: the pass that made it reads that again by id
    // (verify: the endpoint, no table for a tag change), and the other object's next pass
    // shares the merged view.
    a.edit(|s| s.tags = [("team".to_owned(), "data".to_owned())].into());
    env.pass(&mut a).await;
    let calls = env.aws.take_calls();
    let tagged = calls
        .iter()
        .position(|c| *c == "CreateTags")
        .expect("tagged");
    assert_eq!(
        &calls[tagged..],
        ["CreateTags", "DescribeVpcEndpoints"],
        "{calls:?}"
    );
    env.pass(&mut b).await;
    assert_eq!(env.aws.take_calls(), Vec::<&str>::new());
}

#[tokio::test]
async fn a_create_waiting_for_the_budget_says_so_without_a_warning_then_goes() {
    let mut env = Env::new(&["rtb-a", "rtb-b"]);
    env.engine = env.engine.clone().with_pacing(PaceConfig {
        burst: 1,
        rate: 4.0,
    });
    let (mut a, mut b) = (Obj::on(&["rtb-a"]), second_object("rtb-b"));
    env.pass(&mut a).await;
    env.aws.take_calls();
    let out = env.pass(&mut b).await;
    assert!(!env.aws.take_calls().contains(&"CreateVpcEndpoint"));
    assert!(out.error.is_none(), "{:?}", out.error);
    assert!(out.events.is_empty(), "{:?}", reasons_of(&out));
    let wait = out.budget_wait.expect("waits for its token");
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_millis(250),
        "{wait:?}"
    );
    assert_eq!(
        b.condition(ENDPOINT_AVAILABLE),
        ("False".into(), CREATING.into())
    );
    assert!(message(&b, ENDPOINT_AVAILABLE).contains("waiting for the EC2 request budget"));
    assert_eq!(b.condition(READY), ("False".into(), CREATING.into()));
    // Coming back early changes nothing: same status, no event.
    let before = b.status().clone();
    let again = env.pass_once(&mut b).await;
    assert!(again.events.is_empty());
    assert_eq!(again.status.conditions, before.conditions);
    tokio::time::sleep(wait + Duration::from_millis(20)).await;
    let out = env.pass(&mut b).await;
    assert!(
        reasons_of(&out).contains(&EV_CREATED),
        "{:?}",
        reasons_of(&out)
    );
    assert_eq!(env.aws.live().len(), 2);
}

#[tokio::test]
async fn a_change_waiting_for_the_budget_is_updating() {
    let mut env = Env::new(&["rtb-a", "rtb-b"]);
    env.engine = env.engine.clone().with_pacing(PaceConfig {
        burst: 1,
        rate: 0.001,
    });
    let mut a = Obj::on(&["rtb-a"]);
    until_ready(&mut env, &mut a).await;
    // The bucket of each action holds one token: the first change takes it.
    a.edit(|s| s.route_tables.ids.push("rtb-b".into()));
    until_ready(&mut env, &mut a).await;
    a.edit(|s| s.route_tables.ids.retain(|t| t == "rtb-b"));
    env.aws.take_calls();
    let out = env.pass(&mut a).await;
    assert!(!env.aws.take_calls().contains(&"ModifyVpcEndpoint"));
    assert!(out.events.is_empty() && out.error.is_none());
    assert_eq!(
        a.condition(ENDPOINT_AVAILABLE),
        ("False".into(), UPDATING.into())
    );
    assert!(message(&a, ENDPOINT_AVAILABLE).contains("ModifyVpcEndpoint"));
}

#[tokio::test]
async fn probe_passes_make_no_ec2_call_and_status_is_written_when_news_or_a_heartbeat_old() {
    let mut env = Env::new(&["rtb-a"]);
    env.engine = env.engine.clone().with_resync(Duration::from_secs(3600));
    let mut a = probed_every_minute();
    until_ready(&mut env, &mut a).await;
    // The pass after the create probes; from then on the status holds a probe.
    for _ in 0..2 {
        env.pass(&mut a).await;
    }
    let first = a.status().probe.clone().expect("probed");
    env.aws.take_calls();
    let mut writes = 0;
    // Eleven probe intervals: every probe runs, status changes once (the heartbeat).
    for _ in 0..11 {
        env.now += Duration::from_secs(60);
        let before = a.status().clone();
        let out = env.pass(&mut a).await;
        assert!(
            out.probe_latency.is_some(),
            "every probe reaches the metrics"
        );
        if a.status() != &before {
            writes += 1;
        }
    }
    assert_eq!(env.aws.take_calls(), Vec::<&str>::new(), "no EC2 call");
    assert_eq!(writes, 1, "one heartbeat in 11 minutes");
    let last = a.status().probe.clone().expect("probed");
    assert!(last.last_time > first.last_time);
    // News is written at once: the probe starts failing.
    *env.cloud.probe_result.lock().unwrap() = crate::api::ProbeResult::AccessDeniedByIam;
    env.now += Duration::from_secs(60);
    let out = env.pass(&mut a).await;
    assert_eq!(
        a.condition(DYNAMODB_REACHABLE).0,
        "False",
        "{:?}",
        reasons_of(&out)
    );
    assert_eq!(a.condition(READY).0, "False");
    assert_eq!(env.aws.take_calls(), Vec::<&str>::new());
    // The resync still brings a full pass.
    env.now += Duration::from_secs(3600);
    env.pass(&mut a).await;
    assert!(env.aws.take_calls().contains(&"DescribeRouteTables"));
}

#[tokio::test]
async fn a_table_younger_than_the_view_is_found_not_reported_missing() {
    let mut env = shared_env(&["rtb-a"], Duration::from_secs(600));
    let mut a = Obj::on(&["rtb-a"]);
    until_ready(&mut env, &mut a).await;
    env.aws.world().tables.insert(
        "rtb-new".into(),
        crate::aws::RouteTable {
            id: "rtb-new".into(),
            vpc_id: "vpc-1".into(),
            ..Default::default()
        },
    );
    let mut b = second_object("rtb-new");
    let out = env.pass(&mut b).await;
    assert!(
        !reasons_of(&out).contains(&ROUTE_TABLE_NOT_FOUND),
        "{:?}",
        reasons_of(&out)
    );
    until_ready(&mut env, &mut b).await;
    // A table that really is missing is still reported, after one fresh read.
    let mut c = Obj::on(&["rtb-nope"]);
    c.0.metadata.uid = Some("5e5e5e5e-0000-0000-0000-000000000000".into());
    env.aws.take_calls();
    env.pass(&mut c).await;
    assert_eq!(c.condition(ROUTES_ASSOCIATED).1, ROUTE_TABLE_NOT_FOUND);
    let reads = env.aws.take_calls();
    assert_eq!(
        reads
            .iter()
            .filter(|c| **c == "DescribeRouteTables")
            .count(),
        1,
        "{reads:?}"
    );
}

#[tokio::test]
async fn a_delete_waiting_for_the_budget_sends_nothing_and_says_when() {
    let mut env = Env::new(&["rtb-a", "rtb-b"]);
    env.engine = env.engine.clone().with_pacing(PaceConfig {
        burst: 1,
        rate: 0.01,
    });
    let (mut a, mut b) = (Obj::on(&["rtb-a"]), second_object("rtb-b"));
    until_ready(&mut env, &mut a).await;
    // b's create waits for the CreateVpcEndpoint bucket; the Delete bucket is its own.
    assert!(env.pass(&mut b).await.budget_wait.is_some());
    assert!(matches!(env.cleanup(&mut a, 0).await, Cleanup::Pending(_)));
    assert!(env.aws.take_calls().contains(&"DeleteVpcEndpoints"));
    let mut c = Obj::on(&["rtb-b"]);
    c.0.metadata.uid = Some("7c7c7c7c-0000-0000-0000-000000000000".into());
    env.aws.world().endpoints.insert(
        "vpce-c".into(),
        crate::aws::Endpoint {
            id: "vpce-c".into(),
            vpc_id: "vpc-1".into(),
            service_name: "com.amazonaws.eu-west-1.dynamodb".into(),
            state: crate::aws::EndpointState::Available,
            tags: [(
                crate::api::TAG_UID.to_owned(),
                "7c7c7c7c-0000-0000-0000-000000000000".to_owned(),
            )]
            .into(),
            ..Default::default()
        },
    );
    c.0.metadata.deletion_timestamp = Some(Time(env.now));
    let out = env.engine.cleanup(&c.0, env.now).await;
    assert!(
        matches!(out.result, Cleanup::Pending(ref w) if w.len() == 1),
        "{:?}",
        out.result
    );
    let wait = out.retry_after.expect("waits for its token");
    assert!(wait > Duration::from_secs(50), "{wait:?}");
    assert!(!env.aws.take_calls().contains(&"DeleteVpcEndpoints"));
}

#[tokio::test]
async fn a_status_other_than_the_last_full_pass_reported_brings_a_full_pass() {
    let mut env = Env::new(&["rtb-a"]);
    env.engine = env.engine.clone().with_resync(Duration::from_secs(3600));
    let mut a = probed_every_minute();
    until_ready(&mut env, &mut a).await;
    let reported = a.status().clone();
    // The write of the pass that made it Ready was lost: the object still holds an older one.
    let mut older = reported.clone();
    for c in &mut older.conditions {
        if c.type_ == ENDPOINT_AVAILABLE {
            c.status = "False".into();
            c.reason = CREATING.into();
        }
    }
    a.0.status = Some(older);
    env.aws.take_calls();
    env.now += Duration::from_secs(60);
    env.pass(&mut a).await;
    assert!(
        env.aws.take_calls().contains(&"DescribeRouteTables"),
        "a full pass heals it"
    );
    assert_eq!(a.condition(ENDPOINT_AVAILABLE).0, "True");
}
