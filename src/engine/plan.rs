//! Pure decisions: which route tables are selected, which endpoint is ours, who holds each
//! table's route, what differs from the spec ([`drift`]) and the actions that fix it ([`plan`]).
//! No I/O; everything here is table-tested, and the engine's fake-EC2 tests run every branch.

use std::collections::{BTreeMap, BTreeSet};

use super::desired::Desired;
use super::policy;
use crate::api::{GatewayEndpointStatus, RouteTableSelector};
use crate::aws::{CreateEndpoint, Endpoint, ModifyEndpoint, PolicyChange, RouteTable};
use crate::error::Error;

/// The route tables a selector names, split into those found and those that are not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Tables of the VPC the selector names (ids ∪ subnets' tables ∪ tagged), sorted.
    pub selected: BTreeSet<String>,
    /// `routeTables.ids` that are not tables of the VPC: reported per table, never fatal.
    pub missing_tables: Vec<String>,
    /// `routeTables.subnetIds` that are not subnets of the VPC.
    pub missing_subnets: Vec<String>,
}

/// The union of the route tables the selector names. `ids` must be tables of the VPC;
/// `subnetIds` contribute their associated table, else the main one; `tags` match every table
/// carrying all of them. What is not found is listed, and the rest still selected.
pub fn select_route_tables(
    selector: &RouteTableSelector,
    tables: &[RouteTable],
    vpc_subnet_ids: &[String],
) -> Selection {
    let known = |id: &String| tables.iter().any(|t| &t.id == id);
    let mut sel = Selection::default();
    for id in &selector.ids {
        if known(id) {
            sel.selected.insert(id.clone());
        } else if !sel.missing_tables.contains(id) {
            sel.missing_tables.push(id.clone());
        }
    }
    let main = tables.iter().find(|t| t.main).map(|t| t.id.clone());
    for subnet in &selector.subnet_ids {
        if !vpc_subnet_ids.contains(subnet) {
            if !sel.missing_subnets.contains(subnet) {
                sel.missing_subnets.push(subnet.clone());
            }
            continue;
        }
        let table = tables
            .iter()
            .find(|t| t.subnet_ids.contains(subnet))
            .map(|t| t.id.clone())
            .or_else(|| main.clone());
        sel.selected.extend(table);
    }
    if !selector.tags.is_empty() {
        sel.selected.extend(
            tables
                .iter()
                .filter(|t| selector.tags.iter().all(|(k, v)| t.tags.get(k) == Some(v)))
                .map(|t| t.id.clone()),
        );
    }
    sel
}

/// The endpoints that are or were this object's, sorted into roles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ownership {
    /// The one endpoint to manage: live (or dead, to be replaced), carrying our uid tag or
    /// recorded in status.
    pub current: Option<Endpoint>,
    /// Other endpoints carrying our uid tag that are not on their way out.
    pub duplicates: Vec<Endpoint>,
    /// Every id that is or was ours, in any state, and any endpoint holding a selected table's
    /// route that describes do not show yet: their routes are never a conflict.
    pub own_ids: BTreeSet<String>,
    /// The endpoint recorded in status, described as deleting or deleted while nothing else of
    /// ours is current: it was deleted behind our back.
    pub vanished: Option<String>,
}

/// Sorts the endpoints tagged with our uid, plus the one recorded in status (`recorded`: its id
/// and what describing it by id returned, when the tag search did not find it).
pub fn ownership(
    tagged: Vec<Endpoint>,
    recorded_id: Option<&str>,
    recorded: Option<Endpoint>,
) -> Ownership {
    let mut own_ids: BTreeSet<String> = tagged.iter().map(|e| e.id.clone()).collect();
    own_ids.extend(recorded_id.map(str::to_owned));
    let mut vanished = tagged
        .iter()
        .find(|e| Some(e.id.as_str()) == recorded_id && e.state.is_leaving())
        .map(|e| e.id.clone());
    let mut candidates: Vec<Endpoint> = tagged
        .into_iter()
        .filter(|e| !e.state.is_leaving())
        .collect();
    if let Some(ep) = recorded {
        if ep.state.is_leaving() {
            vanished = Some(ep.id.clone());
        } else if !candidates.iter().any(|c| c.id == ep.id) {
            candidates.push(ep);
        }
    }
    // The recorded one first, then live before dead, then the oldest.
    candidates.sort_by_key(|e| {
        (
            Some(e.id.as_str()) != recorded_id,
            !e.state.is_live(),
            e.created,
            e.id.clone(),
        )
    });
    let mut rest = candidates.into_iter();
    let current = rest.next();
    if current.is_some() {
        vanished = None;
    }
    Ownership {
        current,
        duplicates: rest.collect(),
        own_ids,
        vanished,
    }
}

/// Who holds a selected table's route for the service's prefix list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// No route for the prefix list yet.
    Free,
    /// The endpoint we manage.
    Current,
    /// An earlier endpoint of ours (deleting, replaced, a duplicate): AWS will clear it.
    Settling(String),
    /// Somebody else's endpoint: never fought over.
    Foreign(String),
}

/// The holder of every selected table, from the tables as described.
pub fn holders(
    selected: &BTreeSet<String>,
    tables: &[RouteTable],
    prefix_list_id: &str,
    current: Option<&str>,
    own_ids: &BTreeSet<String>,
) -> BTreeMap<String, Holder> {
    selected
        .iter()
        .map(|id| {
            let target = tables
                .iter()
                .find(|t| &t.id == id)
                .and_then(|t| t.prefix_list_routes.get(prefix_list_id));
            let holder = match target {
                None => Holder::Free,
                Some(t) if Some(t.as_str()) == current => Holder::Current,
                Some(t) if own_ids.contains(t) => Holder::Settling(t.clone()),
                Some(t) => Holder::Foreign(t.clone()),
            };
            (id.clone(), holder)
        })
        .collect()
}

/// The tables the endpoint should be on now: selected, and free or already ours.
pub fn wanted(holders: &BTreeMap<String, Holder>) -> Vec<String> {
    holders
        .iter()
        .filter(|(_, h)| matches!(h, Holder::Free | Holder::Current))
        .map(|(id, _)| id.clone())
        .collect()
}

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
    pub replacing: Option<(String, String)>,
    /// The policy differs, but AWS already failed to take it once for the same spec and report.
    pub policy_held: bool,
    /// Whether a change is drift repair (the spec did not change since the last pass).
    pub repairs_drift: bool,
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
    let mut recreations = prev.recreations;
    if ownership.vanished.is_some() {
        recreations += 1;
    }
    let mut actions = Vec::new();
    let duplicates: Vec<String> = ownership.duplicates.iter().map(|e| e.id.clone()).collect();
    if !duplicates.is_empty() {
        actions.push(Action::Delete {
            ids: duplicates,
            why: DeleteWhy::Duplicate,
        });
    }
    let mut replacing = None;
    let endpoint = match &ownership.current {
        Some(ep) if ep.state.is_dead() => {
            recreations += 1;
            replacing = Some((ep.id.clone(), ep.state.to_string()));
            actions.push(Action::Delete {
                ids: vec![ep.id.clone()],
                why: DeleteWhy::Replace,
            });
            None
        }
        other => other.clone(),
    };
    let holders = holders(
        &input.selection.selected,
        input.tables,
        input.prefix_list_id,
        endpoint.as_ref().map(|e| e.id.as_str()),
        &ownership.own_ids,
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
            if !route_table_ids.is_empty() {
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
    Ok(Plan {
        recreations,
        endpoint,
        holders,
        actions,
        vanished: ownership.vanished.clone(),
        replacing,
        policy_held,
        repairs_drift: prev.endpoint_id.is_some() && prev.observed_generation == input.generation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::EndpointState;

    fn rt(id: &str, main: bool, subnets: &[&str], tags: &[(&str, &str)]) -> RouteTable {
        RouteTable {
            id: id.into(),
            vpc_id: "vpc-1".into(),
            main,
            subnet_ids: subnets.iter().map(|s| s.to_string()).collect(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            prefix_list_routes: BTreeMap::new(),
        }
    }

    fn set(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    fn strings(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn selection_unions_sources_and_lists_what_is_missing() {
        let tables = vec![
            rt("rtb-main", true, &[], &[]),
            rt("rtb-pub", false, &["subnet-pub"], &[("tier", "public")]),
            rt(
                "rtb-priv",
                false,
                &["subnet-priv"],
                &[("tier", "private"), ("env", "prod")],
            ),
            rt("rtb-priv2", false, &[], &[("tier", "private")]),
        ];
        let subnets = strings(&["subnet-pub", "subnet-priv", "subnet-bare"]);
        let sel = |ids: &[&str], subnet_ids: &[&str], tags: &[(&str, &str)]| RouteTableSelector {
            ids: strings(ids),
            subnet_ids: strings(subnet_ids),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let cases = [
            (
                sel(&["rtb-pub"], &[], &[]),
                set(&["rtb-pub"]),
                vec![],
                vec![],
            ),
            (
                sel(&[], &["subnet-pub", "subnet-priv"], &[]),
                set(&["rtb-priv", "rtb-pub"]),
                vec![],
                vec![],
            ),
            // A subnet without its own association uses the main table.
            (
                sel(&[], &["subnet-bare"], &[]),
                set(&["rtb-main"]),
                vec![],
                vec![],
            ),
            (
                sel(&[], &[], &[("tier", "private"), ("env", "prod")]),
                set(&["rtb-priv"]),
                vec![],
                vec![],
            ),
            (sel(&[], &[], &[("tier", "none")]), set(&[]), vec![], vec![]),
            // What is missing is listed; the rest is still selected.
            (
                sel(
                    &["rtb-pub", "rtb-x", "rtb-x"],
                    &["subnet-nope", "subnet-priv"],
                    &[],
                ),
                set(&["rtb-priv", "rtb-pub"]),
                strings(&["rtb-x"]),
                strings(&["subnet-nope"]),
            ),
        ];
        for (selector, selected, missing_tables, missing_subnets) in cases {
            let got = select_route_tables(&selector, &tables, &subnets);
            assert_eq!(
                got,
                Selection {
                    selected,
                    missing_tables,
                    missing_subnets
                },
                "{selector:?}"
            );
        }
    }

    fn ep(id: &str, state: EndpointState, created: i64) -> Endpoint {
        Endpoint {
            id: id.into(),
            state,
            created,
            ..Default::default()
        }
    }

    #[test]
    fn ownership_prefers_recorded_then_live_then_oldest() {
        use EndpointState::*;
        let tagged = vec![
            ep("vpce-new", Available, 20),
            ep("vpce-old", Available, 10),
            ep("vpce-gone", Deleted, 1),
            ep("vpce-dead", Failed, 5),
        ];
        let o = ownership(tagged.clone(), None, None);
        assert_eq!(o.current.unwrap().id, "vpce-old");
        let dups: Vec<_> = o.duplicates.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(dups, ["vpce-new", "vpce-dead"]);
        assert_eq!(o.own_ids.len(), 4);
        let o = ownership(tagged.clone(), Some("vpce-new"), None);
        assert_eq!(o.current.unwrap().id, "vpce-new");
        // Recorded, untagged (tag stripped) and live: still ours.
        let o = ownership(vec![], Some("vpce-r"), Some(ep("vpce-r", Available, 1)));
        assert_eq!(o.current.unwrap().id, "vpce-r");
        // Recorded and deleted, nothing else: vanished.
        let o = ownership(vec![], Some("vpce-r"), Some(ep("vpce-r", Deleted, 1)));
        assert_eq!((o.current, o.vanished.as_deref()), (None, Some("vpce-r")));
        // Only a dead one: it is current (to be replaced).
        let o = ownership(vec![ep("vpce-dead", Rejected, 1)], None, None);
        assert_eq!(o.current.unwrap().id, "vpce-dead");
    }

    #[test]
    fn holders_tell_current_settling_and_foreign_apart() {
        let mut tables = vec![
            rt("rtb-a", false, &[], &[]),
            rt("rtb-b", false, &[], &[]),
            rt("rtb-c", false, &[], &[]),
            rt("rtb-d", false, &[], &[]),
        ];
        for (t, target) in tables.iter_mut().zip(["vpce-me", "vpce-old", "vpce-other"]) {
            t.prefix_list_routes.insert("pl-1".into(), target.into());
        }
        let h = holders(
            &set(&["rtb-a", "rtb-b", "rtb-c", "rtb-d", "rtb-gone"]),
            &tables,
            "pl-1",
            Some("vpce-me"),
            &set(&["vpce-me", "vpce-old"]),
        );
        assert_eq!(h["rtb-a"], Holder::Current);
        assert_eq!(h["rtb-b"], Holder::Settling("vpce-old".into()));
        assert_eq!(h["rtb-c"], Holder::Foreign("vpce-other".into()));
        assert_eq!(h["rtb-d"], Holder::Free);
        assert_eq!(wanted(&h), strings(&["rtb-a", "rtb-d", "rtb-gone"]));
    }
}
