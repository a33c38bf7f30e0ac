//! Act and verify: run the plan's actions in order (stopping at the first failure), then read
//! back what AWS now reports. Each returns what it established; nothing is mutated in place.

use super::desired::Desired;
use super::events::{self, EngineEvent};
use super::observe::Observed;
use super::plan::{Action, DeleteWhy, Plan};
use super::reasons;
use crate::api::TAG_UID;
use crate::aws::pacing::Pacer;
use crate::aws::{CreateEndpoint, DeleteOutcome, Ec2, Endpoint, RouteTable};
use crate::error::Error;

/// What the actions achieved.
#[derive(Debug, Default)]
pub struct Acted {
    /// The endpoint a create returned.
    pub created: Option<Endpoint>,
    /// Whether AWS accepted any change (then [`verify`] reads again).
    pub changed: bool,
    /// Whether a Modify set or reset the policy.
    pub policy_sent: bool,
    /// The recreation counter after the actions (a create may move to the next token).
    pub recreations: u32,
    pub events: Vec<EngineEvent>,
    /// The failure that stopped the actions.
    pub error: Option<Error>,
    /// Egress rules were added (the groups are read again).
    pub egress_changed: bool,
    /// The actions stopped before this endpoint mutation: the request budget has no token for
    /// the object yet ([`crate::aws::pacing`]); its turn comes after the wait.
    pub budget: Option<BudgetWait>,
}

/// An endpoint mutation waiting for the EC2 request budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetWait {
    pub operation: &'static str,
    pub wait: std::time::Duration,
}

/// Runs the plan's actions; endpoint mutations only with a token from `pacer`.
pub async fn act(ec2: &dyn Ec2, pacer: &Pacer, desired: &Desired, plan: &Plan) -> Acted {
    let mut acted = Acted {
        recreations: plan.recreations,
        ..Default::default()
    };
    for action in &plan.actions {
        if matches!(
            action,
            Action::Create(_) | Action::Modify(_) | Action::Delete { .. }
        ) && let Err(wait) = pacer.admit(&desired.region, action.operation(), &desired.uid)
        {
            acted.budget = Some(BudgetWait {
                operation: action.operation(),
                wait,
            });
            break;
        }
        let result = match action {
            Action::Create(req) => create(ec2, desired, req, &mut acted).await,
            Action::Delete { ids, why } => delete(ec2, ids, *why, plan, &mut acted).await,
            Action::Modify(req) => ec2.modify_endpoint(req).await.map(|()| {
                acted.policy_sent |= req.policy.is_some();
                let reason = if req.add_route_table_ids.is_empty()
                    && req.remove_route_table_ids.is_empty()
                {
                    reasons::EV_POLICY_CHANGED
                } else {
                    reasons::EV_ROUTE_TABLES_CHANGED
                };
                changed(&mut acted, reason, action, plan.repairs_drift);
            }),
            Action::Tag {
                endpoint_id, tags, ..
            } => match ec2.create_tags(endpoint_id, tags).await {
                Ok(()) => {
                    changed(
                        &mut acted,
                        reasons::EV_TAGS_CHANGED,
                        action,
                        plan.repairs_drift,
                    );
                    Ok(())
                }
                // Restoring a stripped ownership tag is what the least-privilege policy forbids
                // (tags only on endpoints already carrying it): say so, not just AccessDenied.
                Err(e)
                    if e.class == crate::aws::ErrorClass::AccessDenied
                        && tags.get(TAG_UID) == Some(&desired.uid) =>
                {
                    acted.error = Some(if plan.adopting.as_ref() == Some(endpoint_id) {
                        Error::AdoptionDenied {
                            id: endpoint_id.clone(),
                        }
                    } else {
                        Error::OwnershipLost {
                            endpoint_id: endpoint_id.clone(),
                            uid: desired.uid.clone(),
                        }
                    });
                    break;
                }
                Err(e) => Err(e),
            },
            Action::AuthorizeEgress {
                group_id,
                prefix_list_id,
            } => {
                let tags = std::collections::BTreeMap::from([
                    (TAG_UID.to_owned(), desired.uid.clone()),
                    (
                        crate::api::TAG_NAME.to_owned(),
                        desired
                            .tags
                            .get(crate::api::TAG_NAME)
                            .cloned()
                            .unwrap_or_default(),
                    ),
                ]);
                match ec2.authorize_egress(group_id, prefix_list_id, &tags).await {
                    Ok(()) => {
                        acted.egress_changed = true;
                        acted
                            .events
                            .push(events::egress_rule_added(group_id, prefix_list_id));
                        Ok(())
                    }
                    // Already there (describes lagged, or another object added it): the goal
                    // holds; read the groups again.
                    Err(e) if e.code.as_deref() == Some("InvalidPermission.Duplicate") => {
                        acted.egress_changed = true;
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            Action::Untag { endpoint_id, keys } => {
                ec2.delete_tags(endpoint_id, keys).await.map(|()| {
                    changed(
                        &mut acted,
                        reasons::EV_TAGS_CHANGED,
                        action,
                        plan.repairs_drift,
                    )
                })
            }
        };
        if let Err(e) = result {
            acted.error = Some(e.into());
            break;
        }
    }
    acted
}

fn changed(acted: &mut Acted, reason: &'static str, action: &Action, drift: bool) {
    acted.changed = true;
    acted.events.push(events::changed(
        reason,
        action.operation(),
        action.to_string(),
        drift,
    ));
}

/// Creates under the current token. AWS answers a repeated token with the endpoint it first
/// made: if that one is gone by now, create once more under the next token. A token that AWS
/// says was used with other parameters (the spec changed while the earlier endpoint vanished)
/// moves to the next token too, which the next pass uses once describes have settled.
async fn create(
    ec2: &dyn Ec2,
    desired: &Desired,
    req: &CreateEndpoint,
    acted: &mut Acted,
) -> Result<(), crate::aws::AwsError> {
    let ep = match ec2.create_endpoint(req).await {
        Ok(ep) if ep.state.is_leaving() || ep.state.is_dead() => {
            acted.recreations += 1;
            acted.events.push(events::recreated(&ep.id));
            let again = CreateEndpoint {
                client_token: desired.client_token(acted.recreations),
                ..req.clone()
            };
            ec2.create_endpoint(&again).await?
        }
        Ok(ep) => ep,
        Err(e) if e.code.as_deref() == Some("IdempotentParameterMismatch") => {
            acted.recreations += 1;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    acted.changed = true;
    acted.events.push(events::created(
        &ep.id,
        &req.service_name,
        &req.route_table_ids,
    ));
    acted.created = Some(ep);
    Ok(())
}

async fn delete(
    ec2: &dyn Ec2,
    ids: &[String],
    why: DeleteWhy,
    plan: &Plan,
    acted: &mut Acted,
) -> Result<(), crate::aws::AwsError> {
    let mut accepted = Vec::new();
    for (id, outcome) in ec2.delete_endpoints(ids).await? {
        match outcome {
            DeleteOutcome::Accepted => accepted.push(id),
            DeleteOutcome::AlreadyGone => {}
            DeleteOutcome::Failed(e) => return Err(e),
        }
    }
    if accepted.is_empty() {
        return Ok(());
    }
    acted.changed = true;
    acted.events.push(match (why, &plan.replacing) {
        (DeleteWhy::Replace, Some((id, state))) => {
            // The replacement goes under the next token, from the moment AWS took the delete.
            acted.recreations += 1;
            events::replaced(id, state.as_str())
        }
        _ => events::duplicates_deleted(&accepted, plan.endpoint.as_ref().map(|e| e.id.as_str())),
    });
    Ok(())
}

/// What AWS reports after the actions: the route tables and our endpoint.
#[derive(Debug, Clone)]
pub struct Verified {
    pub tables: Vec<RouteTable>,
    pub endpoint: Option<Endpoint>,
}

/// The second observe, only after a change: routes really present, the endpoint as it is now.
/// Without a change the first observation stands.
pub async fn verify(
    ec2: &dyn Ec2,
    vpc_id: &str,
    seen: &Observed,
    plan: &Plan,
    acted: &Acted,
) -> Result<Verified, Error> {
    let endpoint = acted.created.clone().or(plan.endpoint.clone());
    if !acted.changed {
        return Ok(Verified {
            tables: seen.tables.clone(),
            endpoint,
        });
    }
    // The view dropped this VPC's routing when the change was made: this is a fresh read.
    let routing = ec2.routing(vpc_id).await?.unwrap_or_default();
    // Not visible yet right after a create (eventual consistency): keep what create said.
    let endpoint = endpoint.map(|ep| {
        routing
            .endpoints
            .iter()
            .find(|e| e.id == ep.id)
            .cloned()
            .unwrap_or(ep)
    });
    Ok(Verified {
        tables: routing.tables.clone(),
        endpoint,
    })
}
