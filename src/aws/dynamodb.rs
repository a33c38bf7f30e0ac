//! DynamoDB calls the probe makes: a harmless signed read.

use aws_sdk_dynamodb::Client;

use super::{AwsError, CallObserver};

/// The DynamoDB client for one region, plus the URL it talks to.
#[derive(Clone)]
pub struct DynamoDb {
    client: Client,
    observer: CallObserver,
    endpoint_url: String,
}

impl DynamoDb {
    /// Wraps an SDK client; `endpoint_url` is where its requests go (used to resolve the host).
    pub fn new(client: Client, observer: CallObserver, endpoint_url: String) -> Self {
        DynamoDb {
            client,
            observer,
            endpoint_url,
        }
    }

    /// The URL requests go to, e.g. `https://dynamodb.eu-west-1.amazonaws.com`.
    pub fn endpoint_url(&self) -> &str {
        &self.endpoint_url
    }

    /// `ListTables(Limit=1)`: the cheapest call that proves a signed round trip.
    pub async fn list_tables(&self) -> Result<(), AwsError> {
        self.call("ListTables", self.client.list_tables().limit(1).send())
            .await
    }

    /// `DescribeTable(name)`.
    pub async fn describe_table(&self, name: &str) -> Result<(), AwsError> {
        self.call(
            "DescribeTable",
            self.client.describe_table().table_name(name).send(),
        )
        .await
    }

    /// Runs one call, classifies its error and tells the observer.
    async fn call<T, E, R>(
        &self,
        operation: &'static str,
        fut: impl std::future::Future<Output = Result<T, aws_sdk_dynamodb::error::SdkError<E, R>>>,
    ) -> Result<(), AwsError>
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let result = fut
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("dynamodb", operation, e));
        self.observer
            .observe("dynamodb", operation, result.as_ref().err());
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::ErrorClass;
    use crate::aws::probe::{ProbeResult, classify};
    use aws_credential_types::Credentials;
    use aws_sdk_dynamodb::config::{BehaviorVersion, Region};
    use aws_smithy_mocks::{RuleMode, create_mock_http_client, mock};
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;

    fn json_error(code: &str, message: &str) -> Response {
        let body = format!(
            r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"{message}"}}"#
        );
        Response::new(StatusCode::try_from(400).unwrap(), SdkBody::from(body))
    }

    #[tokio::test]
    async fn probe_errors_are_classified_from_real_sdk_errors() {
        let cases = [
            (
                "AccessDeniedException",
                "User x is not authorized to perform: dynamodb:ListTables because no identity-based policy allows it",
                ErrorClass::AccessDenied,
                ProbeResult::AccessDeniedByIam,
            ),
            (
                "AccessDeniedException",
                "User x is not authorized to perform: dynamodb:ListTables because no VPC endpoint policy allows it",
                ErrorClass::AccessDenied,
                ProbeResult::AccessDeniedByEndpointPolicy,
            ),
            (
                "ResourceNotFoundException",
                "Requested resource not found",
                ErrorClass::NotFound,
                ProbeResult::TableNotFound,
            ),
            (
                "ThrottlingException",
                "slow down",
                ErrorClass::Throttled,
                ProbeResult::Failed,
            ),
        ];
        for (code, message, class, result) in cases {
            let rule =
                mock!(Client::list_tables).then_http_response(move || json_error(code, message));
            let interceptor = aws_smithy_mocks::MockResponseInterceptor::new()
                .rule_mode(RuleMode::MatchAny)
                .with_rule(&rule);
            let conf = aws_sdk_dynamodb::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("eu-west-1"))
                .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
                .http_client(create_mock_http_client())
                .interceptor(interceptor)
                .build();
            let ddb = DynamoDb::new(
                Client::from_conf(conf),
                CallObserver::default(),
                "https://dynamodb.eu-west-1.amazonaws.com".into(),
            );
            let err = ddb.list_tables().await.unwrap_err();
            assert_eq!(err.code.as_deref(), Some(code));
            assert_eq!(err.class, class, "{code}");
            assert_eq!(classify(&err), result, "{code}: {message}");
        }
    }
}
