//! What the object asks for, with defaults applied and checked beyond what the schema can judge.
//! Pure: no I/O. An error names the field and the fix and becomes an `InvalidSpec` condition.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::ResourceExt;
use serde_json::Value;

use super::discovery::ClusterNodes;
use super::policy;
use crate::api::{
    DEFAULT_PROBE_INTERVAL, DEFAULT_PROBE_TIMEOUT, GatewayEndpoint, MAX_PROBE_TIMEOUT,
    MAX_USER_TAGS, RouteTableSelector, Service, TAG_DISPLAY_NAME, TAG_NAME, TAG_UID,
};
use crate::error::Error;

/// AWS's limit on an endpoint policy.
const MAX_POLICY_CHARS: usize = 20_480;

/// The object's wishes, resolved against defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub uid: String,
    pub region: String,
    /// `com.amazonaws.<region>.<service>`.
    pub service_name: String,
    pub vpc_id: String,
    pub route_tables: RouteTableSelector,
    /// `None`: AWS's default full-access policy.
    pub policy: Option<Value>,
    /// Every tag the endpoint must carry, ours included.
    pub tags: BTreeMap<String, String>,
    /// `None` when probing is off or does not apply (S3).
    pub probe: Option<ProbePlan>,
    /// The cluster's nodes as status reports them, when the object uses them.
    pub cluster_nodes: Option<crate::api::ClusterNodesStatus>,
    /// The subnets of the VPC that the cluster's nodes run in (marked in coverage).
    pub node_subnets: std::collections::BTreeSet<String>,
    /// Security groups whose egress is checked, sorted; empty: none (no `EgressAllowed`).
    pub security_groups: Vec<String>,
    /// Whether to take over an existing endpoint.
    pub adopt: super::resolve::Adopt,
    /// `securityGroups.mode: Manage`: add the missing egress rules.
    pub manage_egress: bool,
}

/// When and how to probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbePlan {
    pub interval: Duration,
    pub timeout: Duration,
    /// `DescribeTable` on this table; `None`: `ListTables`.
    pub table: Option<String>,
    /// The canary table the endpoint policy denies; `None` when the path is not verified.
    pub canary: Option<String>,
}

impl Desired {
    /// The `ClientToken` for create number `recreations`: same object and counter, same token,
    /// so a create repeated after a crash returns the same endpoint (≤ 64 ASCII chars).
    pub fn client_token(&self, recreations: u32) -> String {
        format!("vpcgate-{}-{}", self.uid, recreations)
    }
}

fn invalid(field: &str, message: impl Into<String>) -> Error {
    Error::InvalidSpec {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// Parses a duration like `60s`, `1m30s`, `500ms`.
pub fn parse_duration(field: &str, text: &str) -> Result<Duration, Error> {
    humantime::parse_duration(text).map_err(|e| {
        invalid(
            field,
            format!("{text:?} is not a duration ({e}); use e.g. 30s, 5m, 1h"),
        )
    })
}

/// Whether the object selects the route tables of the cluster's nodes' subnets: when it says
/// so, or by default when it names no other source.
pub fn node_subnets_wanted(sel: &RouteTableSelector) -> bool {
    sel.cluster_node_subnets
        .unwrap_or(sel.ids.is_empty() && sel.subnet_ids.is_empty() && sel.tags.is_empty())
}

/// Whether the object depends on the cluster's nodes (a node change is news for it).
pub fn uses_nodes(spec: &crate::api::GatewayEndpointSpec) -> bool {
    spec.vpc_id.is_none()
        || node_subnets_wanted(&spec.route_tables)
        || spec
            .security_groups
            .as_ref()
            .is_some_and(|g| g.cluster_node_groups == Some(true))
}

/// Whether the desired state needs the AWS account id: table ARNs in a generated policy, or
/// the canary statement.
pub fn needs_account(spec: &crate::api::GatewayEndpointSpec) -> bool {
    verifies_path(spec)
        || spec
            .policy
            .as_ref()
            .is_some_and(|p| p.document.is_none() && !p.tables.is_empty())
}

/// Whether the endpoint policy carries the probe's canary: DynamoDB, probing on, and either a
/// generated policy (unless `probe.verifyPath: false`) or a custom document with
/// `probe.verifyPath: true`.
pub fn verifies_path(spec: &crate::api::GatewayEndpointSpec) -> bool {
    let p = spec.probe_or_default();
    if spec.service != Service::Dynamodb || p.enabled == Some(false) {
        return false;
    }
    let custom = spec
        .policy
        .as_ref()
        .is_some_and(|pol| pol.document.is_some());
    p.verify_path.unwrap_or(!custom)
}

/// Builds the desired state, or says which field is wrong. `account` is the caller's AWS
/// account, needed when [`needs_account`]; `nodes` the cluster's nodes, used when `vpcId` is
/// omitted or `routeTables.clusterNodeSubnets` is on.
pub fn desired(
    obj: &GatewayEndpoint,
    default_region: Option<&str>,
    account: Option<&str>,
    nodes: &ClusterNodes,
) -> Result<Desired, Error> {
    let spec = &obj.spec;
    let uid = obj.uid().ok_or_else(|| {
        invalid(
            "metadata.uid",
            "the object has no uid; apply it to the API server first",
        )
    })?;
    let name = obj.name_any();
    let region = spec
        .region
        .clone()
        .or_else(|| default_region.map(str::to_owned))
        .ok_or_else(|| {
            invalid(
                "spec.region",
                "not set and the operator has no default region; set spec.region or AWS_REGION on the operator",
            )
        })?;
    let sel = &spec.route_tables;
    let node_subnets = node_subnets_wanted(sel);
    if !node_subnets && sel.ids.is_empty() && sel.subnet_ids.is_empty() && sel.tags.is_empty() {
        return Err(invalid(
            "spec.routeTables",
            "clusterNodeSubnets is false and no ids, subnetIds or tags are given; select at least one route table",
        ));
    }
    // Omitted: the nodes' single VPC; once an endpoint was made there, that VPC stays (a node
    // joining in another VPC later must not move or break it).
    let settled = obj
        .status
        .as_ref()
        .filter(|s| s.endpoint_id.is_some())
        .and_then(|s| s.vpc_id.clone());
    let vpc_id = match (&spec.vpc_id, settled) {
        (Some(v), _) => v.clone(),
        (None, Some(v)) => v,
        (None, None) => nodes.single_vpc(&region)?,
    };
    let mut route_tables = sel.clone();
    if node_subnets {
        if !nodes.listed {
            return Err(Error::NodesUnknown);
        }
        let found = nodes.subnets(&region, &vpc_id);
        if found.is_empty()
            && sel.ids.is_empty()
            && sel.subnet_ids.is_empty()
            && sel.tags.is_empty()
        {
            return Err(Error::NoNodes {
                region: region.clone(),
                detail: format!(
                    "none in {vpc_id}, whose route tables routeTables.clusterNodeSubnets selects"
                ),
            });
        }
        for subnet in found {
            if !route_tables.subnet_ids.contains(&subnet) {
                route_tables.subnet_ids.push(subnet);
            }
        }
    }
    let cluster_nodes =
        (spec.vpc_id.is_none() || node_subnets).then(|| nodes.status(&region, Some(&vpc_id)));
    let node_subnet_ids = nodes.subnets(&region, &vpc_id);
    let mut security_groups: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    if let Some(sg) = &spec.security_groups {
        security_groups.extend(sg.ids.iter().cloned());
        if sg.cluster_node_groups == Some(true) {
            if !nodes.listed {
                return Err(Error::NodesUnknown);
            }
            security_groups.extend(nodes.security_groups(&region, &vpc_id));
        }
    }

    let canary = verifies_path(spec).then(|| policy::canary_table(&uid));
    let canary_account = match (&canary, account) {
        (None, _) => None,
        (Some(_), Some(a)) => Some(a),
        (Some(_), None) => {
            return Err(invalid(
                "spec.probe.verifyPath",
                "the canary's table ARN needs the AWS account id, which is not known yet",
            ));
        }
    };
    let policy = match &spec.policy {
        None => None,
        Some(p) => match &p.document {
            Some(doc) => {
                if p.preset.is_some() || !p.tables.is_empty() {
                    return Err(invalid(
                        "spec.policy.document",
                        "is exclusive with preset and tables; remove one of them",
                    ));
                }
                if doc.chars().count() > MAX_POLICY_CHARS {
                    return Err(invalid(
                        "spec.policy.document",
                        format!("is longer than AWS's limit of {MAX_POLICY_CHARS} characters"),
                    ));
                }
                Some(policy::parse_document(doc).map_err(|m| invalid("spec.policy.document", m))?)
            }
            None => {
                if spec.service == Service::S3 && !p.tables.is_empty() {
                    return Err(invalid(
                        "spec.policy.tables",
                        "applies to DynamoDB only; use policy.document for S3 buckets",
                    ));
                }
                let account = match account {
                    Some(a) => a,
                    None if p.tables.is_empty() => "",
                    None => {
                        return Err(invalid(
                            "spec.policy.tables",
                            "the table ARNs need the AWS account id, which is not known yet",
                        ));
                    }
                };
                let doc = policy::generate(
                    p.preset.unwrap_or_default(),
                    &p.tables,
                    spec.service,
                    &region,
                    account,
                );
                if let Some(doc) = &doc
                    && policy::length(doc) > MAX_POLICY_CHARS
                {
                    return Err(invalid(
                        "spec.policy.tables",
                        format!(
                            "the generated policy for {} tables has {} characters, over AWS's limit of {MAX_POLICY_CHARS}; list fewer tables or write policy.document with wildcards",
                            p.tables.len(),
                            policy::length(doc)
                        ),
                    ));
                }
                doc
            }
        },
    };

    // The canary goes into every document vpcgate sends (AWS's default policy written out).
    let policy = match (&canary, canary_account) {
        (Some(table), Some(account)) => {
            let doc = policy.unwrap_or_else(|| policy::explicit_full_access(spec.service));
            let doc = policy::with_canary(doc, &region, account, table);
            if policy::length(&doc) > MAX_POLICY_CHARS {
                return Err(invalid(
                    "spec.policy",
                    format!(
                        "with the probe's canary statement the policy has {} characters, over AWS's limit of {MAX_POLICY_CHARS}; shorten it or set probe.verifyPath: false",
                        policy::length(&doc)
                    ),
                ));
            }
            Some(doc)
        }
        _ => policy,
    };

    if spec.tags.len() > MAX_USER_TAGS {
        return Err(invalid(
            "spec.tags",
            format!("at most {MAX_USER_TAGS} tags (AWS allows 50 per resource, vpcgate uses 3)"),
        ));
    }
    if let Some(k) = spec
        .tags
        .keys()
        .find(|k| k.starts_with("aws:") || k.starts_with("vpcgate.dev/"))
    {
        return Err(invalid(
            "spec.tags",
            format!("key {k:?} is reserved; pick another prefix"),
        ));
    }
    let mut tags = BTreeMap::from([(TAG_DISPLAY_NAME.to_owned(), name.clone())]);
    tags.extend(spec.tags.clone());
    tags.insert(TAG_UID.to_owned(), uid.clone());
    tags.insert(TAG_NAME.to_owned(), name.clone());

    let p = spec.probe_or_default();
    let probe = if p.enabled == Some(false) || spec.service != Service::Dynamodb {
        None
    } else {
        let interval = parse_duration(
            "spec.probe.interval",
            p.interval.as_deref().unwrap_or(DEFAULT_PROBE_INTERVAL),
        )?;
        let timeout = parse_duration(
            "spec.probe.timeout",
            p.timeout.as_deref().unwrap_or(DEFAULT_PROBE_TIMEOUT),
        )?;
        if interval < Duration::from_secs(10) {
            return Err(invalid("spec.probe.interval", "must be at least 10s"));
        }
        if timeout > MAX_PROBE_TIMEOUT {
            return Err(invalid("spec.probe.timeout", "must be at most 30s"));
        }
        if timeout >= interval {
            return Err(invalid(
                "spec.probe.timeout",
                "must be shorter than probe.interval",
            ));
        }
        // A table-scoped policy would deny ListTables through the endpoint: probe a table it allows.
        let table = p.table.clone().or_else(|| {
            spec.policy
                .as_ref()
                .filter(|pol| pol.document.is_none())
                .and_then(|pol| pol.tables.first().cloned())
        });
        Some(ProbePlan {
            interval,
            timeout,
            table,
            canary,
        })
    };

    Ok(Desired {
        service_name: format!("com.amazonaws.{region}.{}", spec.service.as_str()),
        uid,
        region,
        vpc_id,
        route_tables,
        policy,
        tags,
        probe,
        cluster_nodes,
        node_subnets: node_subnet_ids,
        security_groups: security_groups.into_iter().collect(),
        adopt: super::resolve::Adopt::parse(spec.adopt.as_deref()),
        manage_egress: spec
            .security_groups
            .as_ref()
            .is_some_and(|g| g.mode == Some(crate::api::SecurityGroupMode::Manage)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{GatewayEndpointSpec, PolicyPreset, PolicySpec, ProbeSpec};
    use crate::engine::discovery::ClusterNodes;

    fn obj(spec: GatewayEndpointSpec) -> GatewayEndpoint {
        let mut o = GatewayEndpoint::new("dynamodb", spec);
        o.metadata.uid = Some("0c6a3f4e-1111-2222-3333-444455556666".into());
        o
    }

    fn base() -> GatewayEndpointSpec {
        GatewayEndpointSpec {
            vpc_id: Some("vpc-12345678".into()),
            route_tables: RouteTableSelector {
                ids: vec!["rtb-12345678".into()],
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn field_of(err: Error) -> String {
        match err {
            Error::InvalidSpec { field, .. } => field,
            other => panic!("expected InvalidSpec, got {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let d = desired(
            &obj(base()),
            Some("eu-west-1"),
            Some("111122223333"),
            &ClusterNodes::default(),
        )
        .unwrap();
        assert_eq!(d.region, "eu-west-1");
        assert_eq!(d.service_name, "com.amazonaws.eu-west-1.dynamodb");
        // AWS's full access written out, plus the probe's canary for this object and account.
        let canary = "vpcgate-canary-0c6a3f4e-1111-2222-3333-444455556666";
        assert_eq!(
            d.policy,
            Some(serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [
                    {"Sid": "VpcgateGenerated", "Effect": "Allow", "Principal": "*",
                     "Action": "dynamodb:*", "Resource": "*"},
                    {"Sid": "VpcgateCanary", "Effect": "Deny", "Principal": "*",
                     "Action": "dynamodb:DescribeTable",
                     "Resource": format!("arn:aws:dynamodb:eu-west-1:111122223333:table/{canary}")}
                ]
            }))
        );
        assert_eq!(d.probe.as_ref().unwrap().canary.as_deref(), Some(canary));
        // Without the account (not asked yet) the canary cannot be written: named, not guessed.
        assert!(needs_account(&base()));
        assert_eq!(
            field_of(
                desired(
                    &obj(base()),
                    Some("eu-west-1"),
                    None,
                    &ClusterNodes::default()
                )
                .unwrap_err()
            ),
            "spec.probe.verifyPath"
        );
        assert_eq!(d.tags["Name"], "dynamodb");
        assert_eq!(d.tags[TAG_UID], "0c6a3f4e-1111-2222-3333-444455556666");
        assert_eq!(d.tags[TAG_NAME], "dynamodb");
        let p = d.probe.unwrap();
        assert_eq!(p.interval, Duration::from_secs(60));
        assert_eq!(p.timeout, Duration::from_secs(5));
        assert_eq!(p.table, None);
        let token = d_token();
        assert!(token.len() <= 64 && token.is_ascii(), "{token}");
    }

    fn d_token() -> String {
        desired(
            &obj(base()),
            Some("eu-west-1"),
            Some("111122223333"),
            &ClusterNodes::default(),
        )
        .unwrap()
        .client_token(12345)
    }

    #[test]
    fn user_name_tag_wins_over_default_but_ownership_tags_do_not() {
        let mut s = base();
        s.tags = BTreeMap::from([("Name".into(), "ddb".into()), ("team".into(), "a".into())]);
        let d = desired(
            &obj(s),
            Some("eu-west-1"),
            Some("111122223333"),
            &ClusterNodes::default(),
        )
        .unwrap();
        assert_eq!(d.tags["Name"], "ddb");
        assert_eq!(d.tags["team"], "a");
    }

    #[test]
    fn spec_region_overrides_default() {
        let mut s = base();
        s.region = Some("us-east-2".into());
        assert_eq!(
            desired(
                &obj(s),
                Some("eu-west-1"),
                Some("111122223333"),
                &ClusterNodes::default()
            )
            .unwrap()
            .region,
            "us-east-2"
        );
    }

    fn nodes_in(vpcs_subnets: &[(&str, &str)]) -> ClusterNodes {
        use crate::engine::discovery::{NodeInfo, Placement};
        ClusterNodes {
            listed: true,
            nodes: vpcs_subnets
                .iter()
                .enumerate()
                .map(|(i, (vpc, subnet))| NodeInfo {
                    name: format!("node-{i}"),
                    placement: Placement::Instance {
                        id: format!("i-{i}"),
                        region: "eu-west-1".into(),
                        vpc_id: (*vpc).into(),
                        subnet_id: (*subnet).into(),
                        security_groups: Vec::new(),
                    },
                })
                .collect(),
        }
    }

    #[test]
    fn an_empty_spec_takes_the_nodes_vpc_and_subnets() {
        let empty = GatewayEndpointSpec::default();
        let nodes = nodes_in(&[("vpc-1", "subnet-a"), ("vpc-1", "subnet-b")]);
        let d = desired(
            &obj(empty.clone()),
            Some("eu-west-1"),
            Some("111122223333"),
            &nodes,
        )
        .unwrap();
        assert_eq!(d.vpc_id, "vpc-1");
        assert_eq!(d.route_tables.subnet_ids, ["subnet-a", "subnet-b"]);
        let status = d.cluster_nodes.unwrap();
        assert_eq!(status.nodes, 2);
        assert_eq!(status.subnet_ids, ["subnet-a", "subnet-b"]);
        // Explicit sources replace the default; clusterNodeSubnets: true adds to them.
        let mut explicit = empty.clone();
        explicit.route_tables.ids = vec!["rtb-12345678".into()];
        let d = desired(
            &obj(explicit.clone()),
            Some("eu-west-1"),
            Some("111122223333"),
            &nodes,
        )
        .unwrap();
        assert!(d.route_tables.subnet_ids.is_empty());
        explicit.route_tables.cluster_node_subnets = Some(true);
        let d = desired(
            &obj(explicit),
            Some("eu-west-1"),
            Some("111122223333"),
            &nodes,
        )
        .unwrap();
        assert_eq!(d.route_tables.subnet_ids, ["subnet-a", "subnet-b"]);
        // Two VPCs, none, not listed yet.
        let two = nodes_in(&[("vpc-1", "subnet-a"), ("vpc-2", "subnet-c")]);
        let reason = |n: &ClusterNodes| {
            desired(
                &obj(empty.clone()),
                Some("eu-west-1"),
                Some("111122223333"),
                n,
            )
            .unwrap_err()
            .reason()
        };
        assert_eq!(reason(&two), "MultipleVpcs");
        // Once an endpoint exists in the nodes' VPC, a node in a second VPC changes nothing.
        let mut made = obj(empty.clone());
        made.status = Some(crate::api::GatewayEndpointStatus {
            vpc_id: Some("vpc-1".into()),
            endpoint_id: Some("vpce-1".into()),
            ..Default::default()
        });
        let d = desired(&made, Some("eu-west-1"), Some("111122223333"), &two).unwrap();
        assert_eq!(d.vpc_id, "vpc-1");
        assert_eq!(d.route_tables.subnet_ids, ["subnet-a"]);
        assert_eq!(reason(&nodes_in(&[])), "NoNodes");
        assert_eq!(reason(&ClusterNodes::default()), "DiscoveringNodes");
        // A VPC named explicitly that has no node, and nothing else selected.
        let mut elsewhere = empty.clone();
        elsewhere.vpc_id = Some("vpc-9".into());
        let err = desired(
            &obj(elsewhere),
            Some("eu-west-1"),
            Some("111122223333"),
            &nodes,
        )
        .unwrap_err();
        assert_eq!(err.reason(), "NoNodes");
        assert!(err.to_string().contains("vpc-9"), "{err}");
    }

    #[test]
    fn errors_name_the_field() {
        let cases: Vec<(GatewayEndpointSpec, Option<&str>, &str)> = vec![
            (base(), None, "spec.region"),
            (
                GatewayEndpointSpec {
                    route_tables: RouteTableSelector {
                        cluster_node_subnets: Some(false),
                        ..Default::default()
                    },
                    ..base()
                },
                Some("eu-west-1"),
                "spec.routeTables",
            ),
            (
                GatewayEndpointSpec {
                    policy: Some(PolicySpec {
                        document: Some("{".into()),
                        ..Default::default()
                    }),
                    ..base()
                },
                Some("eu-west-1"),
                "spec.policy.document",
            ),
            (
                GatewayEndpointSpec {
                    policy: Some(PolicySpec {
                        document: Some(r#"{"Statement":[{}]}"#.into()),
                        preset: Some(PolicyPreset::ReadOnly),
                        ..Default::default()
                    }),
                    ..base()
                },
                Some("eu-west-1"),
                "spec.policy.document",
            ),
            (
                GatewayEndpointSpec {
                    policy: Some(PolicySpec {
                        document: Some(format!(
                            r#"{{"Statement":[{{"Sid":"{}"}}]}}"#,
                            "x".repeat(20_480)
                        )),
                        ..Default::default()
                    }),
                    ..base()
                },
                Some("eu-west-1"),
                "spec.policy.document",
            ),
            (
                GatewayEndpointSpec {
                    service: Service::S3,
                    policy: Some(PolicySpec {
                        tables: vec!["Music".into()],
                        ..Default::default()
                    }),
                    ..base()
                },
                Some("eu-west-1"),
                "spec.policy.tables",
            ),
            (
                GatewayEndpointSpec {
                    tags: (0..48).map(|i| (format!("k{i}"), "v".into())).collect(),
                    ..base()
                },
                Some("eu-west-1"),
                "spec.tags",
            ),
            (
                GatewayEndpointSpec {
                    tags: BTreeMap::from([("aws:x".into(), "v".into())]),
                    ..base()
                },
                Some("eu-west-1"),
                "spec.tags",
            ),
            (
                GatewayEndpointSpec {
                    probe: Some(ProbeSpec {
                        interval: Some("soon".into()),
                        ..Default::default()
                    }),
                    ..base()
                },
                Some("eu-west-1"),
                "spec.probe.interval",
            ),
            (
                GatewayEndpointSpec {
                    probe: Some(ProbeSpec {
                        interval: Some("5s".into()),
                        ..Default::default()
                    }),
                    ..base()
                },
                Some("eu-west-1"),
                "spec.probe.interval",
            ),
            (
                GatewayEndpointSpec {
                    probe: Some(ProbeSpec {
                        timeout: Some("later".into()),
                        ..Default::default()
                    }),
                    ..base()
                },
                Some("eu-west-1"),
                "spec.probe.timeout",
            ),
            (
                GatewayEndpointSpec {
                    probe: Some(ProbeSpec {
                        interval: Some("10s".into()),
                        timeout: Some("10s".into()),
                        ..Default::default()
                    }),
                    ..base()
                },
                Some("eu-west-1"),
                "spec.probe.timeout",
            ),
            (
                GatewayEndpointSpec {
                    probe: Some(ProbeSpec {
                        interval: Some("5m".into()),
                        timeout: Some("31s".into()),
                        ..Default::default()
                    }),
                    ..base()
                },
                Some("eu-west-1"),
                "spec.probe.timeout",
            ),
            // 100 tables of 200 characters: the generated policy is over 20,480 characters.
            (
                GatewayEndpointSpec {
                    policy: Some(PolicySpec {
                        tables: (0..100).map(|i| format!("{i:0>200}")).collect(),
                        ..Default::default()
                    }),
                    ..base()
                },
                Some("eu-west-1"),
                "spec.policy.tables",
            ),
        ];
        for (spec, region, field) in cases {
            let err = desired(
                &obj(spec),
                region,
                Some("111122223333"),
                &ClusterNodes::default(),
            )
            .unwrap_err();
            assert!(err.to_string().contains(field), "{err}");
            assert_eq!(field_of(err), field);
        }
        let mut no_uid = obj(base());
        no_uid.metadata.uid = None;
        assert_eq!(
            field_of(
                desired(&no_uid, Some("eu-west-1"), None, &ClusterNodes::default()).unwrap_err()
            ),
            "metadata.uid"
        );
    }

    #[test]
    fn the_canary_follows_probing_and_verify_path() {
        let with = |policy: Option<PolicySpec>, probe: Option<ProbeSpec>| {
            let mut s = base();
            s.policy = policy;
            s.probe = probe;
            desired(
                &obj(s),
                Some("cn-north-1"),
                Some("111122223333"),
                &ClusterNodes::default(),
            )
            .unwrap()
        };
        let custom = || {
            Some(PolicySpec {
                document: Some(
                    r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"dynamodb:GetItem","Resource":"*"}}"#
                        .into(),
                ),
                ..Default::default()
            })
        };
        let verify = |v: bool| {
            Some(ProbeSpec {
                verify_path: Some(v),
                ..Default::default()
            })
        };
        // Probing off: no canary, AWS's default policy.
        let off = with(
            None,
            Some(ProbeSpec {
                enabled: Some(false),
                ..Default::default()
            }),
        );
        assert_eq!(off.policy, None);
        // A custom document keeps its own statements; the canary only with verifyPath: true.
        assert!(with(custom(), None).probe.unwrap().canary.is_none());
        let owned = with(custom(), verify(true)).policy.unwrap();
        let statements = owned["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 2, "{owned}");
        assert_eq!(statements[0]["Action"], "dynamodb:GetItem");
        assert_eq!(
            statements[1]["Resource"],
            "arn:aws-cn:dynamodb:cn-north-1:111122223333:table/vpcgate-canary-0c6a3f4e-1111-2222-3333-444455556666"
        );
        // A generated policy opts out with verifyPath: false.
        assert_eq!(with(None, verify(false)).policy, None);
        // A table-scoped policy gets it too.
        let tables = with(
            Some(PolicySpec {
                tables: vec!["Music".into()],
                ..Default::default()
            }),
            None,
        );
        assert!(tables.policy.unwrap().to_string().contains("VpcgateCanary"));
    }

    #[test]
    fn probe_plan() {
        let mut s = base();
        s.probe = Some(ProbeSpec {
            interval: Some("1m30s".into()),
            timeout: Some("500ms".into()),
            table: Some("Music".into()),
            enabled: None,
            verify_path: None,
        });
        let p = desired(
            &obj(s.clone()),
            Some("eu-west-1"),
            Some("111122223333"),
            &ClusterNodes::default(),
        )
        .unwrap()
        .probe
        .unwrap();
        assert_eq!(p.interval, Duration::from_secs(90));
        assert_eq!(p.timeout, Duration::from_millis(500));
        assert_eq!(p.table.as_deref(), Some("Music"));

        s.probe.as_mut().unwrap().enabled = Some(false);
        assert_eq!(
            desired(
                &obj(s.clone()),
                Some("eu-west-1"),
                Some("111122223333"),
                &ClusterNodes::default()
            )
            .unwrap()
            .probe,
            None
        );

        // S3 endpoints have no DynamoDB probe.
        let s3 = GatewayEndpointSpec {
            service: Service::S3,
            ..base()
        };
        let d = desired(
            &obj(s3),
            Some("eu-west-1"),
            Some("111122223333"),
            &ClusterNodes::default(),
        )
        .unwrap();
        assert_eq!(d.probe, None);
        assert_eq!(d.service_name, "com.amazonaws.eu-west-1.s3");

        // A table-scoped policy probes the first table, which the policy allows.
        let scoped = GatewayEndpointSpec {
            policy: Some(PolicySpec {
                tables: vec!["Orders".into(), "Music".into()],
                ..Default::default()
            }),
            ..base()
        };
        let d = desired(
            &obj(scoped),
            Some("eu-west-1"),
            Some("111122223333"),
            &ClusterNodes::default(),
        )
        .unwrap();
        assert_eq!(d.probe.unwrap().table.as_deref(), Some("Orders"));
        assert!(d.policy.is_some());
    }
}
