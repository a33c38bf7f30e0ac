//! Every AWS error is classified here, once. The class is all the edge says about an error: the
//! engine maps it to a condition reason and the controller to a requeue.

use std::fmt;

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};

/// What kind of failure an AWS error is, which decides what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Network trouble, timeouts, 5xx: retry with backoff.
    Transient,
    /// Over the request-rate bucket: retry with backoff, slower.
    Throttled,
    /// AWS refused the request's input (bad id, bad parameter).
    InvalidInput,
    /// IAM (or SCP) denies the action: a human must grant it.
    AccessDenied,
    /// Something else holds what we need (a route, the quota, a token): needs a human or time.
    Conflict,
    /// The resource does not exist.
    NotFound,
}

impl ErrorClass {
    /// Stable label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Transient => "transient",
            ErrorClass::Throttled => "throttled",
            ErrorClass::InvalidInput => "invalid_input",
            ErrorClass::AccessDenied => "access_denied",
            ErrorClass::Conflict => "conflict",
            ErrorClass::NotFound => "not_found",
        }
    }
}

/// A failed AWS call: which operation, the AWS error code and message, and its class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// IAM service prefix: `ec2` or `dynamodb`.
    pub service: &'static str,
    /// The API operation, e.g. `CreateVpcEndpoint`.
    pub operation: &'static str,
    /// The AWS error code, e.g. `InvalidVpcID.NotFound`; `None` when no response came back.
    pub code: Option<String>,
    /// The AWS error message (or the transport error).
    pub message: String,
    /// The classification of `code`.
    pub class: ErrorClass,
}

impl std::error::Error for AwsError {}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = self.stable_message();
        match &self.code {
            Some(code) => write!(f, "{} failed with {}: {}", self.operation, code, message)?,
            None => write!(f, "{} failed: {}", self.operation, message)?,
        }
        if self.class == ErrorClass::AccessDenied {
            write!(f, " (grant IAM action {})", self.iam_action())?;
        }
        Ok(())
    }
}

impl AwsError {
    /// Builds an error from a code and message as AWS returned them.
    pub fn new(
        service: &'static str,
        operation: &'static str,
        code: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        let class = code.map(classify_code).unwrap_or(ErrorClass::Transient);
        AwsError {
            service,
            operation,
            code: code.map(str::to_owned),
            message: message.into(),
            class,
        }
    }

    /// Classifies an SDK error: transport failures are transient; service errors by their code.
    pub fn from_sdk<E, R>(
        service: &'static str,
        operation: &'static str,
        err: SdkError<E, R>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: fmt::Debug,
    {
        match &err {
            SdkError::ServiceError(ctx) => {
                let e = ctx.err();
                let message = e.message().unwrap_or("no message").to_owned();
                AwsError::new(service, operation, e.code(), message)
            }
            SdkError::TimeoutError(_) => AwsError {
                service,
                operation,
                code: None,
                message: "timed out".into(),
                class: ErrorClass::Transient,
            },
            SdkError::DispatchFailure(d) => AwsError {
                service,
                operation,
                code: None,
                message: format!("could not reach AWS: {}", source_chain(&err, d.is_io())),
                class: ErrorClass::Transient,
            },
            SdkError::ConstructionFailure(_) => AwsError {
                service,
                operation,
                code: None,
                message: format!("request could not be built: {}", source_chain(&err, false)),
                class: ErrorClass::InvalidInput,
            },
            _ => AwsError {
                service,
                operation,
                code: None,
                message: format!("unreadable response: {}", source_chain(&err, false)),
                class: ErrorClass::Transient,
            },
        }
    }

    /// The message without EC2's "Encoded authorization failure message", which differs on
    /// every request: in status it would make every pass write, and it is for `aws sts
    /// decode-authorization-message`, not for humans reading conditions.
    pub fn stable_message(&self) -> &str {
        match self.message.find("Encoded authorization failure message") {
            Some(i) => self.message[..i].trim_end().trim_end_matches('.'),
            None => &self.message,
        }
    }

    /// The IAM action this call needs, e.g. `ec2:CreateVpcEndpoint`.
    pub fn iam_action(&self) -> String {
        format!("{}:{}", self.service, self.operation)
    }

    /// True when the call never got an answer from AWS (connection refused, DNS, timeout).
    pub fn is_unreachable(&self) -> bool {
        self.code.is_none() && self.class == ErrorClass::Transient
    }

    /// True for "this id does not exist" answers.
    pub fn is_not_found(&self) -> bool {
        self.class == ErrorClass::NotFound
    }
}

/// The classification table: AWS error code → class. Codes are EC2's and DynamoDB's.
pub fn classify_code(code: &str) -> ErrorClass {
    match code {
        "RequestLimitExceeded"
        | "Throttling"
        | "ThrottlingException"
        | "TooManyRequestsException"
        | "ProvisionedThroughputExceededException"
        | "RequestThrottled"
        | "RequestThrottledException"
        | "LimitExceededException" => ErrorClass::Throttled,
        "UnauthorizedOperation"
        | "AccessDenied"
        | "AccessDeniedException"
        | "AuthFailure"
        | "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "OptInRequired"
        | "Blocked" => ErrorClass::AccessDenied,
        "RouteAlreadyExists"
        | "IdempotentParameterMismatch"
        | "VpcEndpointLimitExceeded"
        | "RouteLimitExceeded"
        | "IncorrectState"
        | "ResourceInUseException"
        | "DependencyViolation" => ErrorClass::Conflict,
        "InternalError"
        | "InternalFailure"
        | "ServiceUnavailable"
        | "Unavailable"
        | "InternalServerError"
        | "RequestTimeout"
        | "RequestTimeoutException" => ErrorClass::Transient,
        "ResourceNotFoundException" | "TableNotFoundException" => ErrorClass::NotFound,
        c if c.ends_with(".NotFound") || c.ends_with("NotFound") => ErrorClass::NotFound,
        "InvalidParameter"
        | "InvalidParameterValue"
        | "InvalidParameterCombination"
        | "MissingParameter"
        | "InvalidServiceName"
        | "ValidationException"
        | "InvalidAction"
        | "UnknownParameter"
        | "InvalidPolicyDocument"
        | "DryRunOperation" => ErrorClass::InvalidInput,
        c if c.ends_with(".Malformed") || c.starts_with("Invalid") => ErrorClass::InvalidInput,
        _ => ErrorClass::Transient,
    }
}

/// The error and its sources joined, for transport errors whose top-level text says little.
fn source_chain(err: &dyn std::error::Error, io: bool) -> String {
    let mut parts = vec![err.to_string()];
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !parts.contains(&s) {
            parts.push(s);
        }
        cur = e.source();
    }
    if io {
        parts.push("(io)".into());
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        let cases = [
            ("RequestLimitExceeded", ErrorClass::Throttled),
            ("ThrottlingException", ErrorClass::Throttled),
            (
                "ProvisionedThroughputExceededException",
                ErrorClass::Throttled,
            ),
            ("UnauthorizedOperation", ErrorClass::AccessDenied),
            ("AccessDeniedException", ErrorClass::AccessDenied),
            ("AuthFailure", ErrorClass::AccessDenied),
            ("RouteAlreadyExists", ErrorClass::Conflict),
            ("IdempotentParameterMismatch", ErrorClass::Conflict),
            ("VpcEndpointLimitExceeded", ErrorClass::Conflict),
            ("InvalidVpcID.NotFound", ErrorClass::NotFound),
            ("InvalidRouteTableID.NotFound", ErrorClass::NotFound),
            ("InvalidSubnetID.NotFound", ErrorClass::NotFound),
            ("InvalidVpcEndpointId.NotFound", ErrorClass::NotFound),
            ("InvalidVpcEndpoint.NotFound", ErrorClass::NotFound),
            ("ResourceNotFoundException", ErrorClass::NotFound),
            ("InvalidServiceName", ErrorClass::InvalidInput),
            ("InvalidVpcId.Malformed", ErrorClass::InvalidInput),
            ("InvalidParameter", ErrorClass::InvalidInput),
            ("InvalidParameterValue", ErrorClass::InvalidInput),
            ("ValidationException", ErrorClass::InvalidInput),
            ("InternalError", ErrorClass::Transient),
            ("ServiceUnavailable", ErrorClass::Transient),
            ("SomethingNobodyKnows", ErrorClass::Transient),
        ];
        for (code, class) in cases {
            assert_eq!(classify_code(code), class, "{code}");
        }
    }

    #[test]
    fn access_denied_names_the_iam_action() {
        let err = AwsError::new(
            "ec2",
            "ModifyVpcEndpoint",
            Some("UnauthorizedOperation"),
            "nope",
        );
        let text = err.to_string();
        assert!(text.contains("UnauthorizedOperation"), "{text}");
        assert!(text.contains("ec2:ModifyVpcEndpoint"), "{text}");
        // The per-request encoded context never reaches status.
        let err = AwsError::new(
            "ec2",
            "CreateVpcEndpoint",
            Some("UnauthorizedOperation"),
            "You are not authorized to perform this operation. Encoded authorization failure message: AbC123xyz",
        );
        assert!(!err.to_string().contains("AbC123xyz"), "{err}");
        assert!(
            err.to_string()
                .contains("You are not authorized to perform this operation")
        );
        assert_eq!(ErrorClass::AccessDenied.as_str(), "access_denied");
    }
}
