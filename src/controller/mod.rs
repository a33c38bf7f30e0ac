//! Reconciling `GatewayEndpoint` objects: the pure decisions (`desired`, `plan`, `policy`,
//! `status`, `requeue`), the engine that runs them against AWS (`engine`), the Kubernetes side
//! of a pass (`reconcile`), and [`run`], which wires the controller, the HTTP endpoints and
//! leader election together.

pub mod desired;
pub mod engine;
pub mod plan;
pub mod policy;
pub mod reconcile;
pub mod requeue;
pub mod status;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, ListParams};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::utils::{Predicate, predicates};
use kube::runtime::{Controller, WatchStreamExt, reflector, watcher};
use tokio::sync::watch;
use tracing::{error, info, warn};

pub use engine::{CleanupOutcome, Engine, EngineEvent, EventType, Observation, Outcome};

use crate::api::GatewayEndpoint;
use crate::aws::AwsClients;
use crate::metrics::Metrics;

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
    /// This replica's name in the lease and in events.
    pub identity: String,
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

/// Waits until `rx` holds `true`.
async fn wait_true(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

/// Runs the operator until SIGTERM/SIGINT (Ok) or a fatal error.
pub async fn run(cfg: RunConfig) -> Result<(), RunError> {
    let client = kube::Client::try_default()
        .await
        .map_err(RunError::Client)?;
    let metrics = Arc::new(Metrics::new());
    let ready = Arc::new(AtomicBool::new(false));

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
        Ok(_) => ready.store(true, Ordering::Relaxed),
        Err(kube::Error::Api(s)) if s.code == 404 => return Err(RunError::CrdMissing),
        Err(e) => return Err(RunError::List(e)),
    }

    let clients = AwsClients::from_env(metrics.aws_observer()).await;
    let region = cfg.region.clone().or_else(|| clients.default_region());
    match &region {
        Some(r) => info!(region = %r, "default AWS region"),
        None => warn!("no default AWS region: every GatewayEndpoint must set spec.region"),
    }
    let engine = Engine::new(clients, region);
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "vpcgate".into(),
            instance: Some(cfg.identity.clone()),
        },
    );
    let ctx = Arc::new(reconcile::Context::new(
        client.clone(),
        engine,
        recorder,
        metrics,
        cfg.resync,
    ));

    let result = if cfg.leader_election {
        run_as_leader(&cfg, client, api, ctx, stop_rx.clone()).await
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

/// Campaigns for the lease; reconciles only while holding it.
async fn run_as_leader(
    cfg: &RunConfig,
    client: kube::Client,
    api: Api<GatewayEndpoint>,
    ctx: Arc<reconcile::Context>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), RunError> {
    let secs = cfg.lease_duration.as_secs().max(2);
    let client_for_watchdog = client.clone();
    let manager = kube_lease_manager::LeaseManagerBuilder::new(client, &cfg.lease_name)
        .with_namespace(&cfg.lease_namespace)
        .with_identity(&cfg.identity)
        .with_duration(secs)
        .with_grace((secs / 3).max(1))
        .with_field_manager("vpcgate")
        .build()
        .await
        .map_err(RunError::Lease)?;
    let (mut leader, task) = manager.watch().await;
    info!(lease = %cfg.lease_name, namespace = %cfg.lease_namespace, identity = %cfg.identity, "waiting for leadership");
    let became_leader = tokio::select! {
        _ = wait_true(&mut stop) => None,
        r = leader.wait_for(|l| *l) => Some(r.is_ok()),
    };
    match became_leader {
        None => {
            drop(leader);
            let _ = task.await;
            return Ok(());
        }
        // The lease task ended before we ever led: say why instead of exiting quietly.
        Some(false) => {
            return Err(match task.await {
                Ok(Err(e)) => RunError::Lease(e),
                _ => RunError::LeadershipLost,
            });
        }
        Some(true) => {}
    }
    info!(identity = %cfg.identity, "became leader");
    let lost = Arc::new(AtomicBool::new(false));
    let lost_flag = lost.clone();
    let mut leader_rx = leader.clone();
    let (doubt_tx, mut doubt_rx) = watch::channel(false);
    let watchdog = tokio::spawn({
        let leases = Api::namespaced(client_for_watchdog, &cfg.lease_namespace);
        let (name, identity) = (cfg.lease_name.clone(), cfg.identity.clone());
        async move {
            lease_watchdog(leases, name, identity, Duration::from_secs(secs)).await;
            let _ = doubt_tx.send(true);
        }
    });
    let stop_on = async move {
        tokio::select! {
            _ = wait_true(&mut stop) => {}
            _ = leader_rx.wait_for(|l| !*l) => lost_flag.store(true, Ordering::Relaxed),
            _ = wait_true(&mut doubt_rx) => lost_flag.store(true, Ordering::Relaxed),
        }
    };
    run_controller(api, ctx, cfg.concurrency, stop_on).await;
    watchdog.abort();
    // Closing the channel makes the lease task release the lock.
    drop(leader);
    match task.await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => warn!(error = %e, "releasing the lease failed"),
        Err(e) => warn!(error = %e, "lease task failed"),
    }
    if lost.load(Ordering::Relaxed) {
        error!("leadership lost");
        return Err(RunError::LeadershipLost);
    }
    Ok(())
}

/// Resolves when this replica can no longer be sure it holds the lease: the Lease names another
/// holder, is gone, or could not be read for a whole lease duration (e.g. cut off from the API
/// server, when another replica may already have taken over). The lease crate itself only logs
/// failed renewals, so without this a partitioned leader would keep acting.
async fn lease_watchdog(
    leases: Api<k8s_openapi::api::coordination::v1::Lease>,
    name: String,
    identity: String,
    duration: Duration,
) {
    let every = (duration / 3).max(Duration::from_secs(1));
    let mut confirmed = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(every).await;
        match leases.get_opt(&name).await {
            Ok(Some(lease)) => {
                let holder = lease.spec.and_then(|s| s.holder_identity);
                if holder.as_deref() != Some(identity.as_str()) {
                    warn!(holder = ?holder, "the lease names another holder");
                    return;
                }
                confirmed = tokio::time::Instant::now();
            }
            Ok(None) => {
                warn!("the lease is gone");
                return;
            }
            Err(e) if confirmed.elapsed() >= duration => {
                warn!(error = %e, "could not confirm the lease for a whole lease duration");
                return;
            }
            Err(_) => {}
        }
    }
}

/// The kube-runtime controller on `GatewayEndpoint`: status-only changes do not trigger it
/// (generation + finalizer predicate), so writing status never makes it call itself.
async fn run_controller(
    api: Api<GatewayEndpoint>,
    ctx: Arc<reconcile::Context>,
    concurrency: u16,
    stop: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let (reader, writer) = reflector::store();
    let trigger = predicates::generation.combine(predicates::finalizers);
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .predicate_filter(trigger, Default::default());
    Controller::for_stream(stream, reader)
        .with_config(kube::runtime::controller::Config::default().concurrency(concurrency))
        .graceful_shutdown_on(stop)
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(|res| async move {
            match res {
                Ok((obj, _)) => tracing::debug!(object = %obj.name, "reconciled"),
                Err(e) => tracing::debug!(error = %e, "controller"),
            }
        })
        .await;
    info!("controller stopped");
}
