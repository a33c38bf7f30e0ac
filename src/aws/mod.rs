//! The AWS edge: narrow wrappers over the EC2 and DynamoDB SDK clients that speak in the
//! engine's own types, and the one place AWS errors are classified.

pub mod actions;
pub mod dynamodb;
pub mod ec2;
pub mod errors;

use std::collections::BTreeMap;

pub use errors::{AwsError, ErrorClass, RequeueHint};

/// The subset of a VPC endpoint the engine looks at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Endpoint {
    pub id: String,
    pub vpc_id: String,
    pub service_name: String,
    /// Lower-cased state (`available`, `pending`, `deleting`, `deleted`, …). EC2 sends
    /// lower-camel-case and the SDK's enum does not match it (awslabs/aws-sdk-rust#619), so we keep
    /// the raw string and compare case-insensitively.
    pub state: String,
    pub route_table_ids: Vec<String>,
    pub policy: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// Seconds since the epoch, for picking the oldest of several.
    pub created: i64,
}

impl Endpoint {
    /// `deleted` and `deleting` endpoints are on their way out and never ours to manage.
    pub fn is_live(&self) -> bool {
        !matches!(self.state.as_str(), "deleted" | "deleting")
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

/// Builds EC2 and DynamoDB clients per region from one loaded SDK configuration (the default
/// credential chain: IRSA, Pod Identity, env, profile; `AWS_ENDPOINT_URL*` honoured).
#[derive(Clone)]
pub struct AwsClients {
    config: aws_config::SdkConfig,
    observer: CallObserver,
}

impl AwsClients {
    /// Loads the default configuration with the SDK's adaptive retry mode, which keeps the client
    /// under EC2's per-action request-rate buckets.
    pub async fn from_env(observer: CallObserver) -> Self {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .retry_config(aws_config::retry::RetryConfig::adaptive().with_max_attempts(4))
            // Bounded calls: a hung connection must not hold a reconcile (or shutdown) forever.
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(std::time::Duration::from_secs(5))
                    .operation_timeout(std::time::Duration::from_secs(60))
                    .build(),
            )
            .load()
            .await;
        AwsClients { config, observer }
    }

    /// Wraps an already built configuration (tests).
    pub fn new(config: aws_config::SdkConfig, observer: CallObserver) -> Self {
        AwsClients { config, observer }
    }

    /// The region of the loaded configuration, if any.
    pub fn default_region(&self) -> Option<String> {
        self.config.region().map(|r| r.to_string())
    }

    /// The EC2 client for a region.
    pub fn ec2(&self, region: &str) -> ec2::Ec2 {
        let conf = aws_sdk_ec2::config::Builder::from(&self.config)
            .region(aws_sdk_ec2::config::Region::new(region.to_owned()))
            .build();
        ec2::Ec2::new(aws_sdk_ec2::Client::from_conf(conf), self.observer.clone())
    }

    /// The DynamoDB client for a region, with `timeout` on each attempt and no retries (the
    /// probe measures one round trip).
    pub fn dynamodb(&self, region: &str, timeout: std::time::Duration) -> dynamodb::DynamoDb {
        let conf = aws_sdk_dynamodb::config::Builder::from(&self.config)
            .region(aws_sdk_dynamodb::config::Region::new(region.to_owned()))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_timeout(timeout)
                    .build(),
            )
            .build();
        let url = self
            .config
            .service_config()
            .and_then(|c| {
                c.load_config(
                    aws_types::service_config::ServiceConfigKey::builder()
                        .service_id("DynamoDB")
                        .env("AWS_ENDPOINT_URL_DYNAMODB")
                        .profile("endpoint_url")
                        .build()
                        .ok()?,
                )
            })
            .or_else(|| self.config.endpoint_url().map(str::to_owned))
            .unwrap_or_else(|| default_dynamodb_url(region));
        dynamodb::DynamoDb::new(
            aws_sdk_dynamodb::Client::from_conf(conf),
            self.observer.clone(),
            url,
        )
    }
}

/// DynamoDB's public regional endpoint.
pub fn default_dynamodb_url(region: &str) -> String {
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://dynamodb.{region}.{suffix}")
}
