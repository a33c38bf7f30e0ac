//! End-to-end: a real kube-apiserver (tests/cluster), the AWS emulator, and the `vpcgate run`
//! binary as a subprocess under the Helm chart's own ServiceAccount (token from TokenRequest) and
//! RBAC, driven by a kube client and kubectl.
//!
//! The control plane is started once per run (or reused from `VPCGATE_TEST_KUBECONFIG`); the
//! scenarios run one at a time because an operator reconciles every object in the cluster.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, ResourceExt};
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::{Value, json};
use support::{Emulator, Network, http, stop_child, walkthrough_network};
use vpcgate::api::GatewayEndpoint;

type TestResult = Result<(), Failed>;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fail(msg: impl Into<String>) -> Failed {
    Failed::from(msg.into())
}

macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if $cond {
        } else {
            return Err(fail(format!($($arg)*)));
        }
    };
}

/// The local control plane (tests/cluster/cluster.sh). `VPCGATE_CLUSTER_DIR` picks its state
/// directory (default `target/e2e-cluster`); a cluster already up there is reused and left
/// running, one this run started is stopped at its end.
struct Cluster {
    state_dir: PathBuf,
    admin_kubeconfig: PathBuf,
    started_here: bool,
}

impl Cluster {
    fn script() -> Command {
        let mut cmd = Command::new(root().join("tests/cluster/cluster.sh"));
        cmd.stdin(Stdio::null());
        cmd
    }

    fn start() -> Cluster {
        let state_dir = std::env::var_os("VPCGATE_CLUSTER_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("target/e2e-cluster"));
        let already_up = Self::script()
            .arg("status")
            .env("VPCGATE_CLUSTER_DIR", &state_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !already_up {
            let ok = Self::script()
                .arg("up")
                .env("VPCGATE_CLUSTER_DIR", &state_dir)
                .status()
                .expect("run tests/cluster/cluster.sh up");
            assert!(ok.success(), "tests/cluster/cluster.sh up failed");
        }
        Cluster {
            admin_kubeconfig: state_dir.join("kubeconfig"),
            state_dir,
            started_here: !already_up,
        }
    }

    fn stop(&self) {
        if self.started_here {
            let _ = Self::script()
                .arg("down")
                .env("VPCGATE_CLUSTER_DIR", &self.state_dir)
                .status();
        }
    }

    /// events.k8s.io Events in `default` (where events of cluster-scoped objects go) matching a
    /// field selector, as JSON.
    fn events_json(&self, selector: &str) -> String {
        self.kubectl_ok(&[
            "get",
            "events.events.k8s.io",
            "-n",
            "default",
            "--field-selector",
            selector,
            "-o",
            "json",
        ])
    }

    fn kubectl(&self, args: &[&str]) -> std::process::Output {
        Self::script()
            .arg("kubectl")
            .args(args)
            .env("VPCGATE_CLUSTER_DIR", &self.state_dir)
            .output()
            .expect("run kubectl")
    }

    fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Shared by all scenarios.
struct Env {
    cluster: Cluster,
    /// Kubeconfig of the operator's ServiceAccount (TokenRequest token).
    operator_kubeconfig: PathBuf,
    logs: PathBuf,
    /// Set up before the CRD was installed: did `vpcgate run` refuse to start, clearly?
    crd_missing_result: Result<(), String>,
}

async fn client_for(kubeconfig: &Path) -> Client {
    let kc = Kubeconfig::read_from(kubeconfig).expect("read kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig");
    Client::try_from(config).expect("client")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `vpcgate run` process; stopped (SIGTERM, then SIGKILL) on drop.
struct Operator {
    child: Child,
    metrics_url: String,
    pub log: PathBuf,
}

impl Operator {
    fn start(env: &Env, emulator: &Emulator, name: &str, extra: &[&str]) -> Operator {
        Operator::start_env(env, emulator, name, extra, &[])
    }

    /// [`Operator::start`] with more (or overriding) environment variables, e.g. `NODE_NAME`
    /// or another access key.
    fn start_env(
        env: &Env,
        emulator: &Emulator,
        name: &str,
        extra: &[&str],
        vars: &[(&str, &str)],
    ) -> Operator {
        let port = free_port();
        let log = env.logs.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_vpcgate"))
            .arg("run")
            .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
            .args([
                "--resync",
                "10s",
                "--lease-namespace",
                "vpcgate-system",
                "--lease-duration",
                "4s",
                // Objects in these scenarios are deleted right after their endpoint was seen;
                // a short lag keeps deletions of never-created objects quick.
                "--describe-lag",
                "2s",
                // AWS applies routes and policies with a delay; the emulator does not.
                "--path-settle",
                "3s",
                // Drift is looked for every 10s here: the shared view is kept for 2s (30s by
                // default), and endpoint mutations are not paced but where a scenario says so.
                "--aws-view-ttl",
                "2s",
                "--endpoint-mutation-burst",
                "50",
                "--endpoint-mutation-rate",
                "50",
            ])
            .args(["--identity", name])
            .args(extra)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KUBECONFIG", &env.operator_kubeconfig)
            .env("AWS_ENDPOINT_URL", &emulator.url)
            .env("AWS_REGION", support::REGION)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_LOG", "info,vpcgate=debug")
            .envs(vars.iter().copied())
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("start vpcgate run");
        Operator {
            child,
            metrics_url: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// Waits until `/readyz` answers 200.
    fn wait_ready(&mut self) -> TestResult {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if http(&format!("{}/readyz", self.metrics_url), "GET").0 == 200 {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(fail(format!(
                    "operator exited with {status}: {}",
                    self.log_text()
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(fail(format!(
            "operator not ready in 30s: {}",
            self.log_text()
        )))
    }

    fn readyz(&self) -> u16 {
        http(&format!("{}/readyz", self.metrics_url), "GET").0
    }

    fn metrics(&self) -> String {
        http(&format!("{}/metrics", self.metrics_url), "GET").1
    }

    /// Sum of a metric's samples whose line starts with `prefix` (name plus optional labels).
    fn metric(&self, prefix: &str) -> f64 {
        self.metrics()
            .lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for the exit status (at most `within`).
    fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        stop_child(&mut self.child);
    }
}

/// Polls `f` until it returns Some, or fails after `timeout` with `what`.
async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> Result<T, Failed>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Ok(v);
        }
        if Instant::now() > deadline {
            return Err(fail(format!(
                "timed out after {timeout:?} waiting for {what}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn condition(obj: &GatewayEndpoint, type_: &str) -> Option<(String, String)> {
    obj.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone()))
}

/// A scenario's world: its own emulator with the walkthrough network, SDK clients, kube client.
struct Scenario {
    emulator: Emulator,
    ec2: aws_sdk_ec2::Client,
    ddb: aws_sdk_dynamodb::Client,
    net: Network,
    api: Api<GatewayEndpoint>,
}

async fn scenario(env: &Env, emulator_args: &[&str]) -> Scenario {
    let emulator = Emulator::start_with(emulator_args);
    let conf = support::sdk_config(&emulator.url).await;
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    let ddb = aws_sdk_dynamodb::Client::new(&conf);
    let net = walkthrough_network(&ec2).await;
    let api = Api::all(client_for(&env.cluster.admin_kubeconfig).await);
    Scenario {
        emulator,
        ec2,
        ddb,
        net,
        api,
    }
}

impl Scenario {
    fn manifest(&self, name: &str, extra: Value) -> Value {
        let mut spec = json!({
            "vpcId": self.net.vpc,
            "routeTables": {"subnetIds": [self.net.public_subnet, self.net.private_subnet]},
            "probe": {"interval": "10s", "timeout": "2s", "table": "Music"},
        });
        if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                s.insert(k.clone(), v.clone());
            }
        }
        json!({"apiVersion": "vpcgate.dev/v1alpha1", "kind": "GatewayEndpoint", "metadata": {"name": name}, "spec": spec})
    }

    async fn create(&self, manifest: Value) -> Result<GatewayEndpoint, Failed> {
        let obj: GatewayEndpoint =
            serde_json::from_value(manifest).map_err(|e| fail(e.to_string()))?;
        self.api
            .create(&PostParams::default(), &obj)
            .await
            .map_err(|e| fail(format!("create: {e}")))
    }

    /// Creates from raw JSON, as kubectl would: the API server (not serde) judges the spec.
    async fn create_raw(&self, manifest: Value) -> Result<(), Failed> {
        let ar = kube::discovery::ApiResource::erase::<GatewayEndpoint>(&());
        let api: Api<kube::api::DynamicObject> = Api::all_with(self.api.clone().into_client(), &ar);
        let obj: kube::api::DynamicObject =
            serde_json::from_value(manifest).map_err(|e| fail(e.to_string()))?;
        api.create(&PostParams::default(), &obj)
            .await
            .map_err(|e| fail(format!("create: {e}")))?;
        Ok(())
    }

    async fn merge_spec(&self, name: &str, spec: Value) -> TestResult {
        self.api
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": spec})),
            )
            .await
            .map_err(|e| fail(format!("patch: {e}")))?;
        Ok(())
    }

    async fn wait_condition(
        &self,
        name: &str,
        type_: &str,
        status: &str,
        timeout: Duration,
    ) -> Result<GatewayEndpoint, Failed> {
        eventually(timeout, &format!("{name} {type_}={status}"), || async {
            let o = self.api.get_opt(name).await.ok()??;
            let current = o.metadata.generation;
            let observed = o.status.as_ref()?.observed_generation;
            (current == observed && condition(&o, type_).map(|c| c.0) == Some(status.to_owned()))
                .then_some(o)
        })
        .await
    }

    async fn live_endpoints(&self) -> Vec<aws_sdk_ec2::types::VpcEndpoint> {
        support::live_endpoints(&self.ec2, &self.net.vpc).await
    }

    async fn route_target(&self, rtb: &str) -> Option<String> {
        let out = self
            .ec2
            .describe_route_tables()
            .route_table_ids(rtb)
            .send()
            .await
            .ok()?;
        out.route_tables()[0]
            .routes()
            .iter()
            .find(|r| r.destination_prefix_list_id().is_some())
            .and_then(|r| r.gateway_id().map(str::to_owned))
    }

    async fn create_table(&self, name: &str) {
        support::create_table(&self.ddb, name).await;
    }

    /// Deletes an object and waits until it is gone (the operator must be running).
    async fn delete_and_wait(&self, name: &str) -> TestResult {
        let _ = self.api.delete(name, &DeleteParams::default()).await;
        eventually(
            Duration::from_secs(60),
            &format!("{name} to disappear"),
            || async { self.api.get_opt(name).await.ok()?.is_none().then_some(()) },
        )
        .await
    }

    /// Removes leftovers without the operator: strip finalizers, delete.
    async fn force_remove(&self, name: &str) {
        let _ = self
            .api
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"finalizers": null}})),
            )
            .await;
        let _ = self.api.delete(name, &DeleteParams::default()).await;
    }
}

// ----------------------------------------------------------------------------------------------
// Scenarios

async fn walkthrough(env: &Env) -> TestResult {
    let s = scenario(env, &[]).await;
    s.create_table("Music").await;
    let mut op = Operator::start(env, &s.emulator, "walkthrough", &[]);
    op.wait_ready()?;
    s.create(s.manifest("walkthrough", json!({}))).await?;

    let out = env.cluster.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "gwe/walkthrough",
        "--timeout=90s",
    ]);
    ensure!(
        out.status.success(),
        "kubectl wait: {}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        op.log_text()
    );
    let obj = s
        .wait_condition("walkthrough", "Ready", "True", Duration::from_secs(10))
        .await?;
    let st = obj.status.clone().unwrap();
    let ep = st
        .endpoint_id
        .clone()
        .ok_or_else(|| fail("no endpoint id"))?;
    ensure!(s.live_endpoints().await.len() == 1, "one endpoint in AWS");
    ensure!(
        s.route_target(&s.net.public_rtb).await.as_deref() == Some(ep.as_str()),
        "public route"
    );
    ensure!(
        s.route_target(&s.net.private_rtb).await.as_deref() == Some(ep.as_str()),
        "private route"
    );
    ensure!(
        obj.finalizers().iter().any(|f| f == "vpcgate.dev/cleanup"),
        "finalizer set"
    );
    ensure!(
        obj.metadata.generation == Some(1),
        "the controller never writes spec (generation stays 1)"
    );

    // Printer columns filled.
    let table = env
        .cluster
        .kubectl_ok(&["get", "gwe", "walkthrough", "-o", "wide"]);
    for needle in [ep.as_str(), "2/2", "True", "dynamodb", s.net.vpc.as_str()] {
        ensure!(
            table.contains(needle),
            "`kubectl get gwe` lacks {needle}:\n{table}"
        );
    }
    ensure!(table.contains("ms"), "probe latency column:\n{table}");

    // Events recorded for the object.
    let events = env.cluster.events_json("regarding.name=walkthrough");
    let events: Value = serde_json::from_str(&events).unwrap();
    let reasons: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["reason"].as_str())
        .collect();
    ensure!(reasons.contains(&"Created"), "events: {reasons:?}");

    // Metrics move.
    ensure!(
        op.metric("vpcgate_reconciles_total{result=\"ok\"}") >= 1.0,
        "reconciles metric:\n{}",
        op.metrics()
    );
    ensure!(
        op.metric(
            "vpcgate_aws_calls_total{service=\"ec2\",operation=\"CreateVpcEndpoint\",code=\"OK\"}"
        ) == 1.0,
        "one create:\n{}",
        op.metrics()
    );
    ensure!(
        op.metric("vpcgate_probe_latency_seconds_count") >= 1.0,
        "probe latency:\n{}",
        op.metrics()
    );
    ensure!(
        op.metric("vpcgate_objects{ready=\"True\"}") == 1.0,
        "objects by ready:\n{}",
        op.metrics()
    );

    // An unchanged world writes nothing: with probing off, resyncs (every 10s) write no status.
    s.merge_spec("walkthrough", json!({"probe": {"enabled": false}}))
        .await?;
    s.wait_condition("walkthrough", "Ready", "True", Duration::from_secs(30))
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let writes = op.metric("vpcgate_status_writes_total");
    let reconciles = op.metric("vpcgate_reconciles_total");
    tokio::time::sleep(Duration::from_secs(25)).await;
    let new_writes = op.metric("vpcgate_status_writes_total") - writes;
    let new_reconciles = op.metric("vpcgate_reconciles_total") - reconciles;
    ensure!(
        new_reconciles >= 2.0,
        "resync every 10s should have reconciled at least twice, got {new_reconciles}"
    );
    ensure!(
        new_writes == 0.0,
        "{new_writes} status writes in an unchanged world ({new_reconciles} reconciles)"
    );

    s.delete_and_wait("walkthrough").await?;
    Ok(())
}

async fn edits_and_drift(env: &Env) -> TestResult {
    let s = scenario(env, &[]).await;
    let mut op = Operator::start(env, &s.emulator, "edits", &[]);
    op.wait_ready()?;
    s.create(s.manifest("edits", json!({"probe": {"enabled": false}})))
        .await?;
    let obj = s
        .wait_condition("edits", "Ready", "True", Duration::from_secs(60))
        .await?;
    let ep = obj.status.unwrap().endpoint_id.unwrap();

    // Edit route tables and policy: converges.
    s.merge_spec(
        "edits",
        json!({"routeTables": {"subnetIds": null, "ids": [s.net.private_rtb]}, "policy": {"preset": "ReadOnly"}}),
    )
    .await?;
    let obj = s
        .wait_condition("edits", "Ready", "True", Duration::from_secs(60))
        .await?;
    ensure!(
        obj.status.as_ref().unwrap().routes.as_deref() == Some("1/1"),
        "routes {:?}",
        obj.status
    );
    ensure!(
        s.route_target(&s.net.public_rtb).await.is_none(),
        "public route removed"
    );
    let policy = s
        .ec2
        .describe_vpc_endpoints()
        .vpc_endpoint_ids(&ep)
        .send()
        .await
        .unwrap()
        .vpc_endpoints()[0]
        .policy_document()
        .unwrap()
        .to_owned();
    ensure!(
        policy.contains("dynamodb:GetItem") && !policy.contains("\"*\",\"Resource\""),
        "policy {policy}"
    );

    // Out-of-band drift: repaired within the resync (10s).
    s.ec2
        .modify_vpc_endpoint()
        .vpc_endpoint_id(&ep)
        .remove_route_table_ids(&s.net.private_rtb)
        .reset_policy(true)
        .send()
        .await
        .unwrap();
    ensure!(
        s.route_target(&s.net.private_rtb).await.is_none(),
        "drift applied"
    );
    eventually(Duration::from_secs(30), "drift repaired", || async {
        (s.route_target(&s.net.private_rtb).await.as_deref() == Some(ep.as_str())).then_some(())
    })
    .await?;
    let events = env.cluster.events_json("regarding.name=edits");
    ensure!(
        events.contains("DriftRepaired"),
        "DriftRepaired event missing"
    );

    // Another drift under the same reason and action (ModifyVpcEndpoint): its event says what
    // happened now, not what the first one said.
    s.ec2
        .modify_vpc_endpoint()
        .vpc_endpoint_id(&ep)
        .remove_route_table_ids(&s.net.private_rtb)
        .send()
        .await
        .unwrap();
    // The first repair also set the policy; this one only adds the table back.
    let second = format!(
        "modify {ep}: add route tables [{}] (changed outside vpcgate)",
        s.net.private_rtb
    );
    eventually(
        Duration::from_secs(30),
        "the second drift's event",
        || async {
            let events = env
                .cluster
                .events_json("regarding.name=edits,reason=DriftRepaired");
            events.contains(&second).then_some(())
        },
    )
    .await?;

    s.delete_and_wait("edits").await?;
    Ok(())
}

async fn delete_and_retain(env: &Env) -> TestResult {
    let s = scenario(env, &[]).await;
    let mut op = Operator::start(env, &s.emulator, "delete", &[]);
    op.wait_ready()?;
    s.create(s.manifest("gone", json!({"probe": {"enabled": false}})))
        .await?;
    s.create(s.manifest("kept", json!({"probe": {"enabled": false}, "deletionPolicy": "Retain", "routeTables": {"ids": [s.net.main_rtb]}})))
        .await?;
    let gone = s
        .wait_condition("gone", "Ready", "True", Duration::from_secs(60))
        .await?;
    let kept = s
        .wait_condition("kept", "Ready", "True", Duration::from_secs(60))
        .await?;
    let gone_id = gone.status.unwrap().endpoint_id.unwrap();
    let kept_id = kept.status.unwrap().endpoint_id.unwrap();

    // A deletion AWS refuses: the finalizer stays, the status says Deleting and why, and the
    // endpoint is untouched; once AWS accepts, the object goes.
    s.emulator.faults(
        r#"{"action": "DeleteVpcEndpoints", "code": "UnauthorizedOperation", "message": "You are not authorized to perform this operation.", "count": -1}"#,
    );
    let _ = s.api.delete("gone", &DeleteParams::default()).await;
    let blocked = eventually(
        Duration::from_secs(60),
        "gone to report Ready=False Deleting with Synced=AccessDenied",
        || async {
            let o = s.api.get_opt("gone").await.ok()??;
            let ready = condition(&o, "Ready")?;
            let synced = condition(&o, "Synced")?;
            (ready.0 == "False" && ready.1 == "Deleting" && synced.1 == "AccessDenied").then_some(o)
        },
    )
    .await?;
    let message = blocked
        .status
        .as_ref()
        .and_then(|st| st.conditions.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.message.clone())
        .unwrap_or_default();
    ensure!(
        message.contains(&gone_id),
        "Deleting names the endpoint: {message}"
    );
    ensure!(
        support::endpoint_state(&s.ec2, &gone_id).await == "available",
        "nothing deleted while AWS refuses"
    );
    s.emulator
        .faults(r#"{"action": "DeleteVpcEndpoints", "code": "UnauthorizedOperation", "count": 0}"#);
    s.delete_and_wait("gone").await?;
    let state = support::endpoint_state(&s.ec2, &gone_id).await;
    ensure!(state == "deleted", "endpoint {gone_id} is {state}");

    s.delete_and_wait("kept").await?;
    let live = s.live_endpoints().await;
    ensure!(
        live.len() == 1 && live[0].vpc_endpoint_id() == Some(kept_id.as_str()),
        "retained endpoint kept: {live:?}"
    );
    ensure!(
        !live[0]
            .tags()
            .iter()
            .any(|t| t.key() == Some("vpcgate.dev/uid")),
        "ownership tag removed"
    );
    Ok(())
}

async fn bad_specs_rejected(env: &Env) -> TestResult {
    let s = scenario(env, &[]).await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({"vpcId": "vpc-XYZ"}), "spec.vpcId"),
        (
            json!({"routeTables": {"clusterNodeSubnets": false}}),
            "with clusterNodeSubnets false, set at least one of ids, subnetIds or tags",
        ),
        (
            json!({"routeTables": {"ids": ["rtb-nothex!"]}}),
            "spec.routeTables.ids[0]",
        ),
        (
            json!({"policy": {"document": "{\"Statement\":[{}]}", "preset": "ReadOnly"}}),
            "document is exclusive with preset and tables",
        ),
        (
            json!({"probe": {"interval": "5s"}}),
            "probe.interval: must be between 10s and 24h",
        ),
        (
            json!({"probe": {"interval": "30s", "timeout": "30s"}}),
            "probe.timeout: must be shorter than probe.interval",
        ),
        (
            json!({"probe": {"interval": "5m", "timeout": "31s"}}),
            "probe.timeout: must be at most 30s",
        ),
        (json!({"tags": {"aws:foo": "x"}}), "reserved"),
        (json!({"tags": {"k": "v".repeat(257)}}), "spec.tags.k"),
        (json!({"service": "dynamodb2"}), "spec.service"),
        (json!({"deletionPolicy": "Maybe"}), "spec.deletionPolicy"),
        (
            json!({"policy": {"tables": ["a"]}}),
            "spec.policy.tables[0]",
        ),
        (json!({"region": "EU-WEST-1"}), "spec.region"),
        (
            json!({"policy": {"document": "x".repeat(20_481)}}),
            "spec.policy.document",
        ),
    ];
    for (i, (extra, message)) in cases.iter().enumerate() {
        let name = format!("bad-{i}");
        let err = match s.create_raw(s.manifest(&name, extra.clone())).await {
            Ok(_) => {
                s.force_remove(&name).await;
                return Err(fail(format!("accepted a bad spec: {extra}")));
            }
            Err(e) => e,
        };
        let text = format!("{err:?}");
        ensure!(
            text.contains(message),
            "rejection of {extra} should say {message:?}, got: {text}"
        );
    }
    // vpcId is immutable.
    s.create(s.manifest("immutable", json!({"probe": {"enabled": false}})))
        .await?;
    let err = s
        .merge_spec("immutable", json!({"vpcId": "vpc-0123456789abcdef0"}))
        .await;
    s.force_remove("immutable").await;
    let text = format!(
        "{:?}",
        err.err().ok_or_else(|| fail("vpcId change accepted"))?
    );
    ensure!(text.contains("vpcId is immutable"), "{text}");
    Ok(())
}

async fn unknown_vpc_no_hot_loop(env: &Env) -> TestResult {
    let s = scenario(env, &[]).await;
    let mut op = Operator::start(env, &s.emulator, "unknown-vpc", &[]);
    op.wait_ready()?;
    s.create(s.manifest(
        "unknown-vpc",
        json!({"vpcId": "vpc-0123456789abcdef0", "probe": {"enabled": false}}),
    ))
    .await?;
    let obj = s
        .wait_condition("unknown-vpc", "Ready", "False", Duration::from_secs(60))
        .await?;
    ensure!(
        condition(&obj, "Ready").map(|c| c.1).as_deref() == Some("VpcNotFound"),
        "reason {:?}",
        condition(&obj, "Ready")
    );

    s.emulator.start_recording();
    tokio::time::sleep(Duration::from_secs(30)).await;
    let calls = s.emulator.recorded_actions();
    // Resync is 10s: about three passes, each reading the VPC's route tables (none) and asking
    // whether the VPC exists, then once more fresh before it reports the VPC missing; a hot
    // loop would be hundreds.
    ensure!(
        !calls.is_empty() && calls.len() <= 16,
        "AWS calls in 30s: {} {calls:?}",
        calls.len()
    );
    ensure!(
        calls
            .iter()
            .all(|c| c == "DescribeVpcs" || c == "DescribeRouteTables"),
        "only reads: {calls:?}"
    );
    s.delete_and_wait("unknown-vpc").await?;
    Ok(())
}

async fn killed_after_create_makes_one_endpoint(env: &Env) -> TestResult {
    // The emulator holds back the CreateVpcEndpoint answer for 5s after creating the endpoint.
    let s = scenario(env, &["--create-response-delay", "5"]).await;
    let mut op = Operator::start(env, &s.emulator, "crash-1", &[]);
    op.wait_ready()?;
    s.create(s.manifest("crash", json!({"probe": {"enabled": false}})))
        .await?;
    eventually(
        Duration::from_secs(30),
        "the endpoint to exist in AWS",
        || async { (!s.live_endpoints().await.is_empty()).then_some(()) },
    )
    .await?;
    op.kill9(); // the answer never arrived; status has no endpoint id
    let obj = s.api.get("crash").await.map_err(|e| fail(e.to_string()))?;
    ensure!(
        obj.status
            .as_ref()
            .and_then(|st| st.endpoint_id.as_ref())
            .is_none(),
        "killed before the status write"
    );

    let mut op = Operator::start(env, &s.emulator, "crash-2", &[]);
    op.wait_ready()?;
    let obj = s
        .wait_condition("crash", "Ready", "True", Duration::from_secs(60))
        .await?;
    let live = s.live_endpoints().await;
    ensure!(
        live.len() == 1,
        "exactly one endpoint, found {}",
        live.len()
    );
    ensure!(
        live[0].vpc_endpoint_id() == obj.status.unwrap().endpoint_id.as_deref(),
        "status names it"
    );
    s.delete_and_wait("crash").await?;
    Ok(())
}

async fn sigterm_exits_cleanly(env: &Env) -> TestResult {
    let s = scenario(env, &[]).await;
    let mut op = Operator::start(env, &s.emulator, "sigterm", &[]);
    op.wait_ready()?;
    s.create(s.manifest("sigterm", json!({"probe": {"enabled": false}})))
        .await?;
    // Stop while the first reconcile is in flight.
    eventually(Duration::from_secs(30), "work to start", || async {
        (op.metric("vpcgate_aws_calls_total") > 0.0).then_some(())
    })
    .await?;
    let status = op
        .terminate(Duration::from_secs(20))
        .ok_or_else(|| fail("no exit 20s after SIGTERM"))?;
    ensure!(status.success(), "exit status {status}: {}", op.log_text());
    ensure!(
        op.log_text().contains("controller stopped"),
        "graceful stop not logged"
    );
    let mut op = Operator::start(env, &s.emulator, "sigterm-2", &[]);
    op.wait_ready()?;
    s.wait_condition("sigterm", "Ready", "True", Duration::from_secs(60))
        .await?;
    ensure!(s.live_endpoints().await.len() == 1, "one endpoint");
    s.delete_and_wait("sigterm").await?;
    Ok(())
}

/// Leader election is on by default: a second replica (`kubectl scale`) waits for the Lease.
async fn leader_election(env: &Env) -> TestResult {
    let s = scenario(env, &[]).await;
    let mut a = Operator::start(env, &s.emulator, "replica-a", &[]);
    a.wait_ready()?;
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> = Api::namespaced(
        client_for(&env.cluster.admin_kubeconfig).await,
        "vpcgate-system",
    );
    let holder = || async {
        leases
            .get_opt("vpcgate-leader")
            .await
            .ok()??
            .spec?
            .holder_identity
    };
    eventually(Duration::from_secs(30), "replica-a to lead", || async {
        (holder().await.as_deref() == Some("replica-a")).then_some(())
    })
    .await?;
    let mut b = Operator::start(env, &s.emulator, "replica-b", &[]);
    b.wait_ready()?;
    s.create(s.manifest("leader", json!({"probe": {"enabled": false}})))
        .await?;
    s.wait_condition("leader", "Ready", "True", Duration::from_secs(60))
        .await?;
    ensure!(
        a.metric("vpcgate_reconciles_total") >= 1.0,
        "leader reconciles"
    );
    ensure!(
        b.metric("vpcgate_reconciles_total") == 0.0,
        "the follower must not reconcile:\n{}",
        b.metrics()
    );

    // Kill the leader: the follower takes over within the lease duration (4s) plus renew slack.
    a.kill9();
    eventually(Duration::from_secs(30), "replica-b to lead", || async {
        (holder().await.as_deref() == Some("replica-b")).then_some(())
    })
    .await?;
    s.merge_spec("leader", json!({"tags": {"owner": "b"}}))
        .await?;
    s.wait_condition("leader", "Ready", "True", Duration::from_secs(60))
        .await?;
    ensure!(
        b.metric("vpcgate_reconciles_total") >= 1.0,
        "the new leader reconciles"
    );
    s.delete_and_wait("leader").await?;
    drop(b);
    Ok(())
}

/// A watch that keeps failing (here: the CRD removed under a running operator) is logged at warn
/// and turns `/readyz` to 503 after the grace; the watch coming back makes it ready again.
async fn watch_failure_fails_readiness(env: &Env) -> TestResult {
    let s = scenario(env, &[]).await;
    let mut op = Operator::start(
        env,
        &s.emulator,
        "watch",
        &["--watch-unhealthy-after", "2s"],
    );
    op.wait_ready()?;
    let crd = root().join("crds/gatewayendpoints.vpcgate.dev.yaml");
    let out = env.cluster.kubectl(&[
        "delete",
        "crd",
        "gatewayendpoints.vpcgate.dev",
        "--wait=true",
    ]);
    ensure!(
        out.status.success(),
        "delete crd: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unready = eventually(Duration::from_secs(60), "/readyz to fail", || async {
        (op.readyz() == 503).then_some(())
    })
    .await;
    // Put the CRD back whatever happened, for any scenario after this one.
    let out = env
        .cluster
        .kubectl(&["apply", "--server-side", "-f", crd.to_str().unwrap()]);
    ensure!(
        out.status.success(),
        "apply crd: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    unready?;
    ensure!(
        op.log_text().contains("the GatewayEndpoint watch failed"),
        "the failure is logged at warn: {}",
        op.log_text()
    );
    eventually(Duration::from_secs(90), "/readyz to recover", || async {
        (op.readyz() == 200).then_some(())
    })
    .await
}

async fn crd_missing(env: &Env) -> TestResult {
    env.crd_missing_result.clone().map_err(fail)
}

// ----------------------------------------------------------------------------------------------
// Set-up

/// Runs `vpcgate run` before the CRD exists: it must exit non-zero and say what to do.
fn check_crd_missing(admin_kubeconfig: &Path) -> Result<(), String> {
    let out = Command::new(env!("CARGO_BIN_EXE_vpcgate"))
        .args([
            "run",
            "--metrics-addr",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KUBECONFIG", admin_kubeconfig)
        .env("AWS_REGION", support::REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        return Err(format!("exited 0 without the CRD: {stderr}"));
    }
    if !stderr.contains("CRD") || !stderr.contains("vpcgate crd") {
        return Err(format!("unclear error: {stderr}"));
    }
    Ok(())
}

/// A Node object (no kubelet: a plain API object) whose providerID names an EC2 instance.
async fn create_node(env: &Env, name: &str, instance: &str) -> TestResult {
    let nodes: Api<k8s_openapi::api::core::v1::Node> =
        Api::all(client_for(&env.cluster.admin_kubeconfig).await);
    let _ = nodes.delete(name, &DeleteParams::default()).await;
    let node: k8s_openapi::api::core::v1::Node = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name},
        "spec": {"providerID": format!("aws:///us-east-1a/{instance}")},
    }))
    .map_err(|e| fail(e.to_string()))?;
    nodes
        .create(&PostParams::default(), &node)
        .await
        .map_err(|e| fail(format!("create node: {e}")))?;
    Ok(())
}

/// An operator whose node (a Node object named `node`) is an instance in `subnet`, where the
/// emulator also routes its DynamoDB requests from.
async fn operator_on_node(
    env: &Env,
    s: &Scenario,
    name: &str,
    node: &str,
    subnet: &str,
) -> Result<Operator, Failed> {
    let instance = support::launch_instance(&s.ec2, subnet).await;
    create_node(env, node, &instance).await?;
    s.emulator
        .network(&json!({"callerSubnet": subnet}).to_string());
    let mut op = Operator::start_env(env, &s.emulator, name, &[], &[("NODE_NAME", node)]);
    op.wait_ready()?;
    Ok(op)
}

/// The probe status once a probe has reported the wanted path.
async fn wait_path(
    s: &Scenario,
    name: &str,
    path: &str,
) -> Result<vpcgate::api::ProbeStatus, Failed> {
    eventually(
        Duration::from_secs(60),
        &format!("{name} probe path {path}"),
        || async {
            let o = s.api.get_opt(name).await.ok()??;
            let p = o.status?.probe?;
            (p.path.map(|x| x.as_str()) == Some(path)).then_some(p)
        },
    )
    .await
}

/// The probe proves which way its request went: through this object's endpoint (the canary is
/// denied by its policy), bypassing it from a selected table (another endpoint holds the route),
/// through another endpoint whose policy refuses the canary, and off the object's path.
async fn probe_proves_the_path(env: &Env) -> TestResult {
    let s = scenario(env, &[]).await;
    s.create_table("Music").await;

    // 1. The operator's node is in the private subnet; the object selects that subnet's table.
    let op = operator_on_node(env, &s, "path-1", "node-private", &s.net.private_subnet).await?;
    s.create(s.manifest(
        "through",
        json!({"routeTables": {"subnetIds": [s.net.private_subnet]}}),
    ))
    .await?;
    let p = wait_path(&s, "through", "ThroughEndpoint").await?;
    ensure!(
        p.subnet_id.as_deref() == Some(s.net.private_subnet.as_str())
            && p.route_table_id.as_deref() == Some(s.net.private_rtb.as_str())
            && p.route_table_selected == Some(true),
        "where the probe ran: {p:?}"
    );
    ensure!(
        p.path_message
            .as_deref()
            .is_some_and(|m| m.contains("explicit deny in a VPC endpoint policy")),
        "AWS's denial is kept as evidence: {p:?}"
    );
    s.wait_condition("through", "Ready", "True", Duration::from_secs(60))
        .await?;
    s.delete_and_wait("through").await?;
    drop(op);

    // 2. Another endpoint (full access, no canary) holds the public table's route; the
    // operator's node is in the public subnet.
    let foreign = foreign_endpoint(&s, &s.net.public_rtb).await?;
    // Kept running to the end of the scenario.
    let _op = operator_on_node(env, &s, "path-2", "node-public", &s.net.public_subnet).await?;
    // Selects the public table (held by the other endpoint): the probe bypasses this object
    // (which gets no endpoint of its own: its only table is taken).
    s.create(s.manifest(
        "bypass",
        json!({"routeTables": {"subnetIds": [s.net.public_subnet]}}),
    ))
    .await?;
    // Selects only the private table: the public subnet's probe says nothing about it.
    s.create(s.manifest(
        "elsewhere",
        json!({"routeTables": {"subnetIds": [s.net.private_subnet]}}),
    ))
    .await?;
    let p = wait_path(&s, "bypass", "Bypass").await?;
    ensure!(
        p.route_table_id.as_deref() == Some(s.net.public_rtb.as_str())
            && p.route_table_selected == Some(true),
        "{p:?}"
    );
    let o = s
        .wait_condition(
            "bypass",
            "DynamoDBReachable",
            "False",
            Duration::from_secs(60),
        )
        .await?;
    ensure!(
        condition(&o, "DynamoDBReachable").map(|c| c.1).as_deref() == Some("ProbeBypassesEndpoint"),
        "{:?}",
        condition(&o, "DynamoDBReachable")
    );
    let p = wait_path(&s, "elsewhere", "NotOnPath").await?;
    ensure!(p.route_table_selected == Some(false), "{p:?}");
    s.wait_condition("elsewhere", "Ready", "True", Duration::from_secs(60))
        .await?;

    // 3. The other endpoint's policy allows only the Music table: it refuses the canary, and
    // AWS says no VPC endpoint policy allows it, which is not this object's policy.
    let only_music = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": "*", "Action": "dynamodb:*",
        "Resource": format!("arn:aws:dynamodb:{}:123456789012:table/Music", support::REGION)}]});
    s.ec2
        .modify_vpc_endpoint()
        .vpc_endpoint_id(&foreign)
        .policy_document(only_music.to_string())
        .send()
        .await
        .map_err(|e| fail(format!("modify foreign endpoint: {e:?}")))?;
    let p = wait_path(&s, "bypass", "OtherEndpoint").await?;
    ensure!(
        p.path_message
            .as_deref()
            .is_some_and(|m| m.contains("no VPC endpoint policy allows")),
        "{p:?}"
    );
    let o = s.api.get("bypass").await.map_err(|e| fail(e.to_string()))?;
    ensure!(
        condition(&o, "DynamoDBReachable").map(|c| c.1).as_deref() == Some("ProbeBypassesEndpoint"),
        "{:?}",
        condition(&o, "DynamoDBReachable")
    );
    s.delete_and_wait("bypass").await?;
    s.delete_and_wait("elsewhere").await?;
    delete_all_nodes(env).await;
    Ok(())
}

/// No object starves: one worker, every pass slowed (0.4 s per DescribeVpcs), 30 objects that
/// requeue every 10 s (more work than the worker can do); a new object still gets its first
/// pass promptly, because periodic passes yield to it.
async fn a_new_object_is_not_starved_by_requeues(env: &Env) -> TestResult {
    let s = scenario(env, &[]).await;
    s.emulator
        .faults(r#"{"action": "DescribeVpcs", "delaySeconds": 0.4, "count": -1}"#);
    // Every pass reads the (slowed) VPC itself: no sharing between passes.
    let mut op = Operator::start(
        env,
        &s.emulator,
        "fair",
        &["--concurrency", "1", "--aws-view-ttl", "0s"],
    );
    op.wait_ready()?;
    let busy = json!({"vpcId": "vpc-0123456789abcdef0", "probe": {"enabled": false}});
    for i in 0..30 {
        s.create(s.manifest(&format!("busy-{i}"), busy.clone()))
            .await?;
    }
    eventually(Duration::from_secs(120), "30 first passes", || async {
        let all = s.api.list(&ListParams::default()).await.ok()?;
        (all.items.iter().filter(|o| o.status.is_some()).count() >= 30).then_some(())
    })
    .await?;
    // Saturated now: 30 × 0.4 s of work per 10 s resync on one worker.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let asked = Instant::now();
    s.create(s.manifest("late", busy.clone())).await?;
    eventually(Duration::from_secs(30), "late's first pass", || async {
        s.api.get_opt("late").await.ok()??.status.map(|_| ())
    })
    .await?;
    let took = asked.elapsed();
    println!(
        "fairness: a new object's first pass came {took:?} after it was applied, under a requeue flood"
    );
    ensure!(
        op.metric("vpcgate_yields_total") >= 1.0,
        "periodic passes yielded: {}",
        op.metrics()
    );
    for i in 0..30 {
        s.force_remove(&format!("busy-{i}")).await;
    }
    s.force_remove("late").await;
    Ok(())
}

/// EC2 throttles endpoint creation (the emulator's token buckets, scaled down): objects applied
/// at once wait their turn in vpcgate's own budget, reporting it without a Warning or a Ready
/// flap, and AWS never answers `RequestLimitExceeded`.
async fn throttled_creates_wait_their_turn(env: &Env) -> TestResult {
    let s = scenario(env, &[]).await;
    let bucket = json!({"capacity": 2, "refill": 0.5});
    s.emulator.throttle(
        &json!({"enabled": true, "buckets": {
            "CreateVpcEndpoint": bucket, "ModifyVpcEndpoint": bucket, "DeleteVpcEndpoints": bucket}})
        .to_string(),
    );
    let mut op = Operator::start(
        env,
        &s.emulator,
        "paced",
        &[
            "--endpoint-mutation-burst",
            "2",
            "--endpoint-mutation-rate",
            "0.45",
        ],
    );
    op.wait_ready()?;
    let names: Vec<String> = (0..6).map(|i| format!("paced-{i}")).collect();
    for name in &names {
        let rtb = s
            .ec2
            .create_route_table()
            .vpc_id(&s.net.vpc)
            .send()
            .await
            .map_err(|e| fail(format!("route table: {e}")))?
            .route_table()
            .and_then(|t| t.route_table_id())
            .unwrap_or_default()
            .to_owned();
        s.create(s.manifest(
            name,
            json!({"routeTables": {"ids": [rtb]}, "probe": {"enabled": false}}),
        ))
        .await?;
    }
    let started = Instant::now();
    let mut was_ready = std::collections::BTreeSet::new();
    let mut flaps = Vec::new();
    let mut said_waiting = false;
    loop {
        let all = s
            .api
            .list(&ListParams::default())
            .await
            .map_err(|e| fail(e.to_string()))?;
        let ours: Vec<&GatewayEndpoint> = all
            .items
            .iter()
            .filter(|o| o.name_any().starts_with("paced-"))
            .collect();
        for o in &ours {
            let ready = condition(o, "Ready").map(|c| c.0);
            if ready.as_deref() == Some("True") {
                was_ready.insert(o.name_any());
            } else if was_ready.contains(&o.name_any()) {
                flaps.push(o.name_any());
            }
            said_waiting |= o.status.as_ref().is_some_and(|st| {
                st.conditions.iter().any(|c| {
                    c.type_ == "EndpointAvailable"
                        && c.reason == "Creating"
                        && c.message.contains("waiting for the EC2 request budget")
                })
            });
        }
        if was_ready.len() == names.len() {
            break;
        }
        ensure!(
            started.elapsed() < Duration::from_secs(90),
            "all Ready within 90s: {} are",
            was_ready.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let took = started.elapsed();
    println!("paced: 6 endpoints under a 2-token bucket refilled at 0.5/s Ready in {took:?}");
    ensure!(flaps.is_empty(), "no Ready flaps: {flaps:?}");
    ensure!(
        said_waiting,
        "an object reported waiting for the request budget"
    );
    let counters = &s.emulator.throttle_state()["counters"]["CreateVpcEndpoint"];
    ensure!(
        counters["throttled"] == 0 && counters["allowed"] == 6,
        "one CreateVpcEndpoint per endpoint and none throttled: {counters}"
    );
    let warnings: Value = serde_json::from_str(&env.cluster.events_json("type=Warning"))
        .map_err(|e| fail(e.to_string()))?;
    let paced_warnings: Vec<String> = warnings["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| {
            e["regarding"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("paced-"))
        })
        .map(|e| format!("{} {}: {}", e["regarding"]["name"], e["reason"], e["note"]))
        .collect();
    ensure!(
        paced_warnings.is_empty(),
        "no Warning event for a paced object: {paced_warnings:#?}"
    );
    ensure!(s.live_endpoints().await.len() == 6, "six endpoints");
    for name in &names {
        let _ = s.api.delete(name, &DeleteParams::default()).await;
    }
    for name in &names {
        s.delete_and_wait(name).await?;
    }
    let deletes = &s.emulator.throttle_state()["counters"]["DeleteVpcEndpoints"];
    ensure!(
        deletes["throttled"] == 0,
        "deletions paced too, none throttled: {deletes}"
    );
    ensure!(s.live_endpoints().await.is_empty(), "all deleted");
    Ok(())
}

/// An endpoint made outside vpcgate (the test's own key), on `rtb`.
async fn foreign_endpoint(s: &Scenario, rtb: &str) -> Result<String, Failed> {
    Ok(support::foreign_endpoint(&s.ec2, &s.net.vpc, rtb).await)
}

/// The tags of an endpoint.
async fn endpoint_tags(s: &Scenario, id: &str) -> std::collections::BTreeMap<String, String> {
    let out = s
        .ec2
        .describe_vpc_endpoints()
        .vpc_endpoint_ids(id)
        .send()
        .await
        .expect("describe");
    out.vpc_endpoints()[0]
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
        .collect()
}

/// `spec.adopt`: an untagged endpoint is adopted; two candidates touch nothing; one whose
/// object is gone (its uid dead) is adopted; Retain then a new object adopts it again; an
/// endpoint owned by a live object is refused.
async fn adoption_takes_over_what_exists(env: &Env) -> TestResult {
    let s = scenario(env, &[]).await;
    let mut op = Operator::start(env, &s.emulator, "adoption", &[]);
    op.wait_ready()?;
    let quiet = json!({"enabled": false});

    // An endpoint someone clicked, on the private table.
    let clicked = foreign_endpoint(&s, &s.net.private_rtb).await?;
    s.create(s.manifest(
        "adopter",
        json!({"routeTables": {"subnetIds": [s.net.private_subnet]}, "adopt": "IfUnowned", "probe": quiet}),
    ))
    .await?;
    let o = s
        .wait_condition("adopter", "Ready", "True", Duration::from_secs(60))
        .await?;
    ensure!(
        o.status.as_ref().and_then(|st| st.endpoint_id.as_deref()) == Some(clicked.as_str()),
        "adopted, not created: {:?}",
        o.status
    );
    ensure!(s.live_endpoints().await.len() == 1, "no second endpoint");
    let uid = o.metadata.uid.clone().unwrap_or_default();
    ensure!(
        endpoint_tags(&s, &clicked).await.get("vpcgate.dev/uid") == Some(&uid),
        "tagged with the object's uid"
    );
    let events = env
        .cluster
        .events_json("regarding.name=adopter,reason=Adopted");
    ensure!(events.contains(&clicked), "Adopted event: {events}");

    // The object vanishes without cleanup (its uid is now dead); a second untagged endpoint
    // sits on the main table (the bare subnet's): two candidates.
    s.force_remove("adopter").await;
    let second = foreign_endpoint(&s, &s.net.main_rtb).await?;
    s.emulator.start_recording();
    s.create(s.manifest(
        "amb",
        json!({"routeTables": {"subnetIds": [s.net.private_subnet, s.net.bare_subnet]},
               "adopt": "IfUnowned", "probe": quiet}),
    ))
    .await?;
    let o = eventually(Duration::from_secs(60), "amb AdoptionAmbiguous", || async {
        let o = s.api.get_opt("amb").await.ok()??;
        (condition(&o, "Ready").map(|c| c.1).as_deref() == Some("AdoptionAmbiguous")).then_some(o)
    })
    .await?;
    let msg = o
        .status
        .as_ref()
        .and_then(|st| st.conditions.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.message.clone())
        .unwrap_or_default();
    ensure!(msg.contains(&clicked) && msg.contains(&second), "{msg}");
    let mutations: Vec<String> = s
        .emulator
        .recorded_actions()
        .into_iter()
        .filter(|a| !a.starts_with("Describe") && !a.starts_with("Get") && a != "ListTables")
        .collect();
    ensure!(
        mutations.is_empty(),
        "ambiguity touches nothing: {mutations:?}"
    );

    // Narrowed to the private table: the dead object's endpoint is the one candidate.
    s.merge_spec(
        "amb",
        json!({"routeTables": {"subnetIds": [s.net.private_subnet]}}),
    )
    .await?;
    let o = s
        .wait_condition("amb", "Ready", "True", Duration::from_secs(60))
        .await?;
    ensure!(
        o.status.as_ref().and_then(|st| st.endpoint_id.as_deref()) == Some(clicked.as_str()),
        "the dead uid's endpoint is adopted: {:?}",
        o.status
    );

    // Retain, then a new object of the same name (a new uid): adopted again.
    s.merge_spec("amb", json!({"deletionPolicy": "Retain"}))
        .await?;
    s.delete_and_wait("amb").await?;
    let tags = endpoint_tags(&s, &clicked).await;
    ensure!(
        !tags.contains_key("vpcgate.dev/uid")
            && tags.get("vpcgate.dev/name").map(String::as_str) == Some("amb"),
        "Retain keeps the name tag only: {tags:?}"
    );
    s.create(s.manifest(
        "amb",
        json!({"routeTables": {"subnetIds": [s.net.private_subnet]}, "adopt": "IfUnowned", "probe": quiet}),
    ))
    .await?;
    let o = s
        .wait_condition("amb", "Ready", "True", Duration::from_secs(60))
        .await?;
    ensure!(
        o.status.as_ref().and_then(|st| st.endpoint_id.as_deref()) == Some(clicked.as_str()),
        "{:?}",
        o.status
    );

    // Owned by a live object: refused by id.
    s.create(s.manifest(
        "thief",
        json!({"routeTables": {"subnetIds": [s.net.private_subnet]}, "adopt": clicked, "probe": quiet}),
    ))
    .await?;
    let o = eventually(Duration::from_secs(60), "thief AdoptionRefused", || async {
        let o = s.api.get_opt("thief").await.ok()??;
        (condition(&o, "Ready").map(|c| c.1).as_deref() == Some("AdoptionRefused")).then_some(o)
    })
    .await?;
    ensure!(
        condition(&o, "Ready").is_some_and(|c| c.0 == "False"),
        "{:?}",
        condition(&o, "Ready")
    );
    let amb_uid = s.api.get("amb").await.ok().and_then(|a| a.metadata.uid);
    ensure!(
        endpoint_tags(&s, &clicked).await.get("vpcgate.dev/uid") == amb_uid.as_ref(),
        "still the live object's"
    );
    s.delete_and_wait("thief").await?;
    s.delete_and_wait("amb").await?;
    let _ = s
        .ec2
        .delete_vpc_endpoints()
        .vpc_endpoint_ids(&second)
        .send()
        .await;
    Ok(())
}

/// A group's egress rules: (prefix list, tagged by vpcgate, from port).
async fn egress_rules(s: &Scenario, group: &str) -> Vec<(Option<String>, bool, Option<i32>)> {
    let out = s
        .ec2
        .describe_security_group_rules()
        .filters(support::filter("group-id", group))
        .send()
        .await
        .expect("DescribeSecurityGroupRules");
    out.security_group_rules()
        .iter()
        .filter(|r| r.is_egress() == Some(true))
        .map(|r| {
            (
                r.prefix_list_id().map(str::to_owned),
                r.tags().iter().any(|t| t.key() == Some("vpcgate.dev/uid")),
                r.from_port(),
            )
        })
        .collect()
}

/// Deletes every Node object (scenarios create their own).
async fn delete_all_nodes(env: &Env) {
    let nodes: Api<k8s_openapi::api::core::v1::Node> =
        Api::all(client_for(&env.cluster.admin_kubeconfig).await);
    let _ = nodes
        .delete_collection(&DeleteParams::default(), &ListParams::default())
        .await;
}

/// `spec: {}`: the VPC and the route tables come from the cluster's nodes (Node objects whose
/// providerIDs name instances launched in the emulator), follow a node joining a third subnet
/// without an edit, ignore a Fargate-style node, and refuse two VPCs for a new object.
async fn empty_spec_finds_the_clusters_vpc_and_subnets(env: &Env) -> TestResult {
    delete_all_nodes(env).await;
    let s = scenario(env, &[]).await;
    let public = support::launch_instance(&s.ec2, &s.net.public_subnet).await;
    let private = support::launch_instance(&s.ec2, &s.net.private_subnet).await;
    create_node(env, "node-public", &public).await?;
    create_node(env, "node-private", &private).await?;
    let fargate = "fargate-ip-10-0-1-5.ec2.internal";
    {
        let nodes: Api<k8s_openapi::api::core::v1::Node> =
            Api::all(client_for(&env.cluster.admin_kubeconfig).await);
        let node: k8s_openapi::api::core::v1::Node = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Node", "metadata": {"name": fargate},
            "spec": {"providerID": format!("aws:///us-east-1a/{fargate}")},
        }))
        .map_err(|e| fail(e.to_string()))?;
        nodes
            .create(&PostParams::default(), &node)
            .await
            .map_err(|e| fail(format!("create node: {e}")))?;
    }
    let mut op = Operator::start(env, &s.emulator, "discovery", &[]);
    op.wait_ready()?;

    // Coverage: an object on the public table only; the private node subnet bypasses it.
    s.create_raw(json!({"apiVersion": "vpcgate.dev/v1alpha1", "kind": "GatewayEndpoint",
        "metadata": {"name": "partial"},
        "spec": {"routeTables": {"subnetIds": [s.net.public_subnet]}, "probe": {"enabled": false}}}))
        .await?;
    let o = s
        .wait_condition("partial", "Ready", "True", Duration::from_secs(60))
        .await?;
    let c = o
        .status
        .as_ref()
        .and_then(|st| st.coverage.clone())
        .unwrap_or_default();
    ensure!(
        c.node_subnets.as_deref() == Some("1/2") && c.bypassing == [s.net.private_subnet.clone()],
        "coverage: {c:?}"
    );
    ensure!(
        c.summary
            .starts_with("node subnets 1/2, all subnets 1/3 through vpce-"),
        "{}",
        c.summary
    );
    let events = env
        .cluster
        .events_json("regarding.name=partial,reason=NodeSubnetBypasses");
    ensure!(
        events.contains(&s.net.private_subnet) && events.contains(&s.net.private_rtb),
        "a Warning names the bypassing node subnet and its table: {events}"
    );
    let wide = env
        .cluster
        .kubectl_ok(&["get", "gwe", "partial", "-o", "wide"]);
    ensure!(wide.contains("node subnets 1/2"), "printer column: {wide}");
    s.delete_and_wait("partial").await?;

    s.create_raw(
        json!({"apiVersion": "vpcgate.dev/v1alpha1", "kind": "GatewayEndpoint",
        "metadata": {"name": "zero"}, "spec": {}}),
    )
    .await?;
    let out = env
        .cluster
        .kubectl(&["wait", "--for=condition=Ready", "gwe/zero", "--timeout=90s"]);
    ensure!(
        out.status.success(),
        "kubectl wait: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let o = s.api.get("zero").await.map_err(|e| fail(e.to_string()))?;
    let st = o.status.clone().unwrap_or_default();
    ensure!(st.vpc_id.as_deref() == Some(s.net.vpc.as_str()), "{st:?}");
    let tables: std::collections::BTreeSet<String> =
        st.route_tables.iter().map(|t| t.id.clone()).collect();
    ensure!(
        tables == [s.net.public_rtb.clone(), s.net.private_rtb.clone()].into(),
        "the nodes' subnets' tables: {tables:?}"
    );
    let nodes = st.cluster_nodes.clone().unwrap_or_default();
    ensure!(
        nodes.nodes == 3 && nodes.not_aws_count == 1 && nodes.not_aws == [fargate],
        "the Fargate node is counted and ignored: {nodes:?}"
    );
    ensure!(o.spec.vpc_id.is_none(), "nothing written into the spec");

    // Security groups: the nodes' groups (the VPC's default group: all traffic out) allow
    // tcp/443; a group whose egress was revoked does not, and the message says how to fix it.
    s.merge_spec(
        "zero",
        json!({"securityGroups": {"clusterNodeGroups": true}}),
    )
    .await?;
    let o = s
        .wait_condition("zero", "EgressAllowed", "True", Duration::from_secs(60))
        .await?;
    let groups = o.status.clone().unwrap_or_default().security_groups;
    ensure!(
        !groups.is_empty() && groups.iter().all(|g| g.allowed),
        "the nodes' groups: {groups:?}"
    );
    let closed = s
        .ec2
        .create_security_group()
        .group_name("closed")
        .description("no egress")
        .vpc_id(&s.net.vpc)
        .send()
        .await
        .map_err(|e| fail(format!("{e:?}")))?
        .group_id()
        .unwrap_or_default()
        .to_owned();
    s.ec2
        .revoke_security_group_egress()
        .group_id(&closed)
        .ip_permissions(
            aws_sdk_ec2::types::IpPermission::builder()
                .ip_protocol("-1")
                .ip_ranges(
                    aws_sdk_ec2::types::IpRange::builder()
                        .cidr_ip("0.0.0.0/0")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .map_err(|e| fail(format!("{e:?}")))?;
    s.merge_spec(
        "zero",
        json!({"securityGroups": {"ids": [closed], "clusterNodeGroups": true}}),
    )
    .await?;
    let o = s
        .wait_condition("zero", "EgressAllowed", "False", Duration::from_secs(60))
        .await?;
    let c = o
        .status
        .as_ref()
        .and_then(|st| st.conditions.iter().find(|c| c.type_ == "EgressAllowed"))
        .cloned()
        .ok_or_else(|| fail("no EgressAllowed"))?;
    ensure!(
        c.reason == "EgressBlocked"
            && c.message.contains(&closed)
            && c.message.contains("authorize-security-group-egress"),
        "{c:?}"
    );
    ensure!(
        condition(&o, "Ready").map(|c| c.1).as_deref() == Some("EgressBlocked"),
        "{:?}",
        condition(&o, "Ready")
    );
    // Manage: vpcgate adds one tagged rule; a rule of the user's stays as it is.
    s.ec2
        .authorize_security_group_egress()
        .group_id(&closed)
        .ip_permissions(
            aws_sdk_ec2::types::IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(5432)
                .to_port(5432)
                .ip_ranges(
                    aws_sdk_ec2::types::IpRange::builder()
                        .cidr_ip("10.0.0.0/16")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .map_err(|e| fail(format!("{e:?}")))?;
    s.merge_spec(
        "zero",
        json!({"securityGroups": {"ids": [closed], "mode": "Manage"}}),
    )
    .await?;
    s.wait_condition("zero", "EgressAllowed", "True", Duration::from_secs(60))
        .await?;
    s.wait_condition("zero", "Ready", "True", Duration::from_secs(60))
        .await?;
    let now = egress_rules(&s, &closed).await;
    ensure!(
        now.iter()
            .filter(|r| r.1 && r.0.is_some() && r.2 == Some(443))
            .count()
            == 1
            && now.iter().any(|r| r.2 == Some(5432) && !r.1),
        "one tagged tcp/443 rule added, the user's kept: {now:?}"
    );

    // A node joins in a third subnet (no table of its own: the VPC's main table).
    let bare = support::launch_instance(&s.ec2, &s.net.bare_subnet).await;
    create_node(env, "node-bare", &bare).await?;
    eventually(Duration::from_secs(60), "the main table joins", || async {
        let o = s.api.get_opt("zero").await.ok()??;
        let st = o.status?;
        (st.routes.as_deref() == Some("3/3")
            && st
                .route_tables
                .iter()
                .any(|t| t.id == s.net.main_rtb && t.route_present))
        .then_some(())
    })
    .await?;
    ensure!(
        s.route_target(&s.net.main_rtb).await.as_deref() == st.endpoint_id.as_deref(),
        "the main table routes to the endpoint"
    );

    // Nodes in a second VPC: the existing object keeps its VPC; a new one is refused.
    let other = support::create_vpc(&s.ec2, "10.8.0.0/16").await;
    let subnet = s
        .ec2
        .create_subnet()
        .vpc_id(&other)
        .cidr_block("10.8.1.0/24")
        .send()
        .await
        .map_err(|e| fail(format!("{e:?}")))?
        .subnet()
        .and_then(|x| x.subnet_id())
        .unwrap_or_default()
        .to_owned();
    let elsewhere = support::launch_instance(&s.ec2, &subnet).await;
    create_node(env, "node-elsewhere", &elsewhere).await?;
    s.create_raw(
        json!({"apiVersion": "vpcgate.dev/v1alpha1", "kind": "GatewayEndpoint",
        "metadata": {"name": "zero-two"}, "spec": {}}),
    )
    .await?;
    let o = eventually(Duration::from_secs(60), "zero-two MultipleVpcs", || async {
        let o = s.api.get_opt("zero-two").await.ok()??;
        (condition(&o, "Ready").map(|c| c.1).as_deref() == Some("MultipleVpcs")).then_some(o)
    })
    .await?;
    let message = o
        .status
        .as_ref()
        .and_then(|st| st.conditions.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.message.clone())
        .unwrap_or_default();
    ensure!(
        message.contains(&s.net.vpc) && message.contains(&other),
        "both VPCs named: {message}"
    );
    let o = s.api.get("zero").await.map_err(|e| fail(e.to_string()))?;
    ensure!(
        condition(&o, "Ready").map(|c| c.0).as_deref() == Some("True"),
        "the existing object is unaffected: {:?}",
        condition(&o, "Ready")
    );
    s.delete_and_wait("zero-two").await?;
    s.delete_and_wait("zero").await?;
    let after = egress_rules(&s, &closed).await;
    ensure!(
        !after.iter().any(|r| r.1) && after.iter().any(|r| r.2 == Some(5432)),
        "on delete only vpcgate's rule goes: {after:?}"
    );
    delete_all_nodes(env).await;
    Ok(())
}

/// The operator under exactly the policy `vpcgate iam-policy --allowed-vpc` prints, evaluated by
/// the emulator's IAM mode: it works in the allowed VPC; in another VPC IAM refuses the create
/// (operator without the allow list), and the operator with the allow list refuses it itself
/// before any AWS call.
async fn works_under_its_own_iam_policy(env: &Env) -> TestResult {
    let s = scenario(env, &[]).await;
    s.create_table("Music").await;
    let policy = Command::new(env!("CARGO_BIN_EXE_vpcgate"))
        .args(["iam-policy", "--allowed-vpc", &s.net.vpc])
        .output()
        .map_err(|e| fail(e.to_string()))?;
    let policy: Value = serde_json::from_slice(&policy.stdout).map_err(|e| fail(e.to_string()))?;
    s.emulator.iam(
        "AKIAVPCGATEOPERATOR",
        "arn:aws:sts::123456789012:assumed-role/vpcgate/operator",
        &policy,
    );
    let as_role = [("AWS_ACCESS_KEY_ID", "AKIAVPCGATEOPERATOR")];
    let mut op = Operator::start_env(env, &s.emulator, "iam-1", &[], &as_role);
    op.wait_ready()?;

    // In the allowed VPC: create (tag on create), then move routes (modify), then delete.
    s.create(s.manifest(
        "allowed",
        json!({"routeTables": {"subnetIds": [s.net.private_subnet]}}),
    ))
    .await?;
    s.wait_condition("allowed", "Ready", "True", Duration::from_secs(90))
        .await?;
    s.merge_spec(
        "allowed",
        json!({"routeTables": {"subnetIds": [s.net.public_subnet, s.net.private_subnet]},
               "tags": {"team": "payments"}}),
    )
    .await?;
    let o = s
        .wait_condition("allowed", "Ready", "True", Duration::from_secs(90))
        .await?;
    ensure!(
        o.status.as_ref().and_then(|st| st.routes.as_deref()) == Some("2/2"),
        "{:?}",
        o.status
    );

    // Another VPC: IAM refuses the create (the VPC is not in the policy's resources).
    let other = support::create_vpc(&s.ec2, "10.9.0.0/16").await;
    let other_rtb = s
        .ec2
        .create_route_table()
        .vpc_id(&other)
        .send()
        .await
        .map_err(|e| fail(format!("{e:?}")))?
        .route_table()
        .and_then(|r| r.route_table_id())
        .unwrap_or_default()
        .to_owned();
    let before = support::live_endpoints(&s.ec2, &other).await.len();
    s.create(s.manifest(
        "outside",
        json!({"vpcId": other, "routeTables": {"ids": [other_rtb]}, "probe": {"enabled": false}}),
    ))
    .await?;
    let o = s
        .wait_condition("outside", "Ready", "False", Duration::from_secs(60))
        .await?;
    ensure!(
        condition(&o, "Ready").map(|c| c.1).as_deref() == Some("AccessDenied"),
        "{:?}",
        condition(&o, "Ready")
    );
    ensure!(
        support::live_endpoints(&s.ec2, &other).await.len() == before,
        "nothing created outside the allowed VPC"
    );
    drop(op);

    // With the allow list the operator refuses it itself: no AWS mutation at all.
    s.emulator.start_recording();
    let allow = format!("--allowed-vpc={}", s.net.vpc);
    let mut op = Operator::start_env(env, &s.emulator, "iam-2", &[&allow], &as_role);
    op.wait_ready()?;
    s.merge_spec("outside", json!({"tags": {"retry": "1"}}))
        .await?;
    let o = eventually(Duration::from_secs(60), "outside VpcNotAllowed", || async {
        let o = s.api.get_opt("outside").await.ok()??;
        (condition(&o, "Ready").map(|c| c.1).as_deref() == Some("VpcNotAllowed")).then_some(o)
    })
    .await?;
    ensure!(
        condition(&o, "Ready").is_some_and(|c| c.0 == "False"),
        "{:?}",
        condition(&o, "Ready")
    );
    let mutations: Vec<String> = s
        .emulator
        .recorded_actions()
        .into_iter()
        .filter(|a| !a.starts_with("Describe") && !a.starts_with("Get") && a != "ListTables")
        .collect();
    ensure!(mutations.is_empty(), "no mutation: {mutations:?}");
    s.delete_and_wait("outside").await?;
    s.delete_and_wait("allowed").await?;
    ensure!(
        support::live_endpoints(&s.ec2, &s.net.vpc).await.is_empty(),
        "the allowed object's endpoint is deleted under the policy"
    );
    Ok(())
}

async fn set_up() -> Env {
    let cluster = Cluster::start();
    let logs = root().join("target/e2e-logs");
    let _ = std::fs::create_dir_all(&logs);
    let admin = client_for(&cluster.admin_kubeconfig).await;

    // Fresh start: no CRD from an earlier run.
    let _ = cluster.kubectl(&[
        "delete",
        "crd",
        "gatewayendpoints.vpcgate.dev",
        "--ignore-not-found",
        "--wait=true",
    ]);
    let crd_missing_result = check_crd_missing(&cluster.admin_kubeconfig);

    cluster.kubectl_ok(&[
        "apply",
        "--server-side",
        "-f",
        root().join("crds").to_str().unwrap(),
    ]);
    cluster.kubectl_ok(&[
        "wait",
        "--for=condition=Established",
        "crd/gatewayendpoints.vpcgate.dev",
        "--timeout=60s",
    ]);
    // The operator's identity and RBAC come from the Helm chart itself (its ServiceAccount,
    // ClusterRole and Roles), so every scenario below proves the chart's RBAC sufficient. The
    // chart's Deployment never runs here (no nodes): the operator runs as a local process.
    let helm = Command::new(root().join("scripts/install-helm.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("scripts/install-helm.sh");
    assert!(helm.status.success(), "scripts/install-helm.sh failed");
    let helm = String::from_utf8_lossy(&helm.stdout)
        .lines()
        .last()
        .unwrap_or("helm")
        .trim()
        .to_owned();
    let out = Command::new(&helm)
        .args(["--kubeconfig", cluster.admin_kubeconfig.to_str().unwrap()])
        .args([
            "upgrade",
            "--install",
            "vpcgate",
            root().join("charts/vpcgate").to_str().unwrap(),
        ])
        .args([
            "--namespace",
            "vpcgate-system",
            "--create-namespace",
            "--wait=false",
        ])
        .output()
        .expect("helm install");
    assert!(
        out.status.success(),
        "helm install: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = cluster.kubectl_ok(&[
        "create",
        "token",
        "vpcgate",
        "-n",
        "vpcgate-system",
        "--duration=2h",
    ]);

    // The operator's kubeconfig: the admin one's server and CA, the ServiceAccount's token.
    let admin_kc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(&cluster.admin_kubeconfig).unwrap())
            .unwrap();
    let cluster_entry = admin_kc["clusters"][0]["cluster"].clone();
    let kc = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "local", "cluster": serde_json::to_value(&cluster_entry).unwrap()}],
        "users": [{"name": "vpcgate", "user": {"token": token.trim()}}],
        "contexts": [{"name": "vpcgate", "context": {"cluster": "local", "user": "vpcgate"}}],
        "current-context": "vpcgate",
    });
    let operator_kubeconfig = logs.join("operator.kubeconfig");
    std::fs::write(
        &operator_kubeconfig,
        serde_json::to_string_pretty(&kc).unwrap(),
    )
    .unwrap();

    // Leftovers of an interrupted earlier run against a reused cluster.
    let gwes: Api<GatewayEndpoint> = Api::all(admin);
    for o in gwes.list(&ListParams::default()).await.unwrap() {
        let _ = gwes
            .patch(
                &o.name_any(),
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"finalizers": null}})),
            )
            .await;
        let _ = gwes.delete(&o.name_any(), &DeleteParams::default()).await;
    }
    Env {
        cluster,
        operator_kubeconfig,
        logs,
        crd_missing_result,
    }
}

fn main() -> std::process::ExitCode {
    vpcgate::install_crypto_provider();
    let mut args = Arguments::from_args();
    // One operator reconciles every object of the cluster: scenarios must not overlap.
    args.test_threads = Some(1);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let env: &'static Env = Box::leak(Box::new(rt.block_on(set_up())));
    let rt: &'static tokio::runtime::Runtime = Box::leak(Box::new(rt));

    macro_rules! trial {
        ($name:literal, $f:ident) => {
            Trial::test($name, move || rt.block_on($f(env)))
        };
    }
    let trials = vec![
        trial!("crd_missing_is_a_clear_error", crd_missing),
        trial!(
            "walkthrough_ready_events_columns_metrics_no_idle_writes",
            walkthrough
        ),
        trial!("edits_converge_and_drift_is_repaired", edits_and_drift),
        trial!("delete_waits_for_aws_and_retain_keeps", delete_and_retain),
        trial!("bad_specs_rejected_by_the_api_server", bad_specs_rejected),
        trial!(
            "unknown_vpc_is_reported_without_a_hot_loop",
            unknown_vpc_no_hot_loop
        ),
        trial!(
            "killed_after_create_leaves_exactly_one_endpoint",
            killed_after_create_makes_one_endpoint
        ),
        trial!("sigterm_exits_cleanly", sigterm_exits_cleanly),
        trial!("leader_election_one_acts_and_fails_over", leader_election),
        trial!(
            "a_failing_watch_fails_readiness_then_recovers",
            watch_failure_fails_readiness
        ),
        trial!(
            "probe_proves_the_path_through_the_endpoint",
            probe_proves_the_path
        ),
        trial!(
            "works_under_its_own_iam_policy_and_nowhere_else",
            works_under_its_own_iam_policy
        ),
        trial!(
            "empty_spec_finds_the_clusters_vpc_and_subnets",
            empty_spec_finds_the_clusters_vpc_and_subnets
        ),
        trial!(
            "adoption_takes_over_what_exists",
            adoption_takes_over_what_exists
        ),
        trial!(
            "a_new_object_is_not_starved_by_requeues",
            a_new_object_is_not_starved_by_requeues
        ),
        trial!(
            "throttled_creates_wait_their_turn_without_warnings",
            throttled_creates_wait_their_turn
        ),
    ];
    let conclusion = libtest_mimic::run(&args, trials);
    env.cluster.stop();
    conclusion.exit_code()
}
