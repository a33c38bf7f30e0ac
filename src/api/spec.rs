//! What the user declares: the `GatewayEndpoint` kind and its spec, with the CEL rules the
//! API server enforces.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{GatewayEndpointStatus, MAX_USER_TAGS};

/// A Gateway VPC endpoint for DynamoDB (or S3) on the route tables you select, kept as declared
/// and proven reachable.
// kube's repeated `printcolumn(type_ = …)` trips clippy's duplicated-attribute lint.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "vpcgate.dev",
    version = "v1alpha1",
    kind = "GatewayEndpoint",
    plural = "gatewayendpoints",
    shortname = "gwe",
    category = "vpcgate",
    doc = "A Gateway VPC endpoint for DynamoDB (or S3) in one VPC, on the route tables you select, with its policy and tags kept as declared, drift repaired and reachability probed from the cluster.",
    status = "GatewayEndpointStatus",
    printcolumn(
        name = "Service",
        type_ = "string",
        json_path = ".spec.service",
        description = "AWS service the endpoint serves"
    ),
    printcolumn(
        name = "VPC",
        type_ = "string",
        json_path = ".status.vpcId",
        description = "VPC of the endpoint"
    ),
    printcolumn(
        name = "Endpoint",
        type_ = "string",
        json_path = ".status.endpointId",
        description = "The vpce- id"
    ),
    printcolumn(
        name = "Routes",
        type_ = "string",
        json_path = ".status.routes",
        description = "Route tables with the route present / selected"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status",
        description = "Ready condition"
    ),
    printcolumn(
        name = "Coverage",
        type_ = "string",
        json_path = ".status.coverage.summary",
        description = "Subnets (node subnets first) routed through the endpoint",
        priority = 1
    ),
    printcolumn(
        name = "Probe",
        type_ = "string",
        json_path = ".status.probe.latency",
        description = "Latency of the last DynamoDB probe"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(oldSelf.vpcId) || (has(self.vpcId) && self.vpcId == oldSelf.vpcId)", "message": "vpcId is immutable once set; create another GatewayEndpoint for another VPC"},
    {"rule": "self.service == oldSelf.service", "message": "service is immutable; create another GatewayEndpoint for another service"},
    {"rule": "has(self.region) == has(oldSelf.region) && (!has(self.region) || self.region == oldSelf.region)", "message": "region is immutable; create another GatewayEndpoint for another region"}
]))]
pub struct GatewayEndpointSpec {
    /// The AWS service the gateway endpoint is for: `dynamodb` or `s3`. The endpoint's service
    /// name is `com.amazonaws.<region>.<service>`.
    #[serde(default)]
    pub service: Service,

    /// AWS region of the VPC, e.g. `eu-west-1`. Defaults to the operator's region. A gateway
    /// endpoint only serves its own region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$"))]
    pub region: Option<String>,

    /// The VPC to create the endpoint in (`vpc-…`). Omitted: the single VPC that this cluster's
    /// nodes run in (more than one: `MultipleVpcs`; none: `NoNodes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^vpc-([0-9a-f]{8}|[0-9a-f]{17})$"))]
    pub vpc_id: Option<String>,

    /// Which route tables get the route to the endpoint: the union of all sources. Omitted (or
    /// empty): the route tables of the subnets this cluster's nodes run in.
    #[serde(default)]
    pub route_tables: RouteTableSelector,

    /// The endpoint policy. Omitted: AWS's default full-access policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicySpec>,

    /// Security groups whose egress to the service must be open (tcp/443 to its prefix list).
    /// Omitted: none checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_groups: Option<SecurityGroupSelector>,

    /// The in-cluster connectivity probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<ProbeSpec>,

    /// Extra AWS tags for the endpoint. `Name` defaults to the object's name. Keys may not start
    /// with `aws:` or `vpcgate.dev/`; keys are at most 128 characters, values at most 256.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend(
        "maxProperties" = MAX_USER_TAGS,
        "additionalProperties" = {"type": "string", "maxLength": 256},
        "x-kubernetes-validations" = [
            {"rule": "self.all(k, size(k) >= 1 && size(k) <= 128)", "message": "tags: keys must be 1 to 128 characters"},
            {"rule": "self.all(k, !k.startsWith('aws:') && !k.startsWith('vpcgate.dev/'))", "message": "tags: keys starting with 'aws:' or 'vpcgate.dev/' are reserved"}
        ]
    ))]
    pub tags: BTreeMap<String, String>,

    /// What happens to the endpoint when this object is deleted: `Delete` removes it from AWS,
    /// `Retain` keeps it and removes vpcgate's ownership tag (`vpcgate.dev/name` stays, so a
    /// later object can adopt it knowingly).
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// Whether to take over an endpoint that already exists instead of creating one: `Never`
    /// [default]; `IfUnowned`: a gateway endpoint for the same VPC and service whose route
    /// tables overlap the selection, that carries no `vpcgate.dev/uid` or one of no live
    /// GatewayEndpoint (more than one: `AdoptionAmbiguous`, nothing touched); or a `vpce-…` id:
    /// that endpoint, whatever its tags, unless another live GatewayEndpoint owns it. Only
    /// consulted while the object owns no endpoint. The operator's IAM policy must allow it
    /// (`vpcgate iam-policy --allow-adoption`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^(Never|IfUnowned|vpce-([0-9a-f]{8}|[0-9a-f]{17}))$"))]
    pub adopt: Option<String>,
}

/// The AWS services that offer gateway endpoints.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    /// Amazon DynamoDB.
    #[default]
    Dynamodb,
    /// Amazon S3.
    S3,
}

impl Service {
    /// The service part of `com.amazonaws.<region>.<service>`.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Dynamodb => "dynamodb",
            Service::S3 => "s3",
        }
    }
}

/// Route-table sources; the endpoint is associated with their union.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.clusterNodeSubnets) || self.clusterNodeSubnets || (has(self.ids) && size(self.ids) > 0) || (has(self.subnetIds) && size(self.subnetIds) > 0) || (has(self.tags) && size(self.tags) > 0)",
     "message": "routeTables: with clusterNodeSubnets false, set at least one of ids, subnetIds or tags"}
]))]
pub struct RouteTableSelector {
    /// The route tables of the subnets this cluster's nodes run in (each subnet's associated
    /// table, else the VPC's main table), following nodes as they come and go. Default: true
    /// when no other source is given, false otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_node_subnets: Option<bool>,

    /// Explicit route table ids (`rtb-…`); each must belong to `vpcId`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 200), inner(pattern(r"^rtb-([0-9a-f]{8}|[0-9a-f]{17})$")))]
    pub ids: Vec<String>,

    /// Subnet ids (`subnet-…`): each contributes its associated route table, or the VPC's main
    /// route table when it has none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 200),
        inner(pattern(r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$"))
    )]
    pub subnet_ids: Vec<String>,

    /// Every route table in the VPC that carries all of these tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend(
        "maxProperties" = 20,
        "additionalProperties" = {"type": "string", "maxLength": 256},
        "x-kubernetes-validations" = [
            {"rule": "self.all(k, size(k) >= 1 && size(k) <= 128)", "message": "routeTables.tags: keys must be 1 to 128 characters"}
        ]
    ))]
    pub tags: BTreeMap<String, String>,
}

/// Security groups whose egress vpcgate checks.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroupSelector {
    /// Explicit security group ids (`sg-…`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50), inner(pattern(r"^sg-([0-9a-f]{8}|[0-9a-f]{17})$")))]
    pub ids: Vec<String>,

    /// Also the security groups of this cluster's nodes' instances (in the endpoint's VPC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_node_groups: Option<bool>,

    /// `Verify` [default]: report, per group, whether its egress rules allow tcp/443 to the
    /// service (condition `EgressAllowed`). `Manage`: also add one egress rule (tcp/443 to the
    /// prefix list, tagged `vpcgate.dev/uid`) where none allows it; on delete (`Delete`
    /// policy) only rules carrying that tag are removed. Needs `vpcgate iam-policy
    /// --allow-egress-rules`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<SecurityGroupMode>,
}

/// What vpcgate does about security groups.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum SecurityGroupMode {
    /// Evaluate the egress rules and report; change nothing.
    #[default]
    Verify,
    /// Add the missing rule (tagged), remove it on delete.
    Manage,
}

/// The endpoint policy: a preset, optionally restricted to tables, or a full custom document.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.document) || (!has(self.preset) && !has(self.tables))",
     "message": "policy: document is exclusive with preset and tables; set either document or preset/tables"}
]))]
pub struct PolicySpec {
    /// `FullAccess` (every action, as AWS's default policy) or `ReadOnly` (read and list actions
    /// only). With `tables`, FullAccess is every action that acts on a table (item, table,
    /// point-in-time, replica and tagging actions) on those tables, plus `ListTables`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<PolicyPreset>,

    /// Restrict the generated policy to these DynamoDB table names (least privilege). The ARNs
    /// name the operator's own account (from `sts:GetCallerIdentity`), so a table of the same
    /// name in another account is not reachable through the endpoint. `ListTables`, which
    /// cannot be limited to tables, is allowed on its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 100),
        inner(length(min = 3, max = 255), pattern(r"^[a-zA-Z0-9_.-]+$"))
    )]
    pub tables: Vec<String>,

    /// A complete custom endpoint policy (JSON with a `Statement`). Exclusive with `preset` and
    /// `tables`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 20480))]
    pub document: Option<String>,
}

/// Generated endpoint policies.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum PolicyPreset {
    /// Any action on any resource through the endpoint (AWS's default).
    #[default]
    FullAccess,
    /// Read and list actions only.
    ReadOnly,
}

/// The connectivity probe: a signed DynamoDB call from inside the cluster.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.interval) || (duration(self.interval) >= duration('10s') && duration(self.interval) <= duration('24h'))",
     "message": "probe.interval: must be between 10s and 24h"},
    {"rule": "!has(self.timeout) || duration(self.timeout) >= duration('100ms')",
     "message": "probe.timeout: must be at least 100ms"},
    {"rule": "!has(self.timeout) || duration(self.timeout) <= duration('30s')",
     "message": "probe.timeout: must be at most 30s"},
    {"rule": "(has(self.interval) && duration(self.interval) < duration('10s')) || (has(self.timeout) ? duration(self.timeout) : duration('5s')) < (has(self.interval) ? duration(self.interval) : duration('60s'))",
     "message": "probe.timeout: must be shorter than probe.interval"}
]))]
pub struct ProbeSpec {
    /// Run the probe (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,

    /// Time between probes, e.g. `60s`, `5m` (default 60s, at least 10s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^([0-9]{1,6}(ms|s|m|h))+$"))]
    pub interval: Option<String>,

    /// How long one probe may take, e.g. `5s` (default 5s, at most 30s, below the interval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^([0-9]{1,6}(ms|s|m|h))+$"))]
    pub timeout: Option<String>,

    /// Probe with `DescribeTable` on this table instead of `ListTables`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 3, max = 255), pattern(r"^[a-zA-Z0-9_.-]+$"))]
    pub table: Option<String>,

    /// Prove that the probe's traffic uses this endpoint: the endpoint policy carries one extra
    /// statement (Sid `VpcgateCanary`) denying `dynamodb:DescribeTable` on a table named
    /// `vpcgate-canary-<uid>` that never exists, and the probe asks for that table. Default:
    /// true for generated policies (preset/tables); false for `policy.document`, where setting
    /// it true lets vpcgate own that one Deny statement in your document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_path: Option<bool>,
}

/// What happens to the AWS endpoint when the object is deleted.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete the endpoint and wait until AWS reports it gone.
    #[default]
    Delete,
    /// Keep the endpoint; remove vpcgate's ownership tags.
    Retain,
}

impl GatewayEndpointSpec {
    /// The probe settings with defaults applied.
    pub fn probe_or_default(&self) -> ProbeSpec {
        self.probe.clone().unwrap_or_default()
    }
}
