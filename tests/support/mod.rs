//! Test harness shared by the integration test binaries: the AWS emulator (moto server from the
//! project's `.venv`, corrected to documented AWS behaviour by `tests/emulator/vpcgate_moto.py`)
//! on a free 127.0.0.1 port, SDK clients pointed at it, and the walkthrough's VPC.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use vpcgate::api::{GatewayEndpoint, GatewayEndpointSpec};
use vpcgate::aws::{AwsClients, CallObserver};

pub const REGION: &str = "us-east-1";

/// A running emulator; stopped (and reaped) on drop.
pub struct Emulator {
    child: Child,
    pub url: String,
}

impl Emulator {
    /// Starts the emulator on a port the OS picks. Needs `scripts/install-emulator.sh` first.
    pub fn start() -> Emulator {
        Self::start_with(&[])
    }

    /// Starts the emulator with extra wrapper flags (e.g. `--create-response-delay 3`).
    pub fn start_with(extra: &[&str]) -> Emulator {
        let root = env!("CARGO_MANIFEST_DIR");
        let python = format!("{root}/.venv/bin/python");
        assert!(
            std::path::Path::new(&python).exists(),
            "the AWS emulator is not installed: run scripts/install-emulator.sh (make test does it)"
        );
        let mut child = Command::new(python)
            .arg(format!("{root}/tests/emulator/vpcgate_moto.py"))
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(extra)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the emulator");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the emulator did not report READY within 60s");
            }
        };
        let port: u16 = match line
            .trim()
            .strip_prefix("READY ")
            .and_then(|p| p.parse().ok())
        {
            Some(p) => p,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("unexpected first line from the emulator: {line:?}");
            }
        };
        Emulator {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Emulator {
    /// Starts moto's request recorder (one JSON line per request).
    pub fn start_recording(&self) {
        let (status, _) = http(
            &format!("{}/moto-api/recorder/reset-recording", self.url),
            "POST",
        );
        assert_eq!(status, 200);
        let (status, _) = http(
            &format!("{}/moto-api/recorder/start-recording", self.url),
            "POST",
        );
        assert_eq!(status, 200);
    }

    /// The EC2/DynamoDB actions recorded since `start_recording`.
    pub fn recorded_actions(&self) -> Vec<String> {
        let (status, body) = http(
            &format!("{}/moto-api/recorder/download-recording", self.url),
            "GET",
        );
        assert_eq!(status, 200);
        body.lines()
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| {
                let raw = v["body"].as_str().unwrap_or_default();
                // moto base64-encodes bodies it records (`body_encoded`).
                let body = if v["body_encoded"].as_bool() == Some(true) {
                    use base64::Engine as _;
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(raw)
                        .unwrap_or_default();
                    String::from_utf8_lossy(&bytes).into_owned()
                } else {
                    raw.to_owned()
                };
                body.split('&')
                    .find_map(|kv| kv.strip_prefix("Action="))
                    .map(str::to_owned)
                    .or_else(|| {
                        v["headers"]["X-Amz-Target"]
                            .as_str()
                            .map(|t| t.rsplit('.').next().unwrap_or(t).to_owned())
                    })
            })
            .collect()
    }
}

/// A minimal HTTP/1.0 request to a loopback URL: (status, body). Enough for moto's admin API
/// and the operator's /metrics without another HTTP client crate.
pub fn http(url: &str, method: &str) -> (u16, String) {
    http_with(url, method, "")
}

/// [`http`] with a JSON body.
pub fn http_with(url: &str, method: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http:// URL");
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut stream = match std::net::TcpStream::connect(host) {
        Ok(s) => s,
        Err(_) => return (0, String::new()),
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let req = format!(
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(req.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

impl Emulator {
    /// Sets the emulator's fault injection (`POST /vpcgate-faults/`), e.g.
    /// `{"describeLagSeconds": 30}` or `{"action": "DescribeRouteTables", "code": "RequestLimitExceeded", "count": 1}`.
    pub fn faults(&self, json: &str) {
        let (status, body) = http_with(&format!("{}/vpcgate-faults/", self.url), "POST", json);
        assert_eq!(status, 200, "fault injection refused: {body}");
    }

    /// Where DynamoDB requests enter AWS (`POST /vpcgate-network/`), e.g.
    /// `{"callerSubnet": "subnet-…"}`: the emulator then applies the endpoint policy on that
    /// subnet's route, as AWS does for a caller in it.
    pub fn network(&self, json: &str) {
        let (status, body) = http_with(&format!("{}/vpcgate-network/", self.url), "POST", json);
        assert_eq!(status, 200, "network mode refused: {body}");
    }

    /// EC2's request-rate token buckets (`POST /vpcgate-throttle/`), e.g.
    /// `{"enabled": true, "buckets": {"CreateVpcEndpoint": {"capacity": 2, "refill": 0.5}}}`.
    pub fn throttle(&self, json: &str) {
        let (status, body) = http_with(&format!("{}/vpcgate-throttle/", self.url), "POST", json);
        assert_eq!(status, 200, "throttling refused: {body}");
    }

    /// The throttling state: config, and per action `{"allowed": n, "throttled": n}` under
    /// `counters`.
    pub fn throttle_state(&self) -> serde_json::Value {
        let (status, body) = http(&format!("{}/vpcgate-throttle/", self.url), "GET");
        assert_eq!(status, 200, "throttling state: {body}");
        serde_json::from_str(&body).expect("JSON")
    }

    /// IAM evaluation for named test principals (`POST /vpcgate-iam/`): requests signed with
    /// `key` are evaluated against `policy`, as AWS evaluates the role's identity policy.
    pub fn iam(&self, key: &str, arn: &str, policy: &serde_json::Value) {
        let body = serde_json::json!({"principals": {key: {"arn": arn, "policy": policy}}});
        let (status, text) = http_with(
            &format!("{}/vpcgate-iam/", self.url),
            "POST",
            &body.to_string(),
        );
        assert_eq!(status, 200, "IAM mode refused: {text}");
    }
}

impl Drop for Emulator {
    /// SIGTERM first (the wrapper then removes its temporary recorder directory), SIGKILL if it
    /// has not exited within 5 s; always reaped.
    fn drop(&mut self) {
        stop_child(&mut self.child);
    }
}

/// Stops a child process we started: SIGTERM, up to 5 s of grace, then SIGKILL; always reaped.
pub fn stop_child(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    for _ in 0..50 {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// SDK configuration for an endpoint URL with fake credentials and no instance metadata.
pub async fn sdk_config(url: &str) -> SdkConfig {
    sdk_config_as(url, "testing").await
}

/// [`sdk_config`] signing with another (fake) access key id, e.g. a principal of the
/// emulator's IAM mode.
pub async fn sdk_config_as(url: &str, key: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            key,
            "testing",
            None,
            None,
            "vpcgate-tests",
        ))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_timeout(Duration::from_secs(20))
                .build(),
        )
        .load()
        .await
}

/// Every AWS call the engine makes: (operation, error code).
#[derive(Clone, Default)]
pub struct CallLog(Arc<Mutex<Vec<Call>>>);

/// One AWS call: operation and error code.
type Call = (String, Option<String>);

impl CallLog {
    pub fn observer(&self) -> CallObserver {
        let log = self.0.clone();
        CallObserver::new(move |_svc, op, err| {
            log.lock()
                .unwrap()
                .push((op.to_owned(), err.and_then(|e| e.code.clone())));
        })
    }

    pub fn operations(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(op, _)| op.clone())
            .collect()
    }

    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
    }

    /// Calls that change something in AWS.
    pub fn mutations(&self) -> Vec<String> {
        self.operations()
            .into_iter()
            .filter(|op| {
                matches!(
                    op.as_str(),
                    "CreateVpcEndpoint"
                        | "ModifyVpcEndpoint"
                        | "DeleteVpcEndpoints"
                        | "CreateTags"
                        | "DeleteTags"
                )
            })
            .collect()
    }
}

/// The engine's clients, recording their calls.
pub async fn clients(url: &str, log: &CallLog) -> AwsClients {
    AwsClients::new(sdk_config(url).await, log.observer())
}

/// A DynamoDB gateway endpoint made outside vpcgate (the test's own key), on `rtb`; its id.
pub async fn foreign_endpoint(ec2: &aws_sdk_ec2::Client, vpc: &str, rtb: &str) -> String {
    ec2.create_vpc_endpoint()
        .vpc_id(vpc)
        .service_name(format!("com.amazonaws.{REGION}.dynamodb"))
        .vpc_endpoint_type(aws_sdk_ec2::types::VpcEndpointType::Gateway)
        .route_table_ids(rtb)
        .send()
        .await
        .expect("CreateVpcEndpoint")
        .vpc_endpoint()
        .and_then(|e| e.vpc_endpoint_id())
        .expect("an endpoint id")
        .to_owned()
}

/// Launches one instance in `subnet` (an AMI moto knows) and returns its id: the EC2 side of a
/// Kubernetes node.
pub async fn launch_instance(ec2: &aws_sdk_ec2::Client, subnet: &str) -> String {
    let images = ec2.describe_images().send().await.expect("DescribeImages");
    let ami = images
        .images()
        .iter()
        .find_map(|i| i.image_id())
        .expect("the emulator knows an AMI")
        .to_owned();
    // AWS gives an instance launched without groups its VPC's default group; moto gives it
    // none, so name it.
    let vpc = ec2
        .describe_subnets()
        .subnet_ids(subnet)
        .send()
        .await
        .expect("DescribeSubnets")
        .subnets()[0]
        .vpc_id()
        .expect("a VPC")
        .to_owned();
    let default_group = ec2
        .describe_security_groups()
        .filters(filter("vpc-id", &vpc))
        .filters(filter("group-name", "default"))
        .send()
        .await
        .expect("DescribeSecurityGroups")
        .security_groups()[0]
        .group_id()
        .expect("a group id")
        .to_owned();
    let out = ec2
        .run_instances()
        .image_id(ami)
        .min_count(1)
        .max_count(1)
        .subnet_id(subnet)
        .security_group_ids(default_group)
        .send()
        .await
        .expect("RunInstances");
    out.instances()[0]
        .instance_id()
        .expect("an instance id")
        .to_owned()
}

/// The walkthrough's network: a VPC with a public and a private subnet, each with its own route
/// table, plus the VPC's main table.
#[derive(Debug, Clone)]
pub struct Network {
    pub vpc: String,
    pub public_subnet: String,
    pub private_subnet: String,
    pub bare_subnet: String,
    pub public_rtb: String,
    pub private_rtb: String,
    pub main_rtb: String,
}

/// A new VPC; its id.
pub async fn create_vpc(ec2: &aws_sdk_ec2::Client, cidr: &str) -> String {
    ec2.create_vpc()
        .cidr_block(cidr)
        .send()
        .await
        .expect("CreateVpc")
        .vpc()
        .and_then(|v| v.vpc_id())
        .expect("a VPC id")
        .to_owned()
}

/// An EC2 describe filter with one value.
pub fn filter(name: &str, value: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name(name)
        .values(value)
        .build()
}

pub async fn walkthrough_network(ec2: &aws_sdk_ec2::Client) -> Network {
    let vpc = create_vpc(ec2, "10.0.0.0/16").await;
    let subnet = |cidr: &'static str| {
        let vpc = vpc.clone();
        async move {
            ec2.create_subnet()
                .vpc_id(vpc)
                .cidr_block(cidr)
                .send()
                .await
                .unwrap()
                .subnet()
                .unwrap()
                .subnet_id()
                .unwrap()
                .to_owned()
        }
    };
    let public_subnet = subnet("10.0.1.0/24").await;
    let private_subnet = subnet("10.0.2.0/24").await;
    let bare_subnet = subnet("10.0.3.0/24").await;
    let table = |name: &'static str, subnet: String| {
        let vpc = vpc.clone();
        async move {
            let rt = ec2
                .create_route_table()
                .vpc_id(vpc)
                .tag_specifications(
                    aws_sdk_ec2::types::TagSpecification::builder()
                        .resource_type(aws_sdk_ec2::types::ResourceType::RouteTable)
                        .tags(
                            aws_sdk_ec2::types::Tag::builder()
                                .key("tier")
                                .value(name)
                                .build(),
                        )
                        .build(),
                )
                .send()
                .await
                .unwrap();
            let id = rt
                .route_table()
                .unwrap()
                .route_table_id()
                .unwrap()
                .to_owned();
            ec2.associate_route_table()
                .route_table_id(&id)
                .subnet_id(subnet)
                .send()
                .await
                .unwrap();
            id
        }
    };
    let public_rtb = table("public", public_subnet.clone()).await;
    let private_rtb = table("private", private_subnet.clone()).await;
    let main_rtb = ec2
        .describe_route_tables()
        .filters(filter("vpc-id", &vpc))
        .filters(filter("association.main", "true"))
        .send()
        .await
        .unwrap()
        .route_tables()[0]
        .route_table_id()
        .unwrap()
        .to_owned();
    Network {
        vpc,
        public_subnet,
        private_subnet,
        bare_subnet,
        public_rtb,
        private_rtb,
        main_rtb,
    }
}

/// A `GatewayEndpoint` as the API server would hand it over: uid and generation set.
pub fn object(name: &str, uid: &str, spec: GatewayEndpointSpec) -> GatewayEndpoint {
    let mut obj = GatewayEndpoint::new(name, spec);
    obj.metadata.uid = Some(uid.to_owned());
    obj.metadata.generation = Some(1);
    obj
}

/// Replaces the spec as `kubectl apply` would: generation + 1, status kept.
pub fn edit(obj: &mut GatewayEndpoint, f: impl FnOnce(&mut GatewayEndpointSpec)) {
    f(&mut obj.spec);
    obj.metadata.generation = Some(obj.metadata.generation.unwrap_or(0) + 1);
}

/// Creates a pay-per-request DynamoDB table keyed by `Artist`.
pub async fn create_table(ddb: &aws_sdk_dynamodb::Client, name: &str) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    ddb.create_table()
        .table_name(name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("Artist")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("Artist")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
}

/// Endpoints of a VPC that are not deleted or being deleted.
pub async fn live_endpoints(
    ec2: &aws_sdk_ec2::Client,
    vpc: &str,
) -> Vec<aws_sdk_ec2::types::VpcEndpoint> {
    ec2.describe_vpc_endpoints()
        .filters(filter("vpc-id", vpc))
        .send()
        .await
        .unwrap()
        .vpc_endpoints()
        .iter()
        .filter(|e| {
            !matches!(
                e.state()
                    .map(|s| s.as_str().to_ascii_lowercase())
                    .as_deref(),
                Some("deleted" | "deleting")
            )
        })
        .cloned()
        .collect()
}

/// An endpoint's state as EC2 reports it, lower-cased (`deleted`, `available`, …).
pub async fn endpoint_state(ec2: &aws_sdk_ec2::Client, id: &str) -> String {
    ec2.describe_vpc_endpoints()
        .vpc_endpoint_ids(id)
        .send()
        .await
        .unwrap()
        .vpc_endpoints()[0]
        .state()
        .unwrap()
        .as_str()
        .to_ascii_lowercase()
}
