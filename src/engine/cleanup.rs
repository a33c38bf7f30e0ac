//! Cleanup: the same shape as apply (observe → act → a typed outcome), for an object being
//! deleted. The finalizer is released only on [`Cleanup::Gone`]: every endpoint carrying the uid
//! or recorded in status is described `deleted` or answered not-found by AWS, and a fresh create
//! can no longer be hiding behind the describe lag.

use std::collections::BTreeMap;
use std::time::Duration;

use super::events::{self, EngineEvent};
use crate::api::{DeletionPolicy, TAG_NAME, TAG_UID};
use crate::aws::{DeleteOutcome, Ec2, Endpoint, EndpointState};
use crate::error::Error;

/// Where a deletion stands.
#[derive(Debug)]
pub enum Cleanup {
    /// Nothing of ours is left in AWS (or it was retained): release the finalizer.
    Gone,
    /// AWS is still deleting these (id, state); an empty list means the describe lag after a
    /// possible create has not passed yet.
    Pending(Vec<(String, String)>),
    /// A call failed; the deletion waits on AWS or a human. The ids still in AWS, with state.
    Failed(Error, Vec<(String, String)>),
}

/// The result of one cleanup pass.
#[derive(Debug)]
pub struct CleanupOutcome {
    pub result: Cleanup,
    pub events: Vec<EngineEvent>,
}

/// What the cleanup works from.
#[derive(Debug, Clone, Copy)]
pub struct CleanupInput<'a> {
    pub uid: &'a str,
    pub policy: DeletionPolicy,
    /// The endpoint id recorded in status.
    pub recorded_id: Option<&'a str>,
    /// How long ago deletion was requested.
    pub deleting_for: Duration,
    /// How long a fresh endpoint may stay invisible to describes.
    pub describe_lag: Duration,
}

/// One cleanup pass.
pub async fn cleanup(ec2: &dyn Ec2, input: &CleanupInput<'_>) -> CleanupOutcome {
    let mut events = Vec::new();
    let result = match run(ec2, input, &mut events).await {
        Ok(result) => result,
        Err((e, pending)) => Cleanup::Failed(e, pending),
    };
    CleanupOutcome { result, events }
}

type Failure = (Error, Vec<(String, String)>);

fn fail(e: impl Into<Error>) -> Failure {
    (e.into(), Vec::new())
}

async fn run(
    ec2: &dyn Ec2,
    input: &CleanupInput<'_>,
    events: &mut Vec<EngineEvent>,
) -> Result<Cleanup, Failure> {
    // Every endpoint that is or was ours: id → what describes say (`None`: not described).
    let mut ours: BTreeMap<String, Option<Endpoint>> = ec2
        .endpoints_by_tag(TAG_UID, input.uid)
        .await
        .map_err(fail)?
        .into_iter()
        .map(|e| (e.id.clone(), Some(e)))
        .collect();
    if let Some(id) = input.recorded_id
        && !ours.contains_key(id)
    {
        let found = ec2.endpoint(id).await.map_err(fail)?;
        ours.insert(id.to_owned(), found);
    }

    if input.policy == DeletionPolicy::Retain {
        for ep in ours.values().flatten() {
            if ep.state.is_leaving() || !ep.tags.contains_key(TAG_UID) {
                continue;
            }
            let keys = [TAG_UID.to_owned(), TAG_NAME.to_owned()];
            ec2.delete_tags(&ep.id, &keys).await.map_err(fail)?;
            events.push(events::retained(&ep.id));
        }
        return Ok(Cleanup::Gone);
    }

    let mut pending = Vec::new();
    let mut gone = Vec::new();
    let mut to_delete = Vec::new();
    for (id, seen) in &ours {
        match seen.as_ref().map(|e| &e.state) {
            Some(EndpointState::Deleted) => gone.push(id.clone()),
            Some(EndpointState::Deleting) => pending.push((id.clone(), "deleting".to_owned())),
            Some(_) => {
                // Ownership first: the IAM policy allows Delete only on endpoints carrying it.
                let ep = seen.as_ref().expect("matched Some");
                if ep.tags.get(TAG_UID).map(String::as_str) != Some(input.uid) {
                    let tag = BTreeMap::from([(TAG_UID.to_owned(), input.uid.to_owned())]);
                    ec2.create_tags(id, &tag).await.map_err(fail)?;
                }
                to_delete.push(id.clone());
            }
            // Not described (describe lag, or long gone): AWS's answer to the delete tells.
            None => to_delete.push(id.clone()),
        }
    }
    if !to_delete.is_empty() {
        // What the deletion waits on when AWS refuses: every endpoint not gone, as last seen.
        let blocked = |pending: &[(String, String)]| -> Vec<(String, String)> {
            let mut still = pending.to_vec();
            still.extend(to_delete.iter().map(|id| {
                let state = ours
                    .get(id)
                    .and_then(|e| e.as_ref())
                    .map_or_else(|| "not described".to_owned(), |e| e.state.to_string());
                (id.clone(), state)
            }));
            still
        };
        let outcomes = ec2
            .delete_endpoints(&to_delete)
            .await
            .map_err(|e| (e.into(), blocked(&pending)))?;
        for (id, outcome) in outcomes {
            match outcome {
                DeleteOutcome::Accepted => {
                    events.push(events::deleting(&id));
                    pending.push((id, "deleting".to_owned()));
                }
                DeleteOutcome::AlreadyGone => gone.push(id),
                DeleteOutcome::Failed(e) => return Err((e.into(), blocked(&pending))),
            }
        }
    }
    if !pending.is_empty() {
        return Ok(Cleanup::Pending(pending));
    }
    if ours.is_empty() && input.deleting_for < input.describe_lag {
        // Nothing seen, nothing recorded: a create whose status write was lost may still be
        // invisible to describes. Look again once the lag has passed.
        return Ok(Cleanup::Pending(Vec::new()));
    }
    if !gone.is_empty() {
        events.push(events::deleted(&gone));
    }
    Ok(Cleanup::Gone)
}
