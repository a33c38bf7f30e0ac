//! The `GatewayEndpoint` resource (`vpcgate.dev/v1alpha1`): spec, status and the validation the
//! API server enforces. Everything the schema can judge is judged there, so bad input never
//! reaches the engine; what it cannot judge is checked by [`crate::engine::desired`].

mod spec;
mod status;

pub use spec::*;
pub use status::*;

/// Tag that marks an endpoint as owned by one object (value: the object's uid).
pub const TAG_UID: &str = "vpcgate.dev/uid";
/// Tag that names the owning object, for humans browsing the VPC console.
pub const TAG_NAME: &str = "vpcgate.dev/name";
/// The AWS console's display-name tag.
pub const TAG_DISPLAY_NAME: &str = "Name";

/// Tags a user may set: AWS allows 50 per resource and vpcgate uses three (`Name`, the uid and the
/// name tags). The schema and the engine both use this one number.
pub const MAX_USER_TAGS: usize = 47;

/// Default probe interval when `spec.probe.interval` is omitted.
pub const DEFAULT_PROBE_INTERVAL: &str = "60s";
/// Default probe timeout when `spec.probe.timeout` is omitted.
pub const DEFAULT_PROBE_TIMEOUT: &str = "5s";
/// The longest probe timeout: a probe must never hold a reconcile worker for long.
pub const MAX_PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The CRD as served: the derived schema with descriptions unwrapped, so `kubectl explain`
/// breaks lines where the terminal does, not where a doc comment wrapped. Paragraphs (blank
/// lines) stay.
pub fn crd()
-> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
    use kube::CustomResourceExt;
    let mut value = serde_json::to_value(GatewayEndpoint::crd()).expect("a CRD serializes");
    unwrap_descriptions(&mut value);
    serde_json::from_value(value).expect("an unwrapped CRD is still a CRD")
}

fn unwrap_descriptions(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                match child {
                    serde_json::Value::String(text) if key == "description" => {
                        *text = text
                            .split("\n\n")
                            .map(|p| p.split('\n').map(str::trim).collect::<Vec<_>>().join(" "))
                            .collect::<Vec<_>>()
                            .join("\n\n");
                    }
                    other => unwrap_descriptions(other),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(unwrap_descriptions),
        _ => {}
    }
}
