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
    // The creating pass does not probe (AWS applies the change with a delay); the next does.
    assert_eq!(
        obj.condition(DYNAMODB_REACHABLE),
        ("Unknown".into(), PROBE_PENDING.into())
    );
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

/// The engine's view of the probe's path, on the fake account: the operator's instance is in
/// subnet-a (rtb-a); the canary is denied only by an endpoint whose policy carries it.
mod probe_path {
    use super::*;
    use crate::api::ProbePath;
    use crate::aws::Placement;
    use crate::engine::prober::ProbeOrigin;

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
}

#[tokio::test]
async fn coverage_names_a_node_subnet_that_bypasses_the_endpoint_once() {
    use crate::api::SubnetRoute;
    use crate::engine::discovery::{ClusterNodes, NodeInfo, Placement};
    let mut env = Env::new(&["rtb-a", "rtb-b"]);
    // An isolated subnet with no table of its own (it uses the main table).
    env.aws
        .world()
        .subnets
        .insert("subnet-iso".into(), "vpc-1".into());
    let node = |name: &str, subnet: &str| NodeInfo {
        name: name.into(),
        placement: Placement::Instance {
            id: format!("i-{name}"),
            region: "eu-west-1".into(),
            vpc_id: "vpc-1".into(),
            subnet_id: subnet.into(),
            security_groups: Vec::new(),
        },
    };
    let (_tx, rx) = tokio::sync::watch::channel(ClusterNodes {
        listed: true,
        nodes: vec![node("a", "subnet-a"), node("iso", "subnet-iso")],
    });
    env.engine = env.engine.clone().with_cluster_nodes(rx);
    let mut obj = Obj::on(&["rtb-a"]);
    let out = env.pass(&mut obj).await;
    let c = obj.status().coverage.clone().expect("coverage");
    assert_eq!(c.node_subnets.as_deref(), Some("1/2"));
    assert_eq!((c.subnets, c.routed), (3, 1));
    assert_eq!(c.bypassing, ["subnet-iso"]);
    let iso = c
        .details
        .iter()
        .find(|d| d.subnet_id == "subnet-iso")
        .unwrap();
    assert_eq!(iso.route_table_id.as_deref(), Some("rtb-main"));
    assert_eq!(iso.route, SubnetRoute::NotRouted);
    assert!(iso.cluster_node);
    assert!(
        reasons_of(&out).contains(&EV_NODE_SUBNET_BYPASSES),
        "{:?}",
        reasons_of(&out)
    );
    let warning = out
        .events
        .iter()
        .find(|e| e.reason == EV_NODE_SUBNET_BYPASSES)
        .unwrap();
    assert!(
        warning.note.contains("subnet-iso (route table rtb-main)"),
        "{}",
        warning.note
    );
    // Unchanged: no second warning.
    let out = env.pass(&mut obj).await;
    assert!(!reasons_of(&out).contains(&EV_NODE_SUBNET_BYPASSES));
    // Selecting the main table too covers it.
    obj.edit(|s| s.route_tables.ids.push("rtb-main".into()));
    env.pass(&mut obj).await;
    let c = obj.status().coverage.clone().unwrap();
    assert_eq!(c.node_subnets.as_deref(), Some("2/2"));
    assert!(c.bypassing.is_empty());
}

#[tokio::test]
async fn egress_allowed_follows_the_selected_groups() {
    use crate::api::SecurityGroupSelector;
    use crate::aws::{EgressRule, SecurityGroup};
    let mut env = Env::new(&["rtb-a"]);
    {
        let mut w = env.aws.world();
        w.security_groups.insert(
            "sg-open".into(),
            SecurityGroup {
                id: "sg-open".into(),
                vpc_id: "vpc-1".into(),
                egress: vec![EgressRule {
                    protocol: "-1".into(),
                    cidrs: vec!["0.0.0.0/0".into()],
                    ..Default::default()
                }],
            },
        );
        w.security_groups.insert(
            "sg-closed".into(),
            SecurityGroup {
                id: "sg-closed".into(),
                vpc_id: "vpc-1".into(),
                egress: Vec::new(),
            },
        );
    }
    let select = |ids: &[&str]| {
        Some(SecurityGroupSelector {
            ids: ids.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })
    };
    // No group selected: no condition.
    let mut obj = Obj::on(&["rtb-a"]);
    env.pass(&mut obj).await;
    assert!(
        obj.status()
            .conditions
            .iter()
            .all(|c| c.type_ != EGRESS_ALLOWED)
    );
    obj.edit(|s| s.security_groups = select(&["sg-open"]));
    env.pass(&mut obj).await;
    assert_eq!(
        obj.condition(EGRESS_ALLOWED),
        ("True".into(), EGRESS_OPEN.into())
    );
    assert_eq!(obj.condition(READY).0, "True");
    assert_eq!(
        obj.status().security_groups[0].rule.as_deref(),
        Some("all traffic to 0.0.0.0/0")
    );
    obj.edit(|s| s.security_groups = select(&["sg-open", "sg-closed"]));
    let out = env.pass(&mut obj).await;
    assert!(out.error.is_none());
    assert_eq!(
        obj.condition(EGRESS_ALLOWED),
        ("False".into(), EGRESS_BLOCKED.into())
    );
    assert_eq!(
        obj.condition(READY),
        ("False".into(), EGRESS_BLOCKED.into())
    );
    obj.edit(|s| s.security_groups = select(&["sg-gone"]));
    env.pass(&mut obj).await;
    assert_eq!(
        obj.condition(EGRESS_ALLOWED),
        ("False".into(), SECURITY_GROUP_NOT_FOUND.into())
    );
}

/// `spec.adopt` on the fake account: an existing endpoint on rtb-a, made outside vpcgate.
mod adoption {
    use super::*;
    use crate::api::TAG_NAME;
    use std::collections::BTreeMap;

    fn existing(env: &Env, id: &str, tables: &[&str], tags: &[(&str, &str)]) {
        let mut w = env.aws.world();
        w.endpoints.insert(
            id.into(),
            crate::aws::Endpoint {
                id: id.into(),
                vpc_id: "vpc-1".into(),
                service_name: "com.amazonaws.eu-west-1.dynamodb".into(),
                state: EndpointState::Available,
                route_table_ids: tables.iter().map(|t| t.to_string()).collect(),
                tags: tags
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>(),
                ..Default::default()
            },
        );
        for t in tables {
            w.tables
                .get_mut(*t)
                .unwrap()
                .prefix_list_routes
                .insert("pl-ddb".into(), id.into());
        }
    }

    fn adopting(how: &str) -> Obj {
        Obj::on(&["rtb-a"]).with(|s| s.adopt = Some(how.into()))
    }

    #[tokio::test]
    async fn an_unowned_endpoint_is_adopted_tagged_and_reconciled() {
        let mut env = Env::new(&["rtb-a", "rtb-b"]);
        existing(&env, "vpce-old", &["rtb-a"], &[("Name", "clicked")]);
        let mut obj = Obj::on(&["rtb-a", "rtb-b"]).with(|s| s.adopt = Some("IfUnowned".into()));
        env.aws.take_calls();
        let out = env.pass(&mut obj).await;
        assert!(out.error.is_none(), "{:?}", out.error);
        assert_eq!(obj.endpoint_id(), "vpce-old", "adopted, not created");
        let adopted = out.events.iter().find(|e| e.reason == EV_ADOPTED).unwrap();
        assert!(
            adopted.note.contains("vpce-old") && adopted.note.contains("rtb-b"),
            "{}",
            adopted.note
        );
        let calls = mutations(&env.aws.take_calls());
        assert_eq!(calls[0], "CreateTags", "ownership first: {calls:?}");
        assert!(!calls.contains(&"CreateVpcEndpoint"), "{calls:?}");
        let ep = env.aws.world().endpoints["vpce-old"].clone();
        assert_eq!(ep.tags.get(TAG_UID).map(String::as_str), Some(UID));
        assert_eq!(ep.route_table_ids, ["rtb-a", "rtb-b"]);
        assert_eq!(obj.condition(READY).0, "True");
        assert_eq!(env.aws.live().len(), 1);
    }

    #[tokio::test]
    async fn never_is_the_default_and_names_the_other_endpoint() {
        let mut env = Env::new(&["rtb-a"]);
        existing(&env, "vpce-old", &["rtb-a"], &[]);
        let mut obj = Obj::on(&["rtb-a"]);
        env.pass(&mut obj).await;
        assert_eq!(obj.condition(READY).1, ROUTE_TABLE_CONFLICT);
        assert!(
            !env.aws.world().endpoints["vpce-old"]
                .tags
                .contains_key(TAG_UID)
        );
    }

    #[tokio::test]
    async fn a_dead_uid_is_adopted_a_live_one_never() {
        let mut env = Env::new(&["rtb-a"]);
        existing(
            &env,
            "vpce-old",
            &["rtb-a"],
            &[(TAG_UID, "a-deleted-object")],
        );
        let mut obj = adopting("IfUnowned");
        env.pass(&mut obj).await;
        assert_eq!(obj.endpoint_id(), "vpce-old");

        let mut env = Env::new(&["rtb-a"]);
        existing(
            &env,
            "vpce-theirs",
            &["rtb-a"],
            &[(TAG_UID, "someone-live")],
        );
        env.engine
            .set_live_uids(std::sync::Arc::new(|| ["someone-live".to_owned()].into()));
        let mut obj = adopting("IfUnowned");
        env.pass(&mut obj).await;
        assert_eq!(obj.condition(READY).1, ROUTE_TABLE_CONFLICT, "not taken");
        let mut obj = adopting("vpce-theirs");
        let out = env.pass(&mut obj).await;
        assert_eq!(out.error.map(|e| e.reason()), Some(ADOPTION_REFUSED));
        assert_eq!(
            env.aws.world().endpoints["vpce-theirs"].tags[TAG_UID],
            "someone-live"
        );
    }

    #[tokio::test]
    async fn two_candidates_touch_nothing() {
        let mut env = Env::new(&["rtb-a", "rtb-b"]);
        existing(&env, "vpce-1", &["rtb-a"], &[]);
        existing(&env, "vpce-2", &["rtb-b"], &[(TAG_NAME, "old-object")]);
        let mut obj = Obj::on(&["rtb-a", "rtb-b"]).with(|s| s.adopt = Some("IfUnowned".into()));
        env.aws.take_calls();
        let out = env.pass(&mut obj).await;
        let err = out.error.expect("ambiguous");
        assert_eq!(err.reason(), ADOPTION_AMBIGUOUS);
        assert!(
            err.to_string()
                .contains("vpce-2 (vpcgate.dev/name=old-object)"),
            "{err}"
        );
        assert!(mutations(&env.aws.take_calls()).is_empty());
        // Naming one resolves it.
        obj.edit(|s| s.adopt = Some("vpce-2".into()));
        env.pass(&mut obj).await;
        assert_eq!(obj.endpoint_id(), "vpce-2");
    }

    #[tokio::test]
    async fn under_the_default_policy_adoption_is_denied_by_name() {
        let mut env = Env::new(&["rtb-a"]);
        env.aws.world().require_owner_tag = true;
        existing(&env, "vpce-old", &["rtb-a"], &[]);
        let mut obj = adopting("IfUnowned");
        let out = env.pass(&mut obj).await;
        let err = out.error.expect("denied");
        assert_eq!(err.reason(), ADOPTION_DENIED);
        assert!(err.to_string().contains("--allow-adoption"), "{err}");
    }

    #[tokio::test]
    async fn retain_keeps_the_name_so_the_next_object_can_adopt_it() {
        let mut env = Env::new(&["rtb-a"]);
        let mut obj = Obj::on(&["rtb-a"]);
        env.pass(&mut obj).await;
        let id = obj.endpoint_id();
        obj.0.spec.deletion_policy = DeletionPolicy::Retain;
        assert!(matches!(env.cleanup(&mut obj, 0).await, Cleanup::Gone));
        let tags = env.aws.world().endpoints[&id].tags.clone();
        assert!(!tags.contains_key(TAG_UID));
        assert_eq!(tags.get(TAG_NAME).map(String::as_str), Some("ddb"));
        // A new object (new uid, as Argo CD or a restore would make) adopts it.
        let mut again = adopting("IfUnowned");
        again.0.metadata.uid = Some("11111111-2222-3333-4444-555555555555".into());
        env.pass(&mut again).await;
        assert_eq!(again.endpoint_id(), id);
    }
}

#[tokio::test]
async fn manage_adds_one_tagged_rule_and_removes_only_that_on_delete() {
    use crate::api::{SecurityGroupMode, SecurityGroupSelector};
    use crate::aws::{EgressRule, SecurityGroup};
    let mut env = Env::new(&["rtb-a"]);
    let users_rule = EgressRule {
        protocol: "tcp".into(),
        from_port: Some(5432),
        to_port: Some(5432),
        cidrs: vec!["10.0.0.0/16".into()],
        ..Default::default()
    };
    env.aws.world().security_groups.insert(
        "sg-closed".into(),
        SecurityGroup {
            id: "sg-closed".into(),
            vpc_id: "vpc-1".into(),
            egress: vec![users_rule.clone()],
        },
    );
    let mut obj = Obj::on(&["rtb-a"]).with(|s| {
        s.security_groups = Some(SecurityGroupSelector {
            ids: vec!["sg-closed".into()],
            mode: Some(SecurityGroupMode::Manage),
            ..Default::default()
        })
    });
    let out = env.pass(&mut obj).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert!(reasons_of(&out).contains(&EV_EGRESS_RULE_ADDED));
    assert_eq!(
        obj.condition(EGRESS_ALLOWED),
        ("True".into(), EGRESS_OPEN.into())
    );
    assert_eq!(obj.condition(READY).0, "True");
    assert_eq!(env.aws.world().security_groups["sg-closed"].egress.len(), 2);
    // Converged: no second rule.
    env.aws.take_calls();
    env.pass(&mut obj).await;
    assert!(!mutations(&env.aws.take_calls()).contains(&"AuthorizeSecurityGroupEgress"));
    // Delete: our rule goes, the user's stays.
    let mut gone = env.cleanup(&mut obj, 21).await;
    if let Cleanup::Pending(_) = gone {
        env.aws.settle();
        gone = env.cleanup(&mut obj, 22).await;
    }
    assert!(matches!(gone, Cleanup::Gone), "{gone:?}");
    assert_eq!(
        env.aws.world().security_groups["sg-closed"].egress,
        [users_rule]
    );
}

#[tokio::test]
async fn an_adoption_iam_refuses_records_nothing_and_is_tried_again() {
    let mut env = Env::new(&["rtb-a"]);
    env.aws.world().require_owner_tag = true;
    {
        let mut w = env.aws.world();
        w.endpoints.insert(
            "vpce-old".into(),
            crate::aws::Endpoint {
                id: "vpce-old".into(),
                vpc_id: "vpc-1".into(),
                service_name: "com.amazonaws.eu-west-1.dynamodb".into(),
                state: EndpointState::Available,
                route_table_ids: vec!["rtb-a".into()],
                tags: [("Name".to_owned(), "clicked".to_owned())].into(),
                ..Default::default()
            },
        );
        w.tables
            .get_mut("rtb-a")
            .unwrap()
            .prefix_list_routes
            .insert("pl-ddb".into(), "vpce-old".into());
    }
    let mut obj = Obj::on(&["rtb-a"]).with(|s| s.adopt = Some("IfUnowned".into()));
    let out = env.pass(&mut obj).await;
    assert_eq!(out.error.map(|e| e.reason()), Some(ADOPTION_DENIED));
    assert_eq!(obj.status().endpoint_id, None, "not recorded: not ours");
    // The role gets --allow-adoption (here: tagging allowed): the next pass adopts.
    env.aws.world().require_owner_tag = false;
    let out = env.pass(&mut obj).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(obj.endpoint_id(), "vpce-old");
    assert!(reasons_of(&out).contains(&EV_ADOPTED));
}
