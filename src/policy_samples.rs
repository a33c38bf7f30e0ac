//! Every IAM policy vpcgate generates, by name, for linting (`vpcgate iam-policy --samples-dir`,
//! run through `parliament` by `tests/iam/test.sh`): the operator's policy in each variant and
//! the endpoint policy of every preset, built by the same code the operator runs.

use serde_json::Value;

use crate::api::{
    GatewayEndpoint, GatewayEndpointSpec, PolicyPreset, PolicySpec, ProbeSpec, Service,
};
use crate::aws::actions::iam_policy;
use crate::engine::desired::desired;

const ACCOUNT: &str = "111122223333";
const UID: &str = "0c6a3f4e-1111-4222-8333-444455556666";

/// `(name, document)` for every generated policy.
pub fn all() -> Vec<(String, Value)> {
    let mut out = vec![
        ("operator-default".to_owned(), iam_policy("aws", &[])),
        (
            "operator-allowed-vpc".to_owned(),
            iam_policy("aws", &["vpc-0a1b2c3d4e5f60718".into()]),
        ),
        (
            "operator-allowed-vpcs".to_owned(),
            iam_policy(
                "aws",
                &["vpc-0a1b2c3d4e5f60718".into(), "vpc-11112222".into()],
            ),
        ),
        ("operator-aws-cn".to_owned(), iam_policy("aws-cn", &[])),
        (
            "operator-allow-adoption".to_owned(),
            crate::aws::actions::iam_policy_with(
                "aws",
                &[],
                crate::aws::actions::PolicyOptions {
                    adoption: true,
                    ..Default::default()
                },
            ),
        ),
        (
            "operator-allow-egress-rules-allowed-vpc".to_owned(),
            crate::aws::actions::iam_policy_with(
                "aws",
                &["vpc-0a1b2c3d4e5f60718".into()],
                crate::aws::actions::PolicyOptions {
                    egress_rules: true,
                    adoption: true,
                },
            ),
        ),
        (
            "operator-allow-egress-rules".to_owned(),
            crate::aws::actions::iam_policy_with(
                "aws",
                &[],
                crate::aws::actions::PolicyOptions {
                    egress_rules: true,
                    ..Default::default()
                },
            ),
        ),
        (
            "operator-aws-us-gov".to_owned(),
            iam_policy("aws-us-gov", &[]),
        ),
    ];
    let tables = vec!["orders".to_owned(), "customers".to_owned()];
    let custom = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Mine","Effect":"Allow","Principal":"*","Action":"dynamodb:GetItem","Resource":"*"}]}"#;
    let cases: Vec<(&str, Service, Option<PolicySpec>, Option<bool>)> = vec![
        ("endpoint-default", Service::Dynamodb, None, None),
        (
            "endpoint-read-only",
            Service::Dynamodb,
            Some(preset(PolicyPreset::ReadOnly, &[])),
            None,
        ),
        (
            "endpoint-tables-full-access",
            Service::Dynamodb,
            Some(preset(PolicyPreset::FullAccess, &tables)),
            None,
        ),
        (
            "endpoint-tables-read-only",
            Service::Dynamodb,
            Some(preset(PolicyPreset::ReadOnly, &tables)),
            None,
        ),
        (
            "endpoint-custom-verify-path",
            Service::Dynamodb,
            Some(PolicySpec {
                document: Some(custom.into()),
                ..Default::default()
            }),
            Some(true),
        ),
        (
            "endpoint-s3-read-only",
            Service::S3,
            Some(preset(PolicyPreset::ReadOnly, &[])),
            None,
        ),
    ];
    for (name, service, policy, verify_path) in cases {
        let mut obj = GatewayEndpoint::new(
            "sample",
            GatewayEndpointSpec {
                service,
                vpc_id: Some("vpc-0a1b2c3d4e5f60718".into()),
                route_tables: crate::api::RouteTableSelector {
                    ids: vec!["rtb-0a1b2c3d4e5f60718".into()],
                    ..Default::default()
                },
                policy,
                probe: Some(ProbeSpec {
                    verify_path,
                    ..Default::default()
                }),
                ..Default::default()
            },
        );
        obj.metadata.uid = Some(UID.into());
        for region in ["us-east-1", "cn-north-1"] {
            let d = desired(&obj, Some(region), Some(ACCOUNT), &Default::default())
                .expect("a sample spec is valid");
            if let Some(doc) = d.policy {
                let suffix = if region == "us-east-1" { "" } else { "-aws-cn" };
                out.push((format!("{name}{suffix}"), doc));
            }
        }
    }
    out
}

fn preset(p: PolicyPreset, tables: &[String]) -> PolicySpec {
    PolicySpec {
        preset: Some(p),
        tables: tables.to_vec(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_variant_is_there_and_the_canary_is_in_every_dynamodb_endpoint_policy() {
        let all = super::all();
        let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
        for want in [
            "operator-default",
            "operator-allowed-vpcs",
            "operator-aws-cn",
            "endpoint-default",
            "endpoint-read-only",
            "endpoint-tables-read-only",
            "endpoint-custom-verify-path",
            "endpoint-s3-read-only",
            "endpoint-default-aws-cn",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        for (name, doc) in &all {
            if name.starts_with("endpoint-") && !name.contains("s3") {
                let text = doc.to_string();
                assert!(text.contains("VpcgateCanary"), "{name}: {text}");
                assert!(
                    text.contains(":111122223333:table/vpcgate-canary-0c6a3f4e"),
                    "{name}: {text}"
                );
            }
        }
    }
}
