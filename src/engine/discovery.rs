//! The cluster's nodes as the engine sees them: where each node's EC2 instance is (VPC, subnet,
//! security groups), or why it is not an EC2 instance. The controller builds this view from the
//! Node watch and `DescribeInstances` ([`crate::controller::nodes`]); the engine only reads it,
//! to resolve an omitted `spec.vpcId` and `routeTables.clusterNodeSubnets`. Pure.

use std::collections::BTreeSet;

use crate::api::ClusterNodesStatus;
use crate::error::Error;

/// How many node names status lists per kind (the counts are always complete).
const MAX_NAMES: usize = 20;

/// One Kubernetes node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: String,
    pub placement: Placement,
}

/// Where a node's instance is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// An EC2 instance, described.
    Instance {
        id: String,
        region: String,
        vpc_id: String,
        subnet_id: String,
        security_groups: Vec<String>,
    },
    /// Not an EC2 instance (`spec.providerID` is not `aws:///<zone>/i-…`: Fargate, hybrid nodes,
    /// or not set yet).
    NotAws,
    /// An EC2 instance that describes do not show (terminated, or not visible yet).
    Unresolved { id: String },
}

/// Every node of the cluster, as last listed and resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterNodes {
    /// Whether the node list has been read at least once (before that nothing is known).
    pub listed: bool,
    pub nodes: Vec<NodeInfo>,
}

impl ClusterNodes {
    /// The VPCs of the nodes' instances in `region`.
    pub fn vpcs(&self, region: &str) -> BTreeSet<String> {
        self.instances(region)
            .map(|(vpc, _)| vpc.to_owned())
            .collect()
    }

    /// The subnets of the nodes' instances in `region` and `vpc`.
    pub fn subnets(&self, region: &str, vpc: &str) -> BTreeSet<String> {
        self.instances(region)
            .filter(|(v, _)| *v == vpc)
            .map(|(_, s)| s.to_owned())
            .collect()
    }

    /// The security groups of the nodes' instances in `region` and `vpc`.
    pub fn security_groups(&self, region: &str, vpc: &str) -> BTreeSet<String> {
        self.nodes
            .iter()
            .filter_map(|n| match &n.placement {
                Placement::Instance {
                    region: r,
                    vpc_id,
                    security_groups,
                    ..
                } if r == region && vpc_id == vpc => Some(security_groups.iter().cloned()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    fn instances<'a>(&'a self, region: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.nodes.iter().filter_map(move |n| match &n.placement {
            Placement::Instance {
                region: r,
                vpc_id,
                subnet_id,
                ..
            } if r == region => Some((vpc_id.as_str(), subnet_id.as_str())),
            _ => None,
        })
    }

    /// What status says about the nodes, for `region` (and the resolved VPC, when known).
    pub fn status(&self, region: &str, vpc: Option<&str>) -> ClusterNodesStatus {
        let names = |f: &dyn Fn(&Placement) -> bool| -> (u32, Vec<String>) {
            let all: Vec<String> = self
                .nodes
                .iter()
                .filter(|n| f(&n.placement))
                .map(|n| n.name.clone())
                .collect();
            (all.len() as u32, all.into_iter().take(MAX_NAMES).collect())
        };
        let (not_aws_count, not_aws) = names(&|p| matches!(p, Placement::NotAws));
        let (unresolved_count, unresolved) = names(&|p| matches!(p, Placement::Unresolved { .. }));
        ClusterNodesStatus {
            nodes: self.nodes.len() as u32,
            vpc_ids: self.vpcs(region).into_iter().collect(),
            subnet_ids: vpc
                .map(|v| self.subnets(region, v).into_iter().collect())
                .unwrap_or_default(),
            not_aws_count,
            not_aws,
            unresolved_count,
            unresolved,
        }
    }

    /// The single VPC of the nodes in `region`, or why there is none.
    pub fn single_vpc(&self, region: &str) -> Result<String, Error> {
        if !self.listed {
            return Err(Error::NodesUnknown);
        }
        let vpcs = self.vpcs(region);
        match vpcs.len() {
            1 => Ok(vpcs.into_iter().next().expect("one")),
            0 => {
                let s = self.status(region, None);
                Err(Error::NoNodes {
                    region: region.to_owned(),
                    detail: format!(
                        "{} node(s): {} not EC2 instances{}, {} not found in EC2",
                        s.nodes,
                        s.not_aws_count,
                        if s.not_aws.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", s.not_aws.join(", "))
                        },
                        s.unresolved_count
                    ),
                })
            }
            _ => Err(Error::MultipleVpcs {
                region: region.to_owned(),
                vpcs: vpcs.into_iter().collect(),
            }),
        }
    }
}

/// The region of an availability zone or Local Zone name: `us-east-1a` → `us-east-1`,
/// `us-west-2-lax-1a` → `us-west-2`.
pub fn region_of_zone(zone: &str) -> Option<String> {
    let parts: Vec<&str> = zone.split('-').collect();
    // The region is `<geo>-<direction>-<digit>` (`us-gov-west-1` has four parts).
    let n = parts
        .iter()
        .position(|p| p.chars().next().is_some_and(|c| c.is_ascii_digit()))?;
    let digits: String = parts[n].chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() || n < 2 {
        return None;
    }
    Some(format!("{}-{digits}", parts[..n].join("-")))
}

/// The zone and instance id in a node's `spec.providerID` (`aws:///<zone>/i-…`); `None` for
/// other providers.
pub fn aws_provider_id(provider_id: &str) -> Option<(Option<String>, String)> {
    let rest = provider_id.strip_prefix("aws://")?;
    let mut parts = rest.trim_start_matches('/').rsplitn(2, '/');
    let id = parts.next()?;
    if !(id.starts_with("i-") && id.len() > 2) {
        return None;
    }
    let zone = parts.next().filter(|z| !z.is_empty()).map(str::to_owned);
    Some((zone, id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(name: &str, region: &str, vpc: &str, subnet: &str) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            placement: Placement::Instance {
                id: format!("i-{name}"),
                region: region.into(),
                vpc_id: vpc.into(),
                subnet_id: subnet.into(),
                security_groups: vec!["sg-1".into()],
            },
        }
    }

    #[test]
    fn zones_and_provider_ids() {
        assert_eq!(region_of_zone("us-east-1a").as_deref(), Some("us-east-1"));
        assert_eq!(
            region_of_zone("us-west-2-lax-1a").as_deref(),
            Some("us-west-2")
        );
        assert_eq!(
            region_of_zone("us-gov-west-1b").as_deref(),
            Some("us-gov-west-1")
        );
        assert_eq!(
            region_of_zone("eu-central-2c").as_deref(),
            Some("eu-central-2")
        );
        assert_eq!(region_of_zone("nonsense"), None);
        assert_eq!(
            aws_provider_id("aws:///us-east-1a/i-0123456789abcdef0"),
            Some((Some("us-east-1a".into()), "i-0123456789abcdef0".into()))
        );
        assert_eq!(
            aws_provider_id("aws:///us-east-1a/fargate-ip-10-0-1-2.ec2.internal"),
            None
        );
        assert_eq!(
            aws_provider_id("kind://docker/kind/kind-control-plane"),
            None
        );
        assert_eq!(aws_provider_id(""), None);
    }

    #[test]
    fn one_vpc_many_vpcs_no_nodes() {
        let mut nodes = ClusterNodes {
            listed: true,
            nodes: vec![
                inst("a", "us-east-1", "vpc-1", "subnet-a"),
                inst("b", "us-east-1", "vpc-1", "subnet-b"),
                inst("c", "eu-west-1", "vpc-9", "subnet-c"),
                NodeInfo {
                    name: "fargate-ip-1".into(),
                    placement: Placement::NotAws,
                },
            ],
        };
        assert_eq!(nodes.single_vpc("us-east-1").unwrap(), "vpc-1");
        assert_eq!(
            nodes.subnets("us-east-1", "vpc-1"),
            BTreeSet::from(["subnet-a".to_owned(), "subnet-b".to_owned()])
        );
        let s = nodes.status("us-east-1", Some("vpc-1"));
        assert_eq!((s.nodes, s.not_aws_count), (4, 1));
        assert_eq!(s.not_aws, ["fargate-ip-1"]);
        nodes
            .nodes
            .push(inst("d", "us-east-1", "vpc-2", "subnet-d"));
        match nodes.single_vpc("us-east-1") {
            Err(Error::MultipleVpcs { vpcs, .. }) => assert_eq!(vpcs, ["vpc-1", "vpc-2"]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            nodes.single_vpc("ap-south-1"),
            Err(Error::NoNodes { .. })
        ));
        assert!(matches!(
            ClusterNodes::default().single_vpc("us-east-1"),
            Err(Error::NodesUnknown)
        ));
    }
}
