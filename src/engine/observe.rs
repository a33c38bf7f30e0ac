//! Resolve and observe: the VPC, its route tables (and subnets when the selector names any), the
//! service's prefix list, and every endpoint that is or was this object's. Reads only; the
//! decisions are [`super::plan`]'s.

use super::desired::Desired;
use super::resolve::{self, Ownership, Recorded, Selection};
use crate::api::{GatewayEndpointStatus, TAG_UID};
use crate::aws::{Ec2, Endpoint, PrefixList, RouteTable};
use crate::error::Error;

/// What AWS holds for one object, before any change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub prefix_list: PrefixList,
    pub tables: Vec<RouteTable>,
    /// Every subnet of the VPC.
    pub subnets: Vec<String>,
    /// The verdict for each selected security group (empty: none selected).
    pub egress: Vec<crate::api::SecurityGroupStatus>,
    /// Those groups, in the VPC, whose egress does not reach the service.
    pub egress_blocked: Vec<String>,
    pub selection: Selection,
    pub ownership: Ownership,
}

/// Reads what the plan needs. Fails only when nothing can be planned (no VPC, no service, an
/// AWS error); a missing route table or subnet is a fact in [`Selection`], not a failure.
///
/// The VPC's route tables, endpoints and subnets come from the shared view (one read per VPC
/// per freshness window, see [`crate::aws::view`]). Only a pass at a new generation, or before
/// an endpoint is recorded, also asks EC2 for every endpoint carrying the object's uid, in any
/// VPC: the one read that is per object, and only while something changes.
pub async fn observe(
    ec2: &dyn Ec2,
    desired: &Desired,
    prev: &GatewayEndpointStatus,
    generation: Option<i64>,
    live_uids: &std::collections::BTreeSet<String>,
) -> Result<Observed, Error> {
    // What the view holds, unless it lacks something the spec names: then once more, fresh
    // (the VPC or the table may be younger than the view). Adoption decides on a fresh read:
    // an endpoint made a moment ago is a candidate.
    let adopting = desired.adopt != resolve::Adopt::Never && prev.endpoint_id.is_none();
    if adopting {
        ec2.refresh(&desired.vpc_id);
    }
    let mut fresh = adopting;
    let (routing, subnets, selection) = loop {
        let routing = match ec2.routing(&desired.vpc_id).await? {
            Some(r) => r,
            None if !fresh => {
                ec2.refresh(&desired.vpc_id);
                fresh = true;
                continue;
            }
            None => {
                return Err(Error::VpcNotFound {
                    vpc_id: desired.vpc_id.clone(),
                    region: desired.region.clone(),
                });
            }
        };
        // Every subnet: for `routeTables.subnetIds` and for coverage.
        let subnets = ec2.subnet_ids(&desired.vpc_id).await?;
        let selection =
            resolve::select_route_tables(&desired.route_tables, &routing.tables, &subnets);
        let complete = selection.missing_tables.is_empty() && selection.missing_subnets.is_empty();
        if !fresh && !complete {
            ec2.refresh(&desired.vpc_id);
            fresh = true;
            continue;
        }
        break (routing, subnets, selection);
    };
    let tables = routing.tables.clone();
    let prefix_list = ec2
        .prefix_list(&desired.service_name)
        .await?
        .ok_or_else(|| Error::ServiceNotAvailable {
            name: desired.service_name.clone(),
            region: desired.region.clone(),
        })?;
    let in_vpc = |id: &str| routing.endpoints.iter().find(|e| e.id == id).cloned();
    let steady = prev.endpoint_id.is_some() && prev.observed_generation == generation;
    let tagged: Vec<Endpoint> = if steady {
        routing
            .endpoints
            .iter()
            .filter(|e| e.tags.get(TAG_UID) == Some(&desired.uid))
            .cloned()
            .collect()
    } else {
        ec2.endpoints_by_tag(TAG_UID, &desired.uid).await?
    };
    // The endpoint recorded in status, should its tag have been stripped out of band.
    let recorded = match &prev.endpoint_id {
        Some(id) if !tagged.iter().any(|e| &e.id == id) => match in_vpc(id) {
            Some(ep) => Some(ep),
            None => ec2.endpoint(id).await?,
        }
        .map_or_else(|| Recorded::Unseen(id.clone()), Recorded::Seen),
        _ => Recorded::NotAsked,
    };
    let mut ownership =
        resolve::ownership(&desired.uid, tagged, prev.endpoint_id.as_deref(), recorded);
    // Adoption, only while the object owns (and owned) nothing.
    if desired.adopt != resolve::Adopt::Never
        && ownership.own_ids.is_empty()
        && prev.endpoint_id.is_none()
    {
        let candidates: Vec<Endpoint> = routing
            .endpoints
            .iter()
            .filter(|e| e.service_name == desired.service_name)
            .cloned()
            .collect();
        if let Some(ep) = resolve::adoption(
            &desired.adopt,
            &desired.uid,
            &candidates,
            &selection.selected,
            live_uids,
        )? {
            ownership.own_ids.insert(ep.id.clone());
            ownership.adopted = Some(ep.id.clone());
            ownership.current = Some(ep);
        }
    }
    // An endpoint that holds a selected table's route but that describes do not show at all is
    // most likely ours, created a moment ago (describe lag). Somebody else's endpoint is
    // always described with its VPC's endpoints.
    ownership.unseen.extend(
        tables
            .iter()
            .filter(|t| selection.selected.contains(&t.id))
            .filter_map(|t| t.prefix_list_routes.get(&prefix_list.id))
            .filter(|target| {
                target.starts_with("vpce-")
                    && !ownership.own_ids.contains(*target)
                    && in_vpc(target).is_none()
            })
            .cloned()
            .collect::<Vec<_>>(),
    );
    let (egress, egress_blocked) = egress(ec2, desired, &prefix_list).await?;
    Ok(Observed {
        selection,
        ownership,
        prefix_list,
        tables,
        subnets,
        egress,
        egress_blocked,
    })
}

/// Each selected security group's egress verdict, and the groups (found, in the VPC) that do
/// not reach the service; the prefix list's CIDRs are read only when a rule naming CIDRs could
/// decide.
pub async fn egress(
    ec2: &dyn Ec2,
    desired: &Desired,
    prefix_list: &PrefixList,
) -> Result<(Vec<crate::api::SecurityGroupStatus>, Vec<String>), Error> {
    if desired.security_groups.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut groups = ec2.security_groups(&desired.security_groups).await?;
    // A group the (shared) read lacks is read once more, fresh, before it is reported missing.
    if desired
        .security_groups
        .iter()
        .any(|id| !groups.iter().any(|g| &g.id == id))
    {
        ec2.refresh(&desired.vpc_id);
        groups = ec2.security_groups(&desired.security_groups).await?;
    }
    let mut cidrs = prefix_list.cidrs.clone();
    if cidrs.is_empty()
        && groups
            .iter()
            .any(|g| super::egress::needs_cidrs(g, &prefix_list.id))
    {
        cidrs = ec2.prefix_list_cidrs(&prefix_list.id).await?;
    }
    let mut blocked = Vec::new();
    let verdicts = desired
        .security_groups
        .iter()
        .map(|id| match groups.iter().find(|g| &g.id == id) {
            Some(g) if g.vpc_id != desired.vpc_id => crate::api::SecurityGroupStatus {
                id: id.clone(),
                allowed: false,
                rule: None,
                message: Some(format!(
                    "{id} is in {}, not in the endpoint's VPC {}",
                    g.vpc_id, desired.vpc_id
                )),
            },
            Some(g) => {
                let v = super::egress::evaluate(g, &prefix_list.id, &cidrs);
                if !v.allowed {
                    blocked.push(id.clone());
                }
                v
            }
            None => crate::api::SecurityGroupStatus {
                id: id.clone(),
                allowed: false,
                rule: None,
                message: Some(format!("{id} not found in {}", desired.region)),
            },
        })
        .collect();
    Ok((verdicts, blocked))
}
