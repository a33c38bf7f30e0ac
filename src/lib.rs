//! vpcgate: a Kubernetes operator that keeps a Gateway VPC endpoint for DynamoDB (or S3) on the
//! route tables you select, repairs drift, and proves DynamoDB is reachable through it.
#![forbid(unsafe_code)]

pub mod api;
pub mod aws;
pub mod controller;
pub mod engine;
pub mod error;
pub mod metrics;
pub mod preflight;
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

    /// Every condition reason the code can produce is explained in docs/conditions.md.
    #[test]
    fn every_reason_is_documented() {
        let doc =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/conditions.md"))
                .unwrap();
        // Scan the modules that produce reasons for CamelCase string literals in reason positions.
        let mut reasons = std::collections::BTreeSet::new();
        for file in [
            "src/controller/status.rs",
            "src/aws/errors.rs",
            "src/error.rs",
        ] {
            let text =
                std::fs::read_to_string(format!("{}/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap();
            for line in code
                .lines()
                .filter(|l| l.contains("=> \"") || l.contains("cond(") || l.contains("reason: \""))
            {
                for piece in line.split('"').skip(1).step_by(2) {
                    if piece.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                        && piece.chars().all(|c| c.is_ascii_alphanumeric())
                    {
                        reasons.insert(piece.to_owned());
                    }
                }
            }
        }
        for r in ["Timeout", "Failed", "Succeeded"] {
            reasons.remove(r); // probe results, documented as ProbeTimeout/ProbeFailed/ProbeSucceeded
        }
        for r in [
            crate::probe::ProbeResult::DnsFailure,
            crate::probe::ProbeResult::TableNotFound,
            crate::probe::ProbeResult::AccessDeniedByIam,
            crate::probe::ProbeResult::AccessDeniedByEndpointPolicy,
        ] {
            reasons.insert(r.as_str().to_owned());
        }
        assert!(
            reasons.len() > 20,
            "scan found too few reasons: {reasons:?}"
        );
        let missing: Vec<&String> = reasons
            .iter()
            .filter(|r| !doc.contains(&format!("`{r}`")))
            .collect();
        assert!(
            missing.is_empty(),
            "reasons missing from docs/conditions.md: {missing:?}"
        );
    }

    /// The examples stay valid objects with a spec the engine accepts.
    #[test]
    fn examples_parse_and_validate() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let mut obj: crate::api::GatewayEndpoint = serde_yaml_ng::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            obj.metadata.uid = Some("00000000-0000-4000-8000-000000000000".into());
            crate::engine::desired::desired(&obj, Some("eu-west-1"))
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            seen += 1;
        }
        assert!(seen > 0, "no examples found");
    }
}
