//! The AWS edge: the narrow [`Ec2`] trait the engine calls (implemented over the SDK and, for
//! tests, in memory), the DynamoDB probe client, and the one place AWS errors are classified.
//! The edge classifies; it never decides what the controller does next.

pub mod actions;
pub mod clients;
pub mod dynamodb;
pub mod ec2;
pub mod errors;
#[cfg(test)]
pub mod fake;
pub mod pacing;
pub mod probe;
pub mod sdk_ec2;
pub mod sdk_preflight;
pub mod view;

use std::collections::BTreeMap;

pub use clients::AwsClients;
pub use ec2::{Cloud, Ec2};
pub use errors::{AwsError, ErrorClass};

/// The subset of a VPC endpoint the engine looks at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Endpoint {
    pub id: String,
    pub vpc_id: String,
    pub service_name: String,
    pub state: EndpointState,
    pub route_table_ids: Vec<String>,
    pub policy: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// Seconds since the epoch, for picking the oldest of several.
    pub created: i64,
}

/// The lifecycle state of a VPC endpoint, parsed once where it enters from AWS.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum EndpointState {
    PendingAcceptance,
    #[default]
    Pending,
    Available,
    Partial,
    Deleting,
    Deleted,
    Rejected,
    Failed,
    Expired,
    /// A state this version does not know, kept verbatim.
    Other(String),
}

impl EndpointState {
    /// Parses EC2's state text case-insensitively. EC2 sends lower-camel-case (`pendingAcceptance`)
    /// and the SDK's enum expects PascalCase, so the SDK reports every state as unknown
    /// (awslabs/aws-sdk-rust#619): the raw text is what we parse.
    pub fn parse(text: &str) -> Self {
        match text.to_ascii_lowercase().as_str() {
            "pendingacceptance" => Self::PendingAcceptance,
            "pending" => Self::Pending,
            "available" => Self::Available,
            "partial" => Self::Partial,
            "deleting" => Self::Deleting,
            "deleted" => Self::Deleted,
            "rejected" => Self::Rejected,
            "failed" => Self::Failed,
            "expired" => Self::Expired,
            _ => Self::Other(text.to_owned()),
        }
    }

    /// EC2's own spelling, as written to status.
    pub fn as_str(&self) -> &str {
        match self {
            Self::PendingAcceptance => "pendingAcceptance",
            Self::Pending => "pending",
            Self::Available => "available",
            Self::Partial => "partial",
            Self::Deleting => "deleting",
            Self::Deleted => "deleted",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
            Self::Expired => "expired",
            Self::Other(s) => s,
        }
    }

    /// On its way to, or in, `available`: an endpoint to keep and manage.
    pub fn is_live(&self) -> bool {
        matches!(
            self,
            Self::PendingAcceptance
                | Self::Pending
                | Self::Available
                | Self::Partial
                | Self::Other(_)
        )
    }

    /// Still settling towards `available`.
    pub fn is_pending(&self) -> bool {
        matches!(self, Self::PendingAcceptance | Self::Pending)
    }

    /// Ended without becoming usable (`failed`, `rejected`, `expired`): to be replaced.
    pub fn is_dead(&self) -> bool {
        matches!(self, Self::Rejected | Self::Failed | Self::Expired)
    }

    /// `deleting` or `deleted`: on its way out, never managed again.
    pub fn is_leaving(&self) -> bool {
        matches!(self, Self::Deleting | Self::Deleted)
    }
}

impl std::fmt::Display for EndpointState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The subset of a route table the engine looks at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteTable {
    pub id: String,
    pub vpc_id: String,
    /// The VPC's main route table (used by subnets with no explicit association).
    pub main: bool,
    /// Subnets explicitly associated with this table.
    pub subnet_ids: Vec<String>,
    pub tags: BTreeMap<String, String>,
    /// Routes whose destination is a prefix list: `pl-…` → target (`vpce-…`, `igw-…`, …).
    pub prefix_list_routes: BTreeMap<String, String>,
}

/// A VPC's route tables and gateway endpoints, as one read saw them (shared between the
/// objects in the VPC by [`view::SharedView`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VpcRouting {
    pub tables: Vec<RouteTable>,
    pub endpoints: Vec<Endpoint>,
}

impl VpcRouting {
    /// The route table a subnet uses: its explicit association, else the VPC's main table.
    pub fn subnet_table(&self, subnet_id: &str) -> Option<String> {
        self.tables
            .iter()
            .find(|t| t.subnet_ids.iter().any(|s| s == subnet_id))
            .or_else(|| self.tables.iter().find(|t| t.main))
            .map(|t| t.id.clone())
    }
}

/// Where an instance is: its subnet and VPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub subnet_id: String,
    pub vpc_id: String,
}

/// A security group's egress rules.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecurityGroup {
    pub id: String,
    pub vpc_id: String,
    pub egress: Vec<EgressRule>,
}

/// One egress permission: protocol (`tcp`, `-1` for all, …), port range, destinations.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EgressRule {
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub cidrs: Vec<String>,
    pub prefix_lists: Vec<String>,
}

/// An EC2 instance as node discovery needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    pub vpc_id: String,
    pub subnet_id: String,
    pub security_groups: Vec<String>,
}

/// A service's managed prefix list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrefixList {
    pub id: String,
    pub name: String,
    pub cidrs: Vec<String>,
}

/// Parameters of `CreateVpcEndpoint` for a gateway endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateEndpoint {
    pub vpc_id: String,
    pub service_name: String,
    pub route_table_ids: Vec<String>,
    /// `None`: AWS's default full-access policy.
    pub policy: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// Idempotency token: the same token returns the same endpoint.
    pub client_token: String,
}

/// How `ModifyVpcEndpoint` should change the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyChange {
    /// Set this document.
    Set(String),
    /// Return to AWS's default full-access policy.
    Reset,
}

/// Parameters of one `ModifyVpcEndpoint` call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModifyEndpoint {
    pub endpoint_id: String,
    pub add_route_table_ids: Vec<String>,
    pub remove_route_table_ids: Vec<String>,
    pub policy: Option<PolicyChange>,
}

/// The outcome of `DeleteVpcEndpoints` for one id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// AWS accepted the deletion.
    Accepted,
    /// AWS says it does not exist (already gone).
    AlreadyGone,
    /// AWS refused it; the error hides in the `Unsuccessful` list of an HTTP 200.
    Failed(AwsError),
}

/// Sees every AWS call (service, operation, error if any); the controller counts them for
/// metrics. The default observes nothing.
#[derive(Clone, Default)]
pub struct CallObserver(Option<std::sync::Arc<ObserverFn>>);

type ObserverFn = dyn Fn(&'static str, &'static str, Option<&AwsError>) + Send + Sync;

impl CallObserver {
    /// Calls `f` after every AWS call.
    pub fn new(
        f: impl Fn(&'static str, &'static str, Option<&AwsError>) + Send + Sync + 'static,
    ) -> Self {
        CallObserver(Some(std::sync::Arc::new(f)))
    }

    pub(crate) fn observe(
        &self,
        service: &'static str,
        operation: &'static str,
        err: Option<&AwsError>,
    ) {
        if let Some(f) = &self.0 {
            f(service, operation, err);
        }
    }
}

impl std::fmt::Debug for CallObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "CallObserver(set)"
        } else {
            "CallObserver(none)"
        })
    }
}
