//! When to look at an object again: pure, table-tested. The AWS edge only classifies errors;
//! this module decides what each class means for the next look.

use std::time::Duration;

use crate::aws::ErrorClass;
use crate::error::Error;

/// What a failure asks of the controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequeueHint {
    /// Retry soon, backing off exponentially per object (network, throttling, 5xx).
    Backoff,
    /// AWS is converging on its own (an earlier create or route settling): look again soon.
    Settle,
    /// Nothing will change soon by itself (permissions, a missing VPC, AWS refusing an input
    /// that the spec cannot fix alone): look again at the next resync.
    Resync,
    /// Only a spec change can fix it: wait for the object to change.
    AwaitChange,
}

/// The requeue a failure asks for. Only an invalid spec waits for a change; whatever AWS says
/// is looked at again, because AWS-side facts (a VPC, a quota, a permission) change without the
/// object changing.
pub fn hint(err: &Error) -> RequeueHint {
    match err {
        Error::InvalidSpec { .. } | Error::VpcNotAllowed { .. } => RequeueHint::AwaitChange,
        Error::VpcNotFound { .. }
        | Error::ServiceNotAvailable { .. }
        | Error::OwnershipLost { .. } => RequeueHint::Resync,
        Error::Aws(e) => match (e.class, e.code.as_deref()) {
            (ErrorClass::Transient | ErrorClass::Throttled, _) => RequeueHint::Backoff,
            (_, Some("IdempotentParameterMismatch" | "RouteAlreadyExists")) => RequeueHint::Settle,
            _ => RequeueHint::Resync,
        },
        Error::DeletionPending(..) | Error::NodesUnknown => RequeueHint::Settle,
        // Node changes trigger a pass themselves; the resync is the fallback.
        Error::NoNodes { .. } | Error::MultipleVpcs { .. } => RequeueHint::Resync,
        // AWS-side facts (other endpoints, other objects, IAM) can change without an edit.
        Error::AdoptionAmbiguous { .. }
        | Error::AdoptionRefused { .. }
        | Error::AdoptionDenied { .. } => RequeueHint::Resync,
        Error::Kube(_) => RequeueHint::Backoff,
        Error::Finalizer(inner) => match inner.as_ref() {
            kube::runtime::finalizer::Error::ApplyFailed(e)
            | kube::runtime::finalizer::Error::CleanupFailed(e) => hint(e),
            _ => RequeueHint::Backoff,
        },
    }
}

/// First retry after a transient failure.
pub const BACKOFF_BASE: Duration = Duration::from_secs(5);
/// Longest wait between retries after transient failures.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// How soon to look again while AWS converges (endpoint pending, routes not visible yet).
pub const SETTLE: Duration = Duration::from_secs(10);
/// How soon to look again while AWS deletes the endpoint.
pub const DELETION_POLL: Duration = Duration::from_secs(5);

/// Exponential backoff after `failures` consecutive failures (≥ 1): 5s, 10s, 20s, … capped at 5m.
pub fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    BACKOFF_BASE.saturating_mul(1u32 << exp).min(BACKOFF_MAX)
}

/// When an object waiting for the request budget comes back: when its token is due, plus up to
/// 100ms of jitter by uid (never earlier: an early pass would only be told to wait again; the
/// reservations already spread the objects out).
pub fn after_budget(wait: Duration, uid: &str) -> Duration {
    wait + Duration::from_millis(jitter_millis(uid, 0) % 100)
}

/// A stable spread for one object and attempt: a crowd that failed together does not come back
/// together. FNV-1a over the uid and the attempt; no randomness needed, only dispersion.
fn jitter_millis(uid: &str, attempt: u32) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in uid.bytes().chain(attempt.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// [`backoff`] spread by ±20% per object and attempt, so objects throttled in one wave retry
/// apart.
pub fn jittered_backoff(failures: u32, uid: &str) -> Duration {
    let base = backoff(failures);
    let spread = base.as_millis() as u64 * 2 / 5;
    if spread == 0 {
        return base;
    }
    let offset = jitter_millis(uid, failures) % (spread + 1);
    (base - base / 5) + Duration::from_millis(offset)
}

/// The requeue after an apply pass; `None` means "wait for the object to change".
pub fn after_apply(
    hint: Option<RequeueHint>,
    failures: u32,
    settling: bool,
    next_probe: Option<Duration>,
    resync: Duration,
) -> Option<Duration> {
    let periodic = next_probe.map_or(resync, |p| p.min(resync));
    match hint {
        Some(RequeueHint::AwaitChange) => None,
        Some(RequeueHint::Backoff) => Some(backoff(failures.max(1))),
        Some(RequeueHint::Resync) => Some(resync),
        Some(RequeueHint::Settle) => Some(SETTLE.min(periodic)),
        None if settling => Some(SETTLE.min(periodic)),
        None => Some(periodic),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::AwsError;

    #[test]
    fn only_an_invalid_spec_waits_for_a_change() {
        let aws =
            |code: Option<&str>| Error::Aws(AwsError::new("ec2", "CreateVpcEndpoint", code, "m"));
        let cases = [
            (
                Error::InvalidSpec {
                    field: "spec.x".into(),
                    message: "m".into(),
                },
                RequeueHint::AwaitChange,
            ),
            (
                Error::VpcNotFound {
                    vpc_id: "vpc-1".into(),
                    region: "r".into(),
                },
                RequeueHint::Resync,
            ),
            (aws(Some("InvalidParameterValue")), RequeueHint::Resync),
            (aws(Some("InvalidServiceName")), RequeueHint::Resync),
            (aws(Some("UnauthorizedOperation")), RequeueHint::Resync),
            (aws(Some("VpcEndpointLimitExceeded")), RequeueHint::Resync),
            (aws(Some("RequestLimitExceeded")), RequeueHint::Backoff),
            (aws(Some("InternalError")), RequeueHint::Backoff),
            (aws(None), RequeueHint::Backoff),
            (
                aws(Some("IdempotentParameterMismatch")),
                RequeueHint::Settle,
            ),
            (aws(Some("RouteAlreadyExists")), RequeueHint::Settle),
            (
                Error::DeletionPending("vpce-1".into(), None),
                RequeueHint::Settle,
            ),
        ];
        for (err, expected) in cases {
            assert_eq!(hint(&err), expected, "{err}");
        }
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let secs: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, vec![5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(backoff(0), BACKOFF_BASE);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }

    #[test]
    fn backoff_is_spread_per_object_within_a_fifth() {
        for failures in 1..=9 {
            let base = backoff(failures);
            let spread: std::collections::BTreeSet<Duration> = (0..50)
                .map(|i| jittered_backoff(failures, &format!("uid-{i}")))
                .inspect(|d| assert!(*d >= base - base / 5 && *d <= base + base / 5, "{d:?}"))
                .collect();
            assert!(spread.len() > 25, "{failures}: {} distinct", spread.len());
            // Stable for one object and attempt.
            assert_eq!(
                jittered_backoff(failures, "a"),
                jittered_backoff(failures, "a")
            );
        }
        let w = Duration::from_secs(7);
        assert!(after_budget(w, "a") >= w && after_budget(w, "a") < w + Duration::from_millis(100));
    }

    #[test]
    fn requeue_table() {
        let m5 = Duration::from_secs(300);
        let s = Duration::from_secs;
        let cases = [
            (None, 0, false, None, Some(m5)),
            (None, 0, false, Some(s(60)), Some(s(60))),
            (None, 0, false, Some(s(900)), Some(m5)),
            (None, 0, true, Some(s(60)), Some(SETTLE)),
            (None, 0, true, Some(s(3)), Some(s(3))),
            (Some(RequeueHint::AwaitChange), 3, false, Some(s(60)), None),
            (
                Some(RequeueHint::Backoff),
                1,
                false,
                Some(s(60)),
                Some(s(5)),
            ),
            (Some(RequeueHint::Backoff), 3, false, None, Some(s(20))),
            (Some(RequeueHint::Backoff), 0, false, None, Some(s(5))),
            (Some(RequeueHint::Resync), 2, false, Some(s(60)), Some(m5)),
            (
                Some(RequeueHint::Settle),
                2,
                false,
                Some(s(60)),
                Some(SETTLE),
            ),
        ];
        for (hint, failures, settling, probe, expected) in cases {
            assert_eq!(
                after_apply(hint, failures, settling, probe, m5),
                expected,
                "{hint:?} {failures} {settling} {probe:?}"
            );
        }
    }
}
