//! Publishing engine events as events.k8s.io Events. kube's `Recorder` folds a repeated event
//! into a series, but it keys events without their note, so a new note (another drift, another
//! failure message under the same reason) would be shown under the first one. One recorder per
//! (object, reason) is kept, and replaced when the note changes: repeats still fold into a
//! series, and a new note starts a new event that says what happened now.

use std::collections::HashMap;
use std::sync::Mutex;

use kube::runtime::events::{Event, EventType as KubeEventType, Recorder, Reporter};
use kube::{Client, Resource, ResourceExt};
use tracing::warn;

use crate::api::GatewayEndpoint;
use crate::engine::{EngineEvent, EventType};

/// Longest note kept (events.k8s.io allows 1 kB).
const MAX_NOTE: usize = 1000;

/// An object's uid and an event reason.
type RecorderKey = (String, &'static str);

/// Publishes events for every object; shared by all reconciles.
pub struct Events {
    client: Client,
    reporter: Reporter,
    /// (object uid, reason) → the note last published and the recorder that folds its repeats.
    recorders: Mutex<HashMap<RecorderKey, (String, Recorder)>>,
}

impl Events {
    pub fn new(client: Client, reporter: Reporter) -> Self {
        Events {
            client,
            reporter,
            recorders: Mutex::new(HashMap::new()),
        }
    }

    /// The recorder for this object, reason and note: the same as last time while the note is
    /// the same, a fresh one when it changed.
    fn recorder(&self, uid: &str, reason: &'static str, note: &str) -> Recorder {
        let mut map = self.recorders.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map.entry((uid.to_owned(), reason));
        match entry {
            std::collections::hash_map::Entry::Occupied(mut o) => {
                if o.get().0 != note {
                    o.insert((
                        note.to_owned(),
                        Recorder::new(self.client.clone(), self.reporter.clone()),
                    ));
                }
                o.get().1.clone()
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                let recorder = Recorder::new(self.client.clone(), self.reporter.clone());
                v.insert((note.to_owned(), recorder.clone()));
                recorder
            }
        }
    }

    /// Publishes; a failed publish is logged, never fatal.
    pub async fn publish(&self, obj: &GatewayEndpoint, events: &[EngineEvent]) {
        let uid = obj.uid().unwrap_or_default();
        let reference = obj.object_ref(&());
        for e in events {
            let note = truncate(&e.note, MAX_NOTE);
            let event = Event {
                type_: match e.type_ {
                    EventType::Normal => KubeEventType::Normal,
                    EventType::Warning => KubeEventType::Warning,
                },
                reason: e.reason.to_owned(),
                note: Some(note.clone()),
                action: e.action.to_owned(),
                secondary: None,
            };
            let recorder = self.recorder(&uid, e.reason, &note);
            if let Err(err) = recorder.publish(&event, &reference).await {
                warn!(error = %err, reason = e.reason, "could not publish event");
            }
        }
    }

    /// Drops what is kept for a deleted object.
    pub fn forget(&self, uid: &str) {
        self.recorders
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(u, _), _| u != uid);
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    #[test]
    fn truncation_keeps_char_boundaries() {
        assert_eq!(super::truncate("abc", 5), "abc");
        assert_eq!(super::truncate("abcdef", 3), "abc…");
        assert_eq!(super::truncate("ééé", 3), "é…");
    }
}
