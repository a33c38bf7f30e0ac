//! When to look at an object again: pure, table-tested.

use std::time::Duration;

use crate::aws::RequeueHint;

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
        None if settling => Some(SETTLE.min(periodic)),
        None => Some(periodic),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let secs: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, vec![5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(backoff(0), BACKOFF_BASE);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
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
