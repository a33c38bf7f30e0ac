//! Coverage (pure): for every subnet of the VPC, the route table it really uses (its
//! association, else the VPC's main table) and where that table sends the service's prefix
//! list: through this endpoint, another endpoint, or nowhere. The walkthrough's last check
//! ("does my private subnet's traffic go through it?") for every subnet at once.

use std::collections::BTreeSet;

use crate::api::{CoverageStatus, SubnetCoverage, SubnetRoute};
use crate::aws::RouteTable;

/// At most this many subnets are listed one by one (the counts are always complete).
const MAX_DETAILS: usize = 200;

/// Where each subnet's traffic to the service goes. `node_subnets` are marked as the cluster's.
pub fn coverage(
    subnets: &[String],
    tables: &[RouteTable],
    prefix_list_id: &str,
    endpoint_id: Option<&str>,
    node_subnets: &BTreeSet<String>,
) -> CoverageStatus {
    let main = tables.iter().find(|t| t.main);
    let mut details: Vec<SubnetCoverage> = subnets
        .iter()
        .map(|subnet| {
            let table = tables
                .iter()
                .find(|t| t.subnet_ids.contains(subnet))
                .or(main);
            let target = table.and_then(|t| t.prefix_list_routes.get(prefix_list_id));
            let route = match target {
                Some(t) if Some(t.as_str()) == endpoint_id => SubnetRoute::ThroughEndpoint,
                Some(t) if t.starts_with("vpce-") => SubnetRoute::OtherEndpoint,
                Some(_) => SubnetRoute::Elsewhere,
                None => SubnetRoute::NotRouted,
            };
            SubnetCoverage {
                subnet_id: subnet.clone(),
                route_table_id: table.map(|t| t.id.clone()),
                route,
                target: target.filter(|t| Some(t.as_str()) != endpoint_id).cloned(),
                cluster_node: node_subnets.contains(subnet),
            }
        })
        .collect();
    details.sort_by(|a, b| (!a.cluster_node, &a.subnet_id).cmp(&(!b.cluster_node, &b.subnet_id)));
    let through = |d: &SubnetCoverage| d.route == SubnetRoute::ThroughEndpoint;
    let routed = details.iter().filter(|d| through(d)).count();
    let nodes: Vec<&SubnetCoverage> = details.iter().filter(|d| d.cluster_node).collect();
    let nodes_routed = nodes.iter().filter(|d| through(d)).count();
    let bypassing: Vec<String> = nodes
        .iter()
        .filter(|d| d.route != SubnetRoute::ThroughEndpoint)
        .map(|d| d.subnet_id.clone())
        .collect();
    let node_subnets_text = (!nodes.is_empty()).then(|| format!("{nodes_routed}/{}", nodes.len()));
    let via = endpoint_id
        .map(|e| format!(" through {e}"))
        .unwrap_or_default();
    let summary = match &node_subnets_text {
        Some(n) => format!(
            "node subnets {n}, all subnets {routed}/{}{via}",
            details.len()
        ),
        None => format!("subnets {routed}/{}{via}", details.len()),
    };
    CoverageStatus {
        subnets: details.len() as u32,
        routed: routed as u32,
        node_subnets: node_subnets_text,
        bypassing,
        summary,
        details: details.into_iter().take(MAX_DETAILS).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn table(id: &str, main: bool, subnets: &[&str], target: Option<&str>) -> RouteTable {
        RouteTable {
            id: id.into(),
            vpc_id: "vpc-1".into(),
            main,
            subnet_ids: subnets.iter().map(|s| s.to_string()).collect(),
            tags: BTreeMap::new(),
            prefix_list_routes: target
                .map(|t| BTreeMap::from([("pl-1".to_owned(), t.to_owned())]))
                .unwrap_or_default(),
        }
    }

    #[test]
    fn every_subnet_with_its_effective_table_and_target() {
        let tables = vec![
            table("rtb-main", true, &[], None),
            table("rtb-a", false, &["subnet-a"], Some("vpce-ours")),
            table("rtb-b", false, &["subnet-b"], Some("vpce-other")),
            table("rtb-c", false, &["subnet-c"], Some("nat-1")),
        ];
        let subnets: Vec<String> = ["subnet-a", "subnet-b", "subnet-c", "subnet-iso"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let nodes = BTreeSet::from(["subnet-a".to_owned(), "subnet-iso".to_owned()]);
        let c = coverage(&subnets, &tables, "pl-1", Some("vpce-ours"), &nodes);
        assert_eq!((c.subnets, c.routed), (4, 1));
        assert_eq!(c.node_subnets.as_deref(), Some("1/2"));
        assert_eq!(
            c.bypassing,
            ["subnet-iso"],
            "the isolated node subnet bypasses"
        );
        assert_eq!(
            c.summary,
            "node subnets 1/2, all subnets 1/4 through vpce-ours"
        );
        let by = |s: &str| c.details.iter().find(|d| d.subnet_id == s).unwrap().clone();
        assert_eq!(by("subnet-a").route, SubnetRoute::ThroughEndpoint);
        assert_eq!(by("subnet-b").route, SubnetRoute::OtherEndpoint);
        assert_eq!(by("subnet-b").target.as_deref(), Some("vpce-other"));
        assert_eq!(by("subnet-c").route, SubnetRoute::Elsewhere);
        let iso = by("subnet-iso");
        assert_eq!(iso.route_table_id.as_deref(), Some("rtb-main"));
        assert_eq!(iso.route, SubnetRoute::NotRouted);
        assert!(iso.cluster_node);
        // Node subnets first.
        assert!(c.details[0].cluster_node && c.details[1].cluster_node);
        // Without nodes and without an endpoint.
        let c = coverage(&subnets, &tables, "pl-1", None, &BTreeSet::new());
        assert_eq!(c.summary, "subnets 0/4");
        assert!(c.node_subnets.is_none() && c.bypassing.is_empty());
    }
}
