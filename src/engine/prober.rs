//! Runs probes off the reconcile worker: one bounded task per object, at most
//! [`MAX_CONCURRENT`] at once, so a slow or unreachable DynamoDB never delays creates and
//! deletes. A finished probe is kept until the object's next pass picks it up, and asks for that
//! pass through the notifier the controller installs.
//!
//! Written by hand rather than with a task-pool crate: it is a map of join handles and one
//! semaphore, and the bookkeeping (one task per uid, results kept per uid) is the whole job.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tracing::debug;

use super::desired::ProbePlan;
use crate::aws::probe::{ProbeReport, ProbeRequest, ProbeResult};
use crate::aws::{Cloud, Placement};

/// Probes running at once, process-wide.
pub const MAX_CONCURRENT: usize = 16;
/// Budget for finding where the probe runs (two EC2 describes), on top of the probe's timeout.
const LOCATE_BUDGET: Duration = Duration::from_secs(10);

/// Where the operator's probes leave from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOrigin {
    /// The EC2 instance of the operator's node (`NODE_NAME` → `spec.providerID`).
    Instance(String),
    /// Not known, and why (e.g. `NODE_NAME is not set`).
    Unknown(String),
}

/// One probe to run.
#[derive(Debug, Clone)]
pub struct ProbeJob {
    pub uid: String,
    pub name: String,
    pub region: String,
    pub vpc_id: String,
    /// The route tables the object selects.
    pub selected: BTreeSet<String>,
    pub plan: ProbePlan,
    /// The pass's time when the probe was due: what status reports as the probe's time.
    pub started: jiff::Timestamp,
}

/// Where a probe ran from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    pub subnet_id: Option<String>,
    pub vpc_id: Option<String>,
    pub route_table_id: Option<String>,
    /// Whether that route table is one the object selects (`None`: location unknown).
    pub selected: Option<bool>,
    /// Why the location is unknown.
    pub unknown: Option<String>,
}

/// A probe that finished.
#[derive(Debug, Clone)]
pub struct Finished {
    pub at: jiff::Timestamp,
    pub report: ProbeReport,
    pub location: Location,
}

/// Called with an object's name when its probe finished.
pub type Notify = Arc<dyn Fn(&str) + Send + Sync>;

enum Slot {
    Running(tokio::task::JoinHandle<()>),
    Done(Box<Finished>),
}

/// The probe runner shared by every pass.
pub struct Prober {
    cloud: Arc<dyn Cloud>,
    origin: ProbeOrigin,
    slots: Mutex<HashMap<String, Slot>>,
    placements: Mutex<HashMap<(String, String), Placement>>,
    notify: Mutex<Option<Notify>>,
    /// When each object's last reported probe ran (status may keep an older `lastTime`: see
    /// [`super::probe::HEARTBEAT`]).
    ran: Mutex<HashMap<String, jiff::Timestamp>>,
    limit: Arc<Semaphore>,
    idle: tokio::sync::Notify,
}

impl Prober {
    pub fn new(cloud: Arc<dyn Cloud>, origin: ProbeOrigin) -> Arc<Self> {
        Arc::new(Prober {
            cloud,
            origin,
            slots: Mutex::default(),
            placements: Mutex::default(),
            notify: Mutex::default(),
            ran: Mutex::default(),
            limit: Arc::new(Semaphore::new(MAX_CONCURRENT)),
            idle: tokio::sync::Notify::new(),
        })
    }

    /// The longest a probe task may run: finding the location, the canary and the read.
    pub fn bound(plan: &ProbePlan) -> Duration {
        LOCATE_BUDGET + plan.timeout * 2
    }

    /// Installs what to call when a probe finished (the controller: reconcile that object).
    pub fn set_notify(&self, f: Notify) {
        *lock(&self.notify) = Some(f);
    }

    /// Starts a probe for the job's object unless one is running or waiting to be reported.
    pub fn start(self: &Arc<Self>, job: ProbeJob) {
        let mut slots = lock(&self.slots);
        if slots.contains_key(&job.uid) {
            return;
        }
        let me = self.clone();
        let uid = job.uid.clone();
        let handle = tokio::spawn(async move {
            let Ok(_permit) = me.limit.clone().acquire_owned().await else {
                return;
            };
            let bound = Prober::bound(&job.plan);
            let done = match tokio::time::timeout(bound, me.run(&job)).await {
                Ok(done) => done,
                Err(_) => Finished {
                    at: job.started,
                    report: ProbeReport {
                        result: ProbeResult::Timeout,
                        operation: "DescribeTable".into(),
                        host: String::new(),
                        addresses: Vec::new(),
                        canary: None,
                        latency: None,
                        message: Some(format!("the probe did not finish within {bound:?}")),
                    },
                    location: Location::default(),
                },
            };
            debug!(object = %job.name, result = done.report.result.as_str(), "probe finished");
            let notify = {
                let mut slots = lock(&me.slots);
                // Forgotten meanwhile (object deleted, probing turned off): drop the result.
                if !matches!(slots.get(&job.uid), Some(Slot::Running(_))) {
                    drop(slots);
                    me.idle.notify_waiters();
                    return;
                }
                slots.insert(job.uid.clone(), Slot::Done(Box::new(done)));
                lock(&me.notify).clone()
            };
            me.idle.notify_waiters();
            if let Some(f) = notify {
                f(&job.name);
            }
        });
        slots.insert(uid, Slot::Running(handle));
    }

    /// The finished probe of an object, once.
    pub fn take(&self, uid: &str) -> Option<Finished> {
        let mut slots = lock(&self.slots);
        match slots.remove(uid) {
            Some(Slot::Done(done)) => {
                lock(&self.ran).insert(uid.to_owned(), done.at);
                Some(*done)
            }
            Some(running) => {
                slots.insert(uid.to_owned(), running);
                None
            }
            None => None,
        }
    }

    /// Stops and forgets an object's probe (deleted, or probing turned off).
    pub fn forget(&self, uid: &str) {
        lock(&self.ran).remove(uid);
        if let Some(Slot::Running(handle)) = lock(&self.slots).remove(uid) {
            handle.abort();
        }
    }

    /// When the object's last reported probe ran, in this process.
    pub fn last_ran(&self, uid: &str) -> Option<jiff::Timestamp> {
        lock(&self.ran).get(uid).copied()
    }

    /// Whether a finished probe waits to be reported for the object.
    pub fn done(&self, uid: &str) -> bool {
        matches!(lock(&self.slots).get(uid), Some(Slot::Done(_)))
    }

    /// Whether an object's probe is running.
    pub fn running(&self, uid: &str) -> bool {
        matches!(lock(&self.slots).get(uid), Some(Slot::Running(_)))
    }

    /// Waits until the object's probe is no longer running (tests).
    pub async fn finished(&self, uid: &str) {
        loop {
            let wait = self.idle.notified();
            if !self.running(uid) {
                return;
            }
            wait.await;
        }
    }

    async fn run(&self, job: &ProbeJob) -> Finished {
        let location = self.locate(job).await;
        let report = self
            .cloud
            .probe(
                &job.region,
                &ProbeRequest {
                    canary: job.plan.canary.as_deref(),
                    table: job.plan.table.as_deref(),
                    timeout: job.plan.timeout,
                },
            )
            .await;
        Finished {
            at: job.started,
            report,
            location,
        }
    }

    /// Where the probe runs: the node's instance → subnet → that subnet's route table.
    async fn locate(&self, job: &ProbeJob) -> Location {
        let instance = match &self.origin {
            ProbeOrigin::Instance(id) => id,
            ProbeOrigin::Unknown(why) => {
                return Location {
                    unknown: Some(why.clone()),
                    ..Default::default()
                };
            }
        };
        let ec2 = self.cloud.ec2(&job.region);
        let key = (job.region.clone(), instance.clone());
        let cached = lock(&self.placements).get(&key).cloned();
        let placement = match cached {
            Some(p) => p,
            None => match ec2.instance_placement(instance).await {
                Ok(Some(p)) => {
                    lock(&self.placements).insert(key, p.clone());
                    p
                }
                Ok(None) => {
                    return Location {
                        unknown: Some(format!(
                            "instance {instance} (the operator's node) is not in {}",
                            job.region
                        )),
                        ..Default::default()
                    };
                }
                Err(e) => {
                    return Location {
                        unknown: Some(format!("cannot describe the operator's instance: {e}")),
                        ..Default::default()
                    };
                }
            },
        };
        let mut at = Location {
            subnet_id: Some(placement.subnet_id.clone()),
            vpc_id: Some(placement.vpc_id.clone()),
            ..Default::default()
        };
        if placement.vpc_id != job.vpc_id {
            // Another VPC: none of the object's route tables can be on the path.
            at.selected = Some(false);
        }
        match ec2
            .subnet_route_table(&placement.vpc_id, &placement.subnet_id)
            .await
        {
            Ok(Some(table)) => {
                at.selected = Some(placement.vpc_id == job.vpc_id && job.selected.contains(&table));
                at.route_table_id = Some(table);
            }
            Ok(None) => {
                at.unknown = Some(format!("subnet {} has no route table", placement.subnet_id))
            }
            Err(e) => at.unknown = Some(format!("cannot find the subnet's route table: {e}")),
        }
        at
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
