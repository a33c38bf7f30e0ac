//! An in-memory EC2 that models the documented behaviour the engine relies on, so every engine
//! branch is a fast in-process test (Karpenter's fake cloud provider is the model):
//!
//! - `CreateVpcEndpoint`: `ClientToken` idempotency (same token and parameters → the first
//!   endpoint, in whatever state it is now; other parameters → `IdempotentParameterMismatch`),
//!   `RouteAlreadyExists` when a table already routes the prefix list, unknown tables refused;
//! - `ModifyVpcEndpoint` moves the `pl → vpce` routes; `ResetPolicy` restores full access;
//! - `DeleteVpcEndpoints` answers per id in `Unsuccessful` (`InvalidVpcEndpoint.NotFound`) and
//!   leaves endpoints `deleting` (routes in place) until [`FakeEc2::settle`];
//! - describe lag: a new endpoint stays invisible to the next N describes;
//! - the IAM policy's ownership condition: Modify/Delete refused on endpoints without the uid tag;
//! - injected failures per operation, and a log of every call.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::ec2::{Cloud, Ec2};
use super::probe::{ProbeReport, ProbeRequest};
use super::{
    AwsError, CreateEndpoint, DeleteOutcome, Endpoint, EndpointState, ModifyEndpoint, Placement,
    PolicyChange, PrefixList, RouteTable,
};
use crate::api::{ProbeResult, TAG_UID};
use crate::aws::probe::Canary;

/// The state of the fake account (one region).
#[derive(Debug, Default)]
pub struct World {
    pub vpcs: Vec<String>,
    pub subnets: BTreeMap<String, String>,
    /// Instance id → where it runs.
    pub instances: BTreeMap<String, Placement>,
    /// Security groups by id.
    pub security_groups: BTreeMap<String, super::SecurityGroup>,
    /// Tagged egress rules: rule id → (group id, tags); the rule itself is in the group.
    pub egress_rule_tags: BTreeMap<String, (String, BTreeMap<String, String>)>,
    pub tables: BTreeMap<String, RouteTable>,
    pub prefix_lists: Vec<PrefixList>,
    pub endpoints: BTreeMap<String, Endpoint>,
    /// Token → (endpoint id, the parameters it was created with).
    pub tokens: BTreeMap<String, (String, CreateEndpoint)>,
    /// Endpoint id → describes it stays invisible for.
    pub hidden: BTreeMap<String, u32>,
    /// Every call, by operation name.
    pub calls: Vec<&'static str>,
    /// Errors to answer, per operation, in order.
    pub failures: BTreeMap<&'static str, VecDeque<AwsError>>,
    /// Settings.
    pub describe_lag: u32,
    pub create_state: EndpointState,
    pub require_owner_tag: bool,
    /// What AWS reports after a policy is set (AWS's own canonical form).
    pub policy_echo: Option<fn(&str) -> String>,
    next_id: u32,
}

impl World {
    /// The table a subnet uses: its explicit association, else the VPC's main table.
    pub fn route_table_of(&self, vpc_id: &str, subnet_id: &str) -> Option<String> {
        let explicit = self
            .tables
            .values()
            .find(|t| t.subnet_ids.iter().any(|s| s == subnet_id));
        let main = || self.tables.values().find(|t| t.vpc_id == vpc_id && t.main);
        explicit.or_else(main).map(|t| t.id.clone())
    }

    /// What the canary call answers from `subnet`: the endpoint its table routes the prefix list
    /// to denies the canary when its policy names it (AWS's explicit-deny message), else the
    /// lookup reaches DynamoDB and finds no table.
    fn canary_answer(&self, subnet: &str, canary: &str) -> Canary {
        let Some(vpc) = self.subnets.get(subnet) else {
            return Canary::NotFound;
        };
        let endpoint = self
            .route_table_of(vpc, subnet)
            .and_then(|t| self.tables.get(&t))
            .and_then(|t| t.prefix_list_routes.values().next())
            .and_then(|vpce| self.endpoints.get(vpce));
        match endpoint {
            Some(e) if e.policy.as_deref().is_some_and(|p| p.contains(canary)) => {
                Canary::Denied(format!(
                    "User: r is not authorized to perform: dynamodb:DescribeTable on resource: arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/{canary} with an explicit deny in a VPC endpoint policy"
                ))
            }
            _ => Canary::NotFound,
        }
    }
}

/// A shared handle to the fake account.
#[derive(Clone, Default)]
pub struct FakeEc2(pub Arc<Mutex<World>>);

fn err(op: &'static str, code: &str, msg: &str) -> AwsError {
    AwsError::new("ec2", op, Some(code), msg)
}

impl FakeEc2 {
    /// An account with `vpc-1`: tables `rtb-main` (main) and `rtb-a`… (`tables`), subnet
    /// `subnet-X` associated with `rtb-X`, and the DynamoDB prefix list `pl-ddb` in eu-west-1.
    pub fn with_tables(tables: &[&str]) -> Self {
        let fake = FakeEc2::default();
        {
            let mut w = fake.world();
            w.vpcs.push("vpc-1".into());
            w.create_state = EndpointState::Available;
            w.prefix_lists.push(PrefixList {
                id: "pl-ddb".into(),
                name: "com.amazonaws.eu-west-1.dynamodb".into(),
                cidrs: vec!["3.218.180.0/22".into()],
            });
            w.tables.insert(
                "rtb-main".into(),
                RouteTable {
                    id: "rtb-main".into(),
                    vpc_id: "vpc-1".into(),
                    main: true,
                    ..Default::default()
                },
            );
            for t in tables {
                let subnet = t.replace("rtb-", "subnet-");
                w.subnets.insert(subnet.clone(), "vpc-1".into());
                w.tables.insert(
                    (*t).into(),
                    RouteTable {
                        id: (*t).into(),
                        vpc_id: "vpc-1".into(),
                        subnet_ids: vec![subnet],
                        ..Default::default()
                    },
                );
            }
        }
        fake
    }

    /// The world, locked.
    pub fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes the next call of `op` fail with `code`.
    pub fn fail_next(&self, op: &'static str, code: &str) {
        self.world()
            .failures
            .entry(op)
            .or_default()
            .push_back(err(op, code, "injected"));
    }

    /// Calls made so far, and forgets them.
    pub fn take_calls(&self) -> Vec<&'static str> {
        std::mem::take(&mut self.world().calls)
    }

    /// AWS finishes what is in progress: deleting → deleted (routes removed), pending → available.
    pub fn settle(&self) {
        let mut w = self.world();
        let ids: Vec<String> = w.endpoints.keys().cloned().collect();
        for id in ids {
            let state = w.endpoints[&id].state.clone();
            match state {
                EndpointState::Deleting => {
                    w.endpoints.get_mut(&id).expect("listed").state = EndpointState::Deleted;
                    w.clear_routes(&id);
                }
                EndpointState::Pending => {
                    w.endpoints.get_mut(&id).expect("listed").state = EndpointState::Available
                }
                _ => {}
            }
        }
    }

    /// The endpoint is deleted and long purged: describes do not know it, its routes are gone,
    /// only its create token is still remembered by AWS.
    pub fn purge(&self, id: &str) {
        let mut w = self.world();
        w.endpoints.remove(id);
        w.clear_routes(id);
    }

    /// Someone else's endpoint (no uid tag) routing `table`.
    pub fn foreign_endpoint(&self, id: &str, table: &str) {
        let mut w = self.world();
        w.endpoints.insert(
            id.into(),
            Endpoint {
                id: id.into(),
                vpc_id: "vpc-1".into(),
                service_name: "com.amazonaws.eu-west-1.dynamodb".into(),
                state: EndpointState::Available,
                route_table_ids: vec![table.into()],
                ..Default::default()
            },
        );
        w.route(table, id);
    }

    /// Live endpoints (not deleting or deleted).
    pub fn live(&self) -> Vec<Endpoint> {
        self.world()
            .endpoints
            .values()
            .filter(|e| !e.state.is_leaving())
            .cloned()
            .collect()
    }

    fn call<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&mut World) -> Result<T, AwsError>,
    ) -> Result<T, AwsError> {
        let mut w = self.world();
        w.calls.push(op);
        if let Some(e) = w.failures.get_mut(op).and_then(VecDeque::pop_front) {
            return Err(e);
        }
        f(&mut w)
    }
}

impl World {
    fn route(&mut self, table: &str, target: &str) {
        let pl = self.prefix_lists[0].id.clone();
        if let Some(t) = self.tables.get_mut(table) {
            t.prefix_list_routes.insert(pl, target.to_owned());
        }
    }

    fn unroute(&mut self, table: &str, target: &str) {
        let pl = self.prefix_lists[0].id.clone();
        if let Some(t) = self.tables.get_mut(table)
            && t.prefix_list_routes.get(&pl).map(String::as_str) == Some(target)
        {
            t.prefix_list_routes.remove(&pl);
        }
    }

    fn clear_routes(&mut self, id: &str) {
        let tables: Vec<String> = self.tables.keys().cloned().collect();
        for t in tables {
            self.unroute(&t, id);
        }
    }

    /// `RouteAlreadyExists` unless every table is free (or already routed to `id`).
    fn require_free(
        &self,
        op: &'static str,
        tables: &[String],
        id: Option<&str>,
    ) -> Result<(), AwsError> {
        let pl = &self.prefix_lists[0].id;
        for t in tables {
            let table = self
                .tables
                .get(t)
                .ok_or_else(|| err(op, "InvalidRouteTableID.NotFound", t))?;
            if let Some(target) = table.prefix_list_routes.get(pl)
                && Some(target.as_str()) != id
            {
                return Err(err(
                    op,
                    "RouteAlreadyExists",
                    &format!(
                        "route table {t} already has a route with destination-prefix-list-id {pl}"
                    ),
                ));
            }
        }
        Ok(())
    }

    fn owned(&self, op: &'static str, id: &str) -> Result<(), AwsError> {
        if self.require_owner_tag
            && self
                .endpoints
                .get(id)
                .is_some_and(|e| !e.tags.contains_key(TAG_UID))
        {
            return Err(err(
                op,
                "UnauthorizedOperation",
                "You are not authorized to perform this operation.",
            ));
        }
        Ok(())
    }

    fn visible(&mut self, found: Vec<Endpoint>) -> Vec<Endpoint> {
        found
            .into_iter()
            .filter(|e| match self.hidden.get_mut(&e.id) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    false
                }
                _ => true,
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl Ec2 for FakeEc2 {
    async fn vpc_exists(&self, vpc_id: &str) -> Result<bool, AwsError> {
        self.call("DescribeVpcs", |w| Ok(w.vpcs.iter().any(|v| v == vpc_id)))
    }

    async fn route_tables(&self, vpc_id: &str) -> Result<Vec<RouteTable>, AwsError> {
        self.call("DescribeRouteTables", |w| {
            Ok(w.tables
                .values()
                .filter(|t| t.vpc_id == vpc_id)
                .cloned()
                .collect())
        })
    }

    async fn subnet_route_table(
        &self,
        vpc_id: &str,
        subnet_id: &str,
    ) -> Result<Option<String>, AwsError> {
        self.call("DescribeRouteTables", |w| {
            Ok(w.route_table_of(vpc_id, subnet_id))
        })
    }

    async fn security_groups(&self, ids: &[String]) -> Result<Vec<super::SecurityGroup>, AwsError> {
        self.call("DescribeSecurityGroups", |w| {
            Ok(ids
                .iter()
                .filter_map(|id| w.security_groups.get(id).cloned())
                .collect())
        })
    }

    async fn authorize_egress(
        &self,
        group_id: &str,
        prefix_list_id: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        self.call("AuthorizeSecurityGroupEgress", |w| {
            w.next_id += 1;
            let rule_id = format!("sgr-{:04}", w.next_id);
            let group = w.security_groups.get_mut(group_id).ok_or_else(|| {
                err(
                    "AuthorizeSecurityGroupEgress",
                    "InvalidGroup.NotFound",
                    group_id,
                )
            })?;
            group.egress.push(super::EgressRule {
                protocol: "tcp".into(),
                from_port: Some(443),
                to_port: Some(443),
                cidrs: Vec::new(),
                prefix_lists: vec![prefix_list_id.to_owned()],
            });
            w.egress_rule_tags
                .insert(rule_id, (group_id.to_owned(), tags.clone()));
            Ok(())
        })
    }

    async fn tagged_egress_rules(
        &self,
        key: &str,
        value: &str,
    ) -> Result<Vec<(String, String)>, AwsError> {
        self.call("DescribeSecurityGroupRules", |w| {
            Ok(w.egress_rule_tags
                .iter()
                .filter(|(_, (_, tags))| tags.get(key).map(String::as_str) == Some(value))
                .map(|(rule, (group, _))| (group.clone(), rule.clone()))
                .collect())
        })
    }

    async fn revoke_egress(&self, group_id: &str, rule_ids: &[String]) -> Result<(), AwsError> {
        self.call("RevokeSecurityGroupEgress", |w| {
            for id in rule_ids {
                if w.egress_rule_tags.remove(id).is_some()
                    && let Some(g) = w.security_groups.get_mut(group_id)
                {
                    // The fake keeps one rule per authorize; drop the last prefix-list rule.
                    if let Some(i) = g.egress.iter().rposition(|r| !r.prefix_lists.is_empty()) {
                        g.egress.remove(i);
                    }
                }
            }
            Ok(())
        })
    }

    async fn prefix_list_cidrs(&self, id: &str) -> Result<Vec<String>, AwsError> {
        self.call("GetManagedPrefixListEntries", |w| {
            Ok(w.prefix_lists
                .iter()
                .find(|p| p.id == id)
                .map(|p| p.cidrs.clone())
                .unwrap_or_default())
        })
    }

    async fn instances(&self, ids: &[String]) -> Result<Vec<super::Instance>, AwsError> {
        self.call("DescribeInstances", |w| {
            Ok(ids
                .iter()
                .filter_map(|id| {
                    w.instances.get(id).map(|p| super::Instance {
                        id: id.clone(),
                        vpc_id: p.vpc_id.clone(),
                        subnet_id: p.subnet_id.clone(),
                        security_groups: Vec::new(),
                    })
                })
                .collect())
        })
    }

    async fn instance_placement(&self, instance_id: &str) -> Result<Option<Placement>, AwsError> {
        self.call("DescribeInstances", |w| {
            Ok(w.instances.get(instance_id).cloned())
        })
    }

    async fn subnet_ids(&self, vpc_id: &str) -> Result<Vec<String>, AwsError> {
        self.call("DescribeSubnets", |w| {
            Ok(w.subnets
                .iter()
                .filter(|(_, v)| *v == vpc_id)
                .map(|(s, _)| s.clone())
                .collect())
        })
    }

    async fn prefix_list(&self, name: &str) -> Result<Option<PrefixList>, AwsError> {
        self.call("DescribePrefixLists", |w| {
            Ok(w.prefix_lists.iter().find(|p| p.name == name).cloned())
        })
    }

    async fn endpoints_by_tag(&self, key: &str, value: &str) -> Result<Vec<Endpoint>, AwsError> {
        self.call("DescribeVpcEndpoints", |w| {
            let found = w
                .endpoints
                .values()
                .filter(|e| e.tags.get(key).map(String::as_str) == Some(value))
                .cloned()
                .collect();
            Ok(w.visible(found))
        })
    }

    async fn vpc_endpoints(&self, vpc_id: &str) -> Result<Vec<Endpoint>, AwsError> {
        self.call("DescribeVpcEndpoints", |w| {
            let found = w
                .endpoints
                .values()
                .filter(|e| e.vpc_id == vpc_id)
                .cloned()
                .collect();
            Ok(w.visible(found))
        })
    }

    async fn route_tables_by_id(
        &self,
        vpc_id: &str,
        ids: &[String],
    ) -> Result<Vec<RouteTable>, AwsError> {
        self.call("DescribeRouteTables", |w| {
            Ok(w.tables
                .values()
                .filter(|t| t.vpc_id == vpc_id && ids.contains(&t.id))
                .cloned()
                .collect())
        })
    }

    async fn endpoints_by_id(&self, ids: &[String]) -> Result<Vec<Endpoint>, AwsError> {
        self.call("DescribeVpcEndpoints", |w| {
            let found = w
                .endpoints
                .values()
                .filter(|e| ids.contains(&e.id))
                .cloned()
                .collect();
            Ok(w.visible(found))
        })
    }

    async fn endpoint(&self, id: &str) -> Result<Option<Endpoint>, AwsError> {
        self.call("DescribeVpcEndpoints", |w| {
            let found = w.endpoints.get(id).cloned().into_iter().collect();
            Ok(w.visible(found).into_iter().next())
        })
    }

    async fn create_endpoint(&self, req: &CreateEndpoint) -> Result<Endpoint, AwsError> {
        const OP: &str = "CreateVpcEndpoint";
        self.call(OP, |w| {
            if let Some((id, params)) = w.tokens.get(&req.client_token) {
                if params != req {
                    return Err(err(
                        OP,
                        "IdempotentParameterMismatch",
                        "The client token you have provided is associated with a resource that is already deleted or has different parameters.",
                    ));
                }
                // Long purged from describes: AWS still knows what the token made.
                return Ok(w.endpoints.get(id).cloned().unwrap_or_else(|| Endpoint {
                    id: id.clone(),
                    state: EndpointState::Deleted,
                    ..Default::default()
                }));
            }
            if !w.vpcs.contains(&req.vpc_id) {
                return Err(err(OP, "InvalidVpcID.NotFound", &req.vpc_id));
            }
            w.require_free(OP, &req.route_table_ids, None)?;
            w.next_id += 1;
            let id = format!("vpce-{:017x}", w.next_id);
            let ep = Endpoint {
                id: id.clone(),
                vpc_id: req.vpc_id.clone(),
                service_name: req.service_name.clone(),
                state: w.create_state.clone(),
                route_table_ids: req.route_table_ids.clone(),
                policy: req.policy.clone(),
                tags: req.tags.clone(),
                created: i64::from(w.next_id),
            };
            for t in &req.route_table_ids {
                w.route(t, &id);
            }
            w.endpoints.insert(id.clone(), ep.clone());
            w.tokens.insert(req.client_token.clone(), (id.clone(), req.clone()));
            let lag = w.describe_lag;
            w.hidden.insert(id, lag);
            Ok(ep)
        })
    }

    async fn modify_endpoint(&self, req: &ModifyEndpoint) -> Result<(), AwsError> {
        const OP: &str = "ModifyVpcEndpoint";
        self.call(OP, |w| {
            let id = req.endpoint_id.as_str();
            if !w.endpoints.contains_key(id) {
                return Err(err(OP, "InvalidVpcEndpointId.NotFound", id));
            }
            w.owned(OP, id)?;
            w.require_free(OP, &req.add_route_table_ids, Some(id))?;
            for t in &req.add_route_table_ids {
                w.route(t, id);
            }
            for t in &req.remove_route_table_ids {
                w.unroute(t, id);
            }
            let echo = w.policy_echo;
            let ep = w.endpoints.get_mut(id).expect("checked");
            ep.route_table_ids
                .retain(|t| !req.remove_route_table_ids.contains(t));
            for t in &req.add_route_table_ids {
                if !ep.route_table_ids.contains(t) {
                    ep.route_table_ids.push(t.clone());
                }
            }
            match &req.policy {
                Some(PolicyChange::Set(doc)) => {
                    ep.policy = Some(echo.map_or_else(|| doc.clone(), |f| f(doc)))
                }
                Some(PolicyChange::Reset) => ep.policy = None,
                None => {}
            }
            Ok(())
        })
    }

    async fn delete_endpoints(
        &self,
        ids: &[String],
    ) -> Result<Vec<(String, DeleteOutcome)>, AwsError> {
        const OP: &str = "DeleteVpcEndpoints";
        self.call(OP, |w| {
            Ok(ids
                .iter()
                .map(|id| {
                    let outcome = match w.endpoints.get(id).map(|e| e.state.clone()) {
                        None | Some(EndpointState::Deleted) => DeleteOutcome::AlreadyGone,
                        Some(_) => match w.owned(OP, id) {
                            Err(e) => DeleteOutcome::Failed(e),
                            Ok(()) => {
                                w.endpoints.get_mut(id).expect("present").state =
                                    EndpointState::Deleting;
                                DeleteOutcome::Accepted
                            }
                        },
                    };
                    (id.clone(), outcome)
                })
                .collect())
        })
    }

    async fn create_tags(
        &self,
        resource: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        self.call("CreateTags", |w| {
            w.owned("CreateTags", resource)?;
            let ep = w
                .endpoints
                .get_mut(resource)
                .ok_or_else(|| err("CreateTags", "InvalidVpcEndpointId.NotFound", resource))?;
            ep.tags.extend(tags.clone());
            Ok(())
        })
    }

    async fn delete_tags(&self, resource: &str, keys: &[String]) -> Result<(), AwsError> {
        self.call("DeleteTags", |w| {
            w.owned("DeleteTags", resource)?;
            let ep = w
                .endpoints
                .get_mut(resource)
                .ok_or_else(|| err("DeleteTags", "InvalidVpcEndpointId.NotFound", resource))?;
            ep.tags.retain(|k, _| !keys.contains(k));
            Ok(())
        })
    }
}

/// The fake account as the engine's [`Cloud`]; the probe's read answers with `probe_result`,
/// its canary call as AWS would for a caller in `caller_subnet`.
#[derive(Clone)]
pub struct FakeCloud {
    pub ec2: FakeEc2,
    pub probe_result: Arc<Mutex<ProbeResult>>,
    /// The subnet the probe's requests leave from (`None`: not on any VPC route).
    pub caller_subnet: Arc<Mutex<Option<String>>>,
    /// How long each probe takes.
    pub probe_delay: Arc<Mutex<Duration>>,
    /// EC2 behind a shared view, when the test asks for one.
    pub view: Option<Arc<dyn Ec2>>,
}

impl FakeCloud {
    pub fn new(ec2: FakeEc2) -> Self {
        FakeCloud {
            ec2,
            probe_result: Arc::new(Mutex::new(ProbeResult::Succeeded)),
            caller_subnet: Arc::default(),
            probe_delay: Arc::default(),
            view: None,
        }
    }

    /// Serves EC2 through one shared view ([`super::view::SharedView`]) with this freshness, as
    /// the real clients do.
    pub fn shared(mut self, ttl: Duration) -> Self {
        self.view = Some(Arc::new(super::view::SharedView::new(
            Arc::new(self.ec2.clone()),
            ttl,
        )));
        self
    }
}

/// The fake account's id.
pub const ACCOUNT: &str = "111122223333";

#[async_trait::async_trait]
impl Cloud for FakeCloud {
    async fn account_id(&self, _region: &str) -> Result<String, AwsError> {
        Ok(ACCOUNT.to_owned())
    }

    fn ec2(&self, _region: &str) -> Arc<dyn Ec2> {
        match &self.view {
            Some(view) => view.clone(),
            None => Arc::new(self.ec2.clone()),
        }
    }

    async fn probe(&self, _region: &str, req: &ProbeRequest<'_>) -> ProbeReport {
        let delay = *self.probe_delay.lock().unwrap_or_else(|e| e.into_inner());
        tokio::time::sleep(delay.min(req.timeout)).await;
        let result = if delay >= req.timeout {
            ProbeResult::Timeout
        } else {
            *self.probe_result.lock().unwrap_or_else(|e| e.into_inner())
        };
        let subnet = self
            .caller_subnet
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let canary = req.canary.map(|c| match &subnet {
            Some(s) => self.ec2.world().canary_answer(s, c),
            None => Canary::NotFound,
        });
        ProbeReport {
            result,
            operation: if req.table.is_some() {
                "DescribeTable".into()
            } else {
                "ListTables".into()
            },
            host: "dynamodb.eu-west-1.amazonaws.com".into(),
            addresses: Vec::new(),
            canary,
            latency: Some(Duration::from_millis(7)),
            message: (result != ProbeResult::Succeeded)
                .then(|| format!("probe: {}", result.as_str())),
        }
    }
}
