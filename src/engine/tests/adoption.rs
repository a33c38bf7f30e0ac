//! `spec.adopt` on the fake account: an existing endpoint on rtb-a, made outside vpcgate.

use super::*;
use crate::api::TAG_NAME;
use crate::api::{DeletionPolicy, TAG_UID};
use crate::aws::EndpointState;
use crate::engine::Cleanup;
use crate::engine::reasons::*;
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
