//! Plan (pure): what differs from the spec ([`drift`]) and the actions that fix it ([`plan`]),
//! from what resolve and observe found. No I/O; the engine's fake-EC2 tests run every branch.

use std::collections::{BTreeMap, BTreeSet};

use super::desired::Desired;
use super::policy;
pub use super::resolve::{Holder, Ownership, Selection, holders, wanted};
use crate::api::{GatewayEndpointStatus, TAG_UID};
use crate::aws::{
    CreateEndpoint, Endpoint, EndpointState, ModifyEndpoint, PolicyChange, RouteTable,
};
use crate::error::Error;

/// What differs between the spec and an existing endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drift {
    pub add_route_tables: Vec<String>,
    pub remove_route_tables: Vec<String>,
    pub policy: Option<PolicyChange>,
    /// Tags missing or with another value (ours first of all).
    pub tag: BTreeMap<String, String>,
    /// Tag keys vpcgate set before and no longer wants.
    pub untag: Vec<String>,
}

impl Drift {
    /// Policy and tags as declared (what `EndpointAvailable` vouches for).
    pub fn endpoint_in_sync(&self) -> bool {
        self.policy.is_none() && self.tag.is_empty() && self.untag.is_empty()
    }
}

/// The one comparison of spec and endpoint: the plan acts on it, the report judges by it.
pub fn drift(
    desired: &Desired,
    ep: &Endpoint,
    holders: &BTreeMap<String, Holder>,
    managed_tag_keys: &[String],
) -> Drift {
    let on: BTreeSet<&String> = ep.route_table_ids.iter().collect();
    Drift {
        add_route_tables: wanted(holders)
            .into_iter()
            .filter(|id| !on.contains(id))
            .collect(),
        remove_route_tables: on
            .iter()
            .filter(|id| !holders.contains_key(**id))
            .map(|id| (*id).clone())
            .collect(),
        policy: (!policy::equivalent(ep.policy.as_deref(), desired.policy.as_ref())).then(|| {
            match &desired.policy {
                Some(doc) => PolicyChange::Set(doc.to_string()),
                None => PolicyChange::Reset,
            }
        }),
        tag: desired
            .tags
            .iter()
            .filter(|(k, v)| ep.tags.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        untag: managed_tag_keys
            .iter()
            .filter(|k| !desired.tags.contains_key(*k) && ep.tags.contains_key(*k))
            .cloned()
            .collect(),
    }
}

/// Why an endpoint is deleted during apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteWhy {
    /// Another endpoint carrying our uid tag.
    Duplicate,
    /// Ours, but `failed`, `rejected` or `expired`: replaced under the next token.
    Replace,
}

/// One step toward the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `DeleteVpcEndpoints` for endpoints of ours that must go.
    Delete { ids: Vec<String>, why: DeleteWhy },
    /// `CreateVpcEndpoint` with tags and an idempotency token.
    Create(CreateEndpoint),
    /// `CreateTags`: missing or changed tags; the ownership tag first of all.
    Tag {
        endpoint_id: String,
        tags: BTreeMap<String, String>,
    },
    /// One `ModifyVpcEndpoint`: route-table difference and/or policy.
    Modify(ModifyEndpoint),
    /// `DeleteTags` for keys vpcgate set earlier and no longer wants.
    Untag {
        endpoint_id: String,
        keys: Vec<String>,
    },
    /// `AuthorizeSecurityGroupEgress`: tcp/443 to the prefix list, tagged with the uid
    /// (`securityGroups.mode: Manage`).
    AuthorizeEgress {
        group_id: String,
        prefix_list_id: String,
    },
}

impl Action {
    /// The EC2 operation the action calls.
    pub fn operation(&self) -> &'static str {
        match self {
            Action::Delete { .. } => "DeleteVpcEndpoints",
            Action::Create(_) => "CreateVpcEndpoint",
            Action::Tag { .. } => "CreateTags",
            Action::Modify(_) => "ModifyVpcEndpoint",
            Action::Untag { .. } => "DeleteTags",
            Action::AuthorizeEgress { .. } => "AuthorizeSecurityGroupEgress",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Delete { ids, why } => write!(
                f,
                "delete {} ({})",
                ids.join(", "),
                match why {
                    DeleteWhy::Duplicate => "duplicates carrying this object's uid",
                    DeleteWhy::Replace => "failed; a replacement follows",
                }
            ),
            Action::Create(c) => write!(
                f,
                "create {} endpoint in {} on route tables [{}] with {}",
                c.service_name,
                c.vpc_id,
                c.route_table_ids.join(", "),
                if c.policy.is_some() {
                    "the declared policy"
                } else {
                    "the full-access policy"
                }
            ),
            Action::Modify(m) => {
                let mut parts = Vec::new();
                if !m.add_route_table_ids.is_empty() {
                    parts.push(format!(
                        "add route tables [{}]",
                        m.add_route_table_ids.join(", ")
                    ));
                }
                if !m.remove_route_table_ids.is_empty() {
                    parts.push(format!(
                        "remove route tables [{}]",
                        m.remove_route_table_ids.join(", ")
                    ));
                }
                match &m.policy {
                    Some(PolicyChange::Set(_)) => parts.push("set the policy".into()),
                    Some(PolicyChange::Reset) => {
                        parts.push("reset the policy to full access".into())
                    }
                    None => {}
                }
                write!(f, "modify {}: {}", m.endpoint_id, parts.join("; "))
            }
            Action::Tag { endpoint_id, tags } => write!(
                f,
                "tag {endpoint_id} with {}",
                tags.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
            Action::Untag { endpoint_id, keys } => {
                write!(f, "untag {endpoint_id}: {}", keys.join(", "))
            }
            Action::AuthorizeEgress {
                group_id,
                prefix_list_id,
            } => write!(
                f,
                "allow tcp/443 to {prefix_list_id} in {group_id}'s egress"
            ),
        }
    }
}

/// What a pass will do, and what it found on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The recreation counter after this plan (part of the create token).
    pub recreations: u32,
    /// The endpoint to manage, when it is live.
    pub endpoint: Option<Endpoint>,
    /// Who holds each selected table's route.
    pub holders: BTreeMap<String, Holder>,
    /// In the order to run them.
    pub actions: Vec<Action>,
    /// The recorded endpoint was deleted behind our back (its id).
    pub vanished: Option<String>,
    /// A dead endpoint being replaced (its id and state).
    pub replacing: Option<(String, EndpointState)>,
    /// The recorded endpoint, not visible to describes yet (within the describe lag): nothing
    /// is created while waiting for it.
    pub awaiting: Option<String>,
    /// Every endpoint id whose route is never a conflict: ours in any state, plus endpoints
    /// describes do not show yet that were first missed within the describe lag.
    pub own_ids: BTreeSet<String>,
    /// The policy differs, but AWS already failed to take it once for the same spec and report.
    pub policy_held: bool,
    /// Whether a change is drift repair (the spec did not change since the last pass).
    pub repairs_drift: bool,
    /// An existing endpoint being adopted this pass (`spec.adopt`).
    pub adopting: Option<String>,
}

/// Everything [`plan`] decides from.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    pub desired: &'a Desired,
    pub prev: &'a GatewayEndpointStatus,
    pub generation: Option<i64>,
    pub selection: &'a Selection,
    pub tables: &'a [RouteTable],
    pub prefix_list_id: &'a str,
    pub ownership: &'a Ownership,
    /// Those of `ownership.unseen` first missed less than the describe lag ago.
    pub unseen_young: &'a BTreeSet<String>,
    /// Selected security groups (in the VPC) whose egress does not reach the service.
    pub egress_blocked: &'a [String],
}

/// The actions that bring AWS in line with the spec. Never a create without a free route table
/// to put the endpoint on; never a change to an endpoint in another VPC.
pub fn plan(input: &PlanInput<'_>) -> Result<Plan, Error> {
    let PlanInput {
        desired,
        prev,
        ownership,
        ..
    } = *input;
    if let Some(ep) = &ownership.current
        && (ep.vpc_id != desired.vpc_id || ep.service_name != desired.service_name)
    {
        return Err(Error::InvalidSpec {
            field: "spec.vpcId".into(),
            message: format!(
                "this object owns {} ({} in {}); vpcId, service and region cannot change: delete and recreate the object",
                ep.id, ep.service_name, ep.vpc_id
            ),
        });
    }
    // Unseen endpoints still within the describe lag are most likely ours and a moment old;
    // older ones: a recorded id is gone for good, a route holder is somebody else's.
    let young = input.unseen_young;
    let awaiting = ownership
        .recorded_unseen
        .clone()
        .filter(|id| young.contains(id));
    let vanished = ownership.vanished.clone().or_else(|| {
        ownership
            .recorded_unseen
            .clone()
            .filter(|id| !young.contains(id))
    });
    let mut recreations = prev.recreations;
    if vanished.is_some() {
        recreations += 1;
    }
    let mut actions = Vec::new();
    let mut replacing = None;
    let endpoint = match &ownership.current {
        Some(ep) if ep.state.is_dead() => {
            replacing = Some((ep.id.clone(), ep.state.clone()));
            // Ownership first: the IAM policy allows Delete only on endpoints carrying it.
            if ep.tags.get(TAG_UID) != desired.tags.get(TAG_UID) {
                actions.push(Action::Tag {
                    endpoint_id: ep.id.clone(),
                    tags: desired
                        .tags
                        .iter()
                        .filter(|(k, _)| k.as_str() == TAG_UID)
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                });
            }
            actions.push(Action::Delete {
                ids: vec![ep.id.clone()],
                why: DeleteWhy::Replace,
            });
            None
        }
        other => other.clone(),
    };
    let mut own_ids: BTreeSet<String> = ownership.own_ids.clone();
    own_ids.extend(young.iter().cloned());
    let holders = holders(
        &input.selection.selected,
        input.tables,
        input.prefix_list_id,
        endpoint.as_ref().map(|e| e.id.as_str()),
        &own_ids,
    );
    let mut policy_held = false;
    match &endpoint {
        Some(ep) => {
            let mut d = drift(desired, ep, &holders, &prev.managed_tag_keys);
            if d.policy.is_some()
                && prev.policy_echo.as_deref()
                    == Some(
                        policy::echo_fingerprint(desired.policy.as_ref(), ep.policy.as_deref())
                            .as_str(),
                    )
            {
                d.policy = None;
                policy_held = true;
            }
            // Ownership first, on its own: an adopted (or stripped) endpoint gets the uid tag
            // in a call of its own, the only tag the adoption grant allows on an endpoint not
            // yet vpcgate's; the other tags follow once it is.
            if let Some(uid) = d.tag.remove(TAG_UID) {
                actions.push(Action::Tag {
                    endpoint_id: ep.id.clone(),
                    tags: BTreeMap::from([(TAG_UID.to_owned(), uid)]),
                });
            }
            if !d.tag.is_empty() {
                actions.push(Action::Tag {
                    endpoint_id: ep.id.clone(),
                    tags: d.tag,
                });
            }
            if !d.add_route_tables.is_empty()
                || !d.remove_route_tables.is_empty()
                || d.policy.is_some()
            {
                actions.push(Action::Modify(ModifyEndpoint {
                    endpoint_id: ep.id.clone(),
                    add_route_table_ids: d.add_route_tables,
                    remove_route_table_ids: d.remove_route_tables,
                    policy: d.policy,
                }));
            }
            if !d.untag.is_empty() {
                actions.push(Action::Untag {
                    endpoint_id: ep.id.clone(),
                    keys: d.untag,
                });
            }
        }
        None => {
            let route_table_ids = wanted(&holders);
            // Never a create while a table still holds a route of ours (or of an endpoint not
            // yet visible, likely ours): that create would be a duplicate or collide with the
            // route. And never one without a table to put it on.
            let settling = holders.values().any(|h| matches!(h, Holder::Settling(_)));
            // A replacement waits for the next pass: its token moves only once AWS took the
            // delete of the dead one.
            if !route_table_ids.is_empty() && !settling && awaiting.is_none() && replacing.is_none()
            {
                actions.push(Action::Create(CreateEndpoint {
                    vpc_id: desired.vpc_id.clone(),
                    service_name: desired.service_name.clone(),
                    route_table_ids,
                    policy: desired.policy.as_ref().map(ToString::to_string),
                    tags: desired.tags.clone(),
                    client_token: desired.client_token(recreations),
                }));
            }
        }
    }
    // Egress rules where missing (Manage), for an endpoint that exists or is being created.
    if desired.manage_egress {
        for group_id in input.egress_blocked {
            actions.push(Action::AuthorizeEgress {
                group_id: group_id.clone(),
                prefix_list_id: input.prefix_list_id.to_owned(),
            });
        }
    }
    // Duplicates last: one that cannot be deleted must not hold up repairs of the endpoint.
    let duplicates: Vec<String> = ownership.duplicates.iter().map(|e| e.id.clone()).collect();
    if !duplicates.is_empty() {
        actions.push(Action::Delete {
            ids: duplicates,
            why: DeleteWhy::Duplicate,
        });
    }
    Ok(Plan {
        recreations,
        endpoint,
        holders,
        actions,
        vanished,
        awaiting,
        own_ids,
        replacing,
        policy_held,
        repairs_drift: prev.endpoint_id.is_some() && prev.observed_generation == input.generation,
        adopting: ownership.adopted.clone(),
    })
}
