//! The probe's path on the fake account: the operator's instance is in subnet-a (rtb-a); the
//! canary is denied only by an endpoint whose policy carries it.

use std::time::Duration;

use super::*;
use crate::api::DeletionPolicy;
use crate::api::ProbePath;
use crate::aws::EndpointState;
use crate::aws::Placement;
use crate::engine::prober::ProbeOrigin;
use crate::engine::reasons::*;

fn env_in_subnet_a(tables: &[&str]) -> Env {
    let mut env = Env::new(tables);
    env.aws.world().instances.insert(
        "i-1".into(),
        Placement {
            subnet_id: "subnet-a".into(),
            vpc_id: "vpc-1".into(),
        },
    );
    *env.cloud.caller_subnet.lock().unwrap() = Some("subnet-a".into());
    env.engine = env
        .engine
        .clone()
        .with_probe_origin(ProbeOrigin::Instance("i-1".into()))
        .with_path_settle(Duration::ZERO);
    env
}

/// Someone else's endpoint (full access, no canary) holds rtb-a's prefix-list route.
fn foreign_on_a(env: &Env) {
    let mut w = env.aws.world();
    w.endpoints.insert(
        "vpce-foreign".into(),
        crate::aws::Endpoint {
            id: "vpce-foreign".into(),
            vpc_id: "vpc-1".into(),
            service_name: "com.amazonaws.eu-west-1.dynamodb".into(),
            state: EndpointState::Available,
            route_table_ids: vec!["rtb-a".into()],
            ..Default::default()
        },
    );
    w.tables
        .get_mut("rtb-a")
        .unwrap()
        .prefix_list_routes
        .insert("pl-ddb".into(), "vpce-foreign".into());
}

/// The pass that creates the endpoint, then the one that probes (a pass that changed the
/// endpoint does not probe: AWS applies the change with a delay).
async fn create_then_probe(env: &mut Env, obj: &mut Obj) {
    let out = env.pass(obj).await;
    assert!(
        reasons_of(&out).contains(&EV_CREATED),
        "{:?}",
        reasons_of(&out)
    );
    assert!(
        obj.status().probe.is_none(),
        "no probe in the creating pass"
    );
    assert_eq!(out.next_probe, Some(Duration::from_secs(10)));
    env.pass(obj).await;
}

fn probing(obj: Obj) -> Obj {
    obj.with(|s| s.probe = None)
}

#[tokio::test]
async fn through_this_endpoint_when_its_policy_denies_the_canary() {
    let mut env = env_in_subnet_a(&["rtb-a"]);
    let mut obj = probing(Obj::on(&["rtb-a"]));
    create_then_probe(&mut env, &mut obj).await;
    let probe = obj.status().probe.clone().unwrap();
    assert_eq!(probe.path, Some(ProbePath::ThroughEndpoint), "{probe:?}");
    assert_eq!(probe.subnet_id.as_deref(), Some("subnet-a"));
    assert_eq!(probe.route_table_id.as_deref(), Some("rtb-a"));
    assert_eq!(probe.route_table_selected, Some(true));
    assert_eq!(obj.condition(READY).0, "True");
    // The policy AWS holds carries the canary for this object, in this account.
    let id = obj.endpoint_id();
    let policy = env.aws.world().endpoints[&id].policy.clone().unwrap();
    assert!(
        policy.contains(&format!(
            "arn:aws:dynamodb:eu-west-1:{}:table/vpcgate-canary-{UID}",
            crate::aws::fake::ACCOUNT
        )),
        "{policy}"
    );
}

#[tokio::test]
async fn not_on_path_is_informational() {
    let mut env = env_in_subnet_a(&["rtb-a", "rtb-b"]);
    let mut obj = probing(Obj::on(&["rtb-b"]));
    create_then_probe(&mut env, &mut obj).await;
    let probe = obj.status().probe.clone().unwrap();
    assert_eq!(probe.path, Some(ProbePath::NotOnPath), "{probe:?}");
    assert_eq!(probe.route_table_selected, Some(false));
    assert!(probe.path_message.unwrap().contains("subnet-a"));
    assert_eq!(obj.condition(READY).0, "True");
    assert_eq!(obj.condition(DYNAMODB_REACHABLE).0, "True");
}

#[tokio::test]
async fn a_bypass_from_a_selected_table_fails_ready() {
    let mut env = env_in_subnet_a(&["rtb-a", "rtb-b"]);
    foreign_on_a(&env);
    let mut obj = probing(Obj::on(&["rtb-a", "rtb-b"]));
    create_then_probe(&mut env, &mut obj).await;
    let probe = obj.status().probe.clone().unwrap();
    assert_eq!(probe.path, Some(ProbePath::Bypass), "{probe:?}");
    assert_eq!(
        obj.condition(DYNAMODB_REACHABLE),
        ("False".into(), PROBE_BYPASSES_ENDPOINT.into())
    );
    assert_eq!(obj.condition(READY).0, "False");
}

#[tokio::test]
async fn a_bypass_right_after_a_change_is_not_a_verdict_yet() {
    let mut env = env_in_subnet_a(&["rtb-a", "rtb-b"]);
    env.engine = env
        .engine
        .clone()
        .with_path_settle(Duration::from_secs(180));
    foreign_on_a(&env);
    let mut obj = probing(Obj::on(&["rtb-a", "rtb-b"]));
    create_then_probe(&mut env, &mut obj).await;
    let probe = obj.status().probe.clone().unwrap();
    assert_eq!(probe.path, Some(ProbePath::Unverified), "{probe:?}");
    assert!(probe.path_message.unwrap().contains("not a verdict yet"));
    assert_ne!(obj.condition(DYNAMODB_REACHABLE).1, PROBE_BYPASSES_ENDPOINT);
    // Once the change is older than the settle time, the same answer is a verdict.
    env.now += Duration::from_secs(200);
    env.pass(&mut obj).await;
    let probe = obj.status().probe.clone().unwrap();
    assert_eq!(probe.path, Some(ProbePath::Bypass), "{probe:?}");
}

#[tokio::test]
async fn a_new_selection_makes_the_probe_due_at_once() {
    let mut env = env_in_subnet_a(&["rtb-a", "rtb-b"]);
    let mut obj = probing(Obj::on(&["rtb-b"]));
    create_then_probe(&mut env, &mut obj).await;
    assert_eq!(
        obj.status().probe.as_ref().unwrap().path,
        Some(ProbePath::NotOnPath)
    );
    // Now the object also selects the operator's table: the old verdict is stale.
    obj.edit(|s| s.route_tables.ids.push("rtb-a".into()));
    env.pass(&mut obj).await; // moves routes: a change, no probe yet
    env.pass(&mut obj).await; // probes at once, not an interval later
    let probe = obj.status().probe.clone().unwrap();
    assert_eq!(probe.path, Some(ProbePath::ThroughEndpoint), "{probe:?}");
    assert_eq!(probe.route_table_selected, Some(true));
}

#[tokio::test]
async fn a_slow_probe_never_holds_the_pass() {
    let mut env = env_in_subnet_a(&["rtb-a"]);
    *env.cloud.probe_delay.lock().unwrap() = Duration::from_secs(4);
    let mut obj = probing(Obj::on(&["rtb-a"]));
    env.pass_once(&mut obj).await;
    let out = env.pass_once(&mut obj).await;
    // The pass returned while the probe it started still runs.
    assert!(out.error.is_none(), "{:?}", out.error);
    assert!(env.engine.prober().running(UID));
    assert!(obj.status().probe.is_none());
    assert_eq!(
        obj.condition(DYNAMODB_REACHABLE),
        ("Unknown".into(), PROBE_PENDING.into())
    );
    // Deleting the object stops it.
    obj.0.spec.deletion_policy = DeletionPolicy::Retain;
    env.cleanup(&mut obj, 0).await;
    assert!(!env.engine.prober().running(UID));
}
