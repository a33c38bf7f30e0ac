//! The one error type of the engine. Each variant knows its condition reason, its requeue and
//! its metric label, so those never disagree.

use crate::aws::{AwsError, RequeueHint};

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

    /// Route tables named in `spec.routeTables.ids` are not in the VPC.
    #[error("spec.routeTables.ids: {} not found in {vpc_id} (InvalidRouteTableID.NotFound); use route tables of that VPC", ids.join(", "))]
    RouteTableNotFound { ids: Vec<String>, vpc_id: String },

    /// Subnets named in `spec.routeTables.subnetIds` are not in the VPC.
    #[error("spec.routeTables.subnetIds: {} not found in {vpc_id} (InvalidSubnetID.NotFound); use subnets of that VPC", ids.join(", "))]
    SubnetNotFound { ids: Vec<String>, vpc_id: String },

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

    /// AWS is still deleting the endpoint; the finalizer stays until it is gone.
    #[error("waiting for AWS to delete {0}")]
    DeletionPending(String),
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
            Error::InvalidSpec { .. } => "InvalidSpec",
            Error::VpcNotFound { .. } => "VpcNotFound",
            Error::RouteTableNotFound { .. } => "RouteTableNotFound",
            Error::SubnetNotFound { .. } => "SubnetNotFound",
            Error::ServiceNotAvailable { .. } => "ServiceNotAvailable",
            Error::Aws(e) => e.reason(),
            Error::Kube(_) => "KubernetesApiError",
            Error::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e)
                | kube::runtime::finalizer::Error::CleanupFailed(e) => e.reason(),
                _ => "FinalizerError",
            },
            Error::DeletionPending(_) => "Deleting",
        }
    }

    /// What the controller should do next.
    pub fn requeue(&self) -> RequeueHint {
        match self {
            Error::InvalidSpec { .. } => RequeueHint::AwaitChange,
            // The VPC, tables or subnets may be created later: look again at the next resync.
            Error::VpcNotFound { .. }
            | Error::RouteTableNotFound { .. }
            | Error::SubnetNotFound { .. }
            | Error::ServiceNotAvailable { .. } => RequeueHint::Resync,
            Error::Aws(e) => e.requeue(),
            Error::Kube(_) | Error::DeletionPending(_) => RequeueHint::Backoff,
            Error::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e)
                | kube::runtime::finalizer::Error::CleanupFailed(e) => e.requeue(),
                _ => RequeueHint::Backoff,
            },
        }
    }

    /// Label for the failures-by-reason metric.
    pub fn metric_label(&self) -> &'static str {
        self.reason()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_requeue_and_messages() {
        let cases: Vec<(Error, &str, RequeueHint, &str)> = vec![
            (
                Error::InvalidSpec {
                    field: "spec.policy.document".into(),
                    message: "has no Statement".into(),
                },
                "InvalidSpec",
                RequeueHint::AwaitChange,
                "spec.policy.document: has no Statement",
            ),
            (
                Error::VpcNotFound {
                    vpc_id: "vpc-1".into(),
                    region: "eu-west-1".into(),
                },
                "VpcNotFound",
                RequeueHint::Resync,
                "spec.vpcId",
            ),
            (
                Error::RouteTableNotFound {
                    ids: vec!["rtb-1".into(), "rtb-2".into()],
                    vpc_id: "vpc-1".into(),
                },
                "RouteTableNotFound",
                RequeueHint::Resync,
                "rtb-1, rtb-2",
            ),
            (
                Error::SubnetNotFound {
                    ids: vec!["subnet-1".into()],
                    vpc_id: "vpc-1".into(),
                },
                "SubnetNotFound",
                RequeueHint::Resync,
                "spec.routeTables.subnetIds",
            ),
            (
                Error::ServiceNotAvailable {
                    name: "com.amazonaws.x.s3".into(),
                    region: "x".into(),
                },
                "ServiceNotAvailable",
                RequeueHint::Resync,
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
                RequeueHint::Backoff,
                "RequestLimitExceeded",
            ),
        ];
        for (err, reason, requeue, text) in cases {
            assert_eq!(err.reason(), reason);
            assert_eq!(err.metric_label(), reason);
            assert_eq!(err.requeue(), requeue, "{err}");
            assert!(err.to_string().contains(text), "{err}");
        }
    }
}
