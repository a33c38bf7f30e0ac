//! Leader election: campaign for the Lease, reconcile only while holding it, and stop as soon as
//! this replica can no longer be sure it holds it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kube::api::Api;
use tokio::sync::watch;
use tracing::{error, info, warn};

use super::reconcile;
use super::run::{RunConfig, RunError, run_controller, wait_true};
use crate::api::GatewayEndpoint;

/// Campaigns for the lease; reconciles only while holding it.
pub(crate) async fn run_as_leader(
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
