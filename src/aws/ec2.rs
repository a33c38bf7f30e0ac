//! The narrow interface the engine uses to talk to EC2: exactly the calls it makes, in the
//! engine's own types. [`super::sdk_ec2::SdkEc2`] implements it over the SDK; the in-memory
//! [`super::fake`] implements it for table tests of every engine branch.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::probe::{ProbeReport, ProbeRequest};
use super::{
    AwsError, CreateEndpoint, DeleteOutcome, Endpoint, Instance, ModifyEndpoint, Placement,
    PrefixList, RouteTable, SecurityGroup, VpcRouting,
};

/// EC2 in one region.
#[async_trait::async_trait]
pub trait Ec2: Send + Sync {
    /// Whether the VPC exists (`InvalidVpcID.NotFound` is an answer, `false`).
    async fn vpc_exists(&self, vpc_id: &str) -> Result<bool, AwsError>;
    /// Every route table of the VPC, sorted by id.
    async fn route_tables(&self, vpc_id: &str) -> Result<Vec<RouteTable>, AwsError>;
    /// The route table a subnet uses: its explicit association, else the VPC's main table.
    async fn subnet_route_table(
        &self,
        vpc_id: &str,
        subnet_id: &str,
    ) -> Result<Option<String>, AwsError>;
    /// The subnet and VPC of an instance; `None` when AWS does not know it.
    async fn instance_placement(&self, instance_id: &str) -> Result<Option<Placement>, AwsError>;
    /// The instances with these ids that EC2 describes (unknown ids are left out, not an
    /// error): filtered by `instance-id` in batches, paginated.
    async fn instances(&self, ids: &[String]) -> Result<Vec<Instance>, AwsError>;
    /// Security groups by id with their egress rules (unknown ids are left out).
    async fn security_groups(&self, ids: &[String]) -> Result<Vec<SecurityGroup>, AwsError>;
    /// Adds one egress rule (tcp/443 to the prefix list) to a group, tagged with `tags`.
    async fn authorize_egress(
        &self,
        group_id: &str,
        prefix_list_id: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), AwsError>;
    /// Egress rules carrying the tag `key=value`: (group id, rule id).
    async fn tagged_egress_rules(
        &self,
        key: &str,
        value: &str,
    ) -> Result<Vec<(String, String)>, AwsError>;
    /// Removes egress rules of a group by rule id.
    async fn revoke_egress(&self, group_id: &str, rule_ids: &[String]) -> Result<(), AwsError>;
    /// The CIDRs of a managed prefix list.
    async fn prefix_list_cidrs(&self, id: &str) -> Result<Vec<String>, AwsError>;
    /// Every subnet id of the VPC, sorted.
    async fn subnet_ids(&self, vpc_id: &str) -> Result<Vec<String>, AwsError>;
    /// The AWS-managed prefix list named `com.amazonaws.<region>.<service>`.
    async fn prefix_list(&self, name: &str) -> Result<Option<PrefixList>, AwsError>;
    /// Endpoints carrying the tag `key=value`, in any state.
    async fn endpoints_by_tag(&self, key: &str, value: &str) -> Result<Vec<Endpoint>, AwsError>;
    /// Forgets what is known of the VPC, so the next reads ask EC2 (a shared view's "not found"
    /// is confirmed by a fresh read before it is reported). Nothing is kept by default.
    fn refresh(&self, _vpc_id: &str) {}
    /// The VPC's route tables with these ids (unknown ids are left out).
    async fn route_tables_by_id(
        &self,
        vpc_id: &str,
        ids: &[String],
    ) -> Result<Vec<RouteTable>, AwsError>;
    /// The endpoints with these ids that EC2 describes (unknown ids are left out).
    async fn endpoints_by_id(&self, ids: &[String]) -> Result<Vec<Endpoint>, AwsError>;
    /// Every gateway endpoint in a VPC, of any service, in any state.
    async fn vpc_endpoints(&self, vpc_id: &str) -> Result<Vec<Endpoint>, AwsError>;
    /// The VPC's route tables and gateway endpoints read together; `None` when the VPC does not
    /// exist. A VPC always has a main route table, so only an empty answer asks about the VPC.
    /// [`super::view::SharedView`] shares one such read between every object in the VPC.
    async fn routing(&self, vpc_id: &str) -> Result<Option<Arc<VpcRouting>>, AwsError> {
        let tables = self.route_tables(vpc_id).await?;
        if tables.is_empty() && !self.vpc_exists(vpc_id).await? {
            return Ok(None);
        }
        let endpoints = self.vpc_endpoints(vpc_id).await?;
        Ok(Some(Arc::new(VpcRouting { tables, endpoints })))
    }
    /// One endpoint by id; `None` when AWS does not describe it.
    async fn endpoint(&self, id: &str) -> Result<Option<Endpoint>, AwsError>;
    /// `CreateVpcEndpoint` (gateway) with tags and an idempotency token.
    async fn create_endpoint(&self, req: &CreateEndpoint) -> Result<Endpoint, AwsError>;
    /// One `ModifyVpcEndpoint`: route-table difference and/or policy.
    async fn modify_endpoint(&self, req: &ModifyEndpoint) -> Result<(), AwsError>;
    /// `DeleteVpcEndpoints`, with the `Unsuccessful` list read per id.
    async fn delete_endpoints(
        &self,
        ids: &[String],
    ) -> Result<Vec<(String, DeleteOutcome)>, AwsError>;
    /// Adds or overwrites tags on a resource.
    async fn create_tags(
        &self,
        resource: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), AwsError>;
    /// Removes tags by key from a resource.
    async fn delete_tags(&self, resource: &str, keys: &[String]) -> Result<(), AwsError>;
}

/// AWS as the engine sees it: EC2 per region and the DynamoDB probe.
#[async_trait::async_trait]
pub trait Cloud: Send + Sync {
    /// EC2 for a region.
    fn ec2(&self, region: &str) -> Arc<dyn Ec2>;
    /// One connectivity probe in a region. Never fails: failures are classified in the report.
    async fn probe(&self, region: &str, req: &ProbeRequest<'_>) -> ProbeReport;
    /// The account the credentials belong to (for ARNs that must not match other accounts).
    async fn account_id(&self, region: &str) -> Result<String, AwsError>;
}
