//! Node discovery: watches the cluster's Nodes, maps each `spec.providerID`
//! (`aws:///<zone>/i-…`) to its EC2 instance with batched `DescribeInstances` (one call per
//! region and 200 new ids, only for instances not seen before), and publishes the result as the
//! engine's [`ClusterNodes`] view. When the view changes (a node joins or leaves another subnet
//! or VPC), the objects that use the nodes are reconciled, debounced.
//!
//! Only a node's name and providerID are kept; the rest of each Node is dropped as it arrives.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::aws::Cloud;
use crate::engine::discovery::{
    ClusterNodes, NodeInfo, Placement, aws_provider_id, region_of_zone,
};

/// How long node events are collected before the view is recomputed.
const DEBOUNCE: Duration = Duration::from_secs(2);
/// How soon instances EC2 did not describe (or a failed describe) are asked for again.
const RETRY: Duration = Duration::from_secs(30);

/// What to do when the view changed: reconcile the objects that use it.
pub type OnChange = Box<dyn Fn() + Send + Sync>;

/// What node discovery needs besides the Kubernetes client.
pub struct Discovery {
    pub cloud: Arc<dyn Cloud>,
    /// For nodes whose providerID names no zone.
    pub default_region: Option<String>,
    /// Where the view is published (the engine reads the other side).
    pub view: watch::Sender<ClusterNodes>,
}

/// Runs until `stop` resolves.
pub async fn run(
    client: kube::Client,
    discovery: Discovery,
    on_change: OnChange,
    stop: impl std::future::Future<Output = ()>,
) {
    let Discovery {
        cloud,
        default_region,
        view,
    } = discovery;
    let nodes: Api<Node> = Api::all(client);
    let mut events = watcher(nodes, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut known: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut listing: Option<BTreeMap<String, Option<String>>> = None;
    let mut listed = false;
    let mut resolver = Resolver::new(cloud, default_region);
    let mut due: Option<tokio::time::Instant> = None;
    tokio::pin!(stop);
    loop {
        let wait = async {
            match due {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = &mut stop => return,
            event = events.next() => {
                let Some(event) = event else { return };
                match event {
                    Ok(watcher::Event::Init) => listing = Some(BTreeMap::new()),
                    Ok(watcher::Event::InitApply(n)) => {
                        if let Some(l) = listing.as_mut() {
                            l.insert(name(&n), provider_id(&n));
                        }
                    }
                    Ok(watcher::Event::InitDone) => {
                        known = listing.take().unwrap_or_default();
                        listed = true;
                    }
                    Ok(watcher::Event::Apply(n)) => {
                        known.insert(name(&n), provider_id(&n));
                    }
                    Ok(watcher::Event::Delete(n)) => {
                        known.remove(&name(&n));
                    }
                    Err(e) => {
                        warn!(error = %e, "the Node watch failed; retrying with backoff");
                        continue;
                    }
                }
                if listed {
                    // A change is looked at within the debounce, even when a retry is further off.
                    let soon = tokio::time::Instant::now() + DEBOUNCE;
                    due = Some(due.map_or(soon, |d| d.min(soon)));
                }
            }
            _ = wait => {
                due = None;
                let (next, retry) = resolver.resolve(&known).await;
                if retry {
                    due = Some(tokio::time::Instant::now() + RETRY);
                }
                let changed = view.send_if_modified(|current| {
                    if *current == next {
                        return false;
                    }
                    *current = next;
                    true
                });
                if changed {
                    let v = view.borrow();
                    info!(nodes = v.nodes.len(), "cluster nodes changed");
                    drop(v);
                    on_change();
                }
            }
        }
    }
}

fn name(n: &Node) -> String {
    n.metadata.name.clone().unwrap_or_default()
}

fn provider_id(n: &Node) -> Option<String> {
    n.spec.as_ref().and_then(|s| s.provider_id.clone())
}

/// Instance lookups, cached: an instance's subnet and VPC never change.
struct Resolver {
    cloud: Arc<dyn Cloud>,
    default_region: Option<String>,
    cache: HashMap<String, Placement>,
    /// Whether one resolve has completed without an EC2 error: before that the view says
    /// "not listed" rather than publish nodes it could not place.
    complete: bool,
}

impl Resolver {
    fn new(cloud: Arc<dyn Cloud>, default_region: Option<String>) -> Self {
        Resolver {
            cloud,
            default_region,
            cache: HashMap::new(),
            complete: false,
        }
    }

    /// The view for these nodes, and whether some instance should be asked for again later.
    async fn resolve(&mut self, nodes: &BTreeMap<String, Option<String>>) -> (ClusterNodes, bool) {
        // Instance id → region, for nodes on EC2.
        let mut wanted: BTreeMap<String, String> = BTreeMap::new();
        for provider in nodes.values().flatten() {
            if let Some((zone, id)) = aws_provider_id(provider) {
                let region = zone
                    .as_deref()
                    .and_then(region_of_zone)
                    .or(self.default_region.clone());
                if let Some(region) = region {
                    wanted.insert(id, region);
                }
            }
        }
        self.cache.retain(|id, _| wanted.contains_key(id));
        let mut retry = false;
        let mut failed = false;
        let mut by_region: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (id, region) in &wanted {
            if !self.cache.contains_key(id) {
                by_region.entry(region).or_default().push(id.clone());
            }
        }
        for (region, ids) in by_region {
            match self.cloud.ec2(region).instances(&ids).await {
                Ok(found) => {
                    debug!(
                        region,
                        asked = ids.len(),
                        found = found.len(),
                        "described node instances"
                    );
                    for i in found {
                        self.cache.insert(
                            i.id.clone(),
                            Placement::Instance {
                                id: i.id,
                                region: region.to_owned(),
                                vpc_id: i.vpc_id,
                                subnet_id: i.subnet_id,
                                security_groups: i.security_groups,
                            },
                        );
                    }
                    retry |= ids.iter().any(|id| !self.cache.contains_key(id));
                }
                Err(e) => {
                    warn!(region, error = %e, "cannot describe the nodes' instances; retrying");
                    retry = true;
                    failed = true;
                }
            }
        }
        self.complete |= !failed;
        let view = ClusterNodes {
            listed: self.complete,
            nodes: nodes
                .iter()
                .map(|(name, provider)| NodeInfo {
                    name: name.clone(),
                    placement: match provider.as_deref().and_then(aws_provider_id) {
                        None => Placement::NotAws,
                        Some((_, id)) => self
                            .cache
                            .get(&id)
                            .cloned()
                            .unwrap_or(Placement::Unresolved { id }),
                    },
                })
                .collect(),
        };
        (view, retry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::Placement as Where;
    use crate::aws::fake::{FakeCloud, FakeEc2};

    #[tokio::test]
    async fn known_instances_are_not_described_again() {
        let aws = FakeEc2::with_tables(&["rtb-a"]);
        for i in 0..450 {
            aws.world().instances.insert(
                format!("i-{i}"),
                Where {
                    subnet_id: "subnet-a".into(),
                    vpc_id: "vpc-1".into(),
                },
            );
        }
        let cloud = Arc::new(FakeCloud::new(aws.clone()));
        let mut r = Resolver::new(cloud, Some("eu-west-1".into()));
        let mut nodes: BTreeMap<String, Option<String>> = (0..450)
            .map(|i| (format!("n{i}"), Some(format!("aws:///eu-west-1a/i-{i}"))))
            .collect();
        nodes.insert("fargate".into(), Some("aws:///eu-west-1a/fargate-x".into()));
        nodes.insert("gone".into(), Some("aws:///eu-west-1a/i-gone".into()));
        nodes.insert("new".into(), None);
        let (view, retry) = r.resolve(&nodes).await;
        assert!(retry, "i-gone was not found");
        assert_eq!(view.vpcs("eu-west-1").len(), 1);
        let s = view.status("eu-west-1", Some("vpc-1"));
        assert_eq!((s.nodes, s.not_aws_count, s.unresolved_count), (453, 2, 1));
        // One lookup for every new instance of the region (the SDK edge splits it into calls of
        // 200 ids: tests/engine.rs `node_instances_are_described_in_batches`).
        let calls = aws.take_calls();
        assert_eq!(
            calls.iter().filter(|c| **c == "DescribeInstances").count(),
            1,
            "{calls:?}"
        );
        // Known instances are not asked for again; only the unresolved one is.
        let (_, _) = r.resolve(&nodes).await;
        assert_eq!(aws.take_calls(), ["DescribeInstances"]);
        nodes.remove("gone");
        let (_, retry) = r.resolve(&nodes).await;
        assert!(!retry);
        assert!(aws.take_calls().is_empty(), "nothing new to describe");
    }
}
