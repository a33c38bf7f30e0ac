//! [`Ec2`] over the AWS SDK: each call returns the engine's own types and a classified
//! [`AwsError`]. The preflight's own reads and `DryRun` calls are in [`super::sdk_preflight`].

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{
    Filter, ResourceType, Tag, TagSpecification, VpcEndpoint, VpcEndpointType,
};

use super::ec2::Ec2;
use super::{
    AwsError, CreateEndpoint, DeleteOutcome, EgressRule, Endpoint, EndpointState, Instance,
    ModifyEndpoint, Placement, PolicyChange, PrefixList, RouteTable, SecurityGroup,
};
use crate::aws::CallObserver;

/// The EC2 SDK client for one region.
#[derive(Clone)]
pub struct SdkEc2 {
    pub(super) client: Client,
    observer: CallObserver,
}

/// Values per `instance-id` filter in one `DescribeInstances` call.
const INSTANCE_IDS_PER_CALL: usize = 200;

pub(super) fn filter(name: &str, values: impl IntoIterator<Item = impl Into<String>>) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.into_iter().map(Into::into).collect()))
        .build()
}

fn tags_to_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

fn endpoint_from_sdk(e: &VpcEndpoint) -> Endpoint {
    Endpoint {
        id: e.vpc_endpoint_id().unwrap_or_default().to_owned(),
        vpc_id: e.vpc_id().unwrap_or_default().to_owned(),
        service_name: e.service_name().unwrap_or_default().to_owned(),
        state: EndpointState::parse(e.state().map(|s| s.as_str()).unwrap_or_default()),
        route_table_ids: e.route_table_ids().to_vec(),
        policy: e.policy_document().map(str::to_owned),
        tags: tags_to_map(e.tags()),
        created: e.creation_timestamp().map(|t| t.secs()).unwrap_or_default(),
    }
}

impl SdkEc2 {
    /// Wraps an SDK client; `observer` sees every call's operation and error code.
    pub fn new(client: Client, observer: CallObserver) -> Self {
        SdkEc2 { client, observer }
    }

    pub(super) async fn call<T, E, R>(
        &self,
        operation: &'static str,
        fut: impl Future<Output = Result<T, SdkError<E, R>>>,
    ) -> Result<T, AwsError>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: fmt::Debug,
    {
        let result = fut
            .await
            .map_err(|e| AwsError::from_sdk("ec2", operation, e));
        self.observer
            .observe("ec2", operation, result.as_ref().err());
        result
    }

    /// Route tables matching the filters (paginated).
    async fn describe_route_tables(
        &self,
        filters: Vec<Filter>,
    ) -> Result<Vec<RouteTable>, AwsError> {
        let mut tables = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let req = self
                .client
                .describe_route_tables()
                .set_filters(Some(filters.clone()))
                .set_next_token(token.take())
                .send();
            let out = self.call("DescribeRouteTables", req).await?;
            for rt in out.route_tables() {
                let mut subnet_ids: Vec<String> = rt
                    .associations()
                    .iter()
                    .filter_map(|a| a.subnet_id().map(str::to_owned))
                    .collect();
                subnet_ids.sort();
                tables.push(RouteTable {
                    id: rt.route_table_id().unwrap_or_default().to_owned(),
                    vpc_id: rt.vpc_id().unwrap_or_default().to_owned(),
                    main: rt.associations().iter().any(|a| a.main() == Some(true)),
                    subnet_ids,
                    tags: tags_to_map(rt.tags()),
                    prefix_list_routes: rt
                        .routes()
                        .iter()
                        .filter_map(|r| {
                            let pl = r.destination_prefix_list_id()?;
                            // Gateway endpoints are `gateway_id`; a prefix list can also be
                            // routed to a NAT or transit gateway, an interface or an instance.
                            let target = r
                                .gateway_id()
                                .or(r.nat_gateway_id())
                                .or(r.transit_gateway_id())
                                .or(r.network_interface_id())
                                .or(r.instance_id())
                                .or(r.vpc_peering_connection_id())
                                .unwrap_or("unknown target");
                            Some((pl.to_owned(), target.to_owned()))
                        })
                        .collect(),
                });
            }
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
        tables.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(tables)
    }

    async fn describe_endpoints(&self, filters: Vec<Filter>) -> Result<Vec<Endpoint>, AwsError> {
        let mut found = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let req = self
                .client
                .describe_vpc_endpoints()
                .set_filters(Some(filters.clone()))
                .set_next_token(token.take())
                .send();
            let out = self.call("DescribeVpcEndpoints", req).await?;
            found.extend(out.vpc_endpoints().iter().map(endpoint_from_sdk));
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
        Ok(found)
    }
}

#[async_trait::async_trait]
impl Ec2 for SdkEc2 {
    /// Whether the VPC exists (`InvalidVpcID.NotFound` is answered as `false`).
    async fn vpc_exists(&self, vpc_id: &str) -> Result<bool, AwsError> {
        let req = self.client.describe_vpcs().vpc_ids(vpc_id).send();
        match self.call("DescribeVpcs", req).await {
            Ok(out) => Ok(out.vpcs().iter().any(|v| v.vpc_id() == Some(vpc_id))),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// All route tables of a VPC (one paginated describe).
    async fn route_tables(&self, vpc_id: &str) -> Result<Vec<RouteTable>, AwsError> {
        self.describe_route_tables(vec![filter("vpc-id", [vpc_id])])
            .await
    }

    /// The route table a subnet uses: its explicit association, else the VPC's main table.
    async fn subnet_route_table(
        &self,
        vpc_id: &str,
        subnet_id: &str,
    ) -> Result<Option<String>, AwsError> {
        let explicit = self
            .describe_route_tables(vec![filter("association.subnet-id", [subnet_id])])
            .await?;
        if let Some(rt) = explicit.first() {
            return Ok(Some(rt.id.clone()));
        }
        let main = self
            .describe_route_tables(vec![
                filter("vpc-id", [vpc_id]),
                filter("association.main", ["true"]),
            ])
            .await?;
        Ok(main.first().map(|rt| rt.id.clone()))
    }

    /// Instances by id: the `instance-id` filter (unknown ids are simply absent, where the
    /// `InstanceIds` parameter would fail the whole call), 200 values a call, paginated.
    async fn instances(&self, ids: &[String]) -> Result<Vec<Instance>, AwsError> {
        let mut found = Vec::new();
        for chunk in ids.chunks(INSTANCE_IDS_PER_CALL) {
            let mut token: Option<String> = None;
            loop {
                let req = self
                    .client
                    .describe_instances()
                    .filters(filter("instance-id", chunk.iter().cloned()))
                    .max_results(1000)
                    .set_next_token(token.take())
                    .send();
                let out = self.call("DescribeInstances", req).await?;
                for i in out.reservations().iter().flat_map(|r| r.instances()) {
                    let (Some(id), Some(vpc), Some(subnet)) =
                        (i.instance_id(), i.vpc_id(), i.subnet_id())
                    else {
                        continue;
                    };
                    found.push(Instance {
                        id: id.to_owned(),
                        vpc_id: vpc.to_owned(),
                        subnet_id: subnet.to_owned(),
                        security_groups: i
                            .security_groups()
                            .iter()
                            .filter_map(|g| g.group_id().map(str::to_owned))
                            .collect(),
                    });
                }
                match out.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                    _ => break,
                }
            }
        }
        Ok(found)
    }

    /// Security groups by id (the `group-id` filter: unknown ids are simply absent), paginated.
    async fn security_groups(&self, ids: &[String]) -> Result<Vec<SecurityGroup>, AwsError> {
        let mut found = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let req = self
                .client
                .describe_security_groups()
                .filters(filter("group-id", ids.iter().cloned()))
                .max_results(1000)
                .set_next_token(token.take())
                .send();
            let out = self.call("DescribeSecurityGroups", req).await?;
            for g in out.security_groups() {
                let Some(id) = g.group_id() else { continue };
                found.push(SecurityGroup {
                    id: id.to_owned(),
                    vpc_id: g.vpc_id().unwrap_or_default().to_owned(),
                    egress: g
                        .ip_permissions_egress()
                        .iter()
                        .map(|p| EgressRule {
                            protocol: p.ip_protocol().unwrap_or("-1").to_owned(),
                            from_port: p.from_port(),
                            to_port: p.to_port(),
                            cidrs: p
                                .ip_ranges()
                                .iter()
                                .filter_map(|r| r.cidr_ip().map(str::to_owned))
                                .collect(),
                            prefix_lists: p
                                .prefix_list_ids()
                                .iter()
                                .filter_map(|r| r.prefix_list_id().map(str::to_owned))
                                .collect(),
                        })
                        .collect(),
                });
            }
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
        Ok(found)
    }

    /// The CIDRs of a managed prefix list (paginated).
    async fn prefix_list_cidrs(&self, id: &str) -> Result<Vec<String>, AwsError> {
        let mut cidrs = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let req = self
                .client
                .get_managed_prefix_list_entries()
                .prefix_list_id(id)
                .set_next_token(token.take())
                .send();
            let out = self.call("GetManagedPrefixListEntries", req).await?;
            cidrs.extend(
                out.entries()
                    .iter()
                    .filter_map(|e| e.cidr().map(str::to_owned)),
            );
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
        Ok(cidrs)
    }

    /// The subnet and VPC of an instance; `None` when AWS does not know it.
    async fn instance_placement(&self, instance_id: &str) -> Result<Option<Placement>, AwsError> {
        let req = self
            .client
            .describe_instances()
            .filters(filter("instance-id", [instance_id]))
            .send();
        let out = match self.call("DescribeInstances", req).await {
            Ok(out) => out,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find(|i| i.instance_id() == Some(instance_id))
            .and_then(|i| {
                Some(Placement {
                    subnet_id: i.subnet_id()?.to_owned(),
                    vpc_id: i.vpc_id()?.to_owned(),
                })
            }))
    }

    /// Ids of all subnets of a VPC (one paginated describe).
    async fn subnet_ids(&self, vpc_id: &str) -> Result<Vec<String>, AwsError> {
        let mut ids = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let req = self
                .client
                .describe_subnets()
                .filters(filter("vpc-id", [vpc_id]))
                .set_next_token(token.take())
                .send();
            let out = self.call("DescribeSubnets", req).await?;
            ids.extend(
                out.subnets()
                    .iter()
                    .filter_map(|s| s.subnet_id().map(str::to_owned)),
            );
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// The AWS-managed prefix list with this name (`com.amazonaws.<region>.<service>`).
    async fn prefix_list(&self, name: &str) -> Result<Option<PrefixList>, AwsError> {
        let req = self
            .client
            .describe_prefix_lists()
            .filters(filter("prefix-list-name", [name]))
            .send();
        let out = self.call("DescribePrefixLists", req).await?;
        let Some(list) = out.prefix_lists().iter().find_map(|p| {
            Some(PrefixList {
                id: p.prefix_list_id()?.to_owned(),
                name: p.prefix_list_name().unwrap_or(name).to_owned(),
                cidrs: p.cidrs().to_vec(),
            })
        }) else {
            return Ok(None);
        };
        Ok(Some(list))
    }

    /// Endpoints carrying the tag `key=value`, in any state.
    async fn endpoints_by_tag(&self, key: &str, value: &str) -> Result<Vec<Endpoint>, AwsError> {
        self.describe_endpoints(vec![filter(&format!("tag:{key}"), [value])])
            .await
    }

    /// Route tables by id, in the VPC (filtered server-side).
    async fn route_tables_by_id(
        &self,
        vpc_id: &str,
        ids: &[String],
    ) -> Result<Vec<RouteTable>, AwsError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.describe_route_tables(vec![
            filter("vpc-id", [vpc_id]),
            filter("route-table-id", ids.iter().cloned()),
        ])
        .await
    }

    /// Endpoints by id (the `vpc-endpoint-id` filter: unknown ids are simply absent).
    async fn endpoints_by_id(&self, ids: &[String]) -> Result<Vec<Endpoint>, AwsError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        match self
            .describe_endpoints(vec![filter("vpc-endpoint-id", ids.iter().cloned())])
            .await
        {
            Err(e) if e.is_not_found() => Ok(Vec::new()),
            other => other,
        }
    }

    /// Every gateway endpoint in a VPC (filtered server-side).
    async fn vpc_endpoints(&self, vpc_id: &str) -> Result<Vec<Endpoint>, AwsError> {
        self.describe_endpoints(vec![
            filter("vpc-id", [vpc_id]),
            filter("vpc-endpoint-type", ["Gateway"]),
        ])
        .await
    }

    /// One endpoint by id; `None` when AWS says it does not exist.
    async fn endpoint(&self, id: &str) -> Result<Option<Endpoint>, AwsError> {
        match self
            .describe_endpoints(vec![filter("vpc-endpoint-id", [id])])
            .await
        {
            Ok(found) => Ok(found.into_iter().find(|e| e.id == id)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates a gateway endpoint; with the same `client_token` AWS returns the same endpoint.
    async fn create_endpoint(&self, req: &CreateEndpoint) -> Result<Endpoint, AwsError> {
        let tags: Vec<Tag> = req
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        let call = self
            .client
            .create_vpc_endpoint()
            .vpc_id(&req.vpc_id)
            .service_name(&req.service_name)
            .vpc_endpoint_type(VpcEndpointType::Gateway)
            .set_route_table_ids(Some(req.route_table_ids.clone()))
            .set_policy_document(req.policy.clone())
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::VpcEndpoint)
                    .set_tags(Some(tags))
                    .build(),
            )
            .client_token(&req.client_token)
            .send();
        let out = self.call("CreateVpcEndpoint", call).await?;
        out.vpc_endpoint().map(endpoint_from_sdk).ok_or_else(|| {
            AwsError::new(
                "ec2",
                "CreateVpcEndpoint",
                None,
                "response carried no endpoint",
            )
        })
    }

    /// One `ModifyVpcEndpoint` call: route-table set difference and/or policy.
    async fn modify_endpoint(&self, req: &ModifyEndpoint) -> Result<(), AwsError> {
        let mut call = self
            .client
            .modify_vpc_endpoint()
            .vpc_endpoint_id(&req.endpoint_id);
        if !req.add_route_table_ids.is_empty() {
            call = call.set_add_route_table_ids(Some(req.add_route_table_ids.clone()));
        }
        if !req.remove_route_table_ids.is_empty() {
            call = call.set_remove_route_table_ids(Some(req.remove_route_table_ids.clone()));
        }
        call = match &req.policy {
            Some(PolicyChange::Set(doc)) => call.policy_document(doc),
            Some(PolicyChange::Reset) => call.reset_policy(true),
            None => call,
        };
        self.call("ModifyVpcEndpoint", call.send()).await?;
        Ok(())
    }

    /// Deletes endpoints; reads the `Unsuccessful` list, where failures hide in an HTTP 200.
    async fn delete_endpoints(
        &self,
        ids: &[String],
    ) -> Result<Vec<(String, DeleteOutcome)>, AwsError> {
        let req = self
            .client
            .delete_vpc_endpoints()
            .set_vpc_endpoint_ids(Some(ids.to_vec()))
            .send();
        let out = self.call("DeleteVpcEndpoints", req).await?;
        Ok(delete_outcomes(ids, out.unsuccessful()))
    }

    /// Adds or overwrites tags on a resource.
    async fn create_tags(
        &self,
        resource: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        let tags: Vec<Tag> = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        let req = self
            .client
            .create_tags()
            .resources(resource)
            .set_tags(Some(tags))
            .send();
        self.call("CreateTags", req).await?;
        Ok(())
    }

    /// Removes tags (by key, whatever their value) from a resource.
    async fn authorize_egress(
        &self,
        group_id: &str,
        prefix_list_id: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        let permission = aws_sdk_ec2::types::IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(443)
            .to_port(443)
            .prefix_list_ids(
                aws_sdk_ec2::types::PrefixListId::builder()
                    .prefix_list_id(prefix_list_id)
                    .description("vpcgate: tcp/443 to the gateway endpoint's service")
                    .build(),
            )
            .build();
        let spec = TagSpecification::builder()
            .resource_type(ResourceType::SecurityGroupRule)
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .build();
        let req = self
            .client
            .authorize_security_group_egress()
            .group_id(group_id)
            .ip_permissions(permission)
            .tag_specifications(spec)
            .send();
        self.call("AuthorizeSecurityGroupEgress", req).await?;
        Ok(())
    }

    async fn tagged_egress_rules(
        &self,
        key: &str,
        value: &str,
    ) -> Result<Vec<(String, String)>, AwsError> {
        let mut found = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let req = self
                .client
                .describe_security_group_rules()
                .filters(filter(&format!("tag:{key}"), [value]))
                .max_results(1000)
                .set_next_token(token.take())
                .send();
            let out = self.call("DescribeSecurityGroupRules", req).await?;
            found.extend(out.security_group_rules().iter().filter_map(|r| {
                (r.is_egress() == Some(true)).then_some(())?;
                Some((
                    r.group_id()?.to_owned(),
                    r.security_group_rule_id()?.to_owned(),
                ))
            }));
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
        Ok(found)
    }

    async fn revoke_egress(&self, group_id: &str, rule_ids: &[String]) -> Result<(), AwsError> {
        let req = self
            .client
            .revoke_security_group_egress()
            .group_id(group_id)
            .set_security_group_rule_ids(Some(rule_ids.to_vec()))
            .send();
        self.call("RevokeSecurityGroupEgress", req).await?;
        Ok(())
    }

    async fn delete_tags(&self, resource: &str, keys: &[String]) -> Result<(), AwsError> {
        let tags: Vec<Tag> = keys.iter().map(|k| Tag::builder().key(k).build()).collect();
        let req = self
            .client
            .delete_tags()
            .resources(resource)
            .set_tags(Some(tags))
            .send();
        self.call("DeleteTags", req).await?;
        Ok(())
    }
}

/// Pairs each requested id with its outcome. `InvalidVpcEndpoint*.NotFound` means already gone.
fn delete_outcomes(
    ids: &[String],
    unsuccessful: &[aws_sdk_ec2::types::UnsuccessfulItem],
) -> Vec<(String, DeleteOutcome)> {
    ids.iter()
        .map(|id| {
            let failure = unsuccessful
                .iter()
                .find(|u| u.resource_id() == Some(id.as_str()));
            let outcome = match failure.and_then(|u| u.error()) {
                None if failure.is_none() => DeleteOutcome::Accepted,
                err => {
                    let code = err.and_then(|e| e.code());
                    let message = err.and_then(|e| e.message()).unwrap_or("no message");
                    let e = AwsError::new("ec2", "DeleteVpcEndpoints", code, message);
                    if e.is_not_found() {
                        DeleteOutcome::AlreadyGone
                    } else {
                        DeleteOutcome::Failed(e)
                    }
                }
            };
            (id.clone(), outcome)
        })
        .collect()
}

/// The SDK edge: real SDK clients with mocked HTTP answers, shaped like EC2's XML error bodies.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::{CallObserver, ErrorClass};
    use aws_credential_types::Credentials;
    use aws_sdk_ec2::config::{BehaviorVersion, Region};
    use aws_sdk_ec2::operation::create_vpc_endpoint::CreateVpcEndpointOutput;
    use aws_sdk_ec2::operation::delete_vpc_endpoints::DeleteVpcEndpointsOutput;
    use aws_sdk_ec2::types::{UnsuccessfulItem, UnsuccessfulItemError};
    use aws_smithy_mocks::{Rule, RuleMode, create_mock_http_client, mock};
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use std::sync::{Arc, Mutex};

    fn ec2_with(rules: &[&Rule], observer: CallObserver) -> SdkEc2 {
        let mut interceptor =
            aws_smithy_mocks::MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        for r in rules {
            interceptor = interceptor.with_rule(r);
        }
        let conf = aws_sdk_ec2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
            .http_client(create_mock_http_client())
            .interceptor(interceptor)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        SdkEc2::new(Client::from_conf(conf), observer)
    }

    fn ec2_error(status: u16, code: &str) -> Response {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>message for {code}</Message></Error></Errors><RequestID>req-1</RequestID></Response>"
        );
        Response::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
    }

    fn sample_create() -> CreateEndpoint {
        CreateEndpoint {
            vpc_id: "vpc-12345678".into(),
            service_name: "com.amazonaws.eu-west-1.dynamodb".into(),
            route_table_ids: vec!["rtb-12345678".into()],
            policy: None,
            tags: BTreeMap::from([("vpcgate.dev/uid".to_string(), "u".to_string())]),
            client_token: "vpcgate-u-0".into(),
        }
    }

    #[tokio::test]
    async fn every_error_code_is_classified_at_the_sdk_edge() {
        let cases = [
            (
                400,
                "RouteAlreadyExists",
                ErrorClass::Conflict,
                "RouteTableConflict",
            ),
            (
                400,
                "IdempotentParameterMismatch",
                ErrorClass::Conflict,
                "IdempotentParameterMismatch",
            ),
            (
                400,
                "VpcEndpointLimitExceeded",
                ErrorClass::Conflict,
                "EndpointLimitExceeded",
            ),
            (
                400,
                "InvalidVpcID.NotFound",
                ErrorClass::NotFound,
                "VpcNotFound",
            ),
            (
                400,
                "InvalidRouteTableID.NotFound",
                ErrorClass::NotFound,
                "RouteTableNotFound",
            ),
            (
                400,
                "InvalidSubnetID.NotFound",
                ErrorClass::NotFound,
                "SubnetNotFound",
            ),
            (
                400,
                "InvalidVpcEndpointId.NotFound",
                ErrorClass::NotFound,
                "NotFound",
            ),
            (
                400,
                "InvalidServiceName",
                ErrorClass::InvalidInput,
                "ServiceNotAvailable",
            ),
            (
                400,
                "InvalidVpcId.Malformed",
                ErrorClass::InvalidInput,
                "InvalidParameter",
            ),
            (
                400,
                "InvalidParameter",
                ErrorClass::InvalidInput,
                "InvalidParameter",
            ),
            (
                403,
                "UnauthorizedOperation",
                ErrorClass::AccessDenied,
                "AccessDenied",
            ),
            (
                503,
                "RequestLimitExceeded",
                ErrorClass::Throttled,
                "Throttled",
            ),
            (500, "InternalError", ErrorClass::Transient, "AwsError"),
        ];
        for (status, code, class, reason) in cases {
            let rule = mock!(Client::create_vpc_endpoint)
                .then_http_response(move || ec2_error(status, code));
            let calls = Arc::new(Mutex::new(Vec::new()));
            let seen = calls.clone();
            let observer = CallObserver::new(move |svc, op, err| {
                seen.lock()
                    .unwrap()
                    .push((svc, op, err.and_then(|e| e.code.clone())));
            });
            let ec2 = ec2_with(&[&rule], observer);
            let err = ec2.create_endpoint(&sample_create()).await.unwrap_err();
            assert_eq!(err.code.as_deref(), Some(code));
            assert_eq!(err.class, class, "{code}");
            assert_eq!(crate::engine::reasons::for_aws(&err), reason, "{code}");
            assert_eq!(err.operation, "CreateVpcEndpoint");
            assert_eq!(err.message, format!("message for {code}"));
            assert_eq!(
                *calls.lock().unwrap(),
                vec![("ec2", "CreateVpcEndpoint", Some(code.to_string()))],
                "the observer sees each call with its error code"
            );
        }
    }

    #[tokio::test]
    async fn not_found_vpc_is_an_answer_not_an_error() {
        let rule = mock!(Client::describe_vpcs)
            .then_http_response(|| ec2_error(400, "InvalidVpcID.NotFound"));
        let ec2 = ec2_with(&[&rule], CallObserver::default());
        assert!(!ec2.vpc_exists("vpc-12345678").await.unwrap());
        let rule = mock!(Client::describe_vpcs)
            .then_http_response(|| ec2_error(403, "UnauthorizedOperation"));
        let ec2 = ec2_with(&[&rule], CallObserver::default());
        let err = ec2.vpc_exists("vpc-12345678").await.unwrap_err();
        assert_eq!(err.class, ErrorClass::AccessDenied);
        assert!(err.to_string().contains("ec2:DescribeVpcs"), "{err}");
    }

    #[tokio::test]
    async fn delete_reads_the_unsuccessful_list() {
        let rule = mock!(Client::delete_vpc_endpoints).then_output(|| {
            let item = |id: &str, code: &str| {
                UnsuccessfulItem::builder()
                    .resource_id(id)
                    .error(
                        UnsuccessfulItemError::builder()
                            .code(code)
                            .message(format!("{code}!"))
                            .build(),
                    )
                    .build()
            };
            DeleteVpcEndpointsOutput::builder()
                .unsuccessful(item("vpce-gone", "InvalidVpcEndpoint.NotFound"))
                .unsuccessful(item("vpce-gone2", "InvalidVpcEndpointId.NotFound"))
                .unsuccessful(item("vpce-denied", "UnauthorizedOperation"))
                .unsuccessful(item("vpce-busy", "IncorrectState"))
                .build()
        });
        let ec2 = ec2_with(&[&rule], CallObserver::default());
        let ids: Vec<String> = [
            "vpce-ok",
            "vpce-gone",
            "vpce-gone2",
            "vpce-denied",
            "vpce-busy",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let out = ec2.delete_endpoints(&ids).await.unwrap();
        assert_eq!(out[0], ("vpce-ok".to_string(), DeleteOutcome::Accepted));
        assert_eq!(out[1].1, DeleteOutcome::AlreadyGone);
        assert_eq!(out[2].1, DeleteOutcome::AlreadyGone);
        match &out[3].1 {
            DeleteOutcome::Failed(e) => {
                assert_eq!(e.class, ErrorClass::AccessDenied);
                assert_eq!(e.code.as_deref(), Some("UnauthorizedOperation"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&out[4].1, DeleteOutcome::Failed(e) if e.class == ErrorClass::Conflict));
    }

    #[tokio::test]
    async fn create_returns_the_endpoint_and_parses_state() {
        let rule = mock!(Client::create_vpc_endpoint)
            .match_requests(|r| {
                r.client_token() == Some("vpcgate-u-0")
                    && r.vpc_endpoint_type() == Some(&VpcEndpointType::Gateway)
                    && r.tag_specifications()[0]
                        .tags()
                        .iter()
                        .any(|t| t.key() == Some("vpcgate.dev/uid"))
            })
            .then_output(|| {
                CreateVpcEndpointOutput::builder()
                    .vpc_endpoint(
                        VpcEndpoint::builder()
                            .vpc_endpoint_id("vpce-1")
                            .vpc_id("vpc-12345678")
                            .state(aws_sdk_ec2::types::State::from("Available"))
                            .route_table_ids("rtb-12345678")
                            .build(),
                    )
                    .build()
            });
        let ec2 = ec2_with(&[&rule], CallObserver::default());
        let ep = ec2.create_endpoint(&sample_create()).await.unwrap();
        assert_eq!(ep.id, "vpce-1");
        assert_eq!(ep.state, EndpointState::Available);
        assert_eq!(ep.route_table_ids, vec!["rtb-12345678".to_string()]);
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn unreachable_aws_is_transient() {
        let conf = aws_sdk_ec2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
            .endpoint_url("http://127.0.0.1:9")
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        let ec2 = SdkEc2::new(Client::from_conf(conf), CallObserver::default());
        let err = ec2.vpc_exists("vpc-12345678").await.unwrap_err();
        assert_eq!(err.class, ErrorClass::Transient);
        assert!(err.is_unreachable());
        assert_eq!(crate::engine::reasons::for_aws(&err), "AwsUnreachable");
    }
}
