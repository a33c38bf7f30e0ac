//! `vpcgate check`: is every AWS permission the operator needs granted? Reads are made for real
//! (they change nothing); mutations use EC2's `DryRun`, which answers `DryRunOperation` when the
//! caller is allowed and `UnauthorizedOperation` when not. Changes to an endpoint are dry-run
//! against one vpcgate owns, because the policy allows them on no other; before the first
//! endpoint exists they are "not determinable yet", which is not a failure.

use serde::Serialize;

use crate::aws::actions::{ACTIONS, Action, Probe, granted_by};
use crate::aws::{AwsClients, AwsError, Ec2, ErrorClass};

/// What the preflight learned about one action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", content = "detail", rename_all = "camelCase")]
pub enum Verdict {
    Allowed,
    /// Denied: the operator will fail with `AccessDenied` until this is granted.
    Denied(String),
    /// AWS answered something that proves neither (e.g. a not-found id before the auth check).
    Undetermined(String),
    /// Cannot be checked yet: the action only applies to endpoints vpcgate owns, and none exists.
    NotYet(String),
    /// Not granted, and needed only for an opt-in feature (e.g. `securityGroups.mode: Manage`).
    Optional(String),
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckLine {
    pub action: String,
    pub how: &'static str,
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// Reads an AWS answer as a verdict. Pure.
pub fn verdict(probe: Probe, result: &Result<(), AwsError>) -> Verdict {
    match (probe, result) {
        (Probe::Read, Ok(())) => Verdict::Allowed,
        (Probe::DryRun, Ok(())) => Verdict::Undetermined(
            "the call was not treated as a dry run (DryRun ignored by this endpoint)".into(),
        ),
        (_, Err(e)) if e.code.as_deref() == Some("DryRunOperation") => Verdict::Allowed,
        // A VPC endpoint policy on this host's route, not the role, refused it.
        (_, Err(e))
            if e.class == ErrorClass::AccessDenied
                && e.message
                    .to_ascii_lowercase()
                    .contains("vpc endpoint policy") =>
        {
            Verdict::Undetermined(format!(
                "{e}; a VPC endpoint policy on this host's route refused it, which says nothing about the role"
            ))
        }
        (_, Err(e)) if e.class == ErrorClass::AccessDenied => Verdict::Denied(e.to_string()),
        // The permission check comes before the lookup: a not-found answer means allowed.
        (Probe::Read, Err(e)) if e.class == ErrorClass::NotFound => Verdict::Allowed,
        (_, Err(e)) => Verdict::Undetermined(e.to_string()),
    }
}

/// Checks every action of [`ACTIONS`] in `region`. Creation is dry-run in `vpc_id`, else the
/// VPC of an endpoint vpcgate owns, else the first allowed VPC (`allowed_vpcs`), else the first
/// VPC found; changes to an endpoint against one vpcgate owns.
pub async fn check(
    clients: &AwsClients,
    region: &str,
    vpc_id: Option<&str>,
    allowed_vpcs: &[String],
) -> Vec<CheckLine> {
    let ec2 = clients.sdk_ec2(region);
    let ddb = clients.dynamodb(region, std::time::Duration::from_secs(10));
    let service_name = format!("com.amazonaws.{region}.dynamodb");
    let owned = ec2.an_owned_endpoint().await;
    let owned_id = owned.as_ref().ok().cloned().flatten();
    let vpcs = ec2.some_vpcs().await;
    let vpc = vpc_id
        .map(str::to_owned)
        .or_else(|| owned_id.as_ref().map(|(_, vpc)| vpc.clone()))
        .or_else(|| allowed_vpcs.first().cloned())
        .or_else(|| vpcs.as_ref().ok().and_then(|v| v.first().cloned()))
        .unwrap_or_else(|| "vpc-00000000".into());
    let tables = ec2.route_tables(&vpc).await;
    let table = tables
        .as_ref()
        .ok()
        .and_then(|t| t.first().map(|t| t.id.clone()));

    let mut lines = Vec::new();
    for action in ACTIONS {
        let result: Result<(), AwsError> = match (action.service, action.name) {
            ("ec2", "DescribeVpcs") => vpcs.clone().map(|_| ()),
            ("ec2", "DescribeVpcEndpoints") => owned.clone().map(|_| ()),
            ("ec2", "DescribeRouteTables") => tables.clone().map(|_| ()),
            ("ec2", "DescribeSubnets") => ec2.subnet_ids(&vpc).await.map(|_| ()),
            ("ec2", "DescribeInstances") => ec2
                .instance_placement("i-00000000000000000")
                .await
                .map(|_| ()),
            ("ec2", "DescribePrefixLists") => ec2.prefix_list(&service_name).await.map(|_| ()),
            ("ec2", "GetManagedPrefixListEntries") => match ec2.prefix_list(&service_name).await {
                Ok(Some(pl)) => ec2.prefix_list_cidrs(&pl.id).await.map(|_| ()),
                Ok(None) => Err(AwsError::new(
                    "ec2",
                    "GetManagedPrefixListEntries",
                    None,
                    format!("no prefix list {service_name} to read"),
                )),
                Err(e) => Err(e),
            },
            ("ec2", "DescribeSecurityGroupRules") => ec2
                .tagged_egress_rules(crate::api::TAG_UID, "vpcgate-preflight")
                .await
                .map(|_| ()),
            ("ec2", "DescribeSecurityGroups") => ec2
                .security_groups(&["sg-00000000".to_owned()])
                .await
                .map(|_| ()),
            ("ec2", name @ ("AuthorizeSecurityGroupEgress" | "RevokeSecurityGroupEgress")) => {
                let group = "sg-00000000000000000";
                ec2.dry_run(name, &vpc, None, &service_name, group).await
            }
            ("ec2", "CreateVpcEndpoint") => {
                ec2.dry_run(action.name, &vpc, table.as_deref(), &service_name, "")
                    .await
            }
            ("ec2", name) => match &owned_id {
                Some((endpoint, _)) => ec2.dry_run(name, &vpc, None, &service_name, endpoint).await,
                None => {
                    lines.push(line(
                        action,
                        Verdict::NotYet(format!(
                            "not determinable yet: allowed only on endpoints tagged {} and none exists in {region}; check again once a GatewayEndpoint is Ready",
                            crate::api::TAG_UID
                        )),
                    ));
                    continue;
                }
            },
            ("dynamodb", "ListTables") => ddb.list_tables().await,
            ("dynamodb", "DescribeTable") => ddb.describe_table("vpcgate-canary-preflight").await,
            _ => Err(AwsError::new(
                action.service,
                action.name,
                None,
                "no check for this action",
            )),
        };
        lines.push(line(action, verdict(action.probe, &result)));
    }
    lines
}

fn line(action: &Action, verdict: Verdict) -> CheckLine {
    let opt_in_only = action.grants.iter().all(|g| !g.allows() || g.optional());
    let verdict = match verdict {
        Verdict::Denied(_) if opt_in_only => Verdict::Optional(
            "not granted; only securityGroups.mode: Manage needs it (`vpcgate iam-policy --allow-egress-rules`)".into(),
        ),
        Verdict::Denied(d) => Verdict::Denied(format!(
            "{d}; granted by statement {} of `vpcgate iam-policy`",
            granted_by(action.service, action.name).join(" + ")
        )),
        v => v,
    };
    CheckLine {
        action: format!("{}:{}", action.service, action.name),
        how: match action.probe {
            Probe::Read => "read",
            Probe::DryRun => "dry run",
        },
        verdict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        let err = |code: &str| Err(AwsError::new("ec2", "X", Some(code), "m"));
        let cases = [
            (Probe::Read, Ok(()), "allowed"),
            (Probe::DryRun, Ok(()), "undetermined"),
            (Probe::DryRun, err("DryRunOperation"), "allowed"),
            (Probe::DryRun, err("UnauthorizedOperation"), "denied"),
            (Probe::Read, err("AccessDeniedException"), "denied"),
            (Probe::Read, err("ResourceNotFoundException"), "allowed"),
            (
                Probe::DryRun,
                err("InvalidVpcEndpointId.NotFound"),
                "undetermined",
            ),
            (Probe::Read, err("InternalError"), "undetermined"),
            (
                Probe::Read,
                Err(AwsError::new(
                    "dynamodb",
                    "DescribeTable",
                    Some("AccessDeniedException"),
                    "User: r is not authorized to perform: dynamodb:DescribeTable on resource: t because no VPC endpoint policy allows the dynamodb:DescribeTable action",
                )),
                "undetermined",
            ),
        ];
        for (probe, result, expected) in cases {
            let got = match verdict(probe, &result) {
                Verdict::Allowed => "allowed",
                Verdict::Denied(_) => "denied",
                Verdict::Undetermined(_) => "undetermined",
                Verdict::NotYet(_) => "not yet",
                Verdict::Optional(_) => "optional",
            };
            assert_eq!(got, expected, "{probe:?} {result:?}");
        }
    }
}
