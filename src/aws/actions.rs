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

/// Where in IAM an action may act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `Resource: "*"` (EC2 describes support no resource-level permissions).
    Any,
    /// Only VPC endpoints.
    Endpoints,
    /// VPC endpoints, the VPC and route tables (what CreateVpcEndpoint touches), and only when
    /// the request tags the new endpoint with `vpcgate.dev/uid`.
    CreateTagged,
    /// Endpoints carrying `vpcgate.dev/uid`, plus route tables (ModifyVpcEndpoint moves routes).
    OwnedEndpointsAndRouteTables,
    /// Endpoints carrying `vpcgate.dev/uid`.
    OwnedEndpoints,
    /// DynamoDB tables.
    Tables,
}

/// One AWS action vpcgate uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action {
    pub service: &'static str,
    pub name: &'static str,
    pub why: &'static str,
    pub probe: Probe,
    pub scope: Scope,
}

const fn a(
    service: &'static str,
    name: &'static str,
    why: &'static str,
    probe: Probe,
    scope: Scope,
) -> Action {
    Action {
        service,
        name,
        why,
        probe,
        scope,
    }
}

/// Every AWS action the operator calls.
pub const ACTIONS: &[Action] = &[
    a(
        "ec2",
        "DescribeVpcs",
        "check spec.vpcId exists",
        Probe::Read,
        Scope::Any,
    ),
    a(
        "ec2",
        "DescribeRouteTables",
        "resolve route tables, verify routes, detect conflicts",
        Probe::Read,
        Scope::Any,
    ),
    a(
        "ec2",
        "DescribeSubnets",
        "resolve spec.routeTables.subnetIds",
        Probe::Read,
        Scope::Any,
    ),
    a(
        "ec2",
        "DescribePrefixLists",
        "find the service's prefix list",
        Probe::Read,
        Scope::Any,
    ),
    a(
        "ec2",
        "GetManagedPrefixListEntries",
        "the prefix list's CIDRs for the probe",
        Probe::Read,
        Scope::Any,
    ),
    a(
        "ec2",
        "DescribeVpcEndpoints",
        "find the endpoint by its vpcgate.dev/uid tag",
        Probe::Read,
        Scope::Any,
    ),
    a(
        "ec2",
        "CreateVpcEndpoint",
        "create the gateway endpoint (tagged, with a ClientToken)",
        Probe::DryRun,
        Scope::CreateTagged,
    ),
    a(
        "ec2",
        "ModifyVpcEndpoint",
        "route tables and policy",
        Probe::DryRun,
        Scope::OwnedEndpointsAndRouteTables,
    ),
    a(
        "ec2",
        "DeleteVpcEndpoints",
        "deletionPolicy Delete",
        Probe::DryRun,
        Scope::OwnedEndpoints,
    ),
    a(
        "ec2",
        "CreateTags",
        "tag the endpoint (at create and on drift)",
        Probe::DryRun,
        Scope::Endpoints,
    ),
    a(
        "ec2",
        "DeleteTags",
        "remove tags vpcgate set; deletionPolicy Retain",
        Probe::DryRun,
        Scope::Endpoints,
    ),
    a(
        "dynamodb",
        "ListTables",
        "the probe without spec.probe.table",
        Probe::Read,
        Scope::Any,
    ),
    a(
        "dynamodb",
        "DescribeTable",
        "the probe with spec.probe.table",
        Probe::Read,
        Scope::Tables,
    ),
];

/// The least-privilege IAM policy document for the operator's role.
pub fn iam_policy(partition: &str) -> Value {
    let names = |scope: Scope| -> Vec<String> {
        ACTIONS
            .iter()
            .filter(|x| x.scope == scope)
            .map(|x| format!("{}:{}", x.service, x.name))
            .collect()
    };
    let endpoint_arn = format!("arn:{partition}:ec2:*:*:vpc-endpoint/*");
    let owned = json!({"Null": {"aws:ResourceTag/vpcgate.dev/uid": "false"}});
    let change_owned = [
        names(Scope::OwnedEndpointsAndRouteTables),
        names(Scope::OwnedEndpoints),
    ]
    .concat();
    let mut statements = vec![
        json!({"Sid": "Read", "Effect": "Allow", "Action": names(Scope::Any), "Resource": "*"}),
        json!({
            "Sid": "CreateTaggedEndpoint",
            "Effect": "Allow",
            "Action": names(Scope::CreateTagged),
            "Resource": [
                endpoint_arn,
                format!("arn:{partition}:ec2:*:*:vpc/*"),
                format!("arn:{partition}:ec2:*:*:route-table/*")
            ],
            "Condition": {"Null": {"aws:RequestTag/vpcgate.dev/uid": "false"}}
        }),
        json!({
            "Sid": "ChangeOwnedEndpoints",
            "Effect": "Allow",
            "Action": change_owned,
            "Resource": endpoint_arn,
            "Condition": owned
        }),
        json!({
            "Sid": "MoveRoutes",
            "Effect": "Allow",
            "Action": names(Scope::OwnedEndpointsAndRouteTables),
            "Resource": format!("arn:{partition}:ec2:*:*:route-table/*")
        }),
        json!({"Sid": "TagEndpoints", "Effect": "Allow", "Action": names(Scope::Endpoints), "Resource": endpoint_arn}),
        json!({
            "Sid": "Probe",
            "Effect": "Allow",
            "Action": names(Scope::Tables),
            "Resource": format!("arn:{partition}:dynamodb:*:*:table/*")
        }),
    ];
    statements.retain(|s| s["Action"].as_array().is_some_and(|a| !a.is_empty()));
    json!({"Version": "2012-10-17", "Statement": statements})
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Every operation name the AWS edge passes to its call wrapper.
    fn called_in_source() -> BTreeSet<(String, String)> {
        let mut found = BTreeSet::new();
        for (file, service) in [("sdk_ec2.rs", "ec2"), ("dynamodb.rs", "dynamodb")] {
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
        let block = text
            .split("```json\n")
            .nth(1)
            .and_then(|b| b.split("```").next())
            .unwrap();
        let shown: Value = serde_json::from_str(block).unwrap();
        assert_eq!(
            shown,
            iam_policy("aws"),
            "docs/install-eks.md shows a stale policy: paste `vpcgate iam-policy`"
        );
    }

    #[test]
    fn the_policy_grants_every_action_and_scopes_mutations() {
        let p = iam_policy("aws");
        let granted: BTreeSet<String> = p["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| {
                s["Action"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_owned())
            })
            .collect();
        for x in ACTIONS {
            assert!(
                granted.contains(&format!("{}:{}", x.service, x.name)),
                "{}",
                x.name
            );
        }
        assert!(
            granted.iter().all(|a| !a.contains('*')),
            "no wildcard actions: {granted:?}"
        );
        let delete = p["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == "ChangeOwnedEndpoints")
            .unwrap();
        assert_eq!(delete["Resource"], "arn:aws:ec2:*:*:vpc-endpoint/*");
        assert_eq!(
            delete["Condition"]["Null"]["aws:ResourceTag/vpcgate.dev/uid"],
            "false"
        );
        assert!(iam_policy("aws-cn").to_string().contains("arn:aws-cn:ec2"));
    }
}
