//! Pure decisions: which route tables are selected, which endpoint is ours, and the actions that
//! bring AWS in line with the spec. No I/O; everything here is table-tested.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::policy;
use crate::api::RouteTableSelector;
use crate::aws::{CreateEndpoint, Endpoint, ModifyEndpoint, PolicyChange, RouteTable};
use crate::error::Error;

/// The union of the route tables the selector names, sorted and unique.
///
/// - `ids` must be tables of the VPC;
/// - `subnetIds` must be subnets of the VPC and contribute their associated table, else the main;
/// - `tags` match every table of the VPC carrying all of them.
pub fn select_route_tables(
    selector: &RouteTableSelector,
    vpc_id: &str,
    tables: &[RouteTable],
    vpc_subnet_ids: &[String],
) -> Result<BTreeSet<String>, Error> {
    let mut selected = BTreeSet::new();

    let missing: Vec<String> = selector
        .ids
        .iter()
        .filter(|id| !tables.iter().any(|t| &t.id == *id))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(Error::RouteTableNotFound {
            ids: missing,
            vpc_id: vpc_id.to_owned(),
        });
    }
    selected.extend(selector.ids.iter().cloned());

    if !selector.subnet_ids.is_empty() {
        let missing: Vec<String> = selector
            .subnet_ids
            .iter()
            .filter(|id| !vpc_subnet_ids.contains(id))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(Error::SubnetNotFound {
                ids: missing,
                vpc_id: vpc_id.to_owned(),
            });
        }
        let main = tables.iter().find(|t| t.main).map(|t| t.id.clone());
        for subnet in &selector.subnet_ids {
            let table = tables
                .iter()
                .find(|t| t.subnet_ids.contains(subnet))
                .map(|t| t.id.clone())
                .or_else(|| main.clone());
            selected.extend(table);
        }
    }

    if !selector.tags.is_empty() {
        selected.extend(
            tables
                .iter()
                .filter(|t| selector.tags.iter().all(|(k, v)| t.tags.get(k) == Some(v)))
                .map(|t| t.id.clone()),
        );
    }
    Ok(selected)
}

/// Ours among the endpoints tagged with our uid: live ones only; the one recorded in status if
/// it is among them, else the oldest. The others are duplicates (which a correct create never
/// makes, but a foreign tool copying our tags could).
pub fn pick_owned(
    tagged: Vec<Endpoint>,
    recorded_id: Option<&str>,
) -> (Option<Endpoint>, Vec<Endpoint>) {
    let mut live: Vec<Endpoint> = tagged.into_iter().filter(Endpoint::is_live).collect();
    live.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
    let idx = recorded_id
        .and_then(|id| live.iter().position(|e| e.id == id))
        .unwrap_or(0);
    if live.is_empty() {
        return (None, Vec::new());
    }
    let owned = live.remove(idx);
    (Some(owned), live)
}

/// Route tables among `selected` whose route for the prefix list points at another endpoint:
/// table id → that endpoint's id. Routes of our own endpoints (the current one, the one recorded
/// in status, duplicates and ones on their way out) are never conflicts: they move or go away.
pub fn conflicts(
    selected: &BTreeSet<String>,
    tables: &[RouteTable],
    prefix_list_id: &str,
    own_endpoint_ids: &BTreeSet<String>,
) -> BTreeMap<String, String> {
    tables
        .iter()
        .filter(|t| selected.contains(&t.id))
        .filter_map(|t| {
            let target = t.prefix_list_routes.get(prefix_list_id)?;
            (!own_endpoint_ids.contains(target)).then(|| (t.id.clone(), target.clone()))
        })
        .collect()
}

/// One step toward the desired state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `CreateVpcEndpoint` with tags and an idempotency token.
    Create(CreateEndpoint),
    /// One `ModifyVpcEndpoint`: route-table difference and/or policy.
    Modify(ModifyEndpoint),
    /// `CreateTags` for missing or changed tags.
    Tag {
        endpoint_id: String,
        tags: BTreeMap<String, String>,
    },
    /// `DeleteTags` for keys vpcgate set earlier and no longer wants.
    Untag {
        endpoint_id: String,
        keys: Vec<String>,
    },
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Create(c) => write!(
                f,
                "create {} endpoint in {} on route tables [{}]{}",
                c.service_name,
                c.vpc_id,
                c.route_table_ids.join(", "),
                if c.policy.is_some() {
                    " with a custom policy"
                } else {
                    " with the full-access policy"
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

/// Everything the plan needs, already resolved and observed.
#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    pub vpc_id: &'a str,
    pub service_name: &'a str,
    pub selected: &'a BTreeSet<String>,
    pub conflicts: &'a BTreeMap<String, String>,
    /// `None`: AWS's default full-access policy.
    pub policy: Option<&'a Value>,
    pub tags: &'a BTreeMap<String, String>,
    /// Tag keys vpcgate set before (from status); only these may be removed.
    pub managed_tag_keys: &'a [String],
    pub endpoint: Option<&'a Endpoint>,
    pub client_token: String,
}

/// The actions that make AWS match the spec, in the order to run them.
pub fn plan(input: &PlanInput<'_>) -> Vec<Action> {
    let wanted: Vec<String> = input
        .selected
        .iter()
        .filter(|id| !input.conflicts.contains_key(*id))
        .cloned()
        .collect();
    let policy_text = input.policy.map(Value::to_string);

    let Some(ep) = input.endpoint else {
        return vec![Action::Create(CreateEndpoint {
            vpc_id: input.vpc_id.to_owned(),
            service_name: input.service_name.to_owned(),
            route_table_ids: wanted,
            policy: policy_text,
            tags: input.tags.clone(),
            client_token: input.client_token.clone(),
        })];
    };

    let mut actions = Vec::new();
    let current: BTreeSet<&String> = ep.route_table_ids.iter().collect();
    let add: Vec<String> = wanted
        .iter()
        .filter(|id| !current.contains(id))
        .cloned()
        .collect();
    let remove: Vec<String> = current
        .iter()
        .filter(|id| !input.selected.contains(**id))
        .map(|id| (*id).clone())
        .collect();
    let policy = if policy::equivalent(ep.policy.as_deref(), input.policy) {
        None
    } else {
        Some(match policy_text {
            Some(text) => PolicyChange::Set(text),
            None => PolicyChange::Reset,
        })
    };
    if !add.is_empty() || !remove.is_empty() || policy.is_some() {
        actions.push(Action::Modify(ModifyEndpoint {
            endpoint_id: ep.id.clone(),
            add_route_table_ids: add,
            remove_route_table_ids: remove,
            policy,
        }));
    }

    let to_tag: BTreeMap<String, String> = input
        .tags
        .iter()
        .filter(|(k, v)| ep.tags.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !to_tag.is_empty() {
        actions.push(Action::Tag {
            endpoint_id: ep.id.clone(),
            tags: to_tag,
        });
    }
    let stale: Vec<String> = input
        .managed_tag_keys
        .iter()
        .filter(|k| !input.tags.contains_key(*k) && ep.tags.contains_key(*k))
        .cloned()
        .collect();
    if !stale.is_empty() {
        actions.push(Action::Untag {
            endpoint_id: ep.id.clone(),
            keys: stale,
        });
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rt(
        id: &str,
        main: bool,
        subnets: &[&str],
        tags: &[(&str, &str)],
        routes: &[(&str, &str)],
    ) -> RouteTable {
        RouteTable {
            id: id.into(),
            vpc_id: "vpc-1".into(),
            main,
            subnet_ids: subnets.iter().map(|s| s.to_string()).collect(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            prefix_list_routes: routes
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn tables() -> Vec<RouteTable> {
        vec![
            rt("rtb-main", true, &[], &[], &[]),
            rt(
                "rtb-pub",
                false,
                &["subnet-pub"],
                &[("tier", "public")],
                &[],
            ),
            rt(
                "rtb-priv",
                false,
                &["subnet-priv"],
                &[("tier", "private"), ("env", "prod")],
                &[],
            ),
            rt(
                "rtb-priv2",
                false,
                &[],
                &[("tier", "private")],
                &[("pl-ddb", "vpce-other")],
            ),
        ]
    }

    fn subnets() -> Vec<String> {
        vec![
            "subnet-pub".into(),
            "subnet-priv".into(),
            "subnet-bare".into(),
        ]
    }

    fn set(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn selection_sources_union_sorted_unique() {
        let sel = |ids: &[&str], subnet_ids: &[&str], tags: &[(&str, &str)]| RouteTableSelector {
            ids: ids.iter().map(|s| s.to_string()).collect(),
            subnet_ids: subnet_ids.iter().map(|s| s.to_string()).collect(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let cases: Vec<(RouteTableSelector, BTreeSet<String>)> = vec![
            (sel(&["rtb-pub"], &[], &[]), set(&["rtb-pub"])),
            (
                sel(&[], &["subnet-pub", "subnet-priv"], &[]),
                set(&["rtb-priv", "rtb-pub"]),
            ),
            // A subnet without its own association uses the main table.
            (sel(&[], &["subnet-bare"], &[]), set(&["rtb-main"])),
            (
                sel(&[], &[], &[("tier", "private")]),
                set(&["rtb-priv", "rtb-priv2"]),
            ),
            // All tags must match.
            (
                sel(&[], &[], &[("tier", "private"), ("env", "prod")]),
                set(&["rtb-priv"]),
            ),
            (sel(&[], &[], &[("tier", "none")]), set(&[])),
            // Union, duplicates removed.
            (
                sel(
                    &["rtb-pub", "rtb-pub"],
                    &["subnet-pub"],
                    &[("tier", "public")],
                ),
                set(&["rtb-pub"]),
            ),
        ];
        for (selector, expected) in cases {
            let got = select_route_tables(&selector, "vpc-1", &tables(), &subnets()).unwrap();
            assert_eq!(got, expected, "{selector:?}");
        }
    }

    #[test]
    fn selection_errors_name_every_missing_id() {
        let sel = RouteTableSelector {
            ids: vec!["rtb-pub".into(), "rtb-x".into(), "rtb-y".into()],
            ..Default::default()
        };
        match select_route_tables(&sel, "vpc-1", &tables(), &subnets()) {
            Err(Error::RouteTableNotFound { ids, vpc_id }) => {
                assert_eq!(ids, vec!["rtb-x".to_string(), "rtb-y".to_string()]);
                assert_eq!(vpc_id, "vpc-1");
            }
            other => panic!("{other:?}"),
        }
        let sel = RouteTableSelector {
            subnet_ids: vec!["subnet-nope".into()],
            ..Default::default()
        };
        assert!(matches!(
            select_route_tables(&sel, "vpc-1", &tables(), &subnets()),
            Err(Error::SubnetNotFound { ids, .. }) if ids == vec!["subnet-nope".to_string()]
        ));
    }

    fn ep(id: &str, state: &str, created: i64) -> Endpoint {
        Endpoint {
            id: id.into(),
            state: state.into(),
            created,
            ..Default::default()
        }
    }

    #[test]
    fn owned_endpoint_selection() {
        // Nothing tagged.
        assert_eq!(pick_owned(vec![], Some("vpce-a")), (None, vec![]));
        // Deleted/deleting ones are ignored.
        assert_eq!(
            pick_owned(
                vec![ep("vpce-a", "deleted", 1), ep("vpce-b", "deleting", 2)],
                None
            ),
            (None, vec![])
        );
        // The recorded one wins; the rest are duplicates.
        let (own, dup) = pick_owned(
            vec![ep("vpce-a", "available", 1), ep("vpce-b", "available", 2)],
            Some("vpce-b"),
        );
        assert_eq!(own.unwrap().id, "vpce-b");
        assert_eq!(
            dup.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            vec!["vpce-a"]
        );
        // Otherwise the oldest.
        let (own, dup) = pick_owned(
            vec![ep("vpce-b", "pending", 2), ep("vpce-a", "available", 1)],
            Some("vpce-gone"),
        );
        assert_eq!(own.unwrap().id, "vpce-a");
        assert_eq!(dup.len(), 1);
    }

    #[test]
    fn conflicts_are_other_endpoints_routes_on_selected_tables() {
        let t = tables();
        assert_eq!(
            conflicts(&set(&["rtb-priv", "rtb-priv2"]), &t, "pl-ddb", &set(&[])),
            BTreeMap::from([("rtb-priv2".to_string(), "vpce-other".to_string())])
        );
        // Our own route is no conflict.
        assert!(
            conflicts(
                &set(&["rtb-priv2"]),
                &t,
                "pl-ddb",
                &set(&["vpce-mine", "vpce-other"])
            )
            .is_empty()
        );
        // Unselected tables and other prefix lists do not matter.
        assert!(conflicts(&set(&["rtb-pub"]), &t, "pl-ddb", &set(&[])).is_empty());
        assert!(conflicts(&set(&["rtb-priv2"]), &t, "pl-s3", &set(&[])).is_empty());
    }

    struct Case {
        name: &'static str,
        selected: &'static [&'static str],
        conflicts: &'static [(&'static str, &'static str)],
        policy: Option<Value>,
        tags: &'static [(&'static str, &'static str)],
        managed: &'static [&'static str],
        endpoint: Option<Endpoint>,
        expected: Vec<Action>,
    }

    fn existing(rtbs: &[&str], policy: Option<&str>, tags: &[(&str, &str)]) -> Endpoint {
        Endpoint {
            id: "vpce-1".into(),
            vpc_id: "vpc-1".into(),
            service_name: "com.amazonaws.eu-west-1.dynamodb".into(),
            state: "available".into(),
            route_table_ids: rtbs.iter().map(|s| s.to_string()).collect(),
            policy: policy.map(str::to_owned),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            created: 1,
        }
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn plan_table() {
        let ro = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"dynamodb:GetItem","Resource":"*"}]});
        let full = policy::full_access().to_string();
        let tags: &[(&str, &str)] = &[("Name", "ddb"), ("vpcgate.dev/uid", "u1")];
        let cases = vec![
            Case {
                name: "create on the selected tables minus conflicts",
                selected: &["rtb-a", "rtb-b", "rtb-c"],
                conflicts: &[("rtb-c", "vpce-other")],
                policy: None,
                tags,
                managed: &[],
                endpoint: None,
                expected: vec![Action::Create(CreateEndpoint {
                    vpc_id: "vpc-1".into(),
                    service_name: "com.amazonaws.eu-west-1.dynamodb".into(),
                    route_table_ids: strings(&["rtb-a", "rtb-b"]),
                    policy: None,
                    tags: map(tags),
                    client_token: "tok".into(),
                })],
            },
            Case {
                name: "create with a document",
                selected: &["rtb-a"],
                conflicts: &[],
                policy: Some(ro.clone()),
                tags,
                managed: &[],
                endpoint: None,
                expected: vec![Action::Create(CreateEndpoint {
                    vpc_id: "vpc-1".into(),
                    service_name: "com.amazonaws.eu-west-1.dynamodb".into(),
                    route_table_ids: strings(&["rtb-a"]),
                    policy: Some(ro.to_string()),
                    tags: map(tags),
                    client_token: "tok".into(),
                })],
            },
            Case {
                name: "in sync: nothing",
                selected: &["rtb-a", "rtb-b"],
                conflicts: &[],
                policy: None,
                tags,
                managed: &["Name", "vpcgate.dev/uid"],
                endpoint: Some(existing(&["rtb-b", "rtb-a"], Some(&full), tags)),
                expected: vec![],
            },
            Case {
                name: "route tables: one modify with the set difference",
                selected: &["rtb-a", "rtb-c"],
                conflicts: &[],
                policy: None,
                tags,
                managed: &[],
                endpoint: Some(existing(&["rtb-a", "rtb-b"], None, tags)),
                expected: vec![Action::Modify(ModifyEndpoint {
                    endpoint_id: "vpce-1".into(),
                    add_route_table_ids: strings(&["rtb-c"]),
                    remove_route_table_ids: strings(&["rtb-b"]),
                    policy: None,
                })],
            },
            Case {
                name: "conflicting table is not added",
                selected: &["rtb-a", "rtb-c"],
                conflicts: &[("rtb-c", "vpce-other")],
                policy: None,
                tags,
                managed: &[],
                endpoint: Some(existing(&["rtb-a"], None, tags)),
                expected: vec![],
            },
            Case {
                name: "policy drift to a document: set it, with the route change in the same call",
                selected: &["rtb-a", "rtb-b"],
                conflicts: &[],
                policy: Some(ro.clone()),
                tags,
                managed: &[],
                endpoint: Some(existing(&["rtb-a"], Some(&full), tags)),
                expected: vec![Action::Modify(ModifyEndpoint {
                    endpoint_id: "vpce-1".into(),
                    add_route_table_ids: strings(&["rtb-b"]),
                    remove_route_table_ids: vec![],
                    policy: Some(PolicyChange::Set(ro.to_string())),
                })],
            },
            Case {
                name: "back to full access: reset, not a document",
                selected: &["rtb-a"],
                conflicts: &[],
                policy: None,
                tags,
                managed: &[],
                endpoint: Some(existing(&["rtb-a"], Some(&ro.to_string()), tags)),
                expected: vec![Action::Modify(ModifyEndpoint {
                    endpoint_id: "vpce-1".into(),
                    policy: Some(PolicyChange::Reset),
                    ..Default::default()
                })],
            },
            Case {
                name: "same policy reformatted: nothing",
                selected: &["rtb-a"],
                conflicts: &[],
                policy: Some(ro.clone()),
                tags,
                managed: &[],
                endpoint: Some(existing(
                    &["rtb-a"],
                    Some(&serde_json::to_string_pretty(&ro).unwrap()),
                    tags,
                )),
                expected: vec![],
            },
            Case {
                name: "tags: set missing and changed, remove only our stale keys",
                selected: &["rtb-a"],
                conflicts: &[],
                policy: None,
                tags: &[("Name", "new"), ("vpcgate.dev/uid", "u1"), ("team", "x")],
                managed: &["Name", "vpcgate.dev/uid", "owner"],
                endpoint: Some(existing(
                    &["rtb-a"],
                    None,
                    &[
                        ("Name", "old"),
                        ("vpcgate.dev/uid", "u1"),
                        ("owner", "me"),
                        ("cost-center", "42"),
                    ],
                )),
                expected: vec![
                    Action::Tag {
                        endpoint_id: "vpce-1".into(),
                        tags: map(&[("Name", "new"), ("team", "x")]),
                    },
                    Action::Untag {
                        endpoint_id: "vpce-1".into(),
                        keys: strings(&["owner"]),
                    },
                ],
            },
        ];
        for c in cases {
            let selected = set(c.selected);
            let conflicts = map(c.conflicts);
            let tags = map(c.tags);
            let managed = strings(c.managed);
            let input = PlanInput {
                vpc_id: "vpc-1",
                service_name: "com.amazonaws.eu-west-1.dynamodb",
                selected: &selected,
                conflicts: &conflicts,
                policy: c.policy.as_ref(),
                tags: &tags,
                managed_tag_keys: &managed,
                endpoint: c.endpoint.as_ref(),
                client_token: "tok".into(),
            };
            assert_eq!(plan(&input), c.expected, "{}", c.name);
        }
    }

    #[test]
    fn actions_describe_themselves() {
        let texts: Vec<String> = [
            Action::Create(CreateEndpoint {
                vpc_id: "vpc-1".into(),
                service_name: "svc".into(),
                route_table_ids: strings(&["rtb-a"]),
                policy: None,
                tags: BTreeMap::new(),
                client_token: "t".into(),
            }),
            Action::Modify(ModifyEndpoint {
                endpoint_id: "vpce-1".into(),
                add_route_table_ids: strings(&["rtb-a"]),
                remove_route_table_ids: strings(&["rtb-b"]),
                policy: Some(PolicyChange::Reset),
            }),
            Action::Tag {
                endpoint_id: "vpce-1".into(),
                tags: map(&[("k", "v")]),
            },
            Action::Untag {
                endpoint_id: "vpce-1".into(),
                keys: strings(&["k"]),
            },
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert!(
            texts[0].contains("create svc endpoint in vpc-1 on route tables [rtb-a]"),
            "{}",
            texts[0]
        );
        assert!(
            texts[1].contains("add route tables [rtb-a]; remove route tables [rtb-b]; reset"),
            "{}",
            texts[1]
        );
        assert_eq!(texts[2], "tag vpce-1 with k");
        assert_eq!(texts[3], "untag vpce-1: k");
    }
}
