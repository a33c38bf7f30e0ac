//! `vpcgate run`: the HTTP endpoints, the CRD check, the AWS clients, the engine, and the
//! kube-runtime controller, under leader election or not, until SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::runtime::events::Reporter;
use kube::runtime::utils::{Predicate, predicates};
use kube::runtime::{Controller, WatchStreamExt, reflector, watcher};
use tokio::sync::watch;
use tracing::{info, warn};

use super::{leader, reconcile};
use crate::api::GatewayEndpoint;
use crate::aws::AwsClients;
use crate::engine::Engine;
use crate::engine::discovery::ClusterNodes;
use crate::engine::discovery::aws_provider_id;
use crate::engine::prober::ProbeOrigin;
use crate::metrics::Metrics;
use crate::readiness::Readiness;
use k8s_openapi::api::core::v1::Node;

/// Settings of `vpcgate run`.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Region for objects without `spec.region` (else the SDK's default chain decides).
    pub region: Option<String>,
    pub resync: Duration,
    pub concurrency: u16,
    pub metrics_addr: SocketAddr,
    pub leader_election: bool,
    pub lease_namespace: String,
    pub lease_name: String,
    pub lease_duration: Duration,
    /// How long the watch may fail before `/readyz` says not ready.
    pub watch_unhealthy_after: Duration,
    /// How long cleanup waits out EC2's describe lag before trusting "nothing found".
    pub describe_lag: Duration,
    /// How long after a change a failing probe path is not trusted yet.
    pub path_settle: Duration,
    /// This replica's name in the lease and in events.
    pub identity: String,
    /// VPCs the operator may change; empty: any.
    pub allowed_vpcs: Vec<String>,
    /// The node this pod runs on: where probes leave from.
    pub node_name: Option<String>,
    /// How long one read of a VPC is shared between objects.
    pub aws_view_ttl: Duration,
    /// The budget for endpoint mutations.
    pub pacing: crate::aws::pacing::PaceConfig,
}

/// Why `vpcgate run` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot build a Kubernetes client: {0}")]
    Client(#[source] kube::Error),
    #[error(
        "the GatewayEndpoint CRD (gatewayendpoints.vpcgate.dev) is not installed: run `vpcgate crd | kubectl apply -f -` or install the Helm chart"
    )]
    CrdMissing,
    #[error("cannot list GatewayEndpoints: {0}")]
    List(#[source] kube::Error),
    #[error("cannot serve metrics on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("leader election: {0}")]
    Lease(#[source] kube_lease_manager::LeaseManagerError),
    #[error("lost the leader lease; exiting so a restart rejoins the election")]
    LeadershipLost,
}

/// Resolves when SIGTERM or SIGINT arrives.
async fn termination() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the operator");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => info!("SIGTERM: finishing in-flight reconciles"),
        _ = tokio::signal::ctrl_c() => info!("SIGINT: finishing in-flight reconciles"),
    }
}

/// Where probes leave from: the EC2 instance behind this pod's node (`spec.providerID`).
async fn probe_origin(client: &kube::Client, node: Option<&str>) -> ProbeOrigin {
    let Some(node) = node else {
        return ProbeOrigin::Unknown(
            "the operator's node is not known (NODE_NAME is not set)".into(),
        );
    };
    let nodes: Api<Node> = Api::all(client.clone());
    match nodes.get(node).await {
        Ok(n) => {
            let provider = n.spec.and_then(|s| s.provider_id).unwrap_or_default();
            match aws_provider_id(&provider) {
                Some((_, id)) => ProbeOrigin::Instance(id),
                None => ProbeOrigin::Unknown(format!(
                    "node {node} is not an EC2 instance (providerID {provider:?})"
                )),
            }
        }
        Err(e) => ProbeOrigin::Unknown(format!("cannot read node {node}: {e}")),
    }
}

/// Waits until `rx` holds `true`.
pub(crate) async fn wait_true(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

/// Runs the operator until SIGTERM/SIGINT (Ok) or a fatal error.
pub async fn run(cfg: RunConfig) -> Result<(), RunError> {
    let client = kube::Client::try_default()
        .await
        .map_err(RunError::Client)?;
    let metrics = Arc::new(Metrics::new());
    let ready = Arc::new(Readiness::new(cfg.watch_unhealthy_after));

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        termination().await;
        let _ = stop_tx.send(true);
    });

    let server = {
        let mut rx = stop_rx.clone();
        crate::server::bind(
            cfg.metrics_addr,
            metrics.clone(),
            ready.clone(),
            async move { wait_true(&mut rx).await },
        )
        .await
        .map_err(|source| RunError::Bind {
            addr: cfg.metrics_addr,
            source,
        })?
    };
    let server = tokio::spawn(server);

    // The CRD must be there; the first list doubles as the readiness check.
    let api: Api<GatewayEndpoint> = Api::all(client.clone());
    match api.list(&ListParams::default().limit(1)).await {
        Ok(_) => ready.listed(),
        Err(kube::Error::Api(s)) if s.code == 404 => return Err(RunError::CrdMissing),
        Err(e) => return Err(RunError::List(e)),
    }

    let clients = AwsClients::from_env(metrics.aws_observer())
        .await
        .with_view_ttl(cfg.aws_view_ttl);
    let region = cfg.region.clone().or_else(|| clients.default_region());
    match &region {
        Some(r) => info!(region = %r, "default AWS region"),
        None => warn!("no default AWS region: every GatewayEndpoint must set spec.region"),
    }
    if !cfg.allowed_vpcs.is_empty() {
        info!(vpcs = %cfg.allowed_vpcs.join(","), "only these VPCs may be changed");
    }
    let origin = probe_origin(&client, cfg.node_name.as_deref()).await;
    match &origin {
        ProbeOrigin::Instance(id) => info!(instance = %id, "probes run from this node's instance"),
        ProbeOrigin::Unknown(why) => {
            warn!(reason = %why, "the probe's subnet is unknown; paths from it are Unverified")
        }
    }
    let cloud: Arc<dyn crate::aws::Cloud> = Arc::new(clients);
    let (nodes_tx, nodes_rx) = watch::channel(ClusterNodes::default());
    let engine = Engine::new(cloud.clone(), region.clone())
        .with_cluster_nodes(nodes_rx)
        .with_describe_lag(cfg.describe_lag)
        .with_path_settle(cfg.path_settle)
        .with_allowed_vpcs(cfg.allowed_vpcs.clone())
        .with_pacing(cfg.pacing)
        .with_resync(cfg.resync)
        .with_probe_origin(origin);
    let events = super::events::Events::new(
        client.clone(),
        Reporter {
            controller: "vpcgate".into(),
            instance: Some(cfg.identity.clone()),
        },
    );
    let ctx = Arc::new(reconcile::Context::new(
        client.clone(),
        engine,
        events,
        metrics,
        cfg.resync,
        ready.clone(),
    ));
    *ctx.discovery.lock().unwrap_or_else(|e| e.into_inner()) = Some(super::nodes::Discovery {
        cloud,
        default_region: region,
        view: nodes_tx,
    });

    let result = if cfg.leader_election {
        leader::run_as_leader(&cfg, client, api, ctx, stop_rx.clone()).await
    } else {
        let mut rx = stop_rx.clone();
        run_controller(api, ctx, cfg.concurrency, async move {
            wait_true(&mut rx).await
        })
        .await;
        Ok(())
    };
    // Stop serving too (on an error exit the signal never came).
    drop(stop_rx);
    server.abort();
    let _ = server.await;
    result
}

/// The kube-runtime controller on `GatewayEndpoint`: status-only changes do not trigger it
/// (generation + finalizer predicate), so writing status never makes it call itself.
pub(crate) async fn run_controller(
    api: Api<GatewayEndpoint>,
    ctx: Arc<reconcile::Context>,
    concurrency: u16,
    stop: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let (reader, writer) = reflector::store();
    let trigger = predicates::generation.combine(predicates::finalizers);
    let ready = ctx.readiness.clone();
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        // A failing watch (RBAC revoked, CRD removed) must be loud and show on /readyz.
        .inspect(move |event| match event {
            // `Init` comes before the list call: it proves nothing about the API server.
            Ok(watcher::Event::Init) => {}
            Ok(_) => ready.watch_ok(),
            Err(e) => {
                warn!(error = %e, "the GatewayEndpoint watch failed; retrying with backoff");
                ready.watch_failed();
            }
        })
        .reflect(writer)
        .applied_objects()
        .predicate_filter(trigger, Default::default());
    // Objects whose probe finished are reconciled so the result reaches status.
    let probe_done = ctx
        .take_probe_done()
        .map(|rx| {
            rx.map(|name| kube::runtime::reflector::ObjectRef::<GatewayEndpoint>::new(&name))
                .boxed()
        })
        .unwrap_or_else(|| futures::stream::empty().boxed());
    // Fairness reads the cache: who still waits for a first pass.
    let _ = ctx.objects.set(reader.clone());
    // Adoption never takes an endpoint that a live GatewayEndpoint owns.
    let live = reader.clone();
    ctx.engine.set_live_uids(Arc::new(move || {
        live.state()
            .iter()
            .filter_map(|o| o.metadata.uid.clone())
            .collect()
    }));
    // Node discovery runs while this replica controls (it reconciles objects on node changes).
    let discovery = ctx
        .discovery
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .map(|d| {
            let (objects, trigger) = (reader.clone(), ctx.clone());
            // Every object: those that use the nodes re-resolve, the others' coverage marks
            // the node subnets anew (one pass each, debounced).
            let on_change: super::nodes::OnChange = Box::new(move || {
                for o in objects.state() {
                    trigger.reconcile_soon(&o.name_any());
                }
            });
            tokio::spawn(super::nodes::run(
                ctx.client.clone(),
                d,
                on_change,
                std::future::pending::<()>(),
            ))
        });
    Controller::for_stream(stream, reader)
        .reconcile_on(probe_done)
        .with_config(kube::runtime::controller::Config::default().concurrency(concurrency))
        .graceful_shutdown_on(stop)
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(|res| async move {
            match res {
                Ok((obj, _)) => tracing::debug!(object = %obj.name, "reconciled"),
                // Reconcile failures are logged by the error policy; anything else is news.
                Err(kube::runtime::controller::Error::ReconcilerFailed(e, _)) => {
                    tracing::debug!(error = %e, "reconcile failed")
                }
                Err(e) => warn!(error = %e, "controller"),
            }
        })
        .await;
    if let Some(d) = discovery {
        d.abort();
    }
    info!("controller stopped");
}
