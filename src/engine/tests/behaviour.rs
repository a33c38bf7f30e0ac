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
