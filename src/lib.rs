//! vpcgate: a Kubernetes operator that keeps a Gateway VPC endpoint for DynamoDB (or S3) on the
//! route tables you select, repairs drift, and proves DynamoDB is reachable through it.
#![forbid(unsafe_code)]

pub mod api;
pub mod aws;
pub mod controller;
pub mod engine;
pub mod error;
pub mod metrics;
pub mod policy_samples;
pub mod preflight;
pub mod readiness;
pub mod reference;
pub mod server;
pub mod telemetry;

/// The CRD as YAML: the source of `crds/` (a test fails when they differ).
pub fn crd_yaml() -> String {
    let crd = api::crd();
    serde_yaml_ng::to_string(&crd).expect("a CRD always serializes")
}

/// Installs the one TLS crypto provider (aws-lc-rs) for kube and the AWS SDK. Safe to call more
/// than once.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    /// `crds/` is generated; regenerate with `cargo run -- crd > crds/gatewayendpoints.vpcgate.dev.yaml`.
    #[test]
    fn committed_crd_matches_the_code() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/crds/gatewayendpoints.vpcgate.dev.yaml"
        );
        let committed =
            std::fs::read_to_string(path).expect("crds/gatewayendpoints.vpcgate.dev.yaml exists");
        assert!(
            committed == super::crd_yaml(),
            "crds/ is stale: run `cargo run -- crd > crds/gatewayendpoints.vpcgate.dev.yaml`"
        );
    }

    /// `kubectl explain` has something to say about every field.
    #[test]
    fn every_field_has_a_description() {
        fn walk(path: &str, schema: &serde_json::Value, missing: &mut Vec<String>) {
            if let Some(props) = schema.get("properties").and_then(|p| p.as_object()) {
                for (name, sub) in props {
                    let p = format!("{path}.{name}");
                    if path.is_empty()
                        && (name == "apiVersion" || name == "kind" || name == "metadata")
                    {
                        continue;
                    }
                    if sub
                        .get("description")
                        .and_then(|d| d.as_str())
                        .is_none_or(str::is_empty)
                    {
                        missing.push(p.clone());
                    }
                    walk(&p, sub, missing);
                }
            }
            if let Some(items) = schema.get("items") {
                walk(&format!("{path}[]"), items, missing);
            }
        }
        let crd = serde_json::to_value(crate::api::crd()).unwrap();
        let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        let mut missing = Vec::new();
        walk("", schema, &mut missing);
        assert!(
            missing.is_empty(),
            "fields without description: {missing:?}"
        );
        assert!(
            !schema["description"]
                .as_str()
                .unwrap()
                .starts_with("Auto-generated")
        );
    }

    /// docs/conditions.md explains exactly the reasons the code can write: its tables list
    /// the same names as `engine::reasons` (two lists compared, no source scanning).
    #[test]
    fn every_reason_is_documented() {
        use crate::engine::reasons::{CONDITION_REASONS, EVENT_REASONS};
        use std::collections::BTreeSet;
        let doc =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/conditions.md"))
                .unwrap();
        // The first cell of every table row under "## Reasons" and "## Events", as `Name`.
        let listed = |heading: &str| -> BTreeSet<String> {
            let section = doc
                .split("\n## ")
                .find(|s| s.starts_with(heading))
                .unwrap_or_else(|| panic!("docs/conditions.md has no section {heading}"));
            section
                .lines()
                .filter_map(|l| l.strip_prefix("| `"))
                .filter_map(|l| l.split('`').next())
                .map(str::to_owned)
                .collect()
        };
        let reasons: BTreeSet<String> = CONDITION_REASONS.iter().map(|r| r.to_string()).collect();
        assert_eq!(
            listed("Reasons"),
            reasons,
            "docs/conditions.md ## Reasons vs engine::reasons"
        );
        let events: BTreeSet<String> = EVENT_REASONS.iter().map(|r| r.to_string()).collect();
        assert_eq!(
            listed("Events"),
            events,
            "docs/conditions.md ## Events vs engine::reasons"
        );
    }

    /// The examples stay valid objects with a spec the engine accepts (on a cluster with one
    /// EC2 node, for `spec: {}`).
    #[test]
    fn examples_parse_and_validate() {
        use crate::engine::discovery::{ClusterNodes, NodeInfo, Placement};
        let nodes = ClusterNodes {
            listed: true,
            nodes: vec![NodeInfo {
                name: "node-1".into(),
                placement: Placement::Instance {
                    id: "i-1".into(),
                    region: "eu-west-1".into(),
                    vpc_id: "vpc-0a1b2c3d4e5f60718".into(),
                    subnet_id: "subnet-0123456789abcdef0".into(),
                    security_groups: Vec::new(),
                },
            }],
        };
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let mut obj: crate::api::GatewayEndpoint = serde_yaml_ng::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            obj.metadata.uid = Some("00000000-0000-4000-8000-000000000000".into());
            crate::engine::desired::desired(&obj, Some("eu-west-1"), Some("111122223333"), &nodes)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            seen += 1;
        }
        assert!(seen > 0, "no examples found");
    }
}
