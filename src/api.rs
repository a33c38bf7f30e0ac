//! The `GatewayEndpoint` resource (`vpcgate.dev/v1alpha1`): spec, status and the validation the
//! API server enforces. Everything the schema can judge is judged there, so bad input never
//! reaches the engine; what it cannot judge is checked by [`crate::engine::desired`].

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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

/// Observed state, written by the controller only.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayEndpointStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The resolved AWS region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The VPC of the endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    /// `com.amazonaws.<region>.<service>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// The endpoint (`vpce-…`) owned by this object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<String>,
    /// The endpoint's state as EC2 reports it, lower case (`pending`, `available`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The service's managed prefix list (`pl-…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_list_id: Option<String>,
    /// Every selected route table and whether the `pl-… → vpce-…` route is really there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route_tables: Vec<RouteTableStatus>,
    /// Route tables with the route present / selected, e.g. `2/2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes: Option<String>,
    /// Every selected security group and whether its egress reaches the service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<SecurityGroupStatus>,
    /// The last connectivity probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<ProbeStatus>,
    /// How often vpcgate moved to a new create token: the endpoint vanished out of band, was
    /// `failed`/`rejected` and replaced, or AWS refused the token with other parameters. Part of
    /// the create idempotency token, so a retried create returns the same endpoint.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(with = "i64")]
    pub recreations: u32,
    /// Set when AWS reported a policy other than the declared one right after vpcgate set it: a
    /// fingerprint of the declared and the reported policy. When the next pass sees the same,
    /// vpcgate reports `PolicyNotConverging` instead of modifying again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_echo: Option<String>,
    /// AWS tag keys vpcgate set on the endpoint; only these are ever removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_tag_keys: Vec<String>,
    /// Where every subnet of the VPC sends traffic for the service: through this endpoint,
    /// another endpoint, or not at all; the cluster's node subnets first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<CoverageStatus>,
    /// This cluster's nodes, when the object uses them (`vpcId` omitted or
    /// `routeTables.clusterNodeSubnets`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_nodes: Option<ClusterNodesStatus>,
    /// `EndpointAvailable`, `RoutesAssociated`, `DynamoDBReachable`, `Synced` and `Ready`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// One selected security group.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroupStatus {
    /// The security group.
    pub id: String,
    /// Whether an egress rule allows tcp/443 to the service's prefix list.
    pub allowed: bool,
    /// The rule that allows it, e.g. `tcp/443 to pl-02cd2c6b` or `all traffic to 0.0.0.0/0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Why no rule allows it (or that the group was not found).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Which subnets of the VPC use the endpoint.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CoverageStatus {
    /// Subnets in the VPC.
    #[schemars(with = "i64")]
    pub subnets: u32,
    /// Subnets whose route table routes the prefix list to this endpoint.
    #[schemars(with = "i64")]
    pub routed: u32,
    /// The cluster's node subnets through this endpoint / all of them, e.g. `5/6`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_subnets: Option<String>,
    /// Node subnets whose traffic bypasses this endpoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bypassing: Vec<String>,
    /// One line, e.g. `node subnets 5/6, all subnets 7/9 through vpce-…`.
    pub summary: String,
    /// Every subnet (up to 200), node subnets first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<SubnetCoverage>,
}

/// One subnet's route to the service.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubnetCoverage {
    /// The subnet.
    pub subnet_id: String,
    /// The table it uses: its association, else the VPC's main table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_table_id: Option<String>,
    /// `ThroughEndpoint`, `OtherEndpoint`, `Elsewhere` or `NotRouted`.
    pub route: SubnetRoute,
    /// The other target (`vpce-…`, `nat-…`, …) when not this endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// A subnet the cluster's nodes run in.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cluster_node: bool,
}

/// Where a subnet's traffic to the service's prefix list goes.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum SubnetRoute {
    /// Through this object's endpoint.
    ThroughEndpoint,
    /// Through another gateway endpoint (`target`).
    OtherEndpoint,
    /// A prefix-list route to something else (a NAT gateway, an interface, …: `target`).
    Elsewhere,
    /// No route for the prefix list: over the default route (internet or NAT gateway).
    #[default]
    NotRouted,
}

/// The cluster's nodes as vpcgate found them.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNodesStatus {
    /// Nodes in the cluster.
    #[schemars(with = "i64")]
    pub nodes: u32,
    /// The VPCs of the nodes' EC2 instances in the object's region.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vpc_ids: Vec<String>,
    /// The subnets of the nodes' EC2 instances in the endpoint's VPC.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnet_ids: Vec<String>,
    /// Nodes that are not EC2 instances (Fargate, hybrid nodes): ignored.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(with = "i64")]
    pub not_aws_count: u32,
    /// Up to 20 of their names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_aws: Vec<String>,
    /// Nodes whose EC2 instance EC2 does not describe (terminated, or not visible yet).
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(with = "i64")]
    pub unresolved_count: u32,
    /// Up to 20 of their names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unresolved: Vec<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One selected route table.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouteTableStatus {
    /// The route table id.
    pub id: String,
    /// Whether the table holds the prefix-list route to this endpoint.
    pub route_present: bool,
    /// Another endpoint whose route for the prefix list occupies this table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflicting_endpoint_id: Option<String>,
    /// An earlier endpoint of this object (deleting, replaced or a duplicate) whose route still
    /// occupies this table; AWS removes it, then the table is associated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settling_endpoint_id: Option<String>,
    /// The table named in `spec.routeTables.ids` does not exist in the VPC.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_found: bool,
}

/// How a probe ended.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ProbeResult {
    /// The signed call was answered.
    Succeeded,
    /// No answer within the timeout.
    Timeout,
    /// The service host did not resolve.
    DnsFailure,
    /// IAM (the operator's role) denies the call.
    AccessDeniedByIam,
    /// The VPC endpoint's policy denies the call.
    AccessDeniedByEndpointPolicy,
    /// `DescribeTable` on a table that does not exist.
    TableNotFound,
    /// Anything else.
    #[default]
    Failed,
}

impl ProbeResult {
    /// Stable name, as written to status.
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeResult::Succeeded => "Succeeded",
            ProbeResult::Timeout => "Timeout",
            ProbeResult::DnsFailure => "DnsFailure",
            ProbeResult::AccessDeniedByIam => "AccessDeniedByIam",
            ProbeResult::AccessDeniedByEndpointPolicy => "AccessDeniedByEndpointPolicy",
            ProbeResult::TableNotFound => "TableNotFound",
            ProbeResult::Failed => "Failed",
        }
    }
}

/// Which way a probe's request reached the service.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ProbePath {
    /// An endpoint policy carrying this object's canary denied the canary call: the request went
    /// through this object's endpoint.
    ThroughEndpoint,
    /// The canary table was looked up (`ResourceNotFound`): the request reached the service
    /// without this endpoint, from a route table this object selects. Ready is False.
    Bypass,
    /// Another endpoint's policy refused the canary call (no VPC endpoint policy allows it): the
    /// request went through a different endpoint. Ready is False when the probe's route table
    /// is one this object selects.
    OtherEndpoint,
    /// The probe ran from a subnet whose route table this object does not select, so its path
    /// says nothing about this endpoint. Informational: Ready is not affected.
    NotOnPath,
    /// The path was not checked (a custom policy without `probe.verifyPath`, or the canary call
    /// gave no proof either way); the message says why.
    Unverified,
}

impl ProbePath {
    /// Stable name, as written to status.
    pub fn as_str(self) -> &'static str {
        match self {
            ProbePath::ThroughEndpoint => "ThroughEndpoint",
            ProbePath::Bypass => "Bypass",
            ProbePath::OtherEndpoint => "OtherEndpoint",
            ProbePath::NotOnPath => "NotOnPath",
            ProbePath::Unverified => "Unverified",
        }
    }
}

/// The outcome of the last probe.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProbeStatus {
    /// When the probe ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_time: Option<Time>,
    /// `Succeeded` or the failure class (`Timeout`, `DnsFailure`, `AccessDeniedByIam`,
    /// `AccessDeniedByEndpointPolicy`, `TableNotFound`, `Failed`).
    pub result: ProbeResult,
    /// Round-trip time of the signed call, e.g. `7ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<String>,
    /// The DynamoDB operation used (`ListTables` or `DescribeTable`).
    pub operation: String,
    /// The addresses the service host resolved to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    /// Which way the probe's request reached DynamoDB, proven by the canary call:
    /// `ThroughEndpoint`, `Bypass`, `OtherEndpoint`, `NotOnPath` or `Unverified`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<ProbePath>,
    /// AWS's answer to the canary call that proves the path (e.g. the explicit deny in a VPC
    /// endpoint policy), or why the path is unverified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_message: Option<String>,
    /// The subnet the probe ran from (the operator's node), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
    /// That subnet's route table, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_table_id: Option<String>,
    /// Whether that route table is one this object selects (the probe is on the endpoint's path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_table_selected: Option<bool>,
    /// Error details when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl GatewayEndpointSpec {
    /// The probe settings with defaults applied.
    pub fn probe_or_default(&self) -> ProbeSpec {
        self.probe.clone().unwrap_or_default()
    }
}

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
