//! The SDK configuration loaded once, and the per-region clients built from it.

use std::sync::Arc;

use super::dynamodb::DynamoDb;
use super::ec2::{Cloud, Ec2};
use super::probe::{self, ProbeReport, ProbeRequest};
use super::sdk_ec2::SdkEc2;
use super::view::SharedView;
use super::{AwsError, CallObserver};

/// Builds EC2 and DynamoDB clients per region from one loaded SDK configuration (the default
/// credential chain: IRSA, Pod Identity, env, profile; `AWS_ENDPOINT_URL*` honoured).
#[derive(Clone)]
pub struct AwsClients {
    config: aws_config::SdkConfig,
    observer: CallObserver,
    /// The caller's account, asked once (it cannot change for a set of credentials).
    account: Arc<tokio::sync::OnceCell<String>>,
    /// How long the shared view keeps a VPC's describes (zero: only reads in flight are shared).
    view_ttl: std::time::Duration,
    /// EC2 behind the shared view, one per region, made on first use.
    views: Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<dyn Ec2>>>>,
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
        AwsClients::new(config, observer)
    }

    /// Wraps an already built configuration (tests).
    pub fn new(config: aws_config::SdkConfig, observer: CallObserver) -> Self {
        AwsClients {
            config,
            observer,
            account: Arc::default(),
            view_ttl: std::time::Duration::ZERO,
            views: Arc::default(),
        }
    }

    /// Shares each VPC's describes between objects for `ttl` (see [`super::view`]).
    pub fn with_view_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.view_ttl = ttl;
        self
    }

    /// The region of the loaded configuration, if any.
    pub fn default_region(&self) -> Option<String> {
        self.config.region().map(|r| r.to_string())
    }

    /// The EC2 client for a region.
    pub fn sdk_ec2(&self, region: &str) -> SdkEc2 {
        let conf = aws_sdk_ec2::config::Builder::from(&self.config)
            .region(aws_sdk_ec2::config::Region::new(region.to_owned()))
            .build();
        SdkEc2::new(aws_sdk_ec2::Client::from_conf(conf), self.observer.clone())
    }

    /// The DynamoDB client for a region, with `timeout` on each attempt and no retries (the
    /// probe measures one round trip).
    pub fn dynamodb(&self, region: &str, timeout: std::time::Duration) -> DynamoDb {
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
        DynamoDb::new(
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

#[async_trait::async_trait]
impl Cloud for AwsClients {
    /// EC2 in `region` behind the region's shared view (one per process and region).
    fn ec2(&self, region: &str) -> Arc<dyn Ec2> {
        let mut views = self.views.lock().unwrap_or_else(|e| e.into_inner());
        views
            .entry(region.to_owned())
            .or_insert_with(|| {
                Arc::new(SharedView::new(
                    Arc::new(self.sdk_ec2(region)),
                    self.view_ttl,
                ))
            })
            .clone()
    }

    async fn probe(&self, region: &str, req: &ProbeRequest<'_>) -> ProbeReport {
        probe::run(&self.dynamodb(region, req.timeout), req).await
    }

    /// `sts:GetCallerIdentity`, once per process. It needs no IAM permission.
    async fn account_id(&self, region: &str) -> Result<String, AwsError> {
        self.account
            .get_or_try_init(|| async {
                let conf = aws_sdk_sts::config::Builder::from(&self.config)
                    .region(aws_sdk_sts::config::Region::new(region.to_owned()))
                    .build();
                let result = aws_sdk_sts::Client::from_conf(conf)
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("sts", "GetCallerIdentity", e))
                    .and_then(|out| {
                        out.account().map(str::to_owned).ok_or_else(|| {
                            AwsError::new(
                                "sts",
                                "GetCallerIdentity",
                                None,
                                "no account in the answer",
                            )
                        })
                    });
                self.observer
                    .observe("sts", "GetCallerIdentity", result.as_ref().err());
                result
            })
            .await
            .cloned()
    }
}
