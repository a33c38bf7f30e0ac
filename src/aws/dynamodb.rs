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
        let result = self
            .client
            .list_tables()
            .limit(1)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("dynamodb", "ListTables", e));
        self.observer
            .observe("dynamodb", "ListTables", result.as_ref().err());
        result
    }

    /// `DescribeTable(name)`.
    pub async fn describe_table(&self, name: &str) -> Result<(), AwsError> {
        let result = self
            .client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("dynamodb", "DescribeTable", e));
        self.observer
            .observe("dynamodb", "DescribeTable", result.as_ref().err());
        result
    }
}
