//! Readiness: the operator is ready once the first list of GatewayEndpoints succeeded, and
//! stops being ready when its watch has been failing for longer than a grace period (RBAC
//! revoked, CRD removed, API server unreachable), so a stalled operator shows on `/readyz`
//! instead of only in its logs.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Shared between the controller (which reports) and the HTTP server (which asks).
#[derive(Debug)]
pub struct Readiness {
    grace: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default, Clone, Copy)]
struct State {
    listed: bool,
    failing_since: Option<Instant>,
}

impl Readiness {
    /// Not ready until [`Readiness::listed`]; unready after `grace` of failing watches.
    pub fn new(grace: Duration) -> Self {
        Readiness {
            grace,
            state: Mutex::new(State::default()),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The first list succeeded.
    pub fn listed(&self) {
        self.with(|s| s.listed = true);
    }

    /// The watch delivered an event: it works.
    pub fn watch_ok(&self) {
        self.with(|s| s.failing_since = None);
    }

    /// The watch failed (it retries with backoff).
    pub fn watch_failed(&self) {
        self.with(|s| {
            s.failing_since.get_or_insert_with(Instant::now);
        });
    }

    /// `Ok` when ready, else why not.
    pub fn check(&self) -> Result<(), String> {
        let s = self.with(|s| *s);
        verdict(s.listed, s.failing_since.map(|t| t.elapsed()), self.grace)
    }
}

/// The decision, pure: `failing_for` is how long the watch has been failing, if it is.
pub fn verdict(listed: bool, failing_for: Option<Duration>, grace: Duration) -> Result<(), String> {
    if !listed {
        return Err("not ready: waiting for the first list of GatewayEndpoints".into());
    }
    match failing_for {
        Some(d) if d >= grace => Err(format!(
            "not ready: the GatewayEndpoint watch has been failing for {}s (RBAC, CRD or API server; see the log)",
            d.as_secs()
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        let s = Duration::from_secs;
        assert!(
            verdict(false, None, s(60))
                .unwrap_err()
                .contains("first list")
        );
        assert!(verdict(true, None, s(60)).is_ok());
        assert!(
            verdict(true, Some(s(59)), s(60)).is_ok(),
            "a blip is tolerated"
        );
        assert!(
            verdict(true, Some(s(60)), s(60))
                .unwrap_err()
                .contains("failing for 60s")
        );
    }

    #[test]
    fn recovers_when_the_watch_works_again() {
        let r = Readiness::new(Duration::ZERO);
        assert!(r.check().is_err());
        r.listed();
        assert!(r.check().is_ok());
        r.watch_failed();
        assert!(r.check().is_err());
        r.watch_ok();
        assert!(r.check().is_ok());
    }
}
