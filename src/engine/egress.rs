//! Egress (pure): does a security group's egress let tcp/443 reach the service? Allowed when a
//! rule covers tcp/443 (tcp with a port range holding 443, or all traffic) to the service's
//! prefix list, or to CIDRs that together contain every CIDR of the prefix list (`0.0.0.0/0`
//! contains them all).

use std::net::Ipv4Addr;

use crate::api::SecurityGroupStatus;
use crate::aws::{EgressRule, SecurityGroup};

/// Whether a rule's protocol and ports cover tcp/443.
fn covers_https(rule: &EgressRule) -> bool {
    match rule.protocol.as_str() {
        "-1" | "all" => true,
        "tcp" | "6" => match (rule.from_port, rule.to_port) {
            (Some(from), Some(to)) => from <= 443 && 443 <= to,
            // No ports on a tcp rule means all ports.
            (None, None) => true,
            _ => false,
        },
        _ => false,
    }
}

/// An IPv4 CIDR as (network, prefix length).
fn parse(cidr: &str) -> Option<(u32, u32)> {
    let (addr, len) = cidr.split_once('/')?;
    let addr: Ipv4Addr = addr.parse().ok()?;
    let len: u32 = len.parse().ok()?;
    (len <= 32).then(|| (u32::from(addr), len))
}

/// Whether `outer` contains `inner` (both IPv4 CIDRs).
fn contains(outer: &str, inner: &str) -> bool {
    let (Some((o, ol)), Some((i, il))) = (parse(outer), parse(inner)) else {
        return false;
    };
    let mask = if ol == 0 { 0 } else { u32::MAX << (32 - ol) };
    ol <= il && (o & mask) == (i & mask)
}

/// Whether the group needs the prefix list's CIDRs to be judged (a tcp/443 rule to CIDRs
/// other than `0.0.0.0/0`, and no rule naming the list or all addresses).
pub fn needs_cidrs(group: &SecurityGroup, prefix_list_id: &str) -> bool {
    evaluate(group, prefix_list_id, &[]).rule.is_none()
        && group
            .egress
            .iter()
            .any(|r| covers_https(r) && !r.cidrs.is_empty())
}

/// The verdict for one group.
pub fn evaluate(
    group: &SecurityGroup,
    prefix_list_id: &str,
    pl_cidrs: &[String],
) -> SecurityGroupStatus {
    let allowed = |rule: String| SecurityGroupStatus {
        id: group.id.clone(),
        allowed: true,
        rule: Some(rule),
        message: None,
    };
    let what = |r: &EgressRule| match r.protocol.as_str() {
        "-1" | "all" => "all traffic".to_owned(),
        _ => match (r.from_port, r.to_port) {
            (Some(f), Some(t)) if f == t => format!("tcp/{f}"),
            (Some(f), Some(t)) => format!("tcp/{f}-{t}"),
            _ => "tcp".to_owned(),
        },
    };
    for r in group.egress.iter().filter(|r| covers_https(r)) {
        if r.prefix_lists.iter().any(|p| p == prefix_list_id) {
            return allowed(format!("{} to {prefix_list_id}", what(r)));
        }
        if r.cidrs.iter().any(|c| c == "0.0.0.0/0") {
            return allowed(format!("{} to 0.0.0.0/0", what(r)));
        }
    }
    // CIDRs of all tcp/443 rules together must contain every CIDR of the prefix list.
    let open: Vec<&String> = group
        .egress
        .iter()
        .filter(|r| covers_https(r))
        .flat_map(|r| r.cidrs.iter())
        .collect();
    if !pl_cidrs.is_empty() && pl_cidrs.iter().all(|p| open.iter().any(|o| contains(o, p))) {
        let list: Vec<&str> = open.iter().map(|c| c.as_str()).collect();
        return allowed(format!(
            "tcp/443 to {} (every CIDR of {prefix_list_id})",
            list.join(", ")
        ));
    }
    SecurityGroupStatus {
        id: group.id.clone(),
        allowed: false,
        rule: None,
        message: Some(format!(
            "no egress rule allows tcp/443 to {prefix_list_id}; add one: aws ec2 authorize-security-group-egress --group-id {} --ip-permissions 'IpProtocol=tcp,FromPort=443,ToPort=443,PrefixListIds=[{{PrefixListId={prefix_list_id}}}]'",
            group.id
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(protocol: &str, ports: Option<(i32, i32)>, cidrs: &[&str], pls: &[&str]) -> EgressRule {
        EgressRule {
            protocol: protocol.into(),
            from_port: ports.map(|p| p.0),
            to_port: ports.map(|p| p.1),
            cidrs: cidrs.iter().map(|s| s.to_string()).collect(),
            prefix_lists: pls.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn group(rules: Vec<EgressRule>) -> SecurityGroup {
        SecurityGroup {
            id: "sg-1".into(),
            vpc_id: "vpc-1".into(),
            egress: rules,
        }
    }

    #[test]
    fn egress_rules_are_judged_by_what_they_allow() {
        let pl = "pl-ddb";
        let cidrs = vec!["52.94.0.0/22".to_owned(), "3.218.180.0/22".to_owned()];
        let cases = [
            // AWS's default: all traffic to 0.0.0.0/0.
            (vec![rule("-1", None, &["0.0.0.0/0"], &[])], true),
            (vec![rule("tcp", Some((443, 443)), &[], &[pl])], true),
            (vec![rule("tcp", Some((0, 65535)), &[], &[pl])], true),
            (vec![rule("tcp", Some((80, 80)), &[], &[pl])], false),
            (vec![rule("udp", Some((443, 443)), &[], &[pl])], false),
            (
                vec![rule("tcp", Some((443, 443)), &[], &["pl-other"])],
                false,
            ),
            (vec![], false),
            // CIDRs that together contain the prefix list.
            (
                vec![
                    rule("tcp", Some((443, 443)), &["52.94.0.0/16"], &[]),
                    rule("tcp", Some((443, 443)), &["3.0.0.0/8"], &[]),
                ],
                true,
            ),
            (
                vec![rule("tcp", Some((443, 443)), &["52.94.0.0/16"], &[])],
                false,
            ),
            (
                vec![rule("tcp", Some((443, 443)), &["10.0.0.0/8"], &[])],
                false,
            ),
        ];
        for (rules, want) in cases {
            let g = group(rules.clone());
            let v = evaluate(&g, pl, &cidrs);
            assert_eq!(v.allowed, want, "{rules:?} → {v:?}");
            assert_eq!(v.rule.is_some(), want);
            assert_eq!(v.message.is_some(), !want);
        }
        let v = evaluate(&group(vec![rule("-1", None, &["0.0.0.0/0"], &[])]), pl, &[]);
        assert_eq!(v.rule.as_deref(), Some("all traffic to 0.0.0.0/0"));
        let v = evaluate(&group(vec![]), pl, &cidrs);
        assert!(
            v.message
                .unwrap()
                .contains("authorize-security-group-egress --group-id sg-1")
        );
        // The CIDRs are fetched only when a CIDR rule could decide.
        assert!(needs_cidrs(
            &group(vec![rule("tcp", Some((443, 443)), &["52.94.0.0/16"], &[])]),
            pl
        ));
        assert!(!needs_cidrs(
            &group(vec![rule("-1", None, &["0.0.0.0/0"], &[])]),
            pl
        ));
        assert!(!needs_cidrs(&group(vec![]), pl));
        assert!(contains("0.0.0.0/0", "52.94.0.0/22") && !contains("52.94.0.0/22", "52.94.0.0/16"));
    }
}
