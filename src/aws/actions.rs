//! The one table of AWS actions vpcgate calls. The IAM policy (`vpcgate iam-policy`) and the
//! preflight (`vpcgate check`) are generated from it, and a test fails when the code calls an
//! action that is not here (or lists one it never calls).

use serde_json::{Value, json};

/// How the preflight can tell whether an action is allowed without changing anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// A harmless read: just make the call.
    Read,
    /// A mutating EC2 call: `DryRun=true` answers `DryRunOperation` when allowed.
    DryRun,
}

/// One statement of the operator's IAM policy. Each action lists the statements that shape it,
/// so the policy, the preflight's hints and the docs come from this one table.
///
/// Actions that act on several resource types at once (`CreateVpcEndpoint`: endpoint, VPC,
/// route tables; `ModifyVpcEndpoint`: endpoint, route tables) are allowed on all of them in one
/// statement, and a Deny on the endpoint alone carries the tag condition: a condition in the
/// Allow would be evaluated against the VPC and route tables too, which carry no such tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grant {
    /// Describes and lists: these actions support no resource-level permissions (`*`).
    Describe,
    /// The entries of AWS-managed prefix lists (supports the prefix-list resource type).
    PrefixListEntries,
    /// `CreateVpcEndpoint` for a new endpoint in a VPC (every VPC, or only the allowed ones) on
    /// its route tables.
    CreateEndpoints,
    /// Deny: no endpoint is created without the `vpcgate.dev/uid` tag in the request.
    CreateOnlyTagged,
    /// `CreateTags` only as part of `CreateVpcEndpoint` (`ec2:CreateAction`), with the uid tag.
    TagOnCreate,
    /// `ModifyVpcEndpoint` (route tables and policy) on endpoints and route tables.
    ModifyEndpoints,
    /// Deny: no endpoint without the `vpcgate.dev/uid` tag is modified.
    ModifyOnlyOwned,
    /// Delete and tag changes only on endpoints that already carry `vpcgate.dev/uid`.
    ChangeOwnedEndpoints,
    /// `DescribeTable` for the probe (the canary and `spec.probe.table`).
    DescribeTables,
    /// Opt-in (`--allow-adoption`): add the `vpcgate.dev/uid` tag, and only that tag, to an
    /// endpoint vpcgate did not create, which makes it vpcgate's to change (`spec.adopt`).
    AdoptEndpoints,
    /// Opt-in (`--allow-egress-rules`): add and revoke egress rules (`securityGroups.mode:
    /// Manage`). Revoke cannot be limited by the rule's tag (IAM knows only the group there).
    ManageEgress,
    /// Opt-in, Deny: no egress rule is added without the `vpcgate.dev/uid` tag.
    EgressRulesOnlyTagged,
    /// Opt-in: `CreateTags` on a rule only as part of `AuthorizeSecurityGroupEgress`.
    TagRulesOnCreate,
    /// Opt-in, Deny, with an allow list only: no egress change to a group outside the allowed
    /// VPCs (`ec2:Vpc`).
    EgressOnlyInAllowedVpcs,
}

impl Grant {
    /// Every statement, in policy order.
    pub const ALL: [Grant; 14] = [
        Grant::Describe,
        Grant::PrefixListEntries,
        Grant::CreateEndpoints,
        Grant::CreateOnlyTagged,
        Grant::TagOnCreate,
        Grant::ModifyEndpoints,
        Grant::ModifyOnlyOwned,
        Grant::ChangeOwnedEndpoints,
        Grant::DescribeTables,
        Grant::AdoptEndpoints,
        Grant::ManageEgress,
        Grant::EgressRulesOnlyTagged,
        Grant::TagRulesOnCreate,
        Grant::EgressOnlyInAllowedVpcs,
    ];

    /// The statement's `Sid`.
    pub fn sid(self) -> &'static str {
        match self {
            Grant::Describe => "Describe",
            Grant::PrefixListEntries => "PrefixListEntries",
            Grant::CreateEndpoints => "CreateEndpoints",
            Grant::CreateOnlyTagged => "CreateOnlyTagged",
            Grant::TagOnCreate => "TagOnCreate",
            Grant::ModifyEndpoints => "ModifyEndpoints",
            Grant::ModifyOnlyOwned => "ModifyOnlyOwned",
            Grant::ChangeOwnedEndpoints => "ChangeOwnedEndpoints",
            Grant::DescribeTables => "DescribeTables",
            Grant::AdoptEndpoints => "AdoptEndpoints",
            Grant::ManageEgress => "ManageEgress",
            Grant::EgressRulesOnlyTagged => "EgressRulesOnlyTagged",
            Grant::TagRulesOnCreate => "TagRulesOnCreate",
            Grant::EgressOnlyInAllowedVpcs => "EgressOnlyInAllowedVpcs",
        }
    }

    /// The opt-in a statement belongs to (`None`: always in the policy).
    pub fn opt_in(self) -> Option<OptIn> {
        match self {
            Grant::AdoptEndpoints => Some(OptIn::Adoption),
            Grant::ManageEgress
            | Grant::EgressRulesOnlyTagged
            | Grant::TagRulesOnCreate
            | Grant::EgressOnlyInAllowedVpcs => Some(OptIn::EgressRules),
            _ => None,
        }
    }

    /// Whether the statement is in the policy only on request.
    pub fn optional(self) -> bool {
        self.opt_in().is_some()
    }

    /// Whether the statement allows (else it is a Deny guard).
    pub fn allows(self) -> bool {
        !matches!(
            self,
            Grant::CreateOnlyTagged
                | Grant::ModifyOnlyOwned
                | Grant::EgressRulesOnlyTagged
                | Grant::EgressOnlyInAllowedVpcs
        )
    }
}

/// Statements a policy carries only when asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptIn {
    /// `--allow-adoption` (`spec.adopt`).
    Adoption,
    /// `--allow-egress-rules` (`securityGroups.mode: Manage`).
    EgressRules,
}

/// What a generated policy includes beyond the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicyOptions {
    pub adoption: bool,
    pub egress_rules: bool,
}

impl PolicyOptions {
    fn includes(self, grant: Grant) -> bool {
        match grant.opt_in() {
            None => true,
            Some(OptIn::Adoption) => self.adoption,
            Some(OptIn::EgressRules) => self.egress_rules,
        }
    }
}

/// One AWS action vpcgate uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action {
    pub service: &'static str,
    pub name: &'static str,
    pub why: &'static str,
    pub probe: Probe,
    /// The statements that shape it: the Allows it needs and the Deny guards on it.
    pub grants: &'static [Grant],
}

const fn a(
    service: &'static str,
    name: &'static str,
    why: &'static str,
    probe: Probe,
    grants: &'static [Grant],
) -> Action {
    Action {
        service,
        name,
        why,
        probe,
        grants,
    }
}

/// Every AWS action the operator calls.
pub const ACTIONS: &[Action] = &[
    a(
        "ec2",
        "DescribeVpcs",
        "check spec.vpcId exists",
        Probe::Read,
        &[Grant::Describe],
    ),
    a(
        "ec2",
        "DescribeRouteTables",
        "resolve route tables, verify routes, detect conflicts, the probe's route table",
        Probe::Read,
        &[Grant::Describe],
    ),
    a(
        "ec2",
        "DescribeSubnets",
        "resolve spec.routeTables.subnetIds",
        Probe::Read,
        &[Grant::Describe],
    ),
    a(
        "ec2",
        "DescribePrefixLists",
        "find the service's prefix list",
        Probe::Read,
        &[Grant::Describe],
    ),
    a(
        "ec2",
        "DescribeVpcEndpoints",
        "find the endpoint by its vpcgate.dev/uid tag",
        Probe::Read,
        &[Grant::Describe],
    ),
    a(
        "ec2",
        "DescribeSecurityGroups",
        "spec.securityGroups: their egress rules",
        Probe::Read,
        &[Grant::Describe],
    ),
    a(
        "ec2",
        "DescribeSecurityGroupRules",
        "find the egress rules vpcgate added (tagged with the uid) to remove them on delete",
        Probe::Read,
        &[Grant::Describe],
    ),
    a(
        "ec2",
        "AuthorizeSecurityGroupEgress",
        "securityGroups.mode Manage: add tcp/443 to the prefix list, tagged",
        Probe::DryRun,
        &[
            Grant::ManageEgress,
            Grant::EgressRulesOnlyTagged,
            Grant::EgressOnlyInAllowedVpcs,
        ],
    ),
    a(
        "ec2",
        "RevokeSecurityGroupEgress",
        "on delete, remove the egress rules vpcgate added",
        Probe::DryRun,
        &[Grant::ManageEgress, Grant::EgressOnlyInAllowedVpcs],
    ),
    a(
        "ec2",
        "GetManagedPrefixListEntries",
        "the prefix list's CIDRs, when an egress rule names CIDRs instead of the list",
        Probe::Read,
        &[Grant::PrefixListEntries],
    ),
    a(
        "ec2",
        "DescribeInstances",
        "the subnet the operator's node is in (where the probe runs from)",
        Probe::Read,
        &[Grant::Describe],
    ),
    a(
        "ec2",
        "CreateVpcEndpoint",
        "create the gateway endpoint (tagged, with a ClientToken)",
        Probe::DryRun,
        &[Grant::CreateEndpoints, Grant::CreateOnlyTagged],
    ),
    a(
        "ec2",
        "ModifyVpcEndpoint",
        "route tables and policy",
        Probe::DryRun,
        &[Grant::ModifyEndpoints, Grant::ModifyOnlyOwned],
    ),
    a(
        "ec2",
        "DeleteVpcEndpoints",
        "deletionPolicy Delete",
        Probe::DryRun,
        &[Grant::ChangeOwnedEndpoints],
    ),
    a(
        "ec2",
        "CreateTags",
        "tag the endpoint at create, repair tag drift, adopt an existing endpoint",
        Probe::DryRun,
        &[
            Grant::TagOnCreate,
            Grant::ChangeOwnedEndpoints,
            Grant::AdoptEndpoints,
            Grant::TagRulesOnCreate,
        ],
    ),
    a(
        "ec2",
        "DeleteTags",
        "remove tags vpcgate set; deletionPolicy Retain",
        Probe::DryRun,
        &[Grant::ChangeOwnedEndpoints],
    ),
    a(
        "dynamodb",
        "ListTables",
        "the probe's latency read without spec.probe.table",
        Probe::Read,
        &[Grant::Describe],
    ),
    a(
        "dynamodb",
        "DescribeTable",
        "the probe: the canary table and spec.probe.table",
        Probe::Read,
        &[Grant::DescribeTables],
    ),
];

/// The statement ids that allow `service:name`, e.g. for a preflight hint.
pub fn granted_by(service: &str, name: &str) -> Vec<&'static str> {
    ACTIONS
        .iter()
        .filter(|x| x.service == service && x.name == name)
        .flat_map(|x| {
            x.grants
                .iter()
                .filter(|g| g.allows() && !g.optional())
                .map(|g| g.sid())
        })
        .collect()
}

/// Whether `id` looks like a VPC id (`vpc-` and 8 or 17 hex digits).
pub fn is_vpc_id(id: &str) -> bool {
    id.strip_prefix("vpc-").is_some_and(|hex| {
        (hex.len() == 8 || hex.len() == 17) && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// The least-privilege IAM policy document for the operator's role. `allowed_vpcs` (empty: any
/// VPC of the account) limits where endpoints may be created.
pub fn iam_policy(partition: &str, allowed_vpcs: &[String]) -> Value {
    iam_policy_with(partition, allowed_vpcs, PolicyOptions::default())
}

/// [`iam_policy`], with the opt-in statements `options` asks for.
pub fn iam_policy_with(partition: &str, allowed_vpcs: &[String], options: PolicyOptions) -> Value {
    let ec2 = |resource: &str| format!("arn:{partition}:ec2:*:*:{resource}");
    let endpoints = ec2("vpc-endpoint/*");
    let route_tables = ec2("route-table/*");
    let vpcs: Vec<String> = if allowed_vpcs.is_empty() {
        vec![ec2("vpc/*")]
    } else {
        allowed_vpcs
            .iter()
            .map(|v| ec2(&format!("vpc/{v}")))
            .collect()
    };
    let statement = |grant: Grant| -> Option<Value> {
        let mut actions: Vec<String> = ACTIONS
            .iter()
            .filter(|x| x.grants.contains(&grant))
            .map(|x| format!("{}:{}", x.service, x.name))
            .collect();
        actions.sort();
        let (resource, condition): (Value, Option<Value>) = match grant {
            Grant::Describe => (json!("*"), None),
            Grant::PrefixListEntries => (json!(ec2("prefix-list/*")), None),
            Grant::CreateEndpoints => (
                json!(
                    std::iter::once(&endpoints)
                        .chain(&vpcs)
                        .chain([&route_tables])
                        .collect::<Vec<_>>()
                ),
                None,
            ),
            Grant::CreateOnlyTagged => (
                json!(endpoints),
                Some(json!({"Null": {"aws:RequestTag/vpcgate.dev/uid": "true"}})),
            ),
            Grant::TagOnCreate => (
                json!(endpoints),
                Some(json!({
                    "StringEquals": {"ec2:CreateAction": "CreateVpcEndpoint"},
                    "Null": {"aws:RequestTag/vpcgate.dev/uid": "false"}
                })),
            ),
            Grant::ModifyEndpoints => (json!([endpoints, route_tables]), None),
            Grant::ModifyOnlyOwned => (
                json!(endpoints),
                Some(json!({"Null": {"aws:ResourceTag/vpcgate.dev/uid": "true"}})),
            ),
            Grant::ChangeOwnedEndpoints => (
                json!(endpoints),
                Some(json!({"Null": {"aws:ResourceTag/vpcgate.dev/uid": "false"}})),
            ),
            Grant::DescribeTables => (json!(format!("arn:{partition}:dynamodb:*:*:table/*")), None),
            Grant::AdoptEndpoints => (
                json!(endpoints),
                Some(json!({
                    "ForAllValues:StringEquals": {"aws:TagKeys": ["vpcgate.dev/uid"]},
                    "Null": {"aws:RequestTag/vpcgate.dev/uid": "false"}
                })),
            ),
            Grant::ManageEgress => (
                json!([ec2("security-group/*"), ec2("security-group-rule/*")]),
                None,
            ),
            Grant::EgressRulesOnlyTagged => (
                json!(ec2("security-group-rule/*")),
                Some(json!({"Null": {"aws:RequestTag/vpcgate.dev/uid": "true"}})),
            ),
            Grant::EgressOnlyInAllowedVpcs => {
                let allowed: Vec<String> = allowed_vpcs
                    .iter()
                    .map(|v| ec2(&format!("vpc/{v}")))
                    .collect();
                if allowed.is_empty() {
                    return None;
                }
                (
                    json!(ec2("security-group/*")),
                    Some(json!({"ArnNotLike": {"ec2:Vpc": allowed}})),
                )
            }
            Grant::TagRulesOnCreate => (
                json!(ec2("security-group-rule/*")),
                Some(json!({
                    "StringEquals": {"ec2:CreateAction": "AuthorizeSecurityGroupEgress"},
                    "Null": {"aws:RequestTag/vpcgate.dev/uid": "false"}
                })),
            ),
        };
        let action = match actions.as_slice() {
            [] => return None,
            [one] => json!(one),
            _ => json!(actions),
        };
        let effect = if grant.allows() { "Allow" } else { "Deny" };
        let mut s =
            json!({"Sid": grant.sid(), "Effect": effect, "Action": action, "Resource": resource});
        if let Some(c) = condition {
            s["Condition"] = c;
        }
        Some(s)
    };
    let statements: Vec<Value> = Grant::ALL
        .into_iter()
        .filter(|g| options.includes(*g))
        .filter_map(statement)
        .collect();
    json!({"Version": "2012-10-17", "Statement": statements})
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Every operation name the AWS edge passes to its call wrapper.
    fn called_in_source() -> BTreeSet<(String, String)> {
        let mut found = BTreeSet::new();
        for (file, service) in [
            ("sdk_ec2.rs", "ec2"),
            ("sdk_preflight.rs", "ec2"),
            ("dynamodb.rs", "dynamodb"),
        ] {
            let path = format!("{}/src/aws/{file}", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(path).unwrap();
            // Whitespace removed, so a call wrapped over lines is still found.
            let code: String = text
                .split("#[cfg(test)]")
                .next()
                .unwrap()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            for piece in code.split("self.call(\"").skip(1) {
                let name: String = piece
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect();
                if name.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
                    found.insert((service.to_owned(), name));
                }
            }
        }
        found
    }

    #[test]
    fn the_table_lists_exactly_the_actions_the_code_calls() {
        let table: BTreeSet<(String, String)> = ACTIONS
            .iter()
            .map(|x| (x.service.to_owned(), x.name.to_owned()))
            .collect();
        let code = called_in_source();
        let missing: Vec<_> = code.difference(&table).collect();
        let stale: Vec<_> = table.difference(&code).collect();
        assert!(
            missing.is_empty(),
            "the code calls actions the IAM table lacks: {missing:?}"
        );
        assert!(
            stale.is_empty(),
            "the IAM table lists actions the code never calls: {stale:?}"
        );
        assert!(
            code.len() >= 13,
            "the source scan found too little: {code:?}"
        );
    }

    #[test]
    fn the_install_guide_shows_the_current_policy() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/install-eks.md");
        let text = std::fs::read_to_string(path).unwrap();
        let blocks: Vec<Value> = text
            .split("```json\n")
            .skip(1)
            .filter_map(|b| b.split("```").next())
            .filter_map(|b| serde_json::from_str(b).ok())
            .collect();
        assert!(
            blocks.contains(&iam_policy("aws", &[])),
            "docs/install-eks.md shows a stale policy: paste `vpcgate iam-policy`"
        );
        assert!(
            blocks.contains(&iam_policy("aws", &["vpc-0a1b2c3d4e5f60718".into()])),
            "docs/install-eks.md shows a stale allow-list policy: paste `vpcgate iam-policy --allowed-vpc vpc-0a1b2c3d4e5f60718`"
        );
    }

    fn statements(p: &Value) -> Vec<Value> {
        p["Statement"].as_array().unwrap().clone()
    }

    fn list(v: &Value) -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_owned()).collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn the_policy_grants_every_action_exactly_where_the_table_says() {
        let p = iam_policy("aws", &[]);
        for x in ACTIONS {
            let name = format!("{}:{}", x.service, x.name);
            let sids: Vec<String> = statements(&p)
                .iter()
                .filter(|s| list(&s["Action"]).contains(&name))
                .map(|s| s["Sid"].as_str().unwrap().to_owned())
                .collect();
            let want: Vec<String> = x
                .grants
                .iter()
                .filter(|g| !g.optional())
                .map(|g| g.sid().to_owned())
                .collect();
            assert_eq!(sids, want, "{name}");
        }
        assert!(
            statements(&p)
                .iter()
                .flat_map(|s| list(&s["Action"]))
                .all(|a| !a.contains('*')),
            "no wildcard actions"
        );
        assert!(
            iam_policy("aws-cn", &[])
                .to_string()
                .contains("arn:aws-cn:ec2")
        );
        assert!(!iam_policy("aws-cn", &[]).to_string().contains("arn:aws:"));
    }

    #[test]
    fn nothing_that_supports_a_resource_is_granted_on_star() {
        // Per the IAM service authorization reference, these support no resource-level
        // permissions; everything else vpcgate calls does.
        let resourceless = |a: &str| a.starts_with("ec2:Describe") || a == "dynamodb:ListTables";
        for s in statements(&iam_policy("aws", &[])) {
            if list(&s["Resource"]).contains(&"*".to_owned()) {
                for a in list(&s["Action"]) {
                    assert!(resourceless(&a), "{a} is granted on *");
                }
                assert_eq!(list(&s["Resource"]), ["*"]);
            }
        }
    }

    /// Whether `action` on an endpoint is allowed by the policy's endpoint statements, given
    /// whether the request tags it with the uid, whether it already carries the uid, and
    /// whether the call is part of a create. A tiny evaluator of exactly the condition shapes
    /// the policy uses (the emulator's IAM mode evaluates the real thing end to end).
    fn endpoint_allows(
        p: &Value,
        action: &str,
        request_tag: bool,
        owned: bool,
        on_create: bool,
    ) -> bool {
        let holds = |cond: &Value| -> bool {
            let Some(obj) = cond.as_object() else {
                return true;
            };
            obj.iter().all(|(op, keys)| {
                keys.as_object().unwrap().iter().all(|(key, want)| {
                    match (op.as_str(), key.as_str()) {
                        ("Null", "aws:RequestTag/vpcgate.dev/uid") => {
                            (want == "true") != request_tag
                        }
                        ("Null", "aws:ResourceTag/vpcgate.dev/uid") => (want == "true") != owned,
                        ("StringEquals", "ec2:CreateAction") => {
                            on_create && want == "CreateVpcEndpoint"
                        }
                        other => panic!("condition the test does not know: {other:?}"),
                    }
                })
            })
        };
        let mut allowed = false;
        for s in statements(p) {
            let on_endpoints = list(&s["Resource"])
                .iter()
                .any(|r| r.ends_with(":vpc-endpoint/*"));
            if !on_endpoints || !list(&s["Action"]).contains(&action.to_owned()) {
                continue;
            }
            if holds(&s["Condition"]) {
                if s["Effect"] == "Deny" {
                    return false;
                }
                allowed = true;
            }
        }
        allowed
    }

    #[test]
    fn mutations_are_limited_to_owned_or_newly_tagged_endpoints() {
        let p = iam_policy("aws", &[]);
        // Create: only with the uid tag in the request; tags only as part of that create.
        assert!(endpoint_allows(
            &p,
            "ec2:CreateVpcEndpoint",
            true,
            false,
            false
        ));
        assert!(!endpoint_allows(
            &p,
            "ec2:CreateVpcEndpoint",
            false,
            false,
            false
        ));
        assert!(endpoint_allows(&p, "ec2:CreateTags", true, false, true));
        assert!(!endpoint_allows(&p, "ec2:CreateTags", false, false, true));
        // Someone else's endpoint (interface endpoints for ECR, STS, SSM…): no tag, no change.
        for action in [
            "ec2:CreateTags",
            "ec2:DeleteTags",
            "ec2:ModifyVpcEndpoint",
            "ec2:DeleteVpcEndpoints",
        ] {
            assert!(
                !endpoint_allows(&p, action, true, false, false),
                "{action} on an unowned endpoint"
            );
            assert!(
                endpoint_allows(&p, action, false, true, false),
                "{action} on an owned endpoint"
            );
        }
        // Request-tag conditions sit only on the endpoint (the resource created).
        for s in statements(&p) {
            if s["Condition"].to_string().contains("aws:RequestTag") {
                assert_eq!(
                    list(&s["Resource"]),
                    ["arn:aws:ec2:*:*:vpc-endpoint/*"],
                    "{s}"
                );
            }
        }
    }

    #[test]
    fn adoption_is_opt_in_and_may_add_only_the_uid_tag() {
        assert!(
            !iam_policy("aws", &[])
                .to_string()
                .contains("AdoptEndpoints")
        );
        let p = iam_policy_with(
            "aws",
            &[],
            PolicyOptions {
                adoption: true,
                ..Default::default()
            },
        );
        let adopt = statements(&p)
            .into_iter()
            .find(|s| s["Sid"] == "AdoptEndpoints")
            .unwrap();
        assert_eq!(list(&adopt["Action"]), ["ec2:CreateTags"]);
        assert_eq!(
            adopt["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"],
            json!(["vpcgate.dev/uid"])
        );
    }

    #[test]
    fn an_allow_list_scopes_creates_to_its_vpcs() {
        let vpcs = vec![
            "vpc-0a1b2c3d4e5f60718".to_owned(),
            "vpc-11112222".to_owned(),
        ];
        let p = iam_policy("aws", &vpcs);
        let create = statements(&p)
            .into_iter()
            .find(|s| s["Sid"] == "CreateEndpoints")
            .unwrap();
        assert_eq!(
            list(&create["Resource"]),
            [
                "arn:aws:ec2:*:*:vpc-endpoint/*",
                "arn:aws:ec2:*:*:vpc/vpc-0a1b2c3d4e5f60718",
                "arn:aws:ec2:*:*:vpc/vpc-11112222",
                "arn:aws:ec2:*:*:route-table/*"
            ]
        );
        // Without a list: any VPC.
        assert!(
            iam_policy("aws", &[])
                .to_string()
                .contains("arn:aws:ec2:*:*:vpc/*")
        );
        assert!(is_vpc_id("vpc-11112222") && is_vpc_id("vpc-0a1b2c3d4e5f60718"));
        assert!(!is_vpc_id("vpc-xyz") && !is_vpc_id("subnet-11112222"));
        assert_eq!(
            granted_by("ec2", "CreateTags"),
            ["TagOnCreate", "ChangeOwnedEndpoints"]
        );
        assert_eq!(granted_by("ec2", "ModifyVpcEndpoint"), ["ModifyEndpoints"]);
    }
}
