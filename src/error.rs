//! The one error type. Each variant knows its condition reason (also its metric label); the controller
//! decides the requeue from the variant (see `controller::requeue`).

use crate::aws::{AwsError, ErrorClass};
use crate::engine::reasons;

/// Why a reconcile could not finish.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec asks for something impossible that the schema could not catch.
    #[error("{field}: {message}")]
    InvalidSpec { field: String, message: String },

    /// `spec.vpcId` names no VPC in the region.
    #[error(
        "spec.vpcId: VPC {vpc_id} not found in {region} (InvalidVpcID.NotFound); check the id and spec.region"
    )]
    VpcNotFound { vpc_id: String, region: String },

    /// `spec.vpcId` is outside the operator's allow list (`--allowed-vpc`): nothing is changed.
    #[error(
        "spec.vpcId: {vpc_id} is not one of the VPCs this operator may change ({allowed}); ask the platform team to add it to the Helm value aws.allowedVpcs (and to the IAM policy: `vpcgate iam-policy --allowed-vpc …`)"
    )]
    VpcNotAllowed { vpc_id: String, allowed: String },

    /// The endpoint recorded in status lost its `vpcgate.dev/uid` tag, and the IAM policy allows
    /// changes only to endpoints carrying it: vpcgate cannot restore the tag itself.
    #[error(
        "{endpoint_id} no longer carries the tag vpcgate.dev/uid={uid}, and vpcgate's IAM policy allows changes only to endpoints that do; re-tag it (aws ec2 create-tags --resources {endpoint_id} --tags Key=vpcgate.dev/uid,Value={uid}) for vpcgate to manage it again, or delete it"
    )]
    OwnershipLost { endpoint_id: String, uid: String },

    /// `spec.vpcId` is omitted and the cluster's node list has not been read yet.
    #[error(
        "spec.vpcId: omitted, and this cluster's nodes are not listed yet; waiting for the node watch"
    )]
    NodesUnknown,

    /// `spec.vpcId` is omitted and no node of the cluster is an EC2 instance in the region.
    #[error(
        "no node of this cluster is an EC2 instance in {region} where this object needs one ({detail}); set spec.vpcId and routeTables"
    )]
    NoNodes { region: String, detail: String },

    /// `spec.vpcId` is omitted and the cluster's nodes are in more than one VPC.
    #[error(
        "spec.vpcId: omitted, and this cluster's nodes in {region} are in more than one VPC ({}); set spec.vpcId to one of them", vpcs.join(", ")
    )]
    MultipleVpcs { region: String, vpcs: Vec<String> },

    /// `spec.adopt: IfUnowned` found more than one endpoint it could take: nothing is touched.
    #[error(
        "spec.adopt: {} endpoints could be adopted ({}); name one with spec.adopt: vpce-…, or remove the others", ids.len(), ids.join(", ")
    )]
    AdoptionAmbiguous { ids: Vec<String> },

    /// `spec.adopt: vpce-…` names an endpoint that cannot be adopted.
    #[error("spec.adopt: {id} cannot be adopted: {why}")]
    AdoptionRefused { id: String, why: String },

    /// The IAM policy does not allow tagging an endpoint vpcgate does not own yet.
    #[error(
        "spec.adopt: tagging {id} to adopt it was denied: vpcgate's default IAM policy changes only endpoints it created; attach `vpcgate iam-policy --allow-adoption` to adopt existing ones"
    )]
    AdoptionDenied { id: String },

    /// The region offers no gateway endpoint for the service.
    #[error(
        "spec.service: no prefix list {name} in {region}; the service has no gateway endpoint there"
    )]
    ServiceNotAvailable { name: String, region: String },

    /// An AWS call failed.
    #[error(transparent)]
    Aws(#[from] AwsError),

    /// A Kubernetes API call failed.
    #[error("kubernetes API: {0}")]
    Kube(#[source] Box<kube::Error>),

    /// The finalizer helper failed (adding/removing the finalizer, or our apply/cleanup).
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),

    /// AWS has not yet reported every endpoint of the object gone; the finalizer stays. With a
    /// wait: the delete itself waits that long for the EC2 request budget.
    #[error("waiting for AWS to delete {0}")]
    DeletionPending(String, Option<std::time::Duration>),
}

impl From<kube::Error> for Error {
    fn from(e: kube::Error) -> Self {
        Error::Kube(Box::new(e))
    }
}

impl Error {
    /// The stable CamelCase condition reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::InvalidSpec { .. } => reasons::INVALID_SPEC,
            Error::VpcNotFound { .. } => reasons::VPC_NOT_FOUND,
            Error::VpcNotAllowed { .. } => reasons::VPC_NOT_ALLOWED,
            Error::OwnershipLost { .. } => reasons::OWNERSHIP_LOST,
            Error::NodesUnknown => reasons::DISCOVERING_NODES,
            Error::AdoptionAmbiguous { .. } => reasons::ADOPTION_AMBIGUOUS,
            Error::AdoptionRefused { .. } => reasons::ADOPTION_REFUSED,
            Error::AdoptionDenied { .. } => reasons::ADOPTION_DENIED,
            Error::NoNodes { .. } => reasons::NO_NODES,
            Error::MultipleVpcs { .. } => reasons::MULTIPLE_VPCS,
            Error::ServiceNotAvailable { .. } => reasons::SERVICE_NOT_AVAILABLE,
            Error::Aws(e) => reasons::for_aws(e),
            Error::Kube(_) => reasons::KUBERNETES_API_ERROR,
            Error::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e)
                | kube::runtime::finalizer::Error::CleanupFailed(e) => e.reason(),
                _ => reasons::FINALIZER_ERROR,
            },
            Error::DeletionPending(..) => reasons::DELETING,
        }
    }

    /// A passing failure (network, throttling, AWS 5xx): news about this pass, not about the
    /// endpoint, so the conditions keep their last known statuses.
    pub fn is_transient(&self) -> bool {
        // The node list not read yet (the operator just started) is news about this process.
        matches!(self, Error::NodesUnknown)
            || matches!(self, Error::Aws(e) if matches!(e.class, ErrorClass::Transient | ErrorClass::Throttled))
    }

    /// The AWS error code, when AWS answered with one.
    pub fn aws_code(&self) -> Option<&str> {
        match self {
            Error::Aws(e) => e.code.as_deref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_and_messages() {
        let cases: Vec<(Error, &str, bool, &str)> = vec![
            (
                Error::InvalidSpec {
                    field: "spec.policy.document".into(),
                    message: "has no Statement".into(),
                },
                "InvalidSpec",
                false,
                "spec.policy.document: has no Statement",
            ),
            (
                Error::VpcNotFound {
                    vpc_id: "vpc-1".into(),
                    region: "eu-west-1".into(),
                },
                "VpcNotFound",
                false,
                "spec.vpcId",
            ),
            (
                Error::ServiceNotAvailable {
                    name: "com.amazonaws.x.s3".into(),
                    region: "x".into(),
                },
                "ServiceNotAvailable",
                false,
                "spec.service",
            ),
            (
                Error::Aws(AwsError::new(
                    "ec2",
                    "DescribeVpcs",
                    Some("RequestLimitExceeded"),
                    "slow down",
                )),
                "Throttled",
                true,
                "RequestLimitExceeded",
            ),
            (
                Error::Aws(AwsError::new(
                    "ec2",
                    "ModifyVpcEndpoint",
                    Some("UnauthorizedOperation"),
                    "no",
                )),
                "AccessDenied",
                false,
                "ec2:ModifyVpcEndpoint",
            ),
        ];
        for (err, reason, transient, text) in cases {
            assert_eq!(err.reason(), reason);
            assert_eq!(err.is_transient(), transient, "{err}");
            assert!(err.to_string().contains(text), "{err}");
        }
    }
}
