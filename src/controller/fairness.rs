//! No object starves: first passes and spec changes go before periodic ones.
//!
//! Why this exists (kube-runtime 5.0): when every worker is busy, the runner moves due
//! messages into the scheduler's `pending` set and takes the next one with
//! `pending.iter().find(..)`, a `HashSet`'s order, not arrival order. With passes slower than
//! the requeues they cause, the same objects keep winning and a new object can wait forever
//! (issue 11 measured 101 of 200 never reconciled after 302 s). kube-runtime offers no priority,
//! so the reconciler keeps the runner from saturating on periodic work: a pass that is neither
//! the first for the object's generation nor a deletion yields (requeues itself a moment later,
//! doing nothing) while any object waits for its first pass at its current generation.
//! Yielded passes cost a lock and a scan of the cache; they free the worker at once, so the
//! runner drains its pending set and the waiting objects are reached.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// How long a yielded pass waits before it is tried again (plus jitter, so a crowd of yielded
/// passes does not come back in one wave).
pub const YIELD: Duration = Duration::from_secs(2);

/// The generation of each object that this process ran an apply pass for (the finalizer's
/// first pass, which only adds the finalizer, does not count).
#[derive(Debug, Default)]
pub struct Fairness {
    started: Mutex<HashMap<String, Option<i64>>>,
    /// Objects whose token in the request budget is due at that time: their pass is not a
    /// periodic one (yielding would let the reservation lapse).
    budget: Mutex<HashMap<String, std::time::Instant>>,
}

/// What a pass should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Run now.
    Run,
    /// Yield to an object waiting for its first pass; look again after this long.
    Yield(Duration),
}

impl Fairness {
    /// Decides for the object `uid` at `generation`; `deleting` passes always run. `others`
    /// are every object in the cache as (uid, generation).
    pub fn turn<'a>(
        &self,
        uid: &str,
        generation: Option<i64>,
        deleting: bool,
        others: impl IntoIterator<Item = (&'a str, Option<i64>)>,
    ) -> Turn {
        let due = {
            let mut budget = self.budget.lock().unwrap_or_else(|e| e.into_inner());
            let due = budget
                .get(uid)
                .is_some_and(|at| *at <= std::time::Instant::now());
            if due {
                budget.remove(uid);
            }
            due
        };
        let started = self.started.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = started.get(uid) != Some(&generation);
        if fresh || deleting || due {
            return Turn::Run;
        }
        let waiting = others
            .into_iter()
            .any(|(other, g)| other != uid && started.get(other) != Some(&g));
        if waiting {
            Turn::Yield(YIELD + jitter(uid))
        } else {
            Turn::Run
        }
    }

    /// Records that an apply pass for `uid` at `generation` runs.
    pub fn applied(&self, uid: &str, generation: Option<i64>) {
        self.started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(uid.to_owned(), generation);
    }

    /// Records that `uid`'s token in the request budget is due after `wait`: its pass then
    /// runs even while others wait for their first.
    pub fn budget_due(&self, uid: &str, wait: Duration) {
        self.budget
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(uid.to_owned(), std::time::Instant::now() + wait);
    }

    /// Forgets an object that is gone.
    pub fn forget(&self, uid: &str) {
        self.started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(uid);
        self.budget
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(uid);
    }
}

/// Up to one second, different per object and per call.
pub fn jitter(uid: &str) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write(uid.as_bytes());
    Duration::from_millis(h.finish() % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periodic_passes_yield_to_first_passes_and_spec_changes() {
        let f = Fairness::default();
        let cache = |extra: &[(&'static str, Option<i64>)]| {
            let mut all = vec![("a", Some(1)), ("b", Some(1))];
            all.extend_from_slice(extra);
            all
        };
        // First passes run (and then apply).
        assert_eq!(f.turn("a", Some(1), false, cache(&[])), Turn::Run);
        f.applied("a", Some(1));
        assert_eq!(f.turn("b", Some(1), false, cache(&[])), Turn::Run);
        f.applied("b", Some(1));
        // A periodic pass runs while nobody waits.
        assert_eq!(f.turn("a", Some(1), false, cache(&[])), Turn::Run);
        // A new object waits: periodic passes yield, the new one runs.
        let with_new = cache(&[("new", Some(1))]);
        assert!(matches!(
            f.turn("a", Some(1), false, with_new.clone()),
            Turn::Yield(_)
        ));
        assert!(matches!(
            f.turn("b", Some(1), false, with_new.clone()),
            Turn::Yield(_)
        ));
        // Its finalizer pass does not count as its apply: still waiting after it.
        assert_eq!(f.turn("new", Some(1), false, with_new.clone()), Turn::Run);
        assert!(matches!(
            f.turn("a", Some(1), false, with_new.clone()),
            Turn::Yield(_)
        ));
        assert_eq!(f.turn("new", Some(1), false, with_new.clone()), Turn::Run);
        f.applied("new", Some(1));
        assert_eq!(f.turn("a", Some(1), false, with_new.clone()), Turn::Run);
        // A spec change (new generation) counts as waiting, and runs first.
        let changed = vec![("a", Some(1)), ("b", Some(2)), ("new", Some(1))];
        assert!(matches!(
            f.turn("a", Some(1), false, changed.clone()),
            Turn::Yield(_)
        ));
        assert_eq!(f.turn("b", Some(2), false, changed.clone()), Turn::Run);
        f.applied("b", Some(2));
        // Deletions never yield.
        let more = vec![("a", Some(1)), ("late", Some(1))];
        assert_eq!(f.turn("a", Some(1), true, more.clone()), Turn::Run);
        // Nor does a pass whose budget token is due (once it is due).
        f.budget_due("a", Duration::from_secs(3600));
        assert!(matches!(
            f.turn("a", Some(1), false, more.clone()),
            Turn::Yield(_)
        ));
        f.budget_due("a", Duration::ZERO);
        assert_eq!(f.turn("a", Some(1), false, more.clone()), Turn::Run);
        assert!(matches!(f.turn("a", Some(1), false, more), Turn::Yield(_)));
        // A yield comes back within the base delay plus a second of jitter.
        match f.turn("a", Some(1), false, vec![("a", Some(1)), ("x", None)]) {
            Turn::Yield(d) => assert!(d >= YIELD && d < YIELD + Duration::from_secs(1)),
            Turn::Run => panic!("should yield"),
        }
        f.forget("a");
        assert_eq!(
            f.turn("a", Some(1), false, Vec::new()),
            Turn::Run,
            "forgotten: fresh again"
        );
    }
}
