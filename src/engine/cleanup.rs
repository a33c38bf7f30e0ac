//! Cleanup: the same shape as apply (observe → act → a typed outcome), for an object being
//! deleted. The finalizer is released only on [`Cleanup::Gone`]: every endpoint carrying the uid
//! or recorded in status is described `deleted` or answered not-found by AWS, and a fresh create
//! can no longer be hiding behind the describe lag.

use std::collections::BTreeMap;
use std::time::Duration;

use super::events::{self, EngineEvent};
use crate::api::{DeletionPolicy, TAG_UID};
use crate::aws::pacing::Pacer;
use crate::aws::{DeleteOutcome, Ec2, Endpoint, EndpointState};
use crate::error::Error;

/// Where a deletion stands.
#[derive(Debug)]
pub enum Cleanup {
    /// Nothing of ours is left in AWS (or it was retained): release the finalizer.
    Gone,
    /// AWS is still deleting these; an empty list means nothing is left in sight but the
    /// describe lag since deletion was requested has not passed (a create whose status write
    /// was lost could still be hiding behind it).
    Pending(Vec<Waiting>),
    /// A call failed; the deletion waits on AWS or a human, for these endpoints.
    Failed(Error, Vec<Waiting>),
}

/// An endpoint a deletion waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub id: String,
    /// As last described; `None` when describes do not show it.
    pub state: Option<EndpointState>,
}

impl std::fmt::Display for Waiting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.state {
            Some(state) => write!(f, "{} ({state})", self.id),
            None => write!(f, "{} (not described yet)", self.id),
        }
    }
}

/// The result of one cleanup pass.
#[derive(Debug)]
pub struct CleanupOutcome {
    pub result: Cleanup,
    pub events: Vec<EngineEvent>,
    /// The delete waits for the EC2 request budget: its token is due after this long.
    pub retry_after: Option<Duration>,
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
    /// The object selects security groups: egress rules it added (tagged with its uid) go too
    /// (`Delete` policy).
    pub egress_rules: bool,
    /// The region, for the request budget.
    pub region: &'a str,
    /// The budget `DeleteVpcEndpoints` is paced by.
    pub pacer: &'a Pacer,
}

/// One cleanup pass.
pub async fn cleanup(ec2: &dyn Ec2, input: &CleanupInput<'_>) -> CleanupOutcome {
    let mut events = Vec::new();
    let mut retry_after = None;
    let result = match run(ec2, input, &mut events, &mut retry_after).await {
        Ok(result) => result,
        Err((e, pending)) => Cleanup::Failed(e, pending),
    };
    CleanupOutcome {
        result,
        events,
        retry_after,
    }
}

type Failure = (Error, Vec<Waiting>);

fn fail(e: impl Into<Error>) -> Failure {
    (e.into(), Vec::new())
}

async fn run(
    ec2: &dyn Ec2,
    input: &CleanupInput<'_>,
    events: &mut Vec<EngineEvent>,
    paced: &mut Option<Duration>,
) -> Result<Cleanup, Failure> {
    // Egress rules vpcgate added carry the uid tag; only those are removed.
    if input.egress_rules && input.policy == DeletionPolicy::Delete {
        let mut by_group: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (group, rule) in ec2
            .tagged_egress_rules(TAG_UID, input.uid)
            .await
            .map_err(fail)?
        {
            by_group.entry(group).or_default().push(rule);
        }
        for (group, rules) in by_group {
            ec2.revoke_egress(&group, &rules).await.map_err(fail)?;
            events.push(events::egress_rules_removed(&group, &rules));
        }
    }
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

    // Endpoints that carry another object's uid are not ours to touch (the recorded id may
    // have been taken over since).
    ours.retain(|_, seen| {
        seen.as_ref()
            .and_then(|e| e.tags.get(TAG_UID))
            .is_none_or(|v| v == input.uid)
    });
    if input.policy == DeletionPolicy::Retain {
        for ep in ours.values().flatten() {
            if ep.state.is_leaving() || ep.tags.get(TAG_UID).map(String::as_str) != Some(input.uid)
            {
                continue;
            }
            // The name tag stays: a later object can adopt the endpoint knowing whose it was.
            let keys = [TAG_UID.to_owned()];
            ec2.delete_tags(&ep.id, &keys).await.map_err(fail)?;
            events.push(events::retained(&ep.id));
        }
        return Ok(Cleanup::Gone);
    }

    let waiting = |id: &str, state: Option<EndpointState>| Waiting {
        id: id.to_owned(),
        state,
    };
    let mut pending = Vec::new();
    let mut gone = Vec::new();
    let mut to_delete = Vec::new();
    for (id, seen) in &ours {
        match seen.as_ref().map(|e| &e.state) {
            Some(EndpointState::Deleted) => gone.push(id.clone()),
            Some(EndpointState::Deleting) => {
                pending.push(waiting(id, Some(EndpointState::Deleting)))
            }
            Some(_) => {
                // Ownership first: the IAM policy allows Delete only on endpoints carrying it.
                let ep = seen.as_ref().expect("matched Some");
                if ep.tags.get(TAG_UID).map(String::as_str) != Some(input.uid) {
                    let tag = BTreeMap::from([(TAG_UID.to_owned(), input.uid.to_owned())]);
                    match ec2.create_tags(id, &tag).await {
                        Ok(()) => {}
                        // The least-privilege policy cannot restore a stripped tag: the
                        // endpoint is no longer ours to delete. Say so and let go, rather than
                        // hold the finalizer forever.
                        Err(e) if e.class == crate::aws::ErrorClass::AccessDenied => {
                            events.push(events::ownership_lost(id, input.uid));
                            continue;
                        }
                        Err(e) => return Err(fail(e)),
                    }
                }
                to_delete.push(id.clone());
            }
            // Not described (describe lag, or long gone): AWS's answer to the delete tells.
            None => to_delete.push(id.clone()),
        }
    }
    if !to_delete.is_empty() {
        // What the deletion waits on when AWS refuses: every endpoint not gone, as last seen.
        let blocked = |pending: &[Waiting]| -> Vec<Waiting> {
            let mut still = pending.to_vec();
            still.extend(to_delete.iter().map(|id| {
                waiting(
                    id,
                    ours.get(id)
                        .and_then(|e| e.as_ref())
                        .map(|e| e.state.clone()),
                )
            }));
            still
        };
        // No token yet: the deletion waits for its turn, nothing is sent.
        if let Err(wait) = input
            .pacer
            .admit(input.region, "DeleteVpcEndpoints", input.uid)
        {
            *paced = Some(wait);
            return Ok(Cleanup::Pending(blocked(&pending)));
        }
        let outcomes = ec2
            .delete_endpoints(&to_delete)
            .await
            .map_err(|e| (e.into(), blocked(&pending)))?;
        for (id, outcome) in outcomes {
            match outcome {
                DeleteOutcome::Accepted => {
                    events.push(events::deleting(&id));
                    pending.push(waiting(&id, Some(EndpointState::Deleting)));
                }
                DeleteOutcome::AlreadyGone => gone.push(id),
                DeleteOutcome::Failed(e) => return Err((e.into(), blocked(&pending))),
            }
        }
    }
    if !pending.is_empty() {
        return Ok(Cleanup::Pending(pending));
    }
    if input.deleting_for < input.describe_lag {
        // Nothing left in sight, but a create whose status write was lost may still be
        // invisible to describes: look again once the lag since deletion has passed (not
        // every poll: nothing can change before then).
        *paced = Some(input.describe_lag - input.deleting_for);
        return Ok(Cleanup::Pending(Vec::new()));
    }
    if !gone.is_empty() {
        events.push(events::deleted(&gone));
    }
    Ok(Cleanup::Gone)
}
