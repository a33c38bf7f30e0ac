//! The shared view of AWS: one per region, in front of EC2, so N objects in a VPC cost one
//! describe of that VPC per freshness window instead of N (issue 11 measured the per-object
//! reads growing with N²).
//!
//! - A VPC's route tables and gateway endpoints ([`Ec2::routing`]) and its subnets are read at
//!   most once per `ttl`; callers that ask while a read is in flight wait for that read
//!   (coalescing) rather than starting their own.
//! - The service's prefix list and its CIDRs are regional and change on AWS's schedule, not
//!   ours: they are kept for [`LONG_LIVED`].
//! - Every mutation made through the view marks what it touched in that VPC's routing (the route
//!   tables it names, the endpoint) as changed; the next reader reads exactly those again, by id,
//!   and merges them in, so a pass never plans on data older than its own last change while the
//!   rest of the VPC (the other objects' tables) is not read again: creating N endpoints costs N
//!   small reads, not N reads of the whole VPC. A create that failed, or a change to an endpoint
//!   the view has not seen, drops the VPC's routing altogether (what happened is unknown). An
//!   egress change drops the security groups.
//! - A reader that would report something missing (the VPC, a route table or subnet the spec
//!   names) calls [`Ec2::refresh`] and reads again first: a table created a moment ago is not
//!   reported missing because the view predates it.
//! - Everything else (reads by id or tag, instances) passes through.
//!
//! Hand-written rather than a caching crate: the job is "share one in-flight read and expire it
//! by age or by our own writes", which is a map of `Shared` futures; the caches on crates.io
//! (moka, cached) either do not coalesce async loads that fail or do not invalidate by a
//! predicate over values.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

use super::ec2::Ec2;
use super::{
    AwsError, CreateEndpoint, DeleteOutcome, Endpoint, Instance, ModifyEndpoint, Placement,
    PrefixList, RouteTable, SecurityGroup, VpcRouting,
};

/// How long a VPC's routing and subnets are shared by default.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);
/// How long regional facts that only AWS changes (prefix lists and their CIDRs) are kept.
pub const LONG_LIVED: Duration = Duration::from_secs(3600);

type Fetch<V> = Shared<BoxFuture<'static, Result<V, AwsError>>>;

/// One cached read: when it started and its (possibly still running) future.
struct Slot<V> {
    started: Instant,
    fetch: Fetch<V>,
}

/// Reads shared by key: fresh for `ttl` from when they started, a failed read is never reused,
/// and a read in flight is joined whatever its age.
struct Coalesced<K, V> {
    ttl: Duration,
    slots: Mutex<HashMap<K, Slot<V>>>,
}

impl<K: Eq + Hash + Clone, V: Clone + Send + Sync + 'static> Coalesced<K, V> {
    fn new(ttl: Duration) -> Self {
        Coalesced {
            ttl,
            slots: Mutex::default(),
        }
    }

    async fn get(
        &self,
        key: &K,
        read: impl FnOnce() -> BoxFuture<'static, Result<V, AwsError>>,
    ) -> Result<V, AwsError> {
        let fetch = {
            let mut slots = lock(&self.slots);
            match slots.get(key) {
                Some(slot) if reusable(slot, self.ttl) => slot.fetch.clone(),
                _ => {
                    let fetch = shared_read(read());
                    slots.insert(
                        key.clone(),
                        Slot {
                            started: Instant::now(),
                            fetch: fetch.clone(),
                        },
                    );
                    fetch
                }
            }
        };
        fetch.await
    }

    fn drop_key(&self, key: &K) {
        lock(&self.slots).remove(key);
    }

    fn clear(&self) {
        lock(&self.slots).clear();
    }
}

/// A read shared by every caller that joins it; a panic inside it becomes an error for its
/// readers, not a slot that looks in flight forever.
fn shared_read<V: Clone + Send + Sync + 'static>(
    read: BoxFuture<'static, Result<V, AwsError>>,
) -> Fetch<V> {
    std::panic::AssertUnwindSafe(read)
        .catch_unwind()
        .map(|r| {
            r.unwrap_or_else(|_| Err(AwsError::new("ec2", "SharedRead", None, "a read panicked")))
        })
        .boxed()
        .shared()
}

/// One VPC's routing as last read, and what vpcgate changed in it since.
struct RoutingEntry {
    slot: Slot<Option<Arc<VpcRouting>>>,
    stale_tables: BTreeSet<String>,
    stale_endpoints: BTreeSet<String>,
}

/// The routing read with the changed tables and endpoints read again by id. Pure.
fn merge(
    base: &VpcRouting,
    vpc_id: &str,
    tables: &[String],
    fresh_tables: Vec<RouteTable>,
    endpoints: &[String],
    fresh_endpoints: Vec<Endpoint>,
) -> VpcRouting {
    let mut merged = VpcRouting {
        tables: base
            .tables
            .iter()
            .filter(|t| !tables.contains(&t.id))
            .cloned()
            .chain(fresh_tables.into_iter().filter(|t| t.vpc_id == vpc_id))
            .collect(),
        endpoints: base
            .endpoints
            .iter()
            .filter(|e| !endpoints.contains(&e.id))
            .cloned()
            .chain(fresh_endpoints.into_iter().filter(|e| e.vpc_id == vpc_id))
            .collect(),
    };
    merged.tables.sort_by(|a, b| a.id.cmp(&b.id));
    merged.endpoints.sort_by(|a, b| a.id.cmp(&b.id));
    merged
}

/// A slot can be shared while its read runs, or while it succeeded less than `ttl` ago.
fn reusable<V>(slot: &Slot<V>, ttl: Duration) -> bool {
    match slot.fetch.peek() {
        None => true,
        Some(Ok(_)) => slot.started.elapsed() < ttl,
        Some(Err(_)) => false,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// EC2 in one region behind the shared view.
pub struct SharedView {
    inner: Arc<dyn Ec2>,
    ttl: Duration,
    routing: Mutex<HashMap<String, RoutingEntry>>,
    subnets: Coalesced<String, Vec<String>>,
    prefix_lists: Coalesced<String, Option<PrefixList>>,
    cidrs: Coalesced<String, Vec<String>>,
    /// Keyed by the sorted ids asked for: objects selecting the same groups (the cluster's node
    /// groups) share one read.
    groups: Coalesced<Vec<String>, Vec<SecurityGroup>>,
}

impl SharedView {
    /// Shares reads of `inner` for `ttl` (zero: only reads in flight are shared).
    pub fn new(inner: Arc<dyn Ec2>, ttl: Duration) -> Self {
        SharedView {
            inner,
            ttl,
            routing: Mutex::default(),
            subnets: Coalesced::new(ttl),
            prefix_lists: Coalesced::new(LONG_LIVED),
            cidrs: Coalesced::new(LONG_LIVED),
            groups: Coalesced::new(ttl),
        }
    }

    /// Marks `tables` and the endpoint `id` as changed in the VPC that holds the endpoint (and
    /// the endpoint's own tables, when `with_its_tables`); drops every VPC's routing when no
    /// finished read shows the endpoint (one the view has not seen yet).
    fn endpoint_changed(&self, id: &str, tables: &[String], with_its_tables: bool) {
        let mut entries = lock(&self.routing);
        let holder = entries.values_mut().find_map(|e| {
            let ep = match e.slot.fetch.peek() {
                Some(Ok(Some(r))) => r.endpoints.iter().find(|ep| ep.id == id).cloned(),
                _ => None,
            }?;
            Some((e, ep))
        });
        match holder {
            Some((entry, ep)) => {
                entry.stale_tables.extend(tables.iter().cloned());
                if with_its_tables {
                    entry
                        .stale_tables
                        .extend(ep.route_table_ids.iter().cloned());
                }
                entry.stale_endpoints.insert(id.to_owned());
            }
            None => entries.clear(),
        }
    }

    /// After a change to `resource`: an endpoint's entry, else the security groups.
    fn resource_changed(&self, resource: &str) {
        if resource.starts_with("vpce-") {
            self.endpoint_changed(resource, &[], false);
        } else {
            self.groups.clear();
        }
    }
}

#[async_trait::async_trait]
impl Ec2 for SharedView {
    async fn routing(&self, vpc_id: &str) -> Result<Option<Arc<VpcRouting>>, AwsError> {
        let fetch = {
            let mut entries = lock(&self.routing);
            match entries.get_mut(vpc_id) {
                Some(e) if reusable(&e.slot, self.ttl) => {
                    if !(e.stale_tables.is_empty() && e.stale_endpoints.is_empty()) {
                        // What changed is read again by id and merged; every later reader joins
                        // the merged read.
                        let tables: Vec<String> =
                            std::mem::take(&mut e.stale_tables).into_iter().collect();
                        let endpoints: Vec<String> =
                            std::mem::take(&mut e.stale_endpoints).into_iter().collect();
                        let (base, inner, vpc) =
                            (e.slot.fetch.clone(), self.inner.clone(), vpc_id.to_owned());
                        e.slot.fetch = shared_read(
                            async move {
                                let Some(base) = base.await? else {
                                    return Ok(None);
                                };
                                let fresh_tables = if tables.is_empty() {
                                    Vec::new()
                                } else {
                                    inner.route_tables_by_id(&vpc, &tables).await?
                                };
                                let fresh_endpoints = if endpoints.is_empty() {
                                    Vec::new()
                                } else {
                                    inner.endpoints_by_id(&endpoints).await?
                                };
                                Ok(Some(Arc::new(merge(
                                    &base,
                                    &vpc,
                                    &tables,
                                    fresh_tables,
                                    &endpoints,
                                    fresh_endpoints,
                                ))))
                            }
                            .boxed(),
                        );
                    }
                    e.slot.fetch.clone()
                }
                _ => {
                    let (inner, vpc) = (self.inner.clone(), vpc_id.to_owned());
                    let fetch = shared_read(async move { inner.routing(&vpc).await }.boxed());
                    entries.insert(
                        vpc_id.to_owned(),
                        RoutingEntry {
                            slot: Slot {
                                started: Instant::now(),
                                fetch: fetch.clone(),
                            },
                            stale_tables: BTreeSet::new(),
                            stale_endpoints: BTreeSet::new(),
                        },
                    );
                    fetch
                }
            }
        };
        fetch.await
    }

    fn refresh(&self, vpc_id: &str) {
        let key = vpc_id.to_owned();
        lock(&self.routing).remove(&key);
        self.subnets.drop_key(&key);
        self.groups.clear();
    }

    async fn vpc_exists(&self, vpc_id: &str) -> Result<bool, AwsError> {
        Ok(self.routing(vpc_id).await?.is_some())
    }

    async fn route_tables(&self, vpc_id: &str) -> Result<Vec<RouteTable>, AwsError> {
        Ok(self
            .routing(vpc_id)
            .await?
            .map(|r| r.tables.clone())
            .unwrap_or_default())
    }

    async fn route_tables_by_id(
        &self,
        vpc_id: &str,
        ids: &[String],
    ) -> Result<Vec<RouteTable>, AwsError> {
        self.inner.route_tables_by_id(vpc_id, ids).await
    }

    async fn endpoints_by_id(&self, ids: &[String]) -> Result<Vec<Endpoint>, AwsError> {
        self.inner.endpoints_by_id(ids).await
    }

    async fn vpc_endpoints(&self, vpc_id: &str) -> Result<Vec<Endpoint>, AwsError> {
        Ok(self
            .routing(vpc_id)
            .await?
            .map(|r| r.endpoints.clone())
            .unwrap_or_default())
    }

    async fn subnet_route_table(
        &self,
        vpc_id: &str,
        subnet_id: &str,
    ) -> Result<Option<String>, AwsError> {
        Ok(self
            .routing(vpc_id)
            .await?
            .and_then(|r| r.subnet_table(subnet_id)))
    }

    async fn subnet_ids(&self, vpc_id: &str) -> Result<Vec<String>, AwsError> {
        let inner = self.inner.clone();
        let vpc = vpc_id.to_owned();
        self.subnets
            .get(&vpc.clone(), move || {
                async move { inner.subnet_ids(&vpc).await }.boxed()
            })
            .await
    }

    async fn prefix_list(&self, name: &str) -> Result<Option<PrefixList>, AwsError> {
        let inner = self.inner.clone();
        let key = name.to_owned();
        let found = self
            .prefix_lists
            .get(&key.clone(), move || {
                async move { inner.prefix_list(&key).await }.boxed()
            })
            .await;
        // "No such service here" is asked again next time, not kept for an hour.
        if matches!(found, Ok(None)) {
            self.prefix_lists.drop_key(&name.to_owned());
        }
        found
    }

    async fn prefix_list_cidrs(&self, id: &str) -> Result<Vec<String>, AwsError> {
        let inner = self.inner.clone();
        let key = id.to_owned();
        self.cidrs
            .get(&key.clone(), move || {
                async move { inner.prefix_list_cidrs(&key).await }.boxed()
            })
            .await
    }

    async fn security_groups(&self, ids: &[String]) -> Result<Vec<SecurityGroup>, AwsError> {
        let mut key = ids.to_vec();
        key.sort();
        key.dedup();
        let inner = self.inner.clone();
        let asked = key.clone();
        self.groups
            .get(&key, move || {
                async move { inner.security_groups(&asked).await }.boxed()
            })
            .await
    }

    async fn instance_placement(&self, instance_id: &str) -> Result<Option<Placement>, AwsError> {
        self.inner.instance_placement(instance_id).await
    }

    async fn instances(&self, ids: &[String]) -> Result<Vec<Instance>, AwsError> {
        self.inner.instances(ids).await
    }

    async fn tagged_egress_rules(
        &self,
        key: &str,
        value: &str,
    ) -> Result<Vec<(String, String)>, AwsError> {
        self.inner.tagged_egress_rules(key, value).await
    }

    async fn endpoints_by_tag(&self, key: &str, value: &str) -> Result<Vec<Endpoint>, AwsError> {
        self.inner.endpoints_by_tag(key, value).await
    }

    async fn endpoint(&self, id: &str) -> Result<Option<Endpoint>, AwsError> {
        self.inner.endpoint(id).await
    }

    async fn authorize_egress(
        &self,
        group_id: &str,
        prefix_list_id: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        let result = self
            .inner
            .authorize_egress(group_id, prefix_list_id, tags)
            .await;
        self.groups.clear();
        result
    }

    async fn revoke_egress(&self, group_id: &str, rule_ids: &[String]) -> Result<(), AwsError> {
        let result = self.inner.revoke_egress(group_id, rule_ids).await;
        self.groups.clear();
        result
    }

    async fn create_endpoint(&self, req: &CreateEndpoint) -> Result<Endpoint, AwsError> {
        let result = self.inner.create_endpoint(req).await;
        let mut entries = lock(&self.routing);
        match (&result, entries.get_mut(&req.vpc_id)) {
            (Ok(ep), Some(entry)) => {
                entry
                    .stale_tables
                    .extend(req.route_table_ids.iter().cloned());
                entry.stale_endpoints.insert(ep.id.clone());
            }
            // Failed: what AWS did is unknown (a timeout may have created it).
            _ => {
                entries.remove(&req.vpc_id);
            }
        }
        result
    }

    async fn modify_endpoint(&self, req: &ModifyEndpoint) -> Result<(), AwsError> {
        let result = self.inner.modify_endpoint(req).await;
        let tables: Vec<String> = req
            .add_route_table_ids
            .iter()
            .chain(&req.remove_route_table_ids)
            .cloned()
            .collect();
        self.endpoint_changed(&req.endpoint_id, &tables, false);
        result
    }

    async fn delete_endpoints(
        &self,
        ids: &[String],
    ) -> Result<Vec<(String, DeleteOutcome)>, AwsError> {
        let result = self.inner.delete_endpoints(ids).await;
        for id in ids {
            self.endpoint_changed(id, &[], true);
        }
        result
    }

    async fn create_tags(
        &self,
        resource: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        let result = self.inner.create_tags(resource, tags).await;
        self.resource_changed(resource);
        result
    }

    async fn delete_tags(&self, resource: &str, keys: &[String]) -> Result<(), AwsError> {
        let result = self.inner.delete_tags(resource, keys).await;
        self.resource_changed(resource);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::fake::FakeEc2;

    fn view(fake: &FakeEc2, ttl: Duration) -> SharedView {
        SharedView::new(Arc::new(fake.clone()), ttl)
    }

    fn describes(calls: &[&str]) -> usize {
        calls.iter().filter(|c| c.starts_with("Describe")).count()
    }

    #[tokio::test]
    async fn two_objects_in_one_vpc_share_one_read() {
        let fake = FakeEc2::with_tables(&["rtb-a", "rtb-b"]);
        let view = view(&fake, Duration::from_secs(60));
        fake.take_calls();
        let (a, b) = tokio::join!(view.routing("vpc-1"), view.routing("vpc-1"));
        assert_eq!(a.unwrap(), b.unwrap());
        let first = fake.take_calls();
        // Route tables then endpoints, once for both.
        assert_eq!(first, vec!["DescribeRouteTables", "DescribeVpcEndpoints"]);
        // Later asks within the window, and what derives from the routing, read nothing.
        view.route_tables("vpc-1").await.unwrap();
        view.subnet_route_table("vpc-1", "subnet-x").await.unwrap();
        assert!(view.vpc_exists("vpc-1").await.unwrap());
        assert_eq!(fake.take_calls(), Vec::<&str>::new());
        // Subnets and the prefix list are read once each too.
        for _ in 0..3 {
            view.subnet_ids("vpc-1").await.unwrap();
            view.prefix_list("com.amazonaws.eu-west-1.dynamodb")
                .await
                .unwrap();
        }
        assert_eq!(describes(&fake.take_calls()), 2);
    }

    #[tokio::test]
    async fn a_mutation_has_what_it_touched_read_again_by_id() {
        let fake = FakeEc2::with_tables(&["rtb-a", "rtb-b"]);
        let view = view(&fake, Duration::from_secs(60));
        let before = view.routing("vpc-1").await.unwrap().unwrap();
        assert!(before.endpoints.is_empty());
        let ep = view
            .create_endpoint(&CreateEndpoint {
                vpc_id: "vpc-1".into(),
                service_name: "com.amazonaws.eu-west-1.dynamodb".into(),
                route_table_ids: vec!["rtb-a".into()],
                policy: None,
                tags: BTreeMap::new(),
                client_token: "t".into(),
            })
            .await
            .unwrap();
        fake.take_calls();
        let after = view.routing("vpc-1").await.unwrap().unwrap();
        assert_eq!(after.endpoints.len(), 1, "{after:?}");
        assert_eq!(describes(&fake.take_calls()), 2, "read again after create");
        // The other table was not read again: the view still has it, and its own answer.
        assert!(after.tables.iter().any(|t| t.id == "rtb-b"));
        // A modify of that endpoint has its tables and the endpoint read again.
        view.modify_endpoint(&ModifyEndpoint {
            endpoint_id: ep.id.clone(),
            add_route_table_ids: vec!["rtb-b".into()],
            ..Default::default()
        })
        .await
        .unwrap();
        fake.take_calls();
        let moved = view.routing("vpc-1").await.unwrap().unwrap();
        assert_eq!(describes(&fake.take_calls()), 2, "read again after modify");
        assert_eq!(moved.endpoints[0].route_table_ids.len(), 2);
    }

    #[tokio::test]
    async fn a_failed_read_is_not_kept_and_an_old_one_expires() {
        let fake = FakeEc2::with_tables(&["rtb-a"]);
        let view = view(&fake, Duration::from_millis(50));
        fake.fail_next("DescribeRouteTables", "RequestLimitExceeded");
        assert!(view.routing("vpc-1").await.is_err());
        fake.take_calls();
        assert!(view.routing("vpc-1").await.unwrap().is_some());
        assert_eq!(
            describes(&fake.take_calls()),
            2,
            "the failure was not reused"
        );
        tokio::time::sleep(Duration::from_millis(80)).await;
        view.routing("vpc-1").await.unwrap();
        assert_eq!(describes(&fake.take_calls()), 2, "expired after the ttl");
    }

    #[tokio::test]
    async fn an_unknown_vpc_is_none_after_one_extra_read() {
        let fake = FakeEc2::with_tables(&["rtb-a"]);
        let view = view(&fake, Duration::from_secs(60));
        fake.take_calls();
        assert!(view.routing("vpc-nope").await.unwrap().is_none());
        assert_eq!(
            fake.take_calls(),
            vec!["DescribeRouteTables", "DescribeVpcs"]
        );
        assert!(!view.vpc_exists("vpc-nope").await.unwrap());
        assert!(fake.take_calls().is_empty());
    }
}
