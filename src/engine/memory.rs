//! What the engine remembers between passes, in memory only (after a restart every object gets
//! a full pass first and every lag is waited out once more): ids missing from describes, recent
//! creates and changes, the last clean full pass of each object, and small sets of uids.

use std::time::Duration;

use super::desired::Desired;
use super::elapsed;
use crate::api::GatewayEndpointStatus;

/// When this process first saw each endpoint id missing from describes. EC2 is eventually
/// consistent: an endpoint missing for less than the describe lag is most likely ours and a
/// moment old; one missing longer is gone (or somebody else's). Kept in memory only: after a
/// restart the lag is simply waited out once more. Entries are a few dozen bytes and only ids
/// that went missing are kept.
#[derive(Debug, Default)]
pub(super) struct Unseen(std::sync::Mutex<std::collections::HashMap<String, jiff::Timestamp>>);

impl Unseen {
    /// Those of `ids` first missed less than `lag` before `now`.
    pub(super) fn young(
        &self,
        ids: &std::collections::BTreeSet<String>,
        now: jiff::Timestamp,
        lag: Duration,
    ) -> std::collections::BTreeSet<String> {
        let mut first = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // Long-missing entries expire, so an id missed again much later is young once more
        // (waiting, the safe side) and the map stays small.
        first.retain(|_, since| elapsed(*since, now) < lag * 30);
        ids.iter()
            .filter(|id| {
                let since = *first.entry((*id).clone()).or_insert(now);
                elapsed(since, now) < lag
            })
            .cloned()
            .collect()
    }
}

impl Unseen {
    /// Ids that describes show again start afresh should they ever go missing.
    pub(super) fn forget<'a>(&self, ids: impl IntoIterator<Item = &'a String>) {
        let mut first = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for id in ids {
            first.remove(id);
        }
    }
}

/// When this process last created an endpoint for each object (uid): a cleanup that starts
/// right after must still wait out the describe lag from that moment.
#[derive(Debug, Default)]
pub(super) struct Created(std::sync::Mutex<std::collections::HashMap<String, jiff::Timestamp>>);

impl Created {
    pub(super) fn record(&self, uid: &str, at: jiff::Timestamp) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(uid.to_owned(), at);
    }

    pub(super) fn last(&self, uid: &str) -> Option<jiff::Timestamp> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(uid)
            .copied()
    }

    pub(super) fn forget(&self, uid: &str) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(uid);
    }
}

/// A set of object uids, shared between passes.
#[derive(Debug, Default)]
pub(super) struct UidSet(std::sync::Mutex<std::collections::HashSet<String>>);

impl UidSet {
    pub(super) fn insert(&self, uid: &str) {
        let mut set = self.0.lock().unwrap_or_else(|e| e.into_inner());
        set.insert(uid.to_owned());
    }

    pub(super) fn contains(&self, uid: &str) -> bool {
        let set = self.0.lock().unwrap_or_else(|e| e.into_inner());
        set.contains(uid)
    }

    pub(super) fn forget(&self, uid: &str) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(uid);
    }
}

/// What a clean full pass established for the passes that follow it.
#[derive(Debug, Clone)]
pub(super) struct FullPass {
    pub(super) at: jiff::Timestamp,
    /// The wishes it worked from (a hash of [`Desired`]).
    pub(super) wishes: u64,
    /// The status it reported, but for the probe (a hash; see [`findings`]).
    pub(super) reported: u64,
    /// The route tables the object selected.
    pub(super) selected: std::collections::BTreeSet<String>,
}

/// The last clean full pass per object (uid), in memory: after a restart every object gets a
/// full pass first.
#[derive(Debug, Default)]
pub(super) struct FullPasses(std::sync::Mutex<std::collections::HashMap<String, FullPass>>);

impl FullPasses {
    pub(super) fn record(&self, uid: &str, pass: FullPass) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(uid.to_owned(), pass);
    }

    pub(super) fn last(&self, uid: &str) -> Option<FullPass> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(uid).cloned()
    }

    pub(super) fn forget(&self, uid: &str) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(uid);
    }
}

/// A hash of the wishes, to tell whether they changed since a pass (the spec, or the nodes
/// they were derived from).
pub(super) fn fingerprint(desired: &Desired) -> u64 {
    hash_of(&format!("{desired:?}"))
}

/// A hash of what a status says beyond the probe and the conditions the probe drives (those
/// are what a probe-only pass rewrites).
pub(super) fn findings(status: &GatewayEndpointStatus) -> u64 {
    use crate::engine::reasons::{DYNAMODB_REACHABLE, READY, SYNCED};
    let mut rest = status.clone();
    rest.probe = None;
    rest.conditions
        .retain(|c| ![DYNAMODB_REACHABLE, READY, SYNCED].contains(&c.type_.as_str()));
    hash_of(&serde_json::to_string(&rest).unwrap_or_default())
}

pub(super) fn hash_of(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}
