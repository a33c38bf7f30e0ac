//! What the controller reports: the status, its conditions and what they are computed from.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
