//! Every engine branch against the in-memory EC2 ([`crate::aws::fake`]): the fixtures here
//! (an object builder and an engine on a fake account), the traced defects of the engine-v2
//! issue in `defects` (each failing before its fix), everyday behaviour in `behaviour`, the
//! probe's path in `probe_path`, `spec.adopt` in `adoption`.

mod adoption;
mod behaviour;
mod defects;
mod probe_path;
mod scale;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{Cleanup, Engine, Outcome};
use crate::api::{GatewayEndpoint, GatewayEndpointSpec, ProbeSpec, RouteTableSelector};
use crate::aws::fake::{FakeCloud, FakeEc2};

pub(super) const UID: &str = "0c6a3f4e-1111-2222-3333-444455556666";

/// A `GatewayEndpoint` as the API server would hand it over; `.with(...)` edits the spec.
pub(super) struct Obj(GatewayEndpoint);

impl Obj {
    pub(super) fn on(tables: &[&str]) -> Self {
        let spec = GatewayEndpointSpec {
            region: Some("eu-west-1".into()),
            vpc_id: Some("vpc-1".into()),
            route_tables: RouteTableSelector {
                ids: tables.iter().map(|t| t.to_string()).collect(),
                ..Default::default()
            },
            probe: Some(ProbeSpec {
                enabled: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut o = GatewayEndpoint::new("ddb", spec);
        o.metadata.uid = Some(UID.into());
        o.metadata.generation = Some(1);
        Obj(o)
    }

    pub(super) fn with(mut self, f: impl FnOnce(&mut GatewayEndpointSpec)) -> Self {
        f(&mut self.0.spec);
        self.0.metadata.generation = Some(self.0.metadata.generation.unwrap_or(0) + 1);
        self
    }

    pub(super) fn edit(&mut self, f: impl FnOnce(&mut GatewayEndpointSpec)) {
        f(&mut self.0.spec);
        self.0.metadata.generation = Some(self.0.metadata.generation.unwrap_or(0) + 1);
    }

    pub(super) fn condition(&self, type_: &str) -> (String, String) {
        let c = self
            .0
            .status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == type_))
            .unwrap_or_else(|| panic!("no {type_} condition"));
        (c.status.clone(), c.reason.clone())
    }

    pub(super) fn status(&self) -> &crate::api::GatewayEndpointStatus {
        self.0.status.as_ref().expect("a pass ran")
    }

    pub(super) fn endpoint_id(&self) -> String {
        self.status().endpoint_id.clone().expect("an endpoint")
    }
}

pub(super) struct Env {
    pub(super) aws: FakeEc2,
    pub(super) cloud: FakeCloud,
    pub(super) engine: Engine,
    pub(super) now: jiff::Timestamp,
}

impl Env {
    pub(super) fn new(tables: &[&str]) -> Self {
        let aws = FakeEc2::with_tables(tables);
        let cloud = FakeCloud::new(aws.clone());
        Env {
            engine: Engine::new(Arc::new(cloud.clone()), None)
                .with_describe_lag(Duration::from_secs(20)),
            aws,
            cloud,
            now: jiff::Timestamp::from_second(1_800_000_000).unwrap(),
        }
    }

    /// One pass; its status is stored on the object as the controller would. A probe the pass
    /// started (off the worker) is awaited and reported by a second pass at the same time, as
    /// the controller's probe-finished trigger does; the events of both are returned.
    pub(super) async fn pass(&mut self, obj: &mut Obj) -> Outcome {
        let mut out = self.pass_once(obj).await;
        let uid = obj.0.metadata.uid.clone().unwrap_or_default();
        if self.engine.prober().running(&uid) {
            self.engine.prober().finished(&uid).await;
            let first = std::mem::take(&mut out.events);
            out = self.engine.apply(&obj.0, self.now).await;
            obj.0.status = Some(out.status.clone());
            out.events = [first, std::mem::take(&mut out.events)].concat();
        }
        out
    }

    /// One pass, without waiting for a probe it may have started.
    pub(super) async fn pass_once(&mut self, obj: &mut Obj) -> Outcome {
        self.now += Duration::from_secs(1);
        let out = self.engine.apply(&obj.0, self.now).await;
        obj.0.status = Some(out.status.clone());
        out
    }

    /// A cleanup pass, `since` after deletion was requested.
    pub(super) async fn cleanup(&mut self, obj: &mut Obj, since: u64) -> Cleanup {
        let asked = self.now;
        obj.0.metadata.deletion_timestamp = Some(Time(asked));
        self.engine
            .cleanup(&obj.0, asked + Duration::from_secs(since))
            .await
            .result
    }
}

/// What a deletion waits for, as its status message shows it.
pub(super) fn strings(waiting: &[super::cleanup::Waiting]) -> Vec<String> {
    waiting.iter().map(ToString::to_string).collect()
}

pub(super) fn mutations(calls: &[&'static str]) -> Vec<&'static str> {
    calls
        .iter()
        .copied()
        .filter(|c| !c.starts_with("Describe"))
        .collect()
}

pub(super) fn reasons_of(out: &Outcome) -> Vec<&'static str> {
    out.events.iter().map(|e| e.reason).collect()
}
