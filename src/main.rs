//! The `vpcgate` binary: CLI wiring only.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use vpcgate::api::GatewayEndpoint;
use vpcgate::aws::{AwsClients, CallObserver};
use vpcgate::engine::Engine;
use vpcgate::engine::desired::parse_duration;
use vpcgate::engine::plan::Holder;

#[derive(Parser)]
#[command(
    name = "vpcgate",
    version,
    about = "Gateway VPC endpoints for DynamoDB, as a Kubernetes resource"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Text,
    Json,
}

// Parsed once at startup; boxing the big variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the controller: watch GatewayEndpoints, reconcile them, serve /metrics, /healthz, /readyz.
    /// A flag given twice takes its last value (a wrapper's defaults, then the user's).
    #[command(args_override_self = true)]
    Run(RunArgs),
    /// Print the GatewayEndpoint CustomResourceDefinition as YAML.
    Crd,
    /// Show what vpcgate would do for a GatewayEndpoint manifest, changing nothing.
    Plan {
        /// The manifest (YAML or JSON), `-` for stdin.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Region for objects without spec.region.
        #[arg(long, env = "AWS_REGION")]
        region: Option<String>,
    },
    /// Print the GatewayEndpoint reference (Markdown), generated from the CRD.
    #[command(hide = true)]
    Reference,
    /// Print the least-privilege IAM policy the operator's role needs.
    IamPolicy {
        /// AWS partition for the ARNs (aws, aws-cn, aws-us-gov, …).
        #[arg(long, default_value = "aws")]
        partition: String,
        /// Only this VPC may get endpoints and route changes (repeat for more; the operator's
        /// `--allowed-vpc` / Helm value `aws.allowedVpcs` should list the same). Default: any.
        #[arg(long = "allowed-vpc", value_name = "VPC_ID", value_parser = vpc_id)]
        allowed_vpcs: Vec<String>,
        /// Add the statement that lets vpcgate adopt existing endpoints (`spec.adopt`): it may
        /// put its `vpcgate.dev/uid` tag on any VPC endpoint, which makes that endpoint its own.
        #[arg(long)]
        allow_adoption: bool,
        /// Add the statements that let vpcgate add (tagged) and revoke egress rules
        /// (`securityGroups.mode: Manage`). Revoking cannot be limited by the rule's tag.
        #[arg(long)]
        allow_egress_rules: bool,
        /// Write every policy vpcgate generates (operator variants and endpoint policies) into
        /// this directory instead, for linting.
        #[arg(long, hide = true)]
        samples_dir: Option<PathBuf>,
    },
    /// Preflight: report, per AWS action, whether this identity may call it (reads for real,
    /// mutations with DryRun); exits non-zero when one is denied.
    Check {
        #[arg(long, env = "AWS_REGION")]
        region: String,
        /// The VPC to dry-run CreateVpcEndpoint against (default: the VPC of an endpoint vpcgate
        /// owns, else the first allowed VPC, else the first VPC found).
        #[arg(long)]
        vpc_id: Option<String>,
        /// The operator's VPC allow list (as `vpcgate run` reads it): creation is dry-run in an
        /// allowed VPC.
        #[arg(long = "allowed-vpc", env = "VPCGATE_ALLOWED_VPCS", value_delimiter = ',', value_name = "VPC_ID", value_parser = vpc_id)]
        allowed_vpcs: Vec<String>,
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
    /// Probe DynamoDB from where this runs: DNS, the canary call (with `--canary`), one signed
    /// read.
    Probe {
        #[arg(long, env = "AWS_REGION")]
        region: String,
        /// A GatewayEndpoint's canary table (`vpcgate-canary-<uid>`): its answer shows whether
        /// this host's traffic goes through that object's endpoint.
        #[arg(long)]
        canary: Option<String>,
        /// DescribeTable on this table instead of ListTables.
        #[arg(long)]
        table: Option<String>,
        /// How long the call may take.
        #[arg(long, default_value = "5s")]
        timeout: String,
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// AWS region for objects without spec.region (default: the SDK's chain).
    #[arg(long, env = "AWS_REGION")]
    region: Option<String>,
    /// How often every object is compared with AWS even when nothing changed.
    #[arg(long, env = "VPCGATE_RESYNC", default_value = "5m")]
    resync: String,
    /// How many objects are reconciled at once.
    #[arg(long, env = "VPCGATE_CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// Address of the /metrics, /healthz and /readyz server.
    #[arg(long, env = "VPCGATE_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    metrics_addr: std::net::SocketAddr,
    #[arg(long, env = "VPCGATE_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: vpcgate::telemetry::LogFormat,
    /// Campaign for a Lease and reconcile only while holding it. On by default, so a second
    /// replica (`kubectl scale`, a rolling update) never acts at the same time; a single replica
    /// simply holds the Lease. `false` only for a process that is known to run alone.
    #[arg(long, env = "VPCGATE_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    leader_election: bool,
    /// Namespace of the Lease. Default: the pod's own namespace (`POD_NAMESPACE`, else the
    /// service-account namespace file), else `default`.
    #[arg(long, env = "VPCGATE_LEASE_NAMESPACE")]
    lease_namespace: Option<String>,
    #[arg(long, env = "VPCGATE_LEASE_NAME", default_value = "vpcgate-leader")]
    lease_name: String,
    /// How long a lease is valid without renewal: a stopped leader is replaced within it.
    #[arg(long, env = "VPCGATE_LEASE_DURATION", default_value = "15s")]
    lease_duration: String,
    /// How long a new endpoint may stay invisible to EC2 describes (eventual consistency): an
    /// endpoint missing from describes for less than this is treated as ours and a moment old
    /// (nothing is created meanwhile), and a deletion waits this long after the request (or
    /// the last create) before letting go of the finalizer.
    #[arg(long, env = "VPCGATE_DESCRIBE_LAG", default_value = "20s")]
    describe_lag: String,
    /// How long after vpcgate changed an endpoint a probe that finds traffic bypassing it is not
    /// trusted yet (reported as Unverified): AWS can take minutes to apply routes and policies.
    #[arg(long, env = "VPCGATE_PATH_SETTLE", default_value = "3m")]
    path_settle: String,
    /// How long the GatewayEndpoint watch may keep failing (RBAC revoked, CRD removed, API
    /// server unreachable) before `/readyz` answers 503.
    #[arg(long, env = "VPCGATE_WATCH_UNHEALTHY_AFTER", default_value = "60s")]
    watch_unhealthy_after: String,
    /// This replica's identity (the pod name in Kubernetes).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// The only VPCs the operator may change (repeat, or comma-separated in the environment); a
    /// GatewayEndpoint in another VPC is refused with reason VpcNotAllowed before any AWS call.
    /// Default: any VPC the IAM role allows.
    #[arg(long = "allowed-vpc", env = "VPCGATE_ALLOWED_VPCS", value_delimiter = ',', value_name = "VPC_ID", value_parser = vpc_id)]
    allowed_vpcs: Vec<String>,
    /// The node this pod runs on (downward API): its EC2 instance tells the probe which subnet
    /// and route table it runs from.
    #[arg(long, env = "NODE_NAME")]
    node_name: Option<String>,
    /// How long one read of a VPC's route tables, endpoints and subnets is shared by every
    /// object in that VPC. vpcgate's own changes drop it at once; changes made outside vpcgate
    /// are seen within this plus the resync. `0s`: only reads in flight are shared.
    #[arg(long, env = "VPCGATE_AWS_VIEW_TTL", default_value = "30s")]
    aws_view_ttl: String,
    /// Tokens in the process's bucket for each endpoint mutation (Create/Modify/DeleteVpcEndpoint)
    /// per region; AWS's own bucket holds 4.
    #[arg(long, env = "VPCGATE_ENDPOINT_MUTATION_BURST", default_value_t = vpcgate::aws::pacing::DEFAULT_BURST, value_parser = clap::value_parser!(u32).range(1..=1000))]
    endpoint_mutation_burst: u32,
    /// Tokens per second refilled into that bucket (AWS refills 0.3/s, shared with everything
    /// else in the account). `0` turns pacing off.
    #[arg(long, env = "VPCGATE_ENDPOINT_MUTATION_RATE", default_value_t = vpcgate::aws::pacing::DEFAULT_RATE, value_parser = mutation_rate)]
    endpoint_mutation_rate: f64,
}

/// Parses a refill rate: a finite number of tokens per second, zero or more.
fn mutation_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r >= 0.0 => Ok(r),
        _ => Err(format!(
            "{text:?} is not a rate: tokens per second, e.g. 0.25 (0 turns pacing off)"
        )),
    }
}

/// Parses a `vpc-…` id for the allow list.
fn vpc_id(text: &str) -> Result<String, String> {
    let text = text.trim();
    if vpcgate::aws::actions::is_vpc_id(text) {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "{text:?} is not a VPC id (vpc- and 8 or 17 hex digits)"
        ))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    vpcgate::install_crypto_provider();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => run_controller(args).await,
        Command::Reference => {
            print!("{}", vpcgate::reference::markdown());
            Ok(ExitCode::SUCCESS)
        }
        Command::IamPolicy {
            samples_dir: Some(dir),
            ..
        } => {
            std::fs::create_dir_all(&dir)?;
            for (name, doc) in vpcgate::policy_samples::all() {
                let path = dir.join(format!("{name}.json"));
                std::fs::write(&path, serde_json::to_string_pretty(&doc)?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::IamPolicy {
            partition,
            allowed_vpcs,
            allow_adoption,
            allow_egress_rules,
            samples_dir: None,
        } => {
            println!(
                "{}",
                serde_json::to_string_pretty(&vpcgate::aws::actions::iam_policy_with(
                    &partition,
                    &allowed_vpcs,
                    vpcgate::aws::actions::PolicyOptions {
                        adoption: allow_adoption,
                        egress_rules: allow_egress_rules,
                    }
                ))?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Check {
            region,
            vpc_id,
            allowed_vpcs,
            output,
        } => check(region, vpc_id, allowed_vpcs, output).await,
        Command::Crd => {
            print!("{}", vpcgate::crd_yaml());
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan { file, region } => plan(file, region).await,
        Command::Probe {
            region,
            canary,
            table,
            timeout,
            output,
        } => probe(region, canary, table, timeout, output).await,
    }
}

async fn run_controller(args: RunArgs) -> anyhow::Result<ExitCode> {
    vpcgate::telemetry::init(args.log_format);
    let parse = |flag: &str, v: &str| parse_duration(flag, v).map_err(|e| anyhow::anyhow!("{e}"));
    let resync = parse("--resync", &args.resync)?;
    anyhow::ensure!(
        resync >= Duration::from_secs(10),
        "--resync: must be at least 10s"
    );
    let lease_duration = parse("--lease-duration", &args.lease_duration)?;
    let describe_lag = parse("--describe-lag", &args.describe_lag)?;
    let path_settle = parse("--path-settle", &args.path_settle)?;
    let watch_unhealthy_after = parse("--watch-unhealthy-after", &args.watch_unhealthy_after)?;
    let aws_view_ttl = parse("--aws-view-ttl", &args.aws_view_ttl)?;
    let identity = args.identity.unwrap_or_else(|| {
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "vpcgate".into());
        format!("{host}-{}", std::process::id())
    });
    vpcgate::controller::run(vpcgate::controller::RunConfig {
        region: args.region,
        resync,
        concurrency: args.concurrency,
        metrics_addr: args.metrics_addr,
        leader_election: args.leader_election,
        lease_namespace: args.lease_namespace.unwrap_or_else(own_namespace),
        lease_name: args.lease_name,
        lease_duration,
        describe_lag,
        path_settle,
        watch_unhealthy_after,
        identity,
        allowed_vpcs: args.allowed_vpcs,
        node_name: args.node_name.filter(|n| !n.is_empty()),
        aws_view_ttl,
        pacing: vpcgate::aws::pacing::PaceConfig {
            burst: args.endpoint_mutation_burst,
            rate: args.endpoint_mutation_rate,
        },
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// The namespace this process runs in: `POD_NAMESPACE` (downward API), else the mounted
/// service-account namespace, else `default` (outside a cluster).
fn own_namespace() -> String {
    std::env::var("POD_NAMESPACE")
        .ok()
        .filter(|n| !n.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
                .ok()
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty())
        })
        .unwrap_or_else(|| "default".into())
}

async fn plan(file: PathBuf, region: Option<String>) -> anyhow::Result<ExitCode> {
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading stdin")?
    } else {
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?
    };
    let mut obj: GatewayEndpoint = serde_yaml_ng::from_str(&text)
        .with_context(|| format!("{} is not a GatewayEndpoint", file.display()))?;
    anyhow::ensure!(
        !vpcgate::engine::desired::uses_nodes(&obj.spec),
        "{} takes its VPC or route tables from the cluster's nodes (vpcId or routeTables omitted, or clusterNodeSubnets); `vpcgate plan` does not read the cluster: set spec.vpcId and routeTables ids/subnetIds/tags to preview, or apply it and read status.clusterNodes",
        file.display()
    );
    // A manifest that was never applied has no uid; plan as if it were new.
    if obj.metadata.uid.is_none() {
        obj.metadata.uid = Some("00000000-0000-0000-0000-000000000000".into());
    }
    let clients = AwsClients::from_env(CallObserver::default()).await;
    let default_region = region.or_else(|| clients.default_region());
    let engine = Engine::new(std::sync::Arc::new(clients), default_region);
    let (desired, seen, plan) = engine
        .preview(&obj)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("region:       {}", desired.region);
    println!("vpc:          {}", desired.vpc_id);
    println!(
        "service:      {} (prefix list {})",
        desired.service_name, seen.prefix_list.id
    );
    println!(
        "route tables: {}",
        plan.holders.keys().cloned().collect::<Vec<_>>().join(", ")
    );
    for id in &seen.selection.missing_tables {
        println!("not found:    {id} is not a route table of the VPC");
    }
    for id in &seen.selection.missing_subnets {
        println!("not found:    {id} is not a subnet of the VPC");
    }
    for (rtb, holder) in &plan.holders {
        match holder {
            Holder::Foreign(other) => println!(
                "conflict:     {rtb} already routes {} to {other}; it will be left alone",
                seen.prefix_list.id
            ),
            Holder::Settling(own) => println!(
                "settling:     {rtb} still routes to {own}, an earlier endpoint of this object"
            ),
            Holder::Free | Holder::Current => {}
        }
    }
    match (&plan.endpoint, &plan.replacing) {
        (Some(ep), _) => println!("endpoint:     {} ({})", ep.id, ep.state),
        (None, Some((id, state))) => println!("endpoint:     {id} ({state}), to be replaced"),
        (None, None) => println!("endpoint:     none yet"),
    }
    if plan.actions.is_empty() {
        println!("actions:      none, AWS already matches the spec");
    } else {
        println!("actions:");
        for a in &plan.actions {
            println!("  - {a}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn check(
    region: String,
    vpc_id: Option<String>,
    allowed_vpcs: Vec<String>,
    output: Output,
) -> anyhow::Result<ExitCode> {
    use vpcgate::preflight::Verdict;
    let clients = AwsClients::from_env(CallObserver::default()).await;
    let lines =
        vpcgate::preflight::check(&clients, &region, vpc_id.as_deref(), &allowed_vpcs).await;
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&lines)?),
        Output::Text => {
            for l in &lines {
                let (word, detail) = match &l.verdict {
                    Verdict::Allowed => ("allowed", String::new()),
                    Verdict::Denied(d) => ("DENIED", format!("  {d}")),
                    Verdict::Undetermined(d) => ("unknown", format!("  {d}")),
                    Verdict::NotYet(d) => ("not yet", format!("  {d}")),
                    Verdict::Optional(d) => ("optional", format!("  {d}")),
                };
                println!("{word:<8} {:<36} ({}){detail}", l.action, l.how);
            }
        }
    }
    let count = |f: fn(&Verdict) -> bool| lines.iter().filter(|l| f(&l.verdict)).count();
    let denied = count(|v| matches!(v, Verdict::Denied(_)));
    if let Output::Text = output {
        println!(
            "{} allowed, {denied} denied, {} not determinable yet, {} opt-in not granted, {} unknown",
            count(|v| matches!(v, Verdict::Allowed)),
            count(|v| matches!(v, Verdict::NotYet(_))),
            count(|v| matches!(v, Verdict::Optional(_))),
            count(|v| matches!(v, Verdict::Undetermined(_))),
        );
    }
    if denied > 0 {
        eprintln!(
            "error: {denied} permission(s) missing; `vpcgate iam-policy` prints the policy to attach"
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

async fn probe(
    region: String,
    canary: Option<String>,
    table: Option<String>,
    timeout: String,
    output: Output,
) -> anyhow::Result<ExitCode> {
    use vpcgate::aws::probe::Canary;
    let timeout: Duration =
        parse_duration("--timeout", &timeout).map_err(|e| anyhow::anyhow!("{e}"))?;
    let clients = AwsClients::from_env(CallObserver::default()).await;
    let client = clients.dynamodb(&region, timeout);
    let report = vpcgate::aws::probe::run(
        &client,
        &vpcgate::aws::probe::ProbeRequest {
            canary: canary.as_deref(),
            table: table.as_deref(),
            timeout,
        },
    )
    .await;
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Output::Text => {
            println!("host:        {}", report.host);
            let addrs: Vec<String> = report.addresses.iter().map(ToString::to_string).collect();
            println!("addresses:   {}", addrs.join(", "));
            match &report.canary {
                None => {}
                Some(Canary::Denied(m)) => {
                    println!(
                        "path:        through the endpoint whose policy carries this canary ({m})"
                    )
                }
                Some(Canary::DeniedByOtherEndpoint(m)) => {
                    println!("path:        through another endpoint ({m})")
                }
                Some(Canary::NotFound) => {
                    println!(
                        "path:        NOT through that endpoint (the canary table was looked up)"
                    )
                }
                Some(Canary::Inconclusive(m)) => println!("path:        unknown ({m})"),
            }
            println!("operation:   {}", report.operation);
            println!("result:      {}", report.result.as_str());
            if let Some(l) = report.latency {
                println!("latency:     {}", vpcgate::aws::probe::format_latency(l));
            }
            if let Some(m) = &report.message {
                println!("message:     {m}");
            }
        }
    }
    Ok(
        if report.result == vpcgate::aws::probe::ProbeResult::Succeeded {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}
