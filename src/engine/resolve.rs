//! Resolve (pure): which route tables the selector names, which endpoints are this object's,
//! and who holds each selected table's route for the prefix list.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::{RouteTableSelector, TAG_UID};
use crate::aws::{Endpoint, RouteTable};

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
    /// Every id that is or was ours, in any state: their routes are never a conflict.
    pub own_ids: BTreeSet<String>,
    /// The endpoint recorded in status, described as deleting or deleted while nothing else of
    /// ours is current: it was deleted behind our back.
    pub vanished: Option<String>,
    /// Endpoints that describes do not show at all: the one recorded in status, and any holding
    /// a selected table's route. Within EC2's describe lag they are most likely ours, a moment
    /// old; the engine decides which are still that young.
    pub unseen: BTreeSet<String>,
    /// The recorded endpoint, when it is among `unseen`.
    pub recorded_unseen: Option<String>,
    /// An existing endpoint taken over this pass (`spec.adopt`); it is `current`.
    pub adopted: Option<String>,
}

/// What describing the endpoint recorded in status by id returned, when the tag search did not
/// find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// No endpoint recorded, or the tag search found it.
    NotAsked,
    /// Describes do not show it.
    Unseen(String),
    /// Described: its tag was stripped (or changed).
    Seen(Endpoint),
}

/// Sorts the endpoints tagged with our uid, plus the one recorded in status.
pub fn ownership(
    uid: &str,
    tagged: Vec<Endpoint>,
    recorded_id: Option<&str>,
    recorded: Recorded,
) -> Ownership {
    let mut own = Ownership {
        own_ids: tagged.iter().map(|e| e.id.clone()).collect(),
        ..Default::default()
    };
    own.own_ids.extend(recorded_id.map(str::to_owned));
    own.vanished = tagged
        .iter()
        .find(|e| Some(e.id.as_str()) == recorded_id && e.state.is_leaving())
        .map(|e| e.id.clone());
    let mut candidates: Vec<Endpoint> = tagged
        .into_iter()
        .filter(|e| !e.state.is_leaving())
        .collect();
    match recorded {
        Recorded::NotAsked => {}
        Recorded::Unseen(id) => {
            own.unseen.insert(id.clone());
            own.recorded_unseen = Some(id);
        }
        Recorded::Seen(ep) if ep.state.is_leaving() => own.vanished = Some(ep.id),
        // Another object's uid on it: somebody else's now, never ours to touch.
        Recorded::Seen(ep) if ep.tags.get(TAG_UID).is_some_and(|v| v != uid) => {
            own.own_ids.remove(&ep.id);
        }
        Recorded::Seen(ep) => candidates.push(ep),
    }
    // Live before dead, then the recorded one, then the oldest.
    candidates.sort_by_key(|e| {
        (
            !e.state.is_live(),
            Some(e.id.as_str()) != recorded_id,
            e.created,
            e.id.clone(),
        )
    });
    let mut rest = candidates.into_iter();
    own.current = rest.next();
    if own.current.is_some() {
        own.vanished = None;
        own.recorded_unseen = None;
    }
    own.duplicates = rest.collect();
    own
}

/// What `spec.adopt` asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Adopt {
    #[default]
    Never,
    IfUnowned,
    Id(String),
}

impl Adopt {
    /// From `spec.adopt` (the schema allows only these forms).
    pub fn parse(text: Option<&str>) -> Adopt {
        match text {
            None | Some("Never") => Adopt::Never,
            Some("IfUnowned") => Adopt::IfUnowned,
            Some(id) => Adopt::Id(id.to_owned()),
        }
    }
}

/// Which existing endpoint to adopt, if any (pure). `candidates` are the gateway endpoints for
/// the service in the VPC; `live_uids` the uids of the GatewayEndpoints that exist in the
/// cluster. `Ok(None)`: nothing to adopt (create as usual).
pub fn adoption(
    adopt: &Adopt,
    uid: &str,
    candidates: &[Endpoint],
    selected: &BTreeSet<String>,
    live_uids: &BTreeSet<String>,
) -> Result<Option<Endpoint>, crate::error::Error> {
    use crate::error::Error;
    // Owned by a live object other than this one: never ours to take.
    let owner = |e: &Endpoint| {
        e.tags
            .get(TAG_UID)
            .filter(|u| u.as_str() != uid && live_uids.contains(*u))
            .cloned()
    };
    match adopt {
        Adopt::Never => Ok(None),
        Adopt::Id(id) => {
            let Some(ep) = candidates.iter().find(|e| &e.id == id) else {
                return Err(Error::AdoptionRefused {
                    id: id.clone(),
                    why: "no gateway endpoint with that id for this service in this VPC".into(),
                });
            };
            if ep.state.is_leaving() || ep.state.is_dead() {
                return Err(Error::AdoptionRefused {
                    id: id.clone(),
                    why: format!("it is {}", ep.state),
                });
            }
            if let Some(other) = owner(ep) {
                return Err(Error::AdoptionRefused {
                    id: id.clone(),
                    why: format!("GatewayEndpoint uid {other} owns it"),
                });
            }
            Ok(Some(ep.clone()))
        }
        Adopt::IfUnowned => {
            let takeable: Vec<&Endpoint> = candidates
                .iter()
                .filter(|e| !e.state.is_leaving() && !e.state.is_dead())
                .filter(|e| owner(e).is_none())
                .filter(|e| e.route_table_ids.iter().any(|t| selected.contains(t)))
                .collect();
            match takeable.as_slice() {
                [] => Ok(None),
                [one] => Ok(Some((*one).clone())),
                many => Err(Error::AdoptionAmbiguous {
                    ids: many
                        .iter()
                        .map(|e| match e.tags.get(crate::api::TAG_NAME) {
                            Some(name) => format!("{} (vpcgate.dev/name={name})", e.id),
                            None => e.id.clone(),
                        })
                        .collect(),
                }),
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::EndpointState;

    const UID: &str = "uid-1";
    use std::collections::BTreeMap;

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
            cluster_node_subnets: None,
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
    fn ownership_prefers_live_then_recorded_then_oldest() {
        use EndpointState::*;
        let tagged = vec![
            ep("vpce-new", Available, 20),
            ep("vpce-old", Available, 10),
            ep("vpce-gone", Deleted, 1),
            ep("vpce-dead", Failed, 5),
        ];
        let o = ownership(UID, tagged.clone(), None, Recorded::NotAsked);
        assert_eq!(o.current.unwrap().id, "vpce-old");
        let dups: Vec<_> = o.duplicates.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(dups, ["vpce-new", "vpce-dead"]);
        assert_eq!(o.own_ids.len(), 4);
        let o = ownership(UID, tagged.clone(), Some("vpce-new"), Recorded::NotAsked);
        assert_eq!(o.current.unwrap().id, "vpce-new");
        // Recorded, untagged (tag stripped) and live: still ours.
        let o = ownership(
            UID,
            vec![],
            Some("vpce-r"),
            Recorded::Seen(ep("vpce-r", Available, 1)),
        );
        assert_eq!(o.current.unwrap().id, "vpce-r");
        // Recorded, but another object's uid is on it now: not ours.
        let mut theirs = ep("vpce-r", Available, 1);
        theirs.tags.insert(TAG_UID.into(), "someone-else".into());
        let o = ownership(UID, vec![], Some("vpce-r"), Recorded::Seen(theirs));
        assert!(o.current.is_none() && !o.own_ids.contains("vpce-r"));
        // Recorded and not described at all: unseen, for the engine to judge.
        let o = ownership(
            UID,
            vec![],
            Some("vpce-r"),
            Recorded::Unseen("vpce-r".into()),
        );
        assert_eq!(o.recorded_unseen.as_deref(), Some("vpce-r"));
        // A live tagged endpoint wins over a recorded dead one.
        let o = ownership(
            UID,
            vec![ep("vpce-live", Available, 9)],
            Some("vpce-r"),
            Recorded::Seen(ep("vpce-r", Failed, 1)),
        );
        assert_eq!(o.current.unwrap().id, "vpce-live");
        // Recorded and deleted, nothing else: vanished.
        let o = ownership(
            UID,
            vec![],
            Some("vpce-r"),
            Recorded::Seen(ep("vpce-r", Deleted, 1)),
        );
        assert_eq!((o.current, o.vanished.as_deref()), (None, Some("vpce-r")));
        // Only a dead one: it is current (to be replaced).
        let o = ownership(
            UID,
            vec![ep("vpce-dead", Rejected, 1)],
            None,
            Recorded::NotAsked,
        );
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
