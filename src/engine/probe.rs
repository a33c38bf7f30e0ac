//! The probe step: start the probe when it is due (it runs off the reconcile worker, see
//! [`super::prober`]), and turn a finished probe into status and an event when the outcome
//! flips. The verdict on the path is a pure function of the canary's answer and where the probe
//! ran from.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::conditions::bypasses_endpoint;
use super::desired::ProbePlan;
use super::events::{self, EngineEvent};
use super::prober::{Finished, Location, ProbeJob, Prober};
use crate::api::{ProbePath, ProbeResult, ProbeStatus};
use crate::aws::probe::{Canary, format_latency};

/// What the probe step established.
#[derive(Debug, Clone, Default)]
pub struct Probed {
    /// The probe status to report (the previous one when no probe finished).
    pub status: Option<ProbeStatus>,
    /// Time until this object should be looked at again for its probe; `None` when probing is
    /// off.
    pub next: Option<Duration>,
    /// Latency of a probe that finished and succeeded since the last pass.
    pub latency: Option<Duration>,
    pub event: Option<EngineEvent>,
}

/// When the next probe is due: `None` now, else how long from `now`. `last` is when the last
/// probe ran.
pub fn wait_until_due(
    plan: &ProbePlan,
    last: Option<jiff::Timestamp>,
    now: jiff::Timestamp,
) -> Option<Duration> {
    let elapsed = now.duration_since(last?).unsigned_abs();
    (elapsed < plan.interval).then(|| plan.interval - elapsed)
}

/// How long status keeps the time of an earlier probe whose findings are the same: one status
/// write per object per this long in a steady world, not one per probe (every probe still
/// lands in the metrics).
pub const HEARTBEAT: Duration = Duration::from_secs(600);

/// Whether a new probe status is news: its findings differ from `prev` (result, path, where it
/// ran, the messages, the latency's bucket), or `prev` is a heartbeat old. Pure.
pub fn worth_writing(prev: &ProbeStatus, new: &ProbeStatus) -> bool {
    let old = |p: &ProbeStatus| p.last_time.as_ref().map(|t| t.0);
    let aged = match (old(prev), old(new)) {
        (Some(a), Some(b)) => super::elapsed(a, b) >= HEARTBEAT,
        _ => true,
    };
    aged || prev.result != new.result
        || prev.path != new.path
        || prev.path_message != new.path_message
        || prev.subnet_id != new.subnet_id
        || prev.route_table_id != new.route_table_id
        || prev.route_table_selected != new.route_table_selected
        || prev.operation != new.operation
        || prev.message != new.message
        || latency_bucket(prev.latency.as_deref()) != latency_bucket(new.latency.as_deref())
}

/// The bucket of a reported latency (`12ms`, `1.3s`): fast (under 100ms), slow (under 500ms),
/// very slow (under 2s), or worse. A change of bucket is news; jitter within one is not (a busy
/// node easily doubles a 20ms round trip, which is no news about the endpoint).
pub fn latency_bucket(latency: Option<&str>) -> Option<usize> {
    const EDGES_MS: [f64; 3] = [100.0, 500.0, 2000.0];
    let text = latency?;
    let ms = match text.strip_suffix("ms") {
        Some(ms) => ms.parse::<f64>().ok()?,
        None => text.strip_suffix('s')?.parse::<f64>().ok()? * 1000.0,
    };
    Some(EDGES_MS.iter().filter(|edge| ms >= **edge).count())
}

/// The object the probe step works for.
pub struct Subject<'a> {
    pub uid: &'a str,
    pub name: &'a str,
    pub region: &'a str,
    pub vpc_id: &'a str,
    /// The route tables the object selects.
    pub selected: &'a BTreeSet<String>,
    /// This pass changed the endpoint: AWS applies routes and policies with a delay, so a
    /// probe now could see the world before the change.
    pub changed_now: bool,
    /// When this process last changed the object's endpoint.
    pub changed_at: Option<jiff::Timestamp>,
    /// How long after a change a failing path is not trusted yet.
    pub path_settle: Duration,
}

/// How long after a change of the endpoint a failing path is not trusted, by default: AWS can
/// take a few minutes to apply a new policy or route everywhere.
pub const DEFAULT_PATH_SETTLE: Duration = Duration::from_secs(180);
/// How soon to probe after a pass that changed the endpoint.
const AFTER_CHANGE: Duration = Duration::from_secs(10);

/// The probe step: report a finished probe, else start one when due (never waits for it).
pub fn step(
    prober: &std::sync::Arc<Prober>,
    subject: &Subject<'_>,
    plan: Option<&ProbePlan>,
    prev: Option<&ProbeStatus>,
    now: jiff::Timestamp,
) -> Probed {
    let Some(plan) = plan else {
        prober.forget(subject.uid);
        return Probed::default();
    };
    if let Some(done) = prober.take(subject.uid) {
        let fresh = status(&done, subject.changed_at, subject.path_settle);
        let event = flip_event(prev, &fresh);
        // Same findings as the status holds: keep it (and its older time) until the heartbeat.
        let status = match prev {
            Some(p) if !worth_writing(p, &fresh) => p.clone(),
            _ => fresh,
        };
        let since = super::elapsed(done.at, now);
        return Probed {
            latency: done
                .report
                .latency
                .filter(|_| done.report.result == ProbeResult::Succeeded),
            status: Some(status),
            next: Some(
                plan.interval
                    .saturating_sub(since)
                    .max(Duration::from_secs(1)),
            ),
            event,
        };
    }
    // The selection changed since the probe that gave the verdict: look again now.
    let reselected = prev.is_some_and(|p| {
        p.route_table_id.as_ref().is_some_and(|t| {
            p.route_table_selected != Some(subject.selected.contains(t))
                && p.route_table_selected.is_some()
        })
    });
    let reported = prev.and_then(|p| p.last_time.as_ref()).map(|t| t.0);
    let last = reported.max(prober.last_ran(subject.uid));
    if let Some(wait) = wait_until_due(plan, last, now).filter(|_| !reselected) {
        return Probed {
            status: prev.cloned(),
            next: Some(wait),
            ..Default::default()
        };
    }
    if subject.changed_now {
        return Probed {
            status: prev.cloned(),
            next: Some(AFTER_CHANGE),
            ..Default::default()
        };
    }
    prober.start(ProbeJob {
        uid: subject.uid.to_owned(),
        name: subject.name.to_owned(),
        region: subject.region.to_owned(),
        vpc_id: subject.vpc_id.to_owned(),
        selected: subject.selected.clone(),
        plan: plan.clone(),
        started: now,
    });
    Probed {
        status: prev.cloned(),
        // The finished probe asks for a pass itself; this is the fallback.
        next: Some(Prober::bound(plan) + Duration::from_secs(1)),
        ..Default::default()
    }
}

/// An event when the probe's verdict flips (the first failure counts as a flip).
fn flip_event(prev: Option<&ProbeStatus>, now: &ProbeStatus) -> Option<EngineEvent> {
    let good = |p: &ProbeStatus| p.result == ProbeResult::Succeeded && !bypasses_endpoint(p);
    match (prev.map(good), good(now)) {
        (Some(false), true) => Some(events::probe_recovered(&now.operation)),
        (None | Some(true), false) => Some(events::probe_failed(
            if bypasses_endpoint(now) {
                now.path_message.clone()
            } else {
                now.message.clone()
            }
            .unwrap_or_else(|| now.result.as_str().to_owned()),
        )),
        _ => None,
    }
}

/// The status of a finished probe. Pure.
pub fn status(
    done: &Finished,
    changed_at: Option<jiff::Timestamp>,
    settle: Duration,
) -> ProbeStatus {
    let (mut path, mut path_message) = path(done.report.canary.as_ref(), &done.location);
    let failing = path == ProbePath::Bypass
        || (path == ProbePath::OtherEndpoint && done.location.selected == Some(true));
    if let Some(at) = changed_at.filter(|at| failing && super::elapsed(*at, done.at) < settle) {
        path_message = format!(
            "the endpoint changed {}s before this probe and AWS may take a few minutes to apply routes and policies, so this is not a verdict yet: {path_message}",
            super::elapsed(at, done.at).as_secs()
        );
        path = ProbePath::Unverified;
    }
    ProbeStatus {
        last_time: Some(Time(done.at)),
        result: done.report.result,
        latency: done.report.latency.map(format_latency),
        operation: done.report.operation.clone(),
        addresses: done
            .report
            .addresses
            .iter()
            .map(ToString::to_string)
            .collect(),
        path: Some(path),
        path_message: Some(path_message),
        subnet_id: done.location.subnet_id.clone(),
        route_table_id: done.location.route_table_id.clone(),
        route_table_selected: done.location.selected,
        message: done.report.message.clone(),
    }
}

/// Which way the probe went, from the canary's answer and where the probe ran. Pure.
pub fn path(canary: Option<&Canary>, at: &Location) -> (ProbePath, String) {
    let whence = || match (&at.subnet_id, &at.route_table_id) {
        (Some(s), Some(t)) => format!("subnet {s} (route table {t})"),
        (Some(s), None) => format!("subnet {s}"),
        _ => "an unknown subnet".to_owned(),
    };
    match canary {
        None => (
            ProbePath::Unverified,
            "the endpoint policy is a custom document without probe.verifyPath: true, so it carries no canary".into(),
        ),
        Some(Canary::Denied(aws)) => (
            ProbePath::ThroughEndpoint,
            format!("from {}: the canary was denied by this endpoint's policy: {aws}", whence()),
        ),
        Some(Canary::Inconclusive(why)) => (ProbePath::Unverified, why.clone()),
        Some(Canary::DeniedByOtherEndpoint(aws)) => (
            ProbePath::OtherEndpoint,
            match at.selected {
                Some(true) => format!(
                    "from {}, which this object selects, the request went through another endpoint whose policy lacks this object's canary: {aws}",
                    whence()
                ),
                _ => format!(
                    "from {}, which this object does not select, the request went through another endpoint: {aws}",
                    whence()
                ),
            },
        ),
        Some(Canary::NotFound) => match at.selected {
            Some(true) => (
                ProbePath::Bypass,
                format!(
                    "from {}, which this object selects, the request reached DynamoDB without this endpoint (the canary table was looked up); check that route table's route to the prefix list",
                    whence()
                ),
            ),
            Some(false) => (
                ProbePath::NotOnPath,
                format!(
                    "the operator runs in {}, which this object does not select; to verify the path, run the operator on a node in a subnet whose route table the object selects",
                    whence()
                ),
            ),
            None => (
                ProbePath::Unverified,
                format!(
                    "the request reached DynamoDB without this endpoint, but where the probe ran is unknown: {}",
                    at.unknown.as_deref().unwrap_or("no location")
                ),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(selected: Option<bool>) -> Location {
        Location {
            subnet_id: selected.map(|_| "subnet-a".into()),
            vpc_id: selected.map(|_| "vpc-1".into()),
            route_table_id: selected.map(|_| "rtb-a".into()),
            selected,
            unknown: selected
                .is_none()
                .then(|| "NODE_NAME is not set".to_owned()),
        }
    }

    #[test]
    fn the_canary_and_the_location_decide_the_path() {
        let denied = Canary::Denied("with an explicit deny in a VPC endpoint policy".into());
        let other = Canary::DeniedByOtherEndpoint("because no VPC endpoint policy allows".into());
        let cases = [
            (Some(&denied), at(Some(true)), ProbePath::ThroughEndpoint),
            (Some(&denied), at(None), ProbePath::ThroughEndpoint),
            (Some(&Canary::NotFound), at(Some(true)), ProbePath::Bypass),
            (
                Some(&Canary::NotFound),
                at(Some(false)),
                ProbePath::NotOnPath,
            ),
            (Some(&Canary::NotFound), at(None), ProbePath::Unverified),
            (Some(&other), at(Some(true)), ProbePath::OtherEndpoint),
            (Some(&other), at(Some(false)), ProbePath::OtherEndpoint),
            (
                Some(&Canary::Inconclusive("throttled".into())),
                at(Some(true)),
                ProbePath::Unverified,
            ),
            (None, at(Some(true)), ProbePath::Unverified),
        ];
        for (canary, location, want) in cases {
            let (got, message) = path(canary, &location);
            assert_eq!(got, want, "{canary:?} {location:?}");
            assert!(!message.is_empty());
        }
        let (_, m) = path(Some(&Canary::NotFound), &at(Some(false)));
        assert!(m.contains("subnet-a") && m.contains("rtb-a"), "{m}");
        let (_, m) = path(Some(&Canary::NotFound), &at(None));
        assert!(m.contains("NODE_NAME"), "{m}");
    }

    #[test]
    fn only_a_proven_bypass_from_a_selected_table_fails() {
        let s = |path, selected| ProbeStatus {
            path: Some(path),
            route_table_selected: selected,
            ..Default::default()
        };
        assert!(bypasses_endpoint(&s(ProbePath::Bypass, Some(true))));
        assert!(bypasses_endpoint(&s(ProbePath::OtherEndpoint, Some(true))));
        assert!(!bypasses_endpoint(&s(
            ProbePath::OtherEndpoint,
            Some(false)
        )));
        assert!(!bypasses_endpoint(&s(ProbePath::NotOnPath, Some(false))));
        assert!(!bypasses_endpoint(&s(ProbePath::Unverified, None)));
        assert!(!bypasses_endpoint(&s(
            ProbePath::ThroughEndpoint,
            Some(true)
        )));
    }

    #[test]
    fn latency_buckets_ignore_jitter_and_see_a_slowdown() {
        let b = |t: &str| latency_bucket(Some(t));
        assert_eq!(b("7ms"), b("63ms"), "jitter of a fast round trip");
        assert_eq!(
            [b("99ms"), b("150ms"), b("1.3s"), b("2.5s")],
            [Some(0), Some(1), Some(2), Some(3)]
        );
        assert_eq!(latency_bucket(None), None);
        assert_eq!(b("garbage"), None);
    }
}
