//! Engine scenarios against the AWS emulator (moto server, corrected to documented AWS
//! behaviour). Each test starts its own emulator on a free 127.0.0.1 port.

mod support;

use std::sync::Arc;

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use support::{CallLog, Emulator, Network, edit, object, walkthrough_network};
use vpcgate::api::{
    DeletionPolicy, GatewayEndpoint, GatewayEndpointSpec, PolicyPreset, PolicySpec, ProbeSpec,
    RouteTableSelector,
};
use vpcgate::aws::{AwsClients, CreateEndpoint, Ec2};
use vpcgate::controller::requeue::{RequeueHint, hint};
use vpcgate::engine::{Cleanup, Engine, Outcome};

const UID: &str = "5f0c2b1e-7a7e-4c43-9a43-2f6f0d5b8a11";

struct World {
    emulator: Emulator,
    ec2: aws_sdk_ec2::Client,
    ddb: aws_sdk_dynamodb::Client,
    net: Network,
    log: CallLog,
    clients: AwsClients,
    engine: Engine,
}

async fn world() -> World {
    vpcgate::install_crypto_provider();
    let emulator = Emulator::start();
    let conf = support::sdk_config(&emulator.url).await;
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    let ddb = aws_sdk_dynamodb::Client::new(&conf);
    let net = walkthrough_network(&ec2).await;
    let log = CallLog::default();
    let clients = support::clients(&emulator.url, &log).await;
    let engine = Engine::new(Arc::new(clients.clone()), Some(support::REGION.to_owned()));
    World {
        emulator,
        ec2,
        ddb,
        net,
        log,
        clients,
        engine,
    }
}

fn spec(net: &Network) -> GatewayEndpointSpec {
    GatewayEndpointSpec {
        vpc_id: Some(net.vpc.clone()),
        route_tables: RouteTableSelector {
            subnet_ids: vec![net.public_subnet.clone(), net.private_subnet.clone()],
            ..Default::default()
        },
        probe: Some(ProbeSpec {
            table: Some("Music".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The walkthrough's spec without the probe, for scenarios about endpoints and routes.
fn quiet_spec(net: &Network) -> GatewayEndpointSpec {
    GatewayEndpointSpec {
        probe: Some(ProbeSpec {
            enabled: Some(false),
            ..Default::default()
        }),
        ..spec(net)
    }
}

/// Runs one pass and stores its status on the object, as the controller would. A probe the
/// pass started (it runs off the worker) is awaited and reported by a second pass at the same
/// time, as the controller's probe-finished trigger does; the events of both are returned.
async fn apply(w: &World, obj: &mut GatewayEndpoint, now: Timestamp) -> Outcome {
    let mut out = w.engine.apply(obj, now).await;
    obj.status = Some(out.status.clone());
    let uid = obj.metadata.uid.clone().unwrap_or_default();
    if w.engine.prober().running(&uid) {
        w.engine.prober().finished(&uid).await;
        let first = std::mem::take(&mut out.events);
        out = w.engine.apply(obj, now).await;
        obj.status = Some(out.status.clone());
        out.events = [first, std::mem::take(&mut out.events)].concat();
    }
    out
}

fn later(now: Timestamp, secs: i64) -> Timestamp {
    now.checked_add(SignedDuration::from_secs(secs)).unwrap()
}

fn condition<'a>(obj: &'a GatewayEndpoint, type_: &str) -> (&'a str, &'a str, &'a str) {
    let c = obj
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == type_))
        .unwrap_or_else(|| panic!("no {type_} condition"));
    (c.status.as_str(), c.reason.as_str(), c.message.as_str())
}

/// Endpoints in the VPC that are not deleted, counted with the describe lag switched off for the
/// look (and `id` checked to be among them).
async fn live_endpoints_unlagged(w: &World, id: &str) -> usize {
    w.emulator.faults(r#"{"describeLagSeconds": 0}"#);
    let live = live_endpoints(w).await;
    w.emulator.faults(r#"{"describeLagSeconds": 60}"#);
    assert!(live.iter().any(|e| e.vpc_endpoint_id() == Some(id)));
    live.len()
}

/// A cleanup pass `since` seconds after deletion was requested.
async fn cleanup(w: &World, obj: &GatewayEndpoint, since: i64) -> vpcgate::engine::CleanupOutcome {
    let asked = Timestamp::now();
    let mut obj = obj.clone();
    obj.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(asked));
    w.engine.cleanup(&obj, later(asked, since)).await
}

/// What a deletion waits for, as its status message shows it.
fn strings(waiting: &[vpcgate::engine::cleanup::Waiting]) -> Vec<String> {
    waiting.iter().map(ToString::to_string).collect()
}

fn reasons(out: &Outcome) -> Vec<&'static str> {
    out.events.iter().map(|e| e.reason).collect()
}

/// Endpoints in the VPC that are not deleted.
async fn live_endpoints(w: &World) -> Vec<aws_sdk_ec2::types::VpcEndpoint> {
    support::live_endpoints(&w.ec2, &w.net.vpc).await
}

/// The prefix-list route targets of a route table.
async fn pl_routes(w: &World, rtb: &str) -> BTreeMap<String, String> {
    let out = w
        .ec2
        .describe_route_tables()
        .route_table_ids(rtb)
        .send()
        .await
        .unwrap();
    out.route_tables()[0]
        .routes()
        .iter()
        .filter_map(|r| {
            Some((
                r.destination_prefix_list_id()?.to_owned(),
                r.gateway_id()?.to_owned(),
            ))
        })
        .collect()
}

async fn endpoint_policy(w: &World, id: &str) -> Value {
    let out = w
        .ec2
        .describe_vpc_endpoints()
        .vpc_endpoint_ids(id)
        .send()
        .await
        .unwrap();
    serde_json::from_str(out.vpc_endpoints()[0].policy_document().unwrap()).unwrap()
}

async fn create_music_table(w: &World) {
    support::create_table(&w.ddb, "Music").await;
}

#[tokio::test]
async fn walkthrough_public_and_private_subnets_then_probe_after_table_exists() {
    let w = world().await;
    let mut obj = object("dynamodb", UID, spec(&w.net));
    let t0 = Timestamp::now();

    let out = apply(&w, &mut obj, t0).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(reasons(&out), vec!["Created"]);
    // The creating pass does not probe (AWS applies a change with a delay): soon, the next.
    assert_eq!(out.next_probe, Some(std::time::Duration::from_secs(10)));
    let t0 = later(t0, 1);
    let out = apply(&w, &mut obj, t0).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(reasons(&out), vec!["ProbeFailed"]);
    let st = obj.status.clone().unwrap();
    let ep = st.endpoint_id.clone().expect("endpoint id in status");
    assert_eq!(st.state.as_deref(), Some("available"));
    assert_eq!(
        st.service_name.as_deref(),
        Some("com.amazonaws.us-east-1.dynamodb")
    );
    assert_eq!(st.routes.as_deref(), Some("2/2"));
    let pl = st.prefix_list_id.clone().unwrap();
    assert!(pl.starts_with("pl-"), "{pl}");
    for rtb in [&w.net.public_rtb, &w.net.private_rtb] {
        assert_eq!(
            pl_routes(&w, rtb).await.get(&pl),
            Some(&ep),
            "route in {rtb}"
        );
        assert!(
            st.route_tables
                .iter()
                .any(|t| &t.id == rtb && t.route_present)
        );
    }
    assert!(
        pl_routes(&w, &w.net.main_rtb).await.is_empty(),
        "main table untouched"
    );
    assert_eq!(live_endpoints(&w).await.len(), 1);
    assert_eq!(condition(&obj, "EndpointAvailable").0, "True");
    assert_eq!(condition(&obj, "RoutesAssociated").0, "True");
    let (s, reason, msg) = condition(&obj, "DynamoDBReachable");
    assert_eq!((s, reason), ("False", "TableNotFound"), "{msg}");
    assert!(msg.contains("Music"), "{msg}");
    assert_eq!(condition(&obj, "Ready").0, "False");
    let probe = st.probe.clone().unwrap();
    assert_eq!(probe.operation, "DescribeTable");
    assert_eq!(probe.addresses, vec!["127.0.0.1".to_string()]);
    // No node, so the probe's subnet is unknown; the canary table was looked up.
    assert_eq!(probe.path, Some(vpcgate::api::ProbePath::Unverified));
    assert!(
        probe.path_message.as_deref().unwrap().contains("NODE_NAME"),
        "{probe:?}"
    );
    assert_eq!(out.next_probe, Some(std::time::Duration::from_secs(60)));
    assert!(!out.settling, "available and routed: nothing to wait for");

    // The table appears; the probe is not due yet, so nothing changes and nothing is probed.
    create_music_table(&w).await;
    w.log.clear();
    let out = apply(&w, &mut obj, later(t0, 30)).await;
    assert!(out.events.is_empty(), "{:?}", out.events);
    assert!(w.log.mutations().is_empty(), "{:?}", w.log.operations());
    assert!(
        !w.log.operations().iter().any(|op| op == "DescribeTable"),
        "probe not due yet"
    );
    assert_eq!(out.next_probe, Some(std::time::Duration::from_secs(30)));
    assert_eq!(condition(&obj, "DynamoDBReachable").1, "TableNotFound");

    // Once due, the probe succeeds and the object is Ready.
    let out = apply(&w, &mut obj, later(t0, 61)).await;
    assert_eq!(reasons(&out), vec!["ProbeRecovered"]);
    assert_eq!(condition(&obj, "DynamoDBReachable").0, "True");
    let (s, reason, _) = condition(&obj, "Ready");
    assert_eq!((s, reason), ("True", "Ready"));
    assert!(
        obj.status
            .as_ref()
            .unwrap()
            .probe
            .as_ref()
            .unwrap()
            .latency
            .as_deref()
            .unwrap()
            .ends_with('s')
    );
    assert!(
        w.log.mutations().is_empty(),
        "a converged world makes no changes: {:?}",
        w.log.mutations()
    );

    // Every call the engine made is one the IAM table (and so `vpcgate iam-policy`) grants.
    for op in w.log.operations() {
        assert!(
            vpcgate::aws::actions::ACTIONS.iter().any(|a| a.name == op),
            "{op} is missing from src/aws/actions.rs"
        );
    }

    // An unchanged world yields an unchanged status (so the controller writes nothing).
    let before = obj.status.clone();
    let out = apply(&w, &mut obj, later(t0, 70)).await;
    assert_eq!(obj.status, before);
    assert!(out.events.is_empty());
}

#[tokio::test]
async fn route_tables_changed_with_one_modify() {
    let w = world().await;
    let mut obj = object("dynamodb", UID, quiet_spec(&w.net));
    let t0 = Timestamp::now();
    apply(&w, &mut obj, t0).await;
    let ep = obj.status.as_ref().unwrap().endpoint_id.clone().unwrap();
    let pl = obj.status.as_ref().unwrap().prefix_list_id.clone().unwrap();

    // Public out, main (through the bare subnet) in; private stays.
    edit(&mut obj, |s| {
        s.route_tables = RouteTableSelector {
            ids: vec![w.net.private_rtb.clone()],
            subnet_ids: vec![w.net.bare_subnet.clone()],
            ..Default::default()
        }
    });
    w.log.clear();
    let out = apply(&w, &mut obj, later(t0, 5)).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(
        w.log.mutations(),
        vec!["ModifyVpcEndpoint"],
        "one call for the set difference"
    );
    assert_eq!(reasons(&out), vec!["RouteTablesChanged"]);
    assert!(pl_routes(&w, &w.net.public_rtb).await.is_empty());
    assert_eq!(pl_routes(&w, &w.net.private_rtb).await.get(&pl), Some(&ep));
    assert_eq!(pl_routes(&w, &w.net.main_rtb).await.get(&pl), Some(&ep));
    let st = obj.status.as_ref().unwrap();
    assert_eq!(st.routes.as_deref(), Some("2/2"));
    assert_eq!(st.observed_generation, Some(2));
    assert_eq!(condition(&obj, "Ready").0, "True");
    assert!(
        st.conditions.iter().all(|c| c.type_ != "DynamoDBReachable"),
        "probe disabled: no condition"
    );

    // Select by tags instead: the same two tables carry tier=private / the main carries none.
    edit(&mut obj, |s| {
        s.route_tables = RouteTableSelector {
            tags: BTreeMap::from([("tier".into(), "public".into())]),
            ..Default::default()
        }
    });
    let out = apply(&w, &mut obj, later(t0, 10)).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(pl_routes(&w, &w.net.public_rtb).await.get(&pl), Some(&ep));
    assert!(pl_routes(&w, &w.net.private_rtb).await.is_empty());
    assert!(pl_routes(&w, &w.net.main_rtb).await.is_empty());
    assert_eq!(obj.status.as_ref().unwrap().routes.as_deref(), Some("1/1"));
}

#[tokio::test]
async fn policy_preset_then_tables_then_custom_then_full_access() {
    let w = world().await;
    let no_probe = Some(ProbeSpec {
        enabled: Some(false),
        ..Default::default()
    });
    let mut obj = object(
        "dynamodb",
        UID,
        GatewayEndpointSpec {
            policy: Some(PolicySpec {
                preset: Some(PolicyPreset::ReadOnly),
                ..Default::default()
            }),
            probe: no_probe,
            ..spec(&w.net)
        },
    );
    let t0 = Timestamp::now();
    let out = apply(&w, &mut obj, t0).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    let ep = obj.status.as_ref().unwrap().endpoint_id.clone().unwrap();
    let p = endpoint_policy(&w, &ep).await;
    let actions = p["Statement"][0]["Action"].as_array().unwrap();
    assert!(
        actions.iter().any(|a| a == "dynamodb:GetItem")
            && !actions.iter().any(|a| a == "dynamodb:PutItem")
    );

    // Restrict to tables.
    edit(&mut obj, |s| {
        s.policy.as_mut().unwrap().tables = vec!["Music".into()]
    });
    w.log.clear();
    let out = apply(&w, &mut obj, later(t0, 1)).await;
    assert_eq!(reasons(&out), vec!["PolicyChanged"]);
    assert_eq!(w.log.mutations(), vec!["ModifyVpcEndpoint"]);
    let p = endpoint_policy(&w, &ep).await;
    assert_eq!(
        p["Statement"][0]["Resource"][0],
        // Pinned to the caller's account (moto's is 123456789012): a table of that name in another
        // account is not reachable through the endpoint.
        "arn:aws:dynamodb:us-east-1:123456789012:table/Music"
    );

    // Custom document.
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"dynamodb:Query","Resource":"*"}]}"#;
    edit(&mut obj, |s| {
        s.policy = Some(PolicySpec {
            document: Some(doc.into()),
            ..Default::default()
        })
    });
    apply(&w, &mut obj, later(t0, 2)).await;
    assert_eq!(
        endpoint_policy(&w, &ep).await["Statement"][0]["Action"],
        "dynamodb:Query"
    );
    assert_eq!(condition(&obj, "EndpointAvailable").0, "True");

    // The same document reformatted is no change.
    let pretty =
        serde_json::to_string_pretty(&serde_json::from_str::<Value>(doc).unwrap()).unwrap();
    edit(&mut obj, |s| {
        s.policy = Some(PolicySpec {
            document: Some(pretty),
            ..Default::default()
        })
    });
    w.log.clear();
    apply(&w, &mut obj, later(t0, 3)).await;
    assert!(w.log.mutations().is_empty(), "{:?}", w.log.mutations());

    // Back to full access: ResetPolicy restores AWS's default.
    edit(&mut obj, |s| s.policy = None);
    let out = apply(&w, &mut obj, later(t0, 4)).await;
    assert_eq!(reasons(&out), vec!["PolicyChanged"]);
    let p = endpoint_policy(&w, &ep).await;
    assert_eq!(p["Statement"][0]["Action"], "*");
    assert_eq!(p["Statement"][0]["Resource"], "*");
    assert_eq!(condition(&obj, "Ready").0, "True");

    // A document that is not a policy is reported on the field, and nothing is touched.
    edit(&mut obj, |s| {
        s.policy = Some(PolicySpec {
            document: Some(r#"{"Version":"2012-10-17"}"#.into()),
            ..Default::default()
        })
    });
    w.log.clear();
    let out = apply(&w, &mut obj, later(t0, 5)).await;
    let (s, reason, msg) = condition(&obj, "Ready");
    assert_eq!((s, reason), ("False", "InvalidSpec"));
    assert!(
        msg.contains("spec.policy.document") && msg.contains("Statement"),
        "{msg}"
    );
    assert!(
        w.log.operations().is_empty(),
        "no AWS call for an invalid spec: {:?}",
        w.log.operations()
    );
    assert_eq!(out.error.as_ref().map(hint), Some(RequeueHint::AwaitChange));
    assert_eq!(
        obj.status.as_ref().unwrap().endpoint_id.as_deref(),
        Some(ep.as_str()),
        "status keeps what it knew"
    );
}

#[tokio::test]
async fn drift_is_repaired() {
    let w = world().await;
    let mut obj = object(
        "dynamodb",
        UID,
        GatewayEndpointSpec {
            probe: Some(ProbeSpec {
                enabled: Some(false),
                ..Default::default()
            }),
            tags: BTreeMap::from([("team".into(), "data".into())]),
            ..spec(&w.net)
        },
    );
    let t0 = Timestamp::now();
    apply(&w, &mut obj, t0).await;
    let ep = obj.status.as_ref().unwrap().endpoint_id.clone().unwrap();
    let pl = obj.status.as_ref().unwrap().prefix_list_id.clone().unwrap();

    // Out of band: a route table removed, the policy narrowed, our tag changed.
    w.ec2
        .modify_vpc_endpoint()
        .vpc_endpoint_id(&ep)
        .remove_route_table_ids(&w.net.private_rtb)
        .policy_document(
            r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    w.ec2
        .create_tags()
        .resources(&ep)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("team")
                .value("someone-else")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(pl_routes(&w, &w.net.private_rtb).await.is_empty());

    let out = apply(&w, &mut obj, later(t0, 300)).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(
        reasons(&out),
        vec!["DriftRepaired", "DriftRepaired"],
        "{:?}",
        out.events
    );
    assert_eq!(pl_routes(&w, &w.net.private_rtb).await.get(&pl), Some(&ep));
    assert_eq!(
        endpoint_policy(&w, &ep).await["Statement"][0]["Effect"],
        "Allow"
    );
    let tags = w
        .ec2
        .describe_vpc_endpoints()
        .vpc_endpoint_ids(&ep)
        .send()
        .await
        .unwrap()
        .vpc_endpoints()[0]
        .tags()
        .to_vec();
    assert!(
        tags.iter()
            .any(|t| t.key() == Some("team") && t.value() == Some("data"))
    );
    assert_eq!(condition(&obj, "Ready").0, "True");

    // Dropping a tag from the spec removes it; tags vpcgate never set are left alone.
    w.ec2
        .create_tags()
        .resources(&ep)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("cost-center")
                .value("42")
                .build(),
        )
        .send()
        .await
        .unwrap();
    edit(&mut obj, |s| s.tags.clear());
    let out = apply(&w, &mut obj, later(t0, 301)).await;
    assert_eq!(reasons(&out), vec!["TagsChanged"]);
    let tags = w
        .ec2
        .describe_vpc_endpoints()
        .vpc_endpoint_ids(&ep)
        .send()
        .await
        .unwrap()
        .vpc_endpoints()[0]
        .tags()
        .to_vec();
    assert!(!tags.iter().any(|t| t.key() == Some("team")));
    assert!(tags.iter().any(|t| t.key() == Some("cost-center")));
    assert!(
        tags.iter()
            .any(|t| t.key() == Some("vpcgate.dev/uid") && t.value() == Some(UID))
    );
    assert!(
        tags.iter()
            .any(|t| t.key() == Some("Name") && t.value() == Some("dynamodb"))
    );
}

#[tokio::test]
async fn endpoint_deleted_out_of_band_is_recreated_once() {
    let w = world().await;
    let mut obj = object("dynamodb", UID, quiet_spec(&w.net));
    let t0 = Timestamp::now();
    apply(&w, &mut obj, t0).await;
    let first = obj.status.as_ref().unwrap().endpoint_id.clone().unwrap();
    w.ec2
        .delete_vpc_endpoints()
        .vpc_endpoint_ids(&first)
        .send()
        .await
        .unwrap();
    assert!(live_endpoints(&w).await.is_empty());

    let out = apply(&w, &mut obj, later(t0, 300)).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(reasons(&out), vec!["Recreated", "Created"]);
    let st = obj.status.clone().unwrap();
    let second = st.endpoint_id.clone().unwrap();
    assert_ne!(first, second);
    assert_eq!(st.recreations, 1);
    assert_eq!(st.routes.as_deref(), Some("2/2"));
    assert_eq!(live_endpoints(&w).await.len(), 1);

    // Converged: the next passes neither recreate nor change anything.
    w.log.clear();
    let out = apply(&w, &mut obj, later(t0, 600)).await;
    assert!(out.events.is_empty(), "{:?}", out.events);
    assert!(w.log.mutations().is_empty());
    assert_eq!(obj.status.as_ref().unwrap().recreations, 1);
    assert_eq!(live_endpoints(&w).await.len(), 1);
}

#[tokio::test]
async fn repeated_create_makes_one_endpoint() {
    let w = world().await;
    let s = GatewayEndpointSpec {
        probe: Some(ProbeSpec {
            enabled: Some(false),
            ..Default::default()
        }),
        ..spec(&w.net)
    };
    let mut obj = object("dynamodb", UID, s.clone());
    let t0 = Timestamp::now();
    apply(&w, &mut obj, t0).await;
    let ep = obj.status.as_ref().unwrap().endpoint_id.clone().unwrap();

    // A crash after CreateVpcEndpoint but before the status write: the retry starts from no status.
    let mut fresh = object("dynamodb", UID, s);
    let out = apply(&w, &mut fresh, later(t0, 1)).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert!(!reasons(&out).contains(&"Created"), "{:?}", out.events);
    assert_eq!(
        fresh.status.as_ref().unwrap().endpoint_id.as_deref(),
        Some(ep.as_str())
    );
    assert_eq!(live_endpoints(&w).await.len(), 1);

    // The create call itself, repeated with the same token (as when the describe has not caught
    // up yet), returns the same endpoint.
    let ec2 = w.clients.sdk_ec2(support::REGION);
    let req = CreateEndpoint {
        vpc_id: w.net.vpc.clone(),
        service_name: "com.amazonaws.us-east-1.dynamodb".into(),
        route_table_ids: vec![],
        policy: None,
        tags: BTreeMap::from([("vpcgate.dev/uid".to_string(), "other-uid".to_string())]),
        client_token: "vpcgate-other-uid-0".into(),
    };
    let a = ec2.create_endpoint(&req).await.unwrap();
    let b = ec2.create_endpoint(&req).await.unwrap();
    assert_eq!(a.id, b.id);
    assert_eq!(live_endpoints(&w).await.len(), 2);
    // The same token with other parameters is refused, not a second endpoint.
    let err = ec2
        .create_endpoint(&CreateEndpoint {
            route_table_ids: vec![w.net.main_rtb.clone()],
            ..req
        })
        .await
        .unwrap_err();
    assert_eq!(err.code.as_deref(), Some("IdempotentParameterMismatch"));
    assert_eq!(live_endpoints(&w).await.len(), 2);
}

#[tokio::test]
async fn conflict_with_another_endpoints_route_is_reported_not_fought() {
    let w = world().await;
    let other = w
        .ec2
        .create_vpc_endpoint()
        .vpc_id(&w.net.vpc)
        .service_name("com.amazonaws.us-east-1.dynamodb")
        .vpc_endpoint_type(aws_sdk_ec2::types::VpcEndpointType::Gateway)
        .route_table_ids(&w.net.private_rtb)
        .send()
        .await
        .unwrap()
        .vpc_endpoint()
        .unwrap()
        .vpc_endpoint_id()
        .unwrap()
        .to_owned();

    let mut obj = object("dynamodb", UID, quiet_spec(&w.net));
    let t0 = Timestamp::now();
    let out = apply(&w, &mut obj, t0).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(reasons(&out), vec!["Created", "RouteTableConflict"]);
    assert!(
        out.events[1].note.contains(&other),
        "{}",
        out.events[1].note
    );
    let st = obj.status.clone().unwrap();
    let ours = st.endpoint_id.clone().unwrap();
    let pl = st.prefix_list_id.clone().unwrap();
    assert_eq!(pl_routes(&w, &w.net.public_rtb).await.get(&pl), Some(&ours));
    assert_eq!(
        pl_routes(&w, &w.net.private_rtb).await.get(&pl),
        Some(&other),
        "the other endpoint keeps its route"
    );
    assert_eq!(st.routes.as_deref(), Some("1/2"));
    let (s, reason, msg) = condition(&obj, "RoutesAssociated");
    assert_eq!((s, reason), ("False", "RouteTableConflict"));
    assert!(
        msg.contains(&other) && msg.contains(&w.net.private_rtb),
        "{msg}"
    );
    assert_eq!(condition(&obj, "Ready").1, "RouteTableConflict");

    // Next pass: no new event for the same conflict, no change.
    w.log.clear();
    let out = apply(&w, &mut obj, later(t0, 300)).await;
    assert!(out.events.is_empty(), "{:?}", out.events);
    assert!(w.log.mutations().is_empty());

    // Issue 8, case 1: an object whose every table is taken (two objects on the same table, or
    // status lost and the object re-created under a new uid) creates nothing and says why.
    let mut late = object(
        "late",
        "9d4f3031-0000-4000-8000-000000000004",
        GatewayEndpointSpec {
            route_tables: RouteTableSelector {
                ids: vec![w.net.private_rtb.clone()],
                ..Default::default()
            },
            ..quiet_spec(&w.net)
        },
    );
    w.log.clear();
    let out = apply(&w, &mut late, later(t0, 301)).await;
    assert!(
        w.log.mutations().is_empty(),
        "no endpoint without a route table: {:?}",
        w.log.mutations()
    );
    assert_eq!(live_endpoints(&w).await.len(), 2);
    assert_eq!(
        condition(&late, "EndpointAvailable").1,
        "RouteTableConflict"
    );
    assert_eq!(condition(&late, "Ready").1, "RouteTableConflict");
    assert_eq!(reasons(&out), vec!["RouteTableConflict"]);

    // The other endpoint goes away: the table is taken over.
    w.ec2
        .delete_vpc_endpoints()
        .vpc_endpoint_ids(&other)
        .send()
        .await
        .unwrap();
    let out = apply(&w, &mut obj, later(t0, 600)).await;
    assert_eq!(reasons(&out), vec!["DriftRepaired"]);
    assert_eq!(
        pl_routes(&w, &w.net.private_rtb).await.get(&pl),
        Some(&ours)
    );
    assert_eq!(condition(&obj, "Ready").0, "True");
}

#[tokio::test]
async fn unknown_ids_get_their_reason_and_no_mutation() {
    let w = world().await;
    let t0 = Timestamp::now();
    let cases: Vec<(GatewayEndpointSpec, &str, &str)> = vec![
        (
            GatewayEndpointSpec {
                vpc_id: Some("vpc-0123456789abcdef0".into()),
                ..spec(&w.net)
            },
            "VpcNotFound",
            "vpc-0123456789abcdef0",
        ),
        (
            GatewayEndpointSpec {
                route_tables: RouteTableSelector {
                    ids: vec!["rtb-0123456789abcdef0".into()],
                    ..Default::default()
                },
                ..spec(&w.net)
            },
            "RouteTableNotFound",
            "rtb-0123456789abcdef0",
        ),
        (
            GatewayEndpointSpec {
                route_tables: RouteTableSelector {
                    subnet_ids: vec!["subnet-0123456789abcdef0".into()],
                    ..Default::default()
                },
                ..spec(&w.net)
            },
            "SubnetNotFound",
            "subnet-0123456789abcdef0",
        ),
    ];
    for (s, reason, id) in cases {
        w.log.clear();
        let s = GatewayEndpointSpec {
            probe: quiet_spec(&w.net).probe,
            ..s
        };
        let mut obj = object("dynamodb", UID, s);
        let out = apply(&w, &mut obj, t0).await;
        let (status, r, msg) = condition(&obj, "Ready");
        assert_eq!((status, r), ("False", reason));
        assert!(msg.contains(id), "{msg}");
        assert_eq!(condition(&obj, "EndpointAvailable").1, reason);
        if reason == "VpcNotFound" {
            assert_eq!(out.error.as_ref().map(hint), Some(RequeueHint::Resync));
        } else {
            // A table or subnet that is not there is a fact about that table, not a failed pass.
            assert!(out.error.is_none(), "{:?}", out.error);
            assert_eq!(condition(&obj, "RoutesAssociated").1, reason);
        }
        assert_eq!(reasons(&out), vec![reason]);
        assert!(
            w.log.mutations().is_empty(),
            "{reason}: {:?}",
            w.log.operations()
        );
        assert!(!w.log.operations().is_empty(), "it did look");
        // Reported once: the same failure again emits no new event.
        let out = apply(&w, &mut obj, later(t0, 300)).await;
        assert!(out.events.is_empty(), "{:?}", out.events);
    }
    assert!(live_endpoints(&w).await.is_empty());
}

#[tokio::test]
async fn delete_waits_for_aws_and_retain_keeps_the_endpoint() {
    let w = world().await;
    let no_probe = Some(ProbeSpec {
        enabled: Some(false),
        ..Default::default()
    });
    let mut obj = object(
        "dynamodb",
        UID,
        GatewayEndpointSpec {
            probe: no_probe.clone(),
            ..spec(&w.net)
        },
    );
    let t0 = Timestamp::now();
    apply(&w, &mut obj, t0).await;
    let ep = obj.status.as_ref().unwrap().endpoint_id.clone().unwrap();
    let pl = obj.status.as_ref().unwrap().prefix_list_id.clone().unwrap();

    // AWS accepts the delete; the finalizer stays until AWS describes it deleted.
    let out = cleanup(&w, &obj, 0).await;
    match &out.result {
        Cleanup::Pending(waiting) => assert_eq!(strings(waiting), [format!("{} (deleting)", ep)]),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        out.events.iter().map(|e| e.reason).collect::<Vec<_>>(),
        vec!["Deleting"]
    );
    // Deleted, but the finalizer waits out the describe lag since deletion was requested.
    let out = cleanup(&w, &obj, 5).await;
    assert!(
        matches!(&out.result, Cleanup::Pending(w) if w.is_empty()),
        "{:?}",
        out.result
    );
    let out = cleanup(&w, &obj, 25).await;
    assert!(matches!(out.result, Cleanup::Gone), "{:?}", out.result);
    assert_eq!(
        out.events.iter().map(|e| e.reason).collect::<Vec<_>>(),
        vec!["Deleted"]
    );
    assert!(live_endpoints(&w).await.is_empty());
    assert!(
        !pl_routes(&w, &w.net.public_rtb).await.contains_key(&pl),
        "routes removed with it"
    );
    let state = support::endpoint_state(&w.ec2, &ep).await;
    assert_eq!(state, "deleted");
    // Cleanup again (finalizer retried): already gone counts as gone.
    w.log.clear();
    let again = cleanup(&w, &obj, 30).await;
    assert!(matches!(again.result, Cleanup::Gone));
    assert!(w.log.mutations().is_empty(), "{:?}", w.log.operations());

    // Cleanup of an object whose apply never ran: released once the describe lag has passed
    // (a create whose status write was lost could hide behind it until then).
    let never = object(
        "never",
        "6a1c0d0e-0000-4000-8000-000000000001",
        spec(&w.net),
    );
    let out = cleanup(&w, &never, 1).await;
    assert!(
        matches!(&out.result, Cleanup::Pending(waiting) if waiting.is_empty()),
        "{:?}",
        out.result
    );
    let out = cleanup(&w, &never, 25).await;
    assert!(matches!(out.result, Cleanup::Gone) && out.events.is_empty());

    // Retain: the endpoint stays, our ownership tags go.
    let uid2 = "7b2d1e1f-0000-4000-8000-000000000002";
    let mut kept = object(
        "kept",
        uid2,
        GatewayEndpointSpec {
            probe: no_probe,
            deletion_policy: DeletionPolicy::Retain,
            ..spec(&w.net)
        },
    );
    apply(&w, &mut kept, t0).await;
    let kept_id = kept.status.as_ref().unwrap().endpoint_id.clone().unwrap();
    let out = cleanup(&w, &kept, 0).await;
    assert!(matches!(out.result, Cleanup::Gone), "{:?}", out.result);
    assert_eq!(
        out.events.iter().map(|e| e.reason).collect::<Vec<_>>(),
        vec!["Retained"]
    );
    let live = live_endpoints(&w).await;
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].vpc_endpoint_id(), Some(kept_id.as_str()));
    let keys: Vec<&str> = live[0].tags().iter().filter_map(|t| t.key()).collect();
    // The ownership tag goes; the name stays, so a later object can adopt it knowingly.
    assert!(
        !keys.contains(&"vpcgate.dev/uid") && keys.contains(&"vpcgate.dev/name"),
        "{keys:?}"
    );
    assert!(keys.contains(&"Name"), "{keys:?}");
    assert_eq!(
        pl_routes(&w, &w.net.public_rtb).await.get(&pl),
        Some(&kept_id),
        "routes untouched"
    );
}

#[tokio::test]
async fn emulator_down_is_a_transient_reason() {
    vpcgate::install_crypto_provider();
    // A port nothing listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let log = CallLog::default();
    let engine = Engine::new(
        Arc::new(support::clients(&url, &log).await),
        Some(support::REGION.to_owned()),
    );
    let net = Network {
        vpc: "vpc-12345678".into(),
        public_subnet: "subnet-12345678".into(),
        private_subnet: "subnet-87654321".into(),
        bare_subnet: "subnet-11111111".into(),
        public_rtb: "rtb-12345678".into(),
        private_rtb: "rtb-87654321".into(),
        main_rtb: "rtb-11111111".into(),
    };
    let mut obj = object("dynamodb", UID, spec(&net));
    let out = engine.apply(&obj, Timestamp::now()).await;
    obj.status = Some(out.status.clone());
    let (s, reason, msg) = condition(&obj, "Ready");
    // Never reached AWS: nothing is known, so Unknown rather than a guess.
    assert_eq!((s, reason), ("Unknown", "AwsUnreachable"), "{msg}");
    assert_eq!(condition(&obj, "Synced").1, "AwsUnreachable");
    assert_eq!(out.error.as_ref().map(hint), Some(RequeueHint::Backoff));
    match engine.cleanup(&obj, Timestamp::now()).await.result {
        Cleanup::Failed(e, _) => assert_eq!(e.reason(), "AwsUnreachable"),
        other => panic!("never release the finalizer while AWS cannot be asked: {other:?}"),
    }
}

/// Runs the `vpcgate` binary against the emulator, with fake credentials and no metadata service.
fn vpcgate_cli(url: &str, args: &[&str]) -> std::process::Output {
    vpcgate_cli_as(url, "testing", args)
}

/// [`vpcgate_cli`] signing with another access key (a principal of the emulator's IAM mode).
fn vpcgate_cli_as(url: &str, key: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_vpcgate"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", url)
        .env("AWS_REGION", support::REGION)
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("run vpcgate")
}

#[tokio::test]
async fn cli_plan_changes_nothing_and_probe_reports() {
    let w = world().await;
    let url = w.emulator.url.clone();
    let dir = std::env::temp_dir().join(format!("vpcgate-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = dir.join("gwe.yaml");
    let yaml = format!(
        "apiVersion: vpcgate.dev/v1alpha1\nkind: GatewayEndpoint\nmetadata:\n  name: dynamodb\nspec:\n  vpcId: {}\n  routeTables:\n    subnetIds: [{}, {}]\n",
        w.net.vpc, w.net.public_subnet, w.net.private_subnet
    );
    std::fs::write(&manifest, yaml).unwrap();

    let out = vpcgate_cli(&url, &["plan", "-f", manifest.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("create com.amazonaws.us-east-1.dynamodb endpoint"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&w.net.public_rtb) && stdout.contains(&w.net.private_rtb),
        "{stdout}"
    );
    assert!(live_endpoints(&w).await.is_empty(), "plan changes nothing");

    // Bad input: a clear error on stderr and a non-zero exit.
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "apiVersion: vpcgate.dev/v1alpha1\nkind: GatewayEndpoint\nmetadata:\n  name: x\nspec:\n  vpcId: vpc-0123456789abcdef0\n  routeTables:\n    ids: [rtb-0123456789abcdef0]\n").unwrap();
    let out = vpcgate_cli(&url, &["plan", "-f", bad.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("spec.vpcId") && stderr.contains("vpc-0123456789abcdef0"),
        "{stderr}"
    );
    let out = vpcgate_cli(
        &url,
        &["plan", "-f", dir.join("missing.yaml").to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.yaml"));

    // Probe: a missing table fails with its class, then succeeds once the table exists.
    let out = vpcgate_cli(
        &url,
        &[
            "probe",
            "--region",
            support::REGION,
            "--table",
            "Music",
            "--output",
            "json",
        ],
    );
    assert!(!out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["result"], "TableNotFound");
    create_music_table(&w).await;
    let out = vpcgate_cli(
        &url,
        &[
            "probe",
            "--region",
            support::REGION,
            "--table",
            "Music",
            "--output",
            "json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["result"], "Succeeded");
    assert_eq!(report["operation"], "DescribeTable");
    assert!(report.get("inPrefixList").is_none(), "{report}");
    assert!(report["latency"].as_f64().unwrap() > 0.0);
    let out = vpcgate_cli(&url, &["probe", "--region", support::REGION]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("ListTables") && text.contains("Succeeded"),
        "{text}"
    );

    // The preflight: every action allowed, mutations by DryRun (which the emulator honours).
    let before = live_endpoints(&w).await.len();
    let out = vpcgate_cli(
        &url,
        &["check", "--region", support::REGION, "--output", "json"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Value = serde_json::from_str(&text).unwrap();
    let lines = lines.as_array().unwrap();
    assert_eq!(lines.len(), vpcgate::aws::actions::ACTIONS.len());
    // No endpoint of vpcgate's exists yet: changes to one cannot be dry-run (the policy allows
    // them on no other), which is not a failure.
    let owned_only = [
        "ec2:ModifyVpcEndpoint",
        "ec2:DeleteVpcEndpoints",
        "ec2:CreateTags",
        "ec2:DeleteTags",
    ];
    for l in lines {
        let want = if owned_only.contains(&l["action"].as_str().unwrap()) {
            "notYet"
        } else {
            "allowed"
        };
        assert_eq!(l["verdict"], want, "{l}");
    }
    let out = vpcgate_cli(&url, &["check", "--region", support::REGION]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("not yet  ec2:ModifyVpcEndpoint"), "{text}");
    assert!(text.contains("not determinable yet"), "{text}");
    // Once vpcgate owns an endpoint, every change is dry-run against it and allowed.
    let mut obj = object("dynamodb", UID, quiet_spec(&w.net));
    apply(&w, &mut obj, Timestamp::now()).await;
    let out = vpcgate_cli(
        &url,
        &["check", "--region", support::REGION, "--output", "json"],
    );
    let after: Value = serde_json::from_slice(&out.stdout).unwrap();
    for l in after.as_array().unwrap() {
        assert_eq!(l["verdict"], "allowed", "{l}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l["action"] == "ec2:CreateVpcEndpoint" && l["how"] == "dry run")
    );
    assert_eq!(
        live_endpoints(&w).await.len(),
        before + 1,
        "the preflight changes nothing (the one endpoint is the object's)"
    );
    let out = vpcgate_cli(&url, &["iam-policy"]);
    let policy: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(policy["Version"], "2012-10-17");

    let out = vpcgate_cli(&url, &["crd"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), vpcgate::crd_yaml());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn an_endpoint_is_never_moved_across_vpcs() {
    let w = world().await;
    let mut obj = object("dynamodb", UID, quiet_spec(&w.net));
    let t0 = Timestamp::now();
    apply(&w, &mut obj, t0).await;
    let ep = obj.status.as_ref().unwrap().endpoint_id.clone().unwrap();

    // The API server refuses a vpcId change (CEL transition rule); were it bypassed, the engine
    // still refuses to touch the endpoint from another VPC.
    let other = walkthrough_network(&w.ec2).await;
    edit(&mut obj, |s| {
        s.vpc_id = Some(other.vpc.clone());
        s.route_tables = RouteTableSelector {
            ids: vec![other.public_rtb.clone()],
            ..Default::default()
        };
    });
    w.log.clear();
    let out = apply(&w, &mut obj, later(t0, 10)).await;
    let (s, reason, msg) = condition(&obj, "Ready");
    assert_eq!((s, reason), ("False", "InvalidSpec"));
    assert!(msg.contains(&ep) && msg.contains("spec.vpcId"), "{msg}");
    assert!(w.log.mutations().is_empty(), "{:?}", w.log.mutations());
    assert_eq!(reasons(&out), vec!["InvalidSpec"]);
}

#[tokio::test]
async fn an_endpoint_not_visible_yet_is_found_again_by_its_token() {
    let w = world().await;
    let t0 = Timestamp::now();

    // Describes do not show an endpoint just created (eventual consistency, the emulator's
    // describe lag). The status write of the create was lost: the next pass finds nothing and
    // creates again under the same token, and AWS answers with the same endpoint.
    w.emulator.faults(r#"{"describeLagSeconds": 60}"#);
    let mut lost = object(
        "lost",
        "8c3e2f20-0000-4000-8000-000000000003",
        quiet_spec(&w.net),
    );
    apply(&w, &mut lost, t0).await;
    let l = lost.status.as_ref().unwrap().endpoint_id.clone().unwrap();
    lost.status = None;
    // The next pass cannot see it by tag or id, but its routes are there: settling, not a
    // conflict, and no second create.
    w.log.clear();
    let out = apply(&w, &mut lost, later(t0, 5)).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert!(w.log.mutations().is_empty(), "{:?}", w.log.mutations());
    assert!(out.settling);
    assert_eq!(condition(&lost, "RoutesAssociated").1, "RoutesSettling");
    assert_eq!(live_endpoints_unlagged(&w, &l).await, 1, "no duplicate");
    // Once describes show it, it is ours again.
    w.emulator.faults(r#"{"describeLagSeconds": 0}"#);
    let out = apply(&w, &mut lost, later(t0, 15)).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    let st = lost.status.clone().unwrap();
    assert_eq!(
        st.endpoint_id.as_deref(),
        Some(l.as_str()),
        "the same endpoint"
    );
    assert_eq!(st.recreations, 0);
    assert_eq!(condition(&lost, "Ready").0, "True");
    w.emulator.faults(r#"{"describeLagSeconds": 60}"#);

    // Issue 8, case 2: deleted with its status lost again, while describes still lag: the
    // finalizer is kept; once the endpoint shows, it is deleted and waited for.
    lost.status = None;
    let out = cleanup(&w, &lost, 1).await;
    assert!(
        matches!(&out.result, Cleanup::Pending(waiting) if waiting.is_empty()),
        "{:?}",
        out.result
    );
    w.emulator.faults(r#"{"describeLagSeconds": 0}"#);
    let out = cleanup(&w, &lost, 2).await;
    match &out.result {
        Cleanup::Pending(waiting) => assert_eq!(strings(waiting), [format!("{} (deleting)", l)]),
        other => panic!("{other:?}"),
    }
    let out = cleanup(&w, &lost, 25).await;
    assert!(matches!(out.result, Cleanup::Gone), "{:?}", out.result);
    assert_eq!(support::endpoint_state(&w.ec2, &l).await, "deleted");

    let mut obj = object("dynamodb", UID, quiet_spec(&w.net));
    apply(&w, &mut obj, t0).await;
    let a = obj.status.as_ref().unwrap().endpoint_id.clone().unwrap();

    // The status write was lost and the endpoint deleted since: the token's answer is a
    // deleted endpoint, so a replacement is made under the next token, once.
    w.ec2
        .delete_vpc_endpoints()
        .vpc_endpoint_ids(&a)
        .send()
        .await
        .unwrap();
    let mut blind = obj.clone();
    blind.status.as_mut().unwrap().endpoint_id = None;
    let out = apply(&w, &mut blind, later(t0, 10)).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(reasons(&out), vec!["Recreated", "Created"]);
    let st = blind.status.clone().unwrap();
    assert_eq!(st.recreations, 1);
    assert_ne!(st.endpoint_id.as_deref(), Some(a.as_str()));
    assert_eq!(live_endpoints(&w).await.len(), 1);
    assert_eq!(
        st.routes.as_deref(),
        Some("2/2"),
        "our old endpoint's routes are no conflict"
    );
}

#[tokio::test]
async fn throttled_describes_keep_the_conditions_and_say_so_in_synced() {
    // Issue 8, case 5, end to end: the emulator answers RequestLimitExceeded.
    let w = world().await;
    let mut obj = object("dynamodb", UID, quiet_spec(&w.net));
    let t0 = Timestamp::now();
    apply(&w, &mut obj, t0).await;
    assert_eq!(condition(&obj, "Ready").0, "True");
    let before = obj.status.clone().unwrap();
    w.emulator.faults(
        r#"{"action": "DescribeRouteTables", "code": "RequestLimitExceeded", "count": -1}"#,
    );
    let out = apply(&w, &mut obj, later(t0, 60)).await;
    assert_eq!(out.error.as_ref().map(|e| e.reason()), Some("Throttled"));
    assert_eq!(out.error.as_ref().map(hint), Some(RequeueHint::Backoff));
    for type_ in ["EndpointAvailable", "RoutesAssociated", "Ready"] {
        assert_eq!(condition(&obj, type_).0, "True", "{type_} kept");
    }
    assert_eq!(condition(&obj, "Synced").1, "Throttled");
    let st = obj.status.clone().unwrap();
    assert_eq!(
        (st.endpoint_id, st.state, st.route_tables),
        (before.endpoint_id, before.state, before.route_tables)
    );
    w.emulator
        .faults(r#"{"action": "DescribeRouteTables", "code": "RequestLimitExceeded", "count": 0}"#);
    let out = apply(&w, &mut obj, later(t0, 120)).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(
        condition(&obj, "Synced"),
        ("True", "Reconciled", condition(&obj, "Synced").2)
    );
}

const ROLE_KEY: &str = "AKIAVPCGATEOPERATOR";
const ROLE_ARN: &str = "arn:aws:sts::123456789012:assumed-role/vpcgate/operator";

/// The policy `vpcgate iam-policy` prints (with these args).
fn generated_policy(url: &str, args: &[&str]) -> Value {
    let out = vpcgate_cli(url, &[&["iam-policy"], args].concat());
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

fn is_unauthorized<E: std::fmt::Debug>(r: Result<impl std::fmt::Debug, E>) -> bool {
    matches!(r, Err(e) if format!("{e:?}").contains("UnauthorizedOperation"))
}

/// Under the generated policy (the emulator's IAM mode evaluates it), the operator's role can
/// do what vpcgate does to its own endpoints and nothing to anyone else's: no tagging, modifying
/// or deleting an endpoint without the uid tag, no untagged create, no create outside the
/// allowed VPCs.
#[tokio::test]
async fn the_role_cannot_touch_endpoints_it_does_not_own() {
    let w = world().await;
    let policy = generated_policy(&w.emulator.url, &["--allowed-vpc", &w.net.vpc]);
    w.emulator.iam(ROLE_KEY, ROLE_ARN, &policy);
    let role = aws_sdk_ec2::Client::new(&support::sdk_config_as(&w.emulator.url, ROLE_KEY).await);
    let service = format!("com.amazonaws.{}.dynamodb", support::REGION);

    // Someone else's endpoint, untagged (made with the unrestricted test key).
    let foreign = support::foreign_endpoint(&w.ec2, &w.net.vpc, &w.net.main_rtb).await;
    let uid_tag = aws_sdk_ec2::types::Tag::builder()
        .key("vpcgate.dev/uid")
        .value("someone")
        .build();
    assert!(is_unauthorized(
        role.create_tags()
            .resources(&foreign)
            .tags(uid_tag.clone())
            .send()
            .await
    ));
    assert!(is_unauthorized(
        role.modify_vpc_endpoint()
            .vpc_endpoint_id(&foreign)
            .add_route_table_ids(&w.net.public_rtb)
            .send()
            .await
    ));
    assert!(is_unauthorized(
        role.modify_vpc_endpoint()
            .vpc_endpoint_id(&foreign)
            .reset_policy(true)
            .send()
            .await
    ));
    assert!(is_unauthorized(
        role.delete_vpc_endpoints()
            .vpc_endpoint_ids(&foreign)
            .send()
            .await
    ));
    assert!(is_unauthorized(
        role.delete_tags()
            .resources(&foreign)
            .tags(aws_sdk_ec2::types::Tag::builder().key("Name").build())
            .send()
            .await
    ));
    // No untagged create, even in the allowed VPC.
    assert!(is_unauthorized(
        role.create_vpc_endpoint()
            .vpc_id(&w.net.vpc)
            .service_name(&service)
            .vpc_endpoint_type(aws_sdk_ec2::types::VpcEndpointType::Gateway)
            .route_table_ids(&w.net.public_rtb)
            .send()
            .await
    ));
    // No create outside the allowed VPCs, tagged or not.
    let other = support::create_vpc(&w.ec2, "10.7.0.0/16").await;
    let tagged = aws_sdk_ec2::types::TagSpecification::builder()
        .resource_type(aws_sdk_ec2::types::ResourceType::VpcEndpoint)
        .tags(uid_tag)
        .build();
    assert!(is_unauthorized(
        role.create_vpc_endpoint()
            .vpc_id(&other)
            .service_name(&service)
            .vpc_endpoint_type(aws_sdk_ec2::types::VpcEndpointType::Gateway)
            .tag_specifications(tagged)
            .send()
            .await
    ));
    // Nothing changed: the foreign endpoint is as it was.
    let ep = w
        .ec2
        .describe_vpc_endpoints()
        .vpc_endpoint_ids(&foreign)
        .send()
        .await
        .unwrap();
    let ep = &ep.vpc_endpoints()[0];
    assert!(ep.tags().iter().all(|t| t.key() != Some("vpcgate.dev/uid")));
    assert_eq!(ep.route_table_ids(), std::slice::from_ref(&w.net.main_rtb));
    assert_eq!(ep.state().map(|s| s.as_str()), Some("available"));

    // The engine itself, under the same role: create, edit, delete all work.
    let clients = AwsClients::new(
        support::sdk_config_as(&w.emulator.url, ROLE_KEY).await,
        w.log.observer(),
    );
    let engine = Engine::new(Arc::new(clients), Some(support::REGION.to_owned()));
    let mut obj = object("dynamodb", UID, spec(&w.net));
    let out = engine.apply(&obj, Timestamp::now()).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    obj.status = Some(out.status.clone());
    edit(&mut obj, |s| {
        s.route_tables.subnet_ids = vec![w.net.private_subnet.clone()];
        s.tags = BTreeMap::from([("team".to_owned(), "payments".to_owned())]);
    });
    let out = engine.apply(&obj, Timestamp::now()).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.status.routes.as_deref(), Some("1/1"));
    obj.status = Some(out.status);
    let gone = engine
        .cleanup(&obj, later(Timestamp::now(), 600))
        .await
        .result;
    assert!(
        !matches!(gone, Cleanup::Failed(..)),
        "delete under the policy: {gone:?}"
    );
}

/// `vpcgate check` under the generated policy: "not yet" for changes to an endpoint before one
/// exists (exit 0), all allowed once one does; under a policy missing a statement, DENIED naming
/// that statement (exit 1).
#[tokio::test]
async fn check_gives_the_right_answer_for_the_generated_role() {
    let w = world().await;
    let url = w.emulator.url.clone();
    let policy = generated_policy(&url, &[]);
    w.emulator.iam(ROLE_KEY, ROLE_ARN, &policy);
    let check = |key: &'static str| {
        let url = url.clone();
        move || {
            let out = vpcgate_cli_as(
                &url,
                key,
                &["check", "--region", support::REGION, "--output", "json"],
            );
            let lines: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
            (
                out.status.success(),
                lines,
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    };
    let (ok, lines, err) = check(ROLE_KEY)();
    assert!(ok, "{lines:#}\n{err}");
    let verdicts: BTreeMap<String, String> = lines
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["action"].as_str().unwrap().to_owned(),
                l["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(verdicts["ec2:CreateVpcEndpoint"], "allowed", "{lines:#}");
    assert_eq!(verdicts["ec2:ModifyVpcEndpoint"], "notYet", "{lines:#}");
    assert_eq!(verdicts["dynamodb:DescribeTable"], "allowed", "{lines:#}");

    // An endpoint of vpcgate's appears: every change is dry-run against it, and allowed.
    let mut obj = object("dynamodb", UID, quiet_spec(&w.net));
    apply(&w, &mut obj, Timestamp::now()).await;
    let (ok, lines, err) = check(ROLE_KEY)();
    assert!(ok, "{err}");
    for l in lines.as_array().unwrap() {
        // Egress rules are an opt-in (`--allow-egress-rules`): not granted, not a failure.
        let opt_in = [
            "ec2:AuthorizeSecurityGroupEgress",
            "ec2:RevokeSecurityGroupEgress",
        ]
        .contains(&l["action"].as_str().unwrap());
        assert_eq!(
            l["verdict"],
            if opt_in { "optional" } else { "allowed" },
            "{l}"
        );
    }

    // A role without the ModifyEndpoints statement: denied, and the line names it.
    let mut partial = policy.clone();
    partial["Statement"]
        .as_array_mut()
        .unwrap()
        .retain(|s| s["Sid"] != "ModifyEndpoints");
    w.emulator.iam("AKIAVPCGATEPARTIAL", ROLE_ARN, &partial);
    let (ok, lines, _) = check("AKIAVPCGATEPARTIAL")();
    assert!(!ok, "a missing permission fails the check");
    let modify = lines
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["action"] == "ec2:ModifyVpcEndpoint")
        .unwrap();
    assert_eq!(modify["verdict"], "denied", "{modify}");
    let detail = modify["detail"].as_str().unwrap();
    assert!(detail.contains("ModifyEndpoints"), "{detail}");
    assert!(
        !detail.contains("Encoded authorization failure message"),
        "AWS's encoded message is stripped: {detail}"
    );
}

/// Node discovery's instance lookups: one `DescribeInstances` per 200 ids (the `instance-id`
/// filter, so a terminated instance never fails the batch), counted by the call log.
#[tokio::test]
async fn node_instances_are_described_in_batches() {
    let w = world().await;
    let image = w.ec2.describe_images().send().await.unwrap().images()[0]
        .image_id()
        .unwrap()
        .to_owned();
    // 500 instances over the three /24 subnets.
    let mut ids: Vec<String> = Vec::new();
    for subnet in [
        &w.net.public_subnet,
        &w.net.private_subnet,
        &w.net.bare_subnet,
    ] {
        let out = w
            .ec2
            .run_instances()
            .image_id(&image)
            .min_count(170)
            .max_count(170)
            .subnet_id(subnet)
            .send()
            .await
            .unwrap();
        ids.extend(
            out.instances()
                .iter()
                .filter_map(|i| i.instance_id().map(str::to_owned)),
        );
    }
    assert!(ids.len() >= 500);
    let ec2 = w.clients.sdk_ec2(support::REGION);
    for n in [10, 500] {
        w.log.clear();
        let mut asked = ids[..n].to_vec();
        asked.push("i-0000000000000dead".into());
        let found = ec2.instances(&asked).await.unwrap();
        assert_eq!(found.len(), n, "the unknown id is simply absent");
        assert!(found.iter().all(|i| i.vpc_id == w.net.vpc));
        let calls = w
            .log
            .operations()
            .iter()
            .filter(|op| *op == "DescribeInstances")
            .count();
        println!("discovery: {n} nodes → {calls} DescribeInstances call(s)");
        assert_eq!(calls, (n + 1).div_ceil(200), "{n} nodes");
    }
}

/// Adoption under the generated policies: refused (AdoptionDenied, nothing recorded) without
/// `--allow-adoption`; with it, the uid tag goes on alone first and the endpoint is reconciled.
#[tokio::test]
async fn adoption_works_under_its_opt_in_policy_only() {
    let w = world().await;
    let service = format!("com.amazonaws.{}.dynamodb", support::REGION);
    let clicked = w
        .ec2
        .create_vpc_endpoint()
        .vpc_id(&w.net.vpc)
        .service_name(&service)
        .vpc_endpoint_type(aws_sdk_ec2::types::VpcEndpointType::Gateway)
        .route_table_ids(&w.net.private_rtb)
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::VpcEndpoint)
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key("Name")
                        .value("clicked")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap()
        .vpc_endpoint()
        .unwrap()
        .vpc_endpoint_id()
        .unwrap()
        .to_owned();
    let role = AwsClients::new(
        support::sdk_config_as(&w.emulator.url, ROLE_KEY).await,
        w.log.observer(),
    );
    let engine = Engine::new(Arc::new(role), Some(support::REGION.to_owned()));
    let mut obj = object(
        "dynamodb",
        UID,
        GatewayEndpointSpec {
            adopt: Some("IfUnowned".into()),
            route_tables: RouteTableSelector {
                subnet_ids: vec![w.net.private_subnet.clone()],
                ..Default::default()
            },
            ..quiet_spec(&w.net)
        },
    );
    w.emulator
        .iam(ROLE_KEY, ROLE_ARN, &generated_policy(&w.emulator.url, &[]));
    let out = engine.apply(&obj, Timestamp::now()).await;
    assert_eq!(
        out.error.as_ref().map(|e| e.reason()),
        Some("AdoptionDenied"),
        "{:?}",
        out.error
    );
    assert_eq!(out.status.endpoint_id, None);
    obj.status = Some(out.status);

    w.emulator.iam(
        ROLE_KEY,
        ROLE_ARN,
        &generated_policy(&w.emulator.url, &["--allow-adoption"]),
    );
    let out = engine.apply(&obj, Timestamp::now()).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.status.endpoint_id.as_deref(), Some(clicked.as_str()));
    let tags: BTreeMap<String, String> = w
        .ec2
        .describe_vpc_endpoints()
        .vpc_endpoint_ids(&clicked)
        .send()
        .await
        .unwrap()
        .vpc_endpoints()[0]
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
        .collect();
    assert_eq!(tags.get("vpcgate.dev/uid").map(String::as_str), Some(UID));
    assert_eq!(
        tags.get("vpcgate.dev/name").map(String::as_str),
        Some("dynamodb")
    );
    assert_eq!(live_endpoints(&w).await.len(), 1, "adopted, not created");
}
