//! Every condition reason and event reason vpcgate writes, in one place. `docs/conditions.md`
//! explains each one; a test compares that page with [`CONDITION_REASONS`] and
//! [`EVENT_REASONS`].

use crate::aws::{AwsError, ErrorClass};

// Condition types.
pub const ENDPOINT_AVAILABLE: &str = "EndpointAvailable";
pub const ROUTES_ASSOCIATED: &str = "RoutesAssociated";
pub const DYNAMODB_REACHABLE: &str = "DynamoDBReachable";
pub const EGRESS_ALLOWED: &str = "EgressAllowed";
pub const SYNCED: &str = "Synced";
pub const READY: &str = "Ready";

// All is well.
pub const AVAILABLE: &str = "Available";
pub const ROUTES_PRESENT: &str = "RoutesPresent";
pub const PROBE_SUCCEEDED: &str = "ProbeSucceeded";
pub const EGRESS_OPEN: &str = "EgressOpen";
pub const RECONCILED: &str = "Reconciled";
pub const READY_REASON: &str = "Ready";

// Progress that needs no human.
pub const CREATING: &str = "Creating";
/// A change to the endpoint waits for the EC2 request budget.
pub const UPDATING: &str = "Updating";
pub const OUT_OF_SYNC: &str = "OutOfSync";
pub const ROUTES_MISSING: &str = "RoutesMissing";
pub const ROUTES_SETTLING: &str = "RoutesSettling";
pub const PROBE_PENDING: &str = "ProbePending";
pub const DELETING: &str = "Deleting";

// The spec or the account needs a human.
pub const INVALID_SPEC: &str = "InvalidSpec";
pub const EGRESS_BLOCKED: &str = "EgressBlocked";
pub const SECURITY_GROUP_NOT_FOUND: &str = "SecurityGroupNotFound";
pub const VPC_NOT_FOUND: &str = "VpcNotFound";
pub const VPC_NOT_ALLOWED: &str = "VpcNotAllowed";
pub const OWNERSHIP_LOST: &str = "OwnershipLost";
pub const DISCOVERING_NODES: &str = "DiscoveringNodes";
pub const NO_NODES: &str = "NoNodes";
pub const MULTIPLE_VPCS: &str = "MultipleVpcs";
pub const ADOPTION_AMBIGUOUS: &str = "AdoptionAmbiguous";
pub const ADOPTION_REFUSED: &str = "AdoptionRefused";
pub const ADOPTION_DENIED: &str = "AdoptionDenied";
pub const ROUTE_TABLE_NOT_FOUND: &str = "RouteTableNotFound";
pub const SUBNET_NOT_FOUND: &str = "SubnetNotFound";
pub const NO_ROUTE_TABLES: &str = "NoRouteTables";
pub const SERVICE_NOT_AVAILABLE: &str = "ServiceNotAvailable";
pub const ROUTE_TABLE_CONFLICT: &str = "RouteTableConflict";
pub const POLICY_NOT_CONVERGING: &str = "PolicyNotConverging";
pub const ENDPOINT_FAILED: &str = "EndpointFailed";
pub const ENDPOINT_LIMIT_EXCEEDED: &str = "EndpointLimitExceeded";

// AWS answers, by class (see [`for_aws`]).
pub const ACCESS_DENIED: &str = "AccessDenied";
pub const THROTTLED: &str = "Throttled";
pub const AWS_UNREACHABLE: &str = "AwsUnreachable";
pub const AWS_ERROR: &str = "AwsError";
pub const IDEMPOTENT_PARAMETER_MISMATCH: &str = "IdempotentParameterMismatch";
pub const INVALID_PARAMETER: &str = "InvalidParameter";
pub const CONFLICT: &str = "Conflict";
pub const NOT_FOUND: &str = "NotFound";

// Probe results.
pub const PROBE_TIMEOUT: &str = "ProbeTimeout";
pub const PROBE_FAILED: &str = "ProbeFailed";
pub const PROBE_BYPASSES_ENDPOINT: &str = "ProbeBypassesEndpoint";
pub const DNS_FAILURE: &str = "DnsFailure";
pub const TABLE_NOT_FOUND: &str = "TableNotFound";
pub const ACCESS_DENIED_BY_IAM: &str = "AccessDeniedByIam";
pub const ACCESS_DENIED_BY_ENDPOINT_POLICY: &str = "AccessDeniedByEndpointPolicy";

// Seen only in logs and metrics (the controller's own failures).
pub const KUBERNETES_API_ERROR: &str = "KubernetesApiError";
pub const FINALIZER_ERROR: &str = "FinalizerError";

/// Every reason a condition can carry.
pub const CONDITION_REASONS: &[&str] = &[
    AVAILABLE,
    ROUTES_PRESENT,
    PROBE_SUCCEEDED,
    EGRESS_OPEN,
    EGRESS_BLOCKED,
    SECURITY_GROUP_NOT_FOUND,
    RECONCILED,
    READY_REASON,
    CREATING,
    UPDATING,
    OUT_OF_SYNC,
    ROUTES_MISSING,
    ROUTES_SETTLING,
    PROBE_PENDING,
    DELETING,
    INVALID_SPEC,
    VPC_NOT_FOUND,
    VPC_NOT_ALLOWED,
    OWNERSHIP_LOST,
    DISCOVERING_NODES,
    NO_NODES,
    MULTIPLE_VPCS,
    ADOPTION_AMBIGUOUS,
    ADOPTION_REFUSED,
    ADOPTION_DENIED,
    ROUTE_TABLE_NOT_FOUND,
    SUBNET_NOT_FOUND,
    NO_ROUTE_TABLES,
    SERVICE_NOT_AVAILABLE,
    ROUTE_TABLE_CONFLICT,
    POLICY_NOT_CONVERGING,
    ENDPOINT_FAILED,
    ENDPOINT_LIMIT_EXCEEDED,
    ACCESS_DENIED,
    THROTTLED,
    AWS_UNREACHABLE,
    AWS_ERROR,
    IDEMPOTENT_PARAMETER_MISMATCH,
    INVALID_PARAMETER,
    CONFLICT,
    NOT_FOUND,
    PROBE_TIMEOUT,
    PROBE_FAILED,
    PROBE_BYPASSES_ENDPOINT,
    DNS_FAILURE,
    TABLE_NOT_FOUND,
    ACCESS_DENIED_BY_IAM,
    ACCESS_DENIED_BY_ENDPOINT_POLICY,
    KUBERNETES_API_ERROR,
    FINALIZER_ERROR,
];

// Event reasons (besides a condition reason on a Warning when a failure first appears).
pub const EV_CREATED: &str = "Created";
pub const EV_ROUTE_TABLES_CHANGED: &str = "RouteTablesChanged";
pub const EV_POLICY_CHANGED: &str = "PolicyChanged";
pub const EV_TAGS_CHANGED: &str = "TagsChanged";
pub const EV_DRIFT_REPAIRED: &str = "DriftRepaired";
pub const EV_RECREATED: &str = "Recreated";
pub const EV_REPLACED: &str = "Replaced";
pub const EV_DUPLICATE_DELETED: &str = "DuplicateDeleted";
pub const EV_PROBE_FAILED: &str = "ProbeFailed";
pub const EV_PROBE_RECOVERED: &str = "ProbeRecovered";
pub const EV_DELETING: &str = "Deleting";
pub const EV_DELETED: &str = "Deleted";
pub const EV_RETAINED: &str = "Retained";
pub const EV_DELETION_FAILED: &str = "DeletionFailed";

/// Every event reason of its own.
/// A deletion let go of an endpoint that lost its ownership tag (it cannot delete it).
pub const EV_OWNERSHIP_LOST: &str = "OwnershipLost";
/// vpcgate added an egress rule (`securityGroups.mode: Manage`).
pub const EV_EGRESS_RULE_ADDED: &str = "EgressRuleAdded";
/// vpcgate removed the egress rules it added (on delete).
pub const EV_EGRESS_RULE_REMOVED: &str = "EgressRuleRemoved";
/// An existing endpoint was taken over (`spec.adopt`).
pub const EV_ADOPTED: &str = "Adopted";
/// A subnet the cluster's nodes run in does not route the service through the endpoint.
pub const EV_NODE_SUBNET_BYPASSES: &str = "NodeSubnetBypasses";

pub const EVENT_REASONS: &[&str] = &[
    EV_CREATED,
    EV_ROUTE_TABLES_CHANGED,
    EV_POLICY_CHANGED,
    EV_TAGS_CHANGED,
    EV_DRIFT_REPAIRED,
    EV_RECREATED,
    EV_REPLACED,
    EV_DUPLICATE_DELETED,
    EV_PROBE_FAILED,
    EV_PROBE_RECOVERED,
    EV_DELETING,
    EV_DELETED,
    EV_RETAINED,
    EV_DELETION_FAILED,
    EV_OWNERSHIP_LOST,
    EV_NODE_SUBNET_BYPASSES,
    EV_ADOPTED,
    EV_EGRESS_RULE_ADDED,
    EV_EGRESS_RULE_REMOVED,
];

/// The condition reason for an AWS error: a few codes have their own, the rest go by class.
pub fn for_aws(err: &AwsError) -> &'static str {
    match err.code.as_deref() {
        Some("RouteAlreadyExists") => return ROUTE_TABLE_CONFLICT,
        Some("IdempotentParameterMismatch") => return IDEMPOTENT_PARAMETER_MISMATCH,
        Some("VpcEndpointLimitExceeded") => return ENDPOINT_LIMIT_EXCEEDED,
        Some("InvalidServiceName") => return SERVICE_NOT_AVAILABLE,
        Some("InvalidVpcID.NotFound") => return VPC_NOT_FOUND,
        Some("InvalidRouteTableID.NotFound") => return ROUTE_TABLE_NOT_FOUND,
        Some("InvalidSubnetID.NotFound") => return SUBNET_NOT_FOUND,
        _ => {}
    }
    match err.class {
        ErrorClass::Transient if err.is_unreachable() => AWS_UNREACHABLE,
        ErrorClass::Transient => AWS_ERROR,
        ErrorClass::Throttled => THROTTLED,
        ErrorClass::InvalidInput => INVALID_PARAMETER,
        ErrorClass::AccessDenied => ACCESS_DENIED,
        ErrorClass::Conflict => CONFLICT,
        ErrorClass::NotFound => NOT_FOUND,
    }
}

/// The `DynamoDBReachable` reason for a probe result.
pub fn for_probe(result: crate::api::ProbeResult) -> &'static str {
    use crate::api::ProbeResult as R;
    match result {
        R::Succeeded => PROBE_SUCCEEDED,
        R::Timeout => PROBE_TIMEOUT,
        R::Failed => PROBE_FAILED,
        R::DnsFailure => DNS_FAILURE,
        R::TableNotFound => TABLE_NOT_FOUND,
        R::AccessDeniedByIam => ACCESS_DENIED_BY_IAM,
        R::AccessDeniedByEndpointPolicy => ACCESS_DENIED_BY_ENDPOINT_POLICY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_errors_map_to_listed_reasons() {
        let e = |code: Option<&str>| AwsError::new("ec2", "CreateVpcEndpoint", code, "m");
        let cases = [
            (Some("RouteAlreadyExists"), ROUTE_TABLE_CONFLICT),
            (
                Some("IdempotentParameterMismatch"),
                IDEMPOTENT_PARAMETER_MISMATCH,
            ),
            (Some("VpcEndpointLimitExceeded"), ENDPOINT_LIMIT_EXCEEDED),
            (Some("InvalidServiceName"), SERVICE_NOT_AVAILABLE),
            (Some("InvalidVpcID.NotFound"), VPC_NOT_FOUND),
            (Some("InvalidRouteTableID.NotFound"), ROUTE_TABLE_NOT_FOUND),
            (Some("InvalidSubnetID.NotFound"), SUBNET_NOT_FOUND),
            (Some("InvalidVpcEndpointId.NotFound"), NOT_FOUND),
            (Some("RequestLimitExceeded"), THROTTLED),
            (Some("UnauthorizedOperation"), ACCESS_DENIED),
            (Some("InvalidParameterValue"), INVALID_PARAMETER),
            (Some("InternalError"), AWS_ERROR),
            (Some("DependencyViolation"), CONFLICT),
            (None, AWS_UNREACHABLE),
        ];
        for (code, reason) in cases {
            assert_eq!(for_aws(&e(code)), reason, "{code:?}");
            assert!(CONDITION_REASONS.contains(&reason));
        }
    }

    #[test]
    fn reason_lists_have_no_duplicates() {
        for list in [CONDITION_REASONS, EVENT_REASONS] {
            let set: std::collections::BTreeSet<_> = list.iter().collect();
            assert_eq!(set.len(), list.len());
        }
    }
}
