//! The probe step: run the connectivity probe when it is due, turn its report into status and
//! an event when the outcome flips. The probe itself lives at the AWS edge
//! ([`crate::aws::probe`]).

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::desired::ProbePlan;
use super::events::{self, EngineEvent};
use crate::api::{ProbeResult, ProbeStatus};
use crate::aws::Cloud;
use crate::aws::probe::{ProbeRequest, format_latency};

/// What the probe step established.
#[derive(Debug, Clone, Default)]
pub struct Probed {
    /// The probe status to report (the previous one when no probe was due).
    pub status: Option<ProbeStatus>,
    /// Time until the next probe is due; `None` when probing is off.
    pub next: Option<Duration>,
    /// Latency of a probe that ran and succeeded in this pass.
    pub latency: Option<Duration>,
    pub event: Option<EngineEvent>,
}

/// When the next probe is due: `None` now, else how long from `now`.
pub fn wait_until_due(
    plan: &ProbePlan,
    prev: Option<&ProbeStatus>,
    now: jiff::Timestamp,
) -> Option<Duration> {
    let last = prev.and_then(|p| p.last_time.as_ref())?;
    let elapsed = now.duration_since(last.0).unsigned_abs();
    (elapsed < plan.interval).then(|| plan.interval - elapsed)
}

/// Runs the probe when due.
pub async fn probe(
    cloud: &dyn Cloud,
    region: &str,
    plan: Option<&ProbePlan>,
    prefix_cidrs: &[String],
    prev: Option<&ProbeStatus>,
    now: jiff::Timestamp,
) -> Probed {
    let Some(plan) = plan else {
        return Probed::default();
    };
    if let Some(wait) = wait_until_due(plan, prev, now) {
        return Probed {
            status: prev.cloned(),
            next: Some(wait),
            ..Default::default()
        };
    }
    let report = cloud
        .probe(
            region,
            &ProbeRequest {
                table: plan.table.as_deref(),
                timeout: plan.timeout,
                prefix_cidrs,
            },
        )
        .await;
    let ok = report.result == ProbeResult::Succeeded;
    let was_ok = prev.map(|p| p.result == ProbeResult::Succeeded);
    let event = match (was_ok, ok) {
        (Some(false), true) => Some(events::probe_recovered(&report.operation)),
        (None | Some(true), false) => Some(events::probe_failed(
            report
                .message
                .clone()
                .unwrap_or_else(|| report.result.as_str().to_owned()),
        )),
        _ => None,
    };
    Probed {
        latency: report.latency.filter(|_| ok),
        status: Some(ProbeStatus {
            last_time: Some(Time(now)),
            result: report.result,
            latency: report.latency.map(format_latency),
            operation: report.operation,
            addresses: report.addresses.iter().map(ToString::to_string).collect(),
            in_prefix_list: report.in_prefix_list,
            message: report.message,
        }),
        next: Some(plan.interval),
        event,
    }
}
