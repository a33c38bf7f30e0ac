//! The preflight's calls (`vpcgate check`): harmless reads and `DryRun=true` mutations that
//! change nothing, on the same SDK client and call wrapper as [`SdkEc2`].

use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification, VpcEndpointType};

use super::sdk_ec2::{SdkEc2, filter};
use super::{AwsError, EndpointState};

/// Preflight calls: harmless reads and `DryRun=true` mutations that change nothing.
impl SdkEc2 {
    /// Up to five VPC ids (a read that also proves `ec2:DescribeVpcs`).
    pub async fn some_vpcs(&self) -> Result<Vec<String>, AwsError> {
        let req = self.client.describe_vpcs().max_results(5).send();
        let out = self.call("DescribeVpcs", req).await?;
        Ok(out
            .vpcs()
            .iter()
            .filter_map(|v| v.vpc_id().map(str::to_owned))
            .collect())
    }

    /// An endpoint vpcgate owns (tagged `vpcgate.dev/uid`, not on its way out), with its VPC: the
    /// only kind of endpoint vpcgate's role may change, so the one to dry-run changes against.
    /// The read also proves `ec2:DescribeVpcEndpoints`.
    pub async fn an_owned_endpoint(&self) -> Result<Option<(String, String)>, AwsError> {
        let mut token: Option<String> = None;
        loop {
            let req = self
                .client
                .describe_vpc_endpoints()
                .filters(filter("tag-key", [crate::api::TAG_UID]))
                .set_next_token(token.take())
                .send();
            let out = self.call("DescribeVpcEndpoints", req).await?;
            let found = out.vpc_endpoints().iter().find_map(|e| {
                let state = EndpointState::parse(e.state().map(|s| s.as_str()).unwrap_or(""));
                (!state.is_leaving())
                    .then(|| Some((e.vpc_endpoint_id()?.to_owned(), e.vpc_id()?.to_owned())))?
            });
            if found.is_some() {
                return Ok(found);
            }
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => return Ok(None),
            }
        }
    }

    /// `DryRun` of one mutating action; AWS answers `DryRunOperation` when it is allowed.
    /// `Ok` means the call was NOT treated as a dry run.
    pub async fn dry_run(
        &self,
        action: &str,
        vpc_id: &str,
        route_table_id: Option<&str>,
        service_name: &str,
        endpoint_id: &str,
    ) -> Result<(), AwsError> {
        let tag = Tag::builder()
            .key(crate::api::TAG_UID)
            .value("vpcgate-preflight")
            .build();
        match action {
            "CreateVpcEndpoint" => {
                let req = self
                    .client
                    .create_vpc_endpoint()
                    .dry_run(true)
                    .vpc_id(vpc_id)
                    .service_name(service_name)
                    .vpc_endpoint_type(VpcEndpointType::Gateway)
                    .set_route_table_ids(route_table_id.map(|t| vec![t.to_owned()]))
                    .tag_specifications(
                        TagSpecification::builder()
                            .resource_type(ResourceType::VpcEndpoint)
                            .tags(tag)
                            .build(),
                    )
                    .send();
                self.call("CreateVpcEndpoint", req).await.map(|_| ())
            }
            "ModifyVpcEndpoint" => {
                let req = self
                    .client
                    .modify_vpc_endpoint()
                    .dry_run(true)
                    .vpc_endpoint_id(endpoint_id)
                    .reset_policy(true)
                    .send();
                self.call("ModifyVpcEndpoint", req).await.map(|_| ())
            }
            "DeleteVpcEndpoints" => {
                let req = self
                    .client
                    .delete_vpc_endpoints()
                    .dry_run(true)
                    .vpc_endpoint_ids(endpoint_id)
                    .send();
                self.call("DeleteVpcEndpoints", req).await.map(|_| ())
            }
            "CreateTags" => {
                let req = self
                    .client
                    .create_tags()
                    .dry_run(true)
                    .resources(endpoint_id)
                    .tags(tag)
                    .send();
                self.call("CreateTags", req).await.map(|_| ())
            }
            "DeleteTags" => {
                let req = self
                    .client
                    .delete_tags()
                    .dry_run(true)
                    .resources(endpoint_id)
                    .tags(Tag::builder().key(crate::api::TAG_UID).build())
                    .send();
                self.call("DeleteTags", req).await.map(|_| ())
            }
            "AuthorizeSecurityGroupEgress" => {
                let req = self
                    .client
                    .authorize_security_group_egress()
                    .dry_run(true)
                    .group_id(endpoint_id)
                    .ip_permissions(
                        aws_sdk_ec2::types::IpPermission::builder()
                            .ip_protocol("tcp")
                            .from_port(443)
                            .to_port(443)
                            .build(),
                    )
                    .tag_specifications(
                        TagSpecification::builder()
                            .resource_type(ResourceType::SecurityGroupRule)
                            .tags(tag)
                            .build(),
                    )
                    .send();
                self.call("AuthorizeSecurityGroupEgress", req)
                    .await
                    .map(|_| ())
            }
            "RevokeSecurityGroupEgress" => {
                let req = self
                    .client
                    .revoke_security_group_egress()
                    .dry_run(true)
                    .group_id(endpoint_id)
                    .security_group_rule_ids("sgr-00000000000000000")
                    .send();
                self.call("RevokeSecurityGroupEgress", req)
                    .await
                    .map(|_| ())
            }
            other => Err(AwsError::new(
                "ec2",
                "DryRun",
                None,
                format!("no dry run for {other}"),
            )),
        }
    }
}
