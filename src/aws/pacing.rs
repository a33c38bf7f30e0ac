//! Mutation pacing: a process-wide token bucket per (region, action) in front of EC2's endpoint
//! mutations, set below AWS's own buckets (4 tokens refilled at 0.3/s per action and account,
//! shared with everything else in the account), so 50 objects created at once queue here in
//! order instead of failing in synchronized waves of `RequestLimitExceeded`.
//!
//! A caller that finds the bucket empty is given a reservation: the bucket is debited at once
//! (it may go negative; the debt is the queue) and the caller is told when its token is due. It
//! comes back then, on its own requeue, and is admitted without a second debit. Nobody waits
//! inside a pass, and the k-th in line is told "k/rate from now", so callers do not come back
//! in a crowd. The credentials' account is one per process, so the key is (region, action).
//!
//! Hand-written rather than `governor`: governor answers "not before t" but keeps no
//! reservation per caller, which is what lets an object leave the worker and come back to a
//! token that is still its own.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// AWS's bucket for each endpoint mutation is 4 tokens refilled at 0.3/s; these stay below it.
pub const DEFAULT_BURST: u32 = 3;
pub const DEFAULT_RATE: f64 = 0.25;
/// How long after its due time an unclaimed reservation is kept (its object may have been
/// deleted, or its plan changed); after that its token goes back to the bucket.
const CLAIM_WITHIN: Duration = Duration::from_secs(120);

/// The size and refill of every bucket; a rate of zero turns pacing off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PaceConfig {
    pub burst: u32,
    /// Tokens per second.
    pub rate: f64,
}

impl Default for PaceConfig {
    fn default() -> Self {
        PaceConfig {
            burst: DEFAULT_BURST,
            rate: DEFAULT_RATE,
        }
    }
}

impl PaceConfig {
    /// No pacing at all.
    pub const OFF: PaceConfig = PaceConfig {
        burst: 0,
        rate: 0.0,
    };
}

/// One bucket with its reservations.
#[derive(Debug)]
struct Bucket {
    /// May be negative: tokens already promised to reservations.
    tokens: f64,
    at: Instant,
    /// Who holds a token due at that time.
    reserved: HashMap<String, Instant>,
    /// When the last admitted call went out: claims are spaced at least half a refill interval
    /// after it, so reservation holders that come back late do not go out in a bunch (half, not
    /// a whole one: one late claim must not push every later one back; the average rate is the
    /// bucket's either way).
    last_sent: Option<Instant>,
}

impl Bucket {
    fn full(cfg: PaceConfig, now: Instant) -> Self {
        Bucket {
            tokens: f64::from(cfg.burst.max(1)),
            at: now,
            reserved: HashMap::new(),
            last_sent: None,
        }
    }

    /// Admits `who` now, or says how long until its reserved token is due. Pure in `now`.
    fn admit(&mut self, cfg: PaceConfig, who: &str, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * cfg.rate).min(f64::from(cfg.burst.max(1)));
        self.at = now;
        if let Some(due) = self.reserved.get(who).copied() {
            let spaced = self.last_sent.map_or(due, |sent| {
                due.max(sent + Duration::from_secs_f64(0.5 / cfg.rate))
            });
            if spaced <= now {
                self.reserved.remove(who);
                self.last_sent = Some(now);
                return Ok(());
            }
            self.reserved.insert(who.to_owned(), spaced);
            return Err(spaced - now);
        }
        let before = self.reserved.len();
        self.reserved
            .retain(|_, due| now.saturating_duration_since(*due) < CLAIM_WITHIN);
        // Lapsed reservations were debited: their tokens return.
        let lapsed = (before - self.reserved.len()) as f64;
        self.tokens = (self.tokens + lapsed).min(f64::from(cfg.burst.max(1)));
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            self.last_sent = Some(now);
            return Ok(());
        }
        let due = now + Duration::from_secs_f64(-self.tokens / cfg.rate);
        self.reserved.insert(who.to_owned(), due);
        Err(due - now)
    }
}

/// The buckets of one process.
#[derive(Debug)]
pub struct Pacer {
    cfg: PaceConfig,
    buckets: Mutex<HashMap<(String, &'static str), Bucket>>,
}

impl Pacer {
    pub fn new(cfg: PaceConfig) -> Self {
        Pacer {
            cfg,
            buckets: Mutex::default(),
        }
    }

    pub fn config(&self) -> PaceConfig {
        self.cfg
    }

    /// May `who` (an object's uid) call `action` in `region` now? `Err(wait)`: its turn is in
    /// `wait`; nothing must be sent before then.
    pub fn admit(&self, region: &str, action: &'static str, who: &str) -> Result<(), Duration> {
        self.admit_at(region, action, who, Instant::now())
    }

    /// [`Self::admit`] at a given time (tests drive the clock).
    pub fn admit_at(
        &self,
        region: &str,
        action: &'static str,
        who: &str,
        now: Instant,
    ) -> Result<(), Duration> {
        if self.cfg.rate <= 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        buckets
            .entry((region.to_owned(), action))
            .or_insert_with(|| Bucket::full(self.cfg, now))
            .admit(self.cfg, who, now)
    }
}

impl Default for Pacer {
    fn default() -> Self {
        Pacer::new(PaceConfig::OFF)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREATE: &str = "CreateVpcEndpoint";

    fn secs(d: Duration) -> f64 {
        (d.as_secs_f64() * 100.0).round() / 100.0
    }

    #[test]
    fn a_burst_then_one_token_per_interval_in_arrival_order() {
        let pacer = Pacer::new(PaceConfig {
            burst: 3,
            rate: 0.5,
        });
        let t0 = Instant::now();
        let waits: Vec<Result<(), f64>> = (0..6)
            .map(|i| {
                pacer
                    .admit_at("r", CREATE, &format!("o{i}"), t0)
                    .map_err(secs)
            })
            .collect();
        assert_eq!(
            waits,
            vec![Ok(()), Ok(()), Ok(()), Err(2.0), Err(4.0), Err(6.0)]
        );
        // Coming back early: still waiting, and no second debit.
        assert_eq!(
            pacer
                .admit_at("r", CREATE, "o4", t0 + Duration::from_secs(1))
                .map_err(secs),
            Err(3.0)
        );
        // A newcomer at 6s queues behind what was promised: the bucket is empty.
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(
            pacer.admit_at("r", CREATE, "o6", at(6)).map_err(secs),
            Err(2.0)
        );
        // Late claimants do not go out in a bunch: half a refill interval (1s) apart.
        assert_eq!(pacer.admit_at("r", CREATE, "o5", at(6)), Ok(()));
        assert_eq!(
            pacer.admit_at("r", CREATE, "o3", at(6)).map_err(secs),
            Err(1.0)
        );
        assert_eq!(
            pacer.admit_at("r", CREATE, "o4", at(6)).map_err(secs),
            Err(1.0)
        );
        assert_eq!(pacer.admit_at("r", CREATE, "o3", at(7)), Ok(()));
        assert_eq!(
            pacer.admit_at("r", CREATE, "o4", at(7)).map_err(secs),
            Err(1.0)
        );
        assert_eq!(pacer.admit_at("r", CREATE, "o4", at(8)), Ok(()));
    }

    #[test]
    fn buckets_are_per_region_and_action_and_refill_to_the_burst() {
        let pacer = Pacer::new(PaceConfig {
            burst: 1,
            rate: 1.0,
        });
        let t0 = Instant::now();
        assert_eq!(pacer.admit_at("r", CREATE, "a", t0), Ok(()));
        assert_eq!(pacer.admit_at("r", "ModifyVpcEndpoint", "a", t0), Ok(()));
        assert_eq!(pacer.admit_at("other", CREATE, "a", t0), Ok(()));
        assert!(pacer.admit_at("r", CREATE, "b", t0).is_err());
        // A long idle time refills to the burst only (1), not more.
        let later = t0 + Duration::from_secs(100);
        assert_eq!(pacer.admit_at("r", CREATE, "c", later), Ok(()));
        assert!(pacer.admit_at("r", CREATE, "d", later).is_err());
    }

    #[test]
    fn an_unclaimed_reservation_lapses_and_off_admits_all() {
        let pacer = Pacer::new(PaceConfig {
            burst: 1,
            rate: 1.0,
        });
        let t0 = Instant::now();
        assert_eq!(pacer.admit_at("r", CREATE, "a", t0), Ok(()));
        assert!(pacer.admit_at("r", CREATE, "gone", t0).is_err());
        let much_later = t0 + CLAIM_WITHIN + Duration::from_secs(5);
        assert_eq!(pacer.admit_at("r", CREATE, "b", much_later), Ok(()));
        // "gone" lost its reservation with the expiry and queues anew.
        assert!(pacer.admit_at("r", CREATE, "gone", much_later).is_err());
        let off = Pacer::default();
        for i in 0..100 {
            assert_eq!(off.admit_at("r", CREATE, &i.to_string(), t0), Ok(()));
        }
    }
}
