//! The connectivity probe: resolve the DynamoDB host, ask for the object's canary table (whose
//! answer proves which way the request went, see [`Canary`]), then make one signed read and time
//! it. Failures are classified so a human knows where to look.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::Serialize;

pub use crate::api::ProbeResult;
use crate::aws::AwsError;
use crate::aws::dynamodb::DynamoDb;

/// One probe's findings.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeReport {
    pub result: ProbeResult,
    pub operation: String,
    pub host: String,
    pub addresses: Vec<IpAddr>,
    /// What the canary call proved; `None` when no canary was asked for.
    pub canary: Option<Canary>,
    #[serde(serialize_with = "ser_latency")]
    pub latency: Option<Duration>,
    pub message: Option<String>,
}

fn ser_latency<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&(d.as_secs_f64() * 1000.0)),
        None => s.serialize_none(),
    }
}

/// Formats a latency for status and the printer column: `7ms`, `1.2s`.
pub fn format_latency(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// `host` and `port` of a URL like `https://dynamodb.eu-west-1.amazonaws.com` or
/// `http://127.0.0.1:5000/`.
pub fn host_port(url: &str) -> Option<(String, u16)> {
    let uri: http::Uri = url.parse().ok()?;
    let host = uri
        .host()?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
        Some("http") => 80,
        _ => 443,
    });
    Some((host, port))
}

/// What the canary call (`DescribeTable` on a table that never exists, denied by this
/// object's endpoint policy) proved about the request's path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "message", rename_all = "camelCase")]
pub enum Canary {
    /// Denied by a VPC endpoint policy's explicit deny: only an endpoint carrying this object's
    /// canary statement denies that table, so the request went through this object's endpoint.
    Denied(String),
    /// Denied because no VPC endpoint policy allows it: an endpoint was on the way, but its
    /// policy is not this object's (which allows everything but the canary).
    DeniedByOtherEndpoint(String),
    /// `ResourceNotFound`: the request reached DynamoDB without meeting this object's canary.
    NotFound,
    /// No proof either way (the operator's own IAM denies the call, a timeout, a throttle).
    Inconclusive(String),
}

/// Reads the canary call's answer. Pure.
pub fn classify_canary(result: &Result<(), AwsError>) -> Canary {
    let err = match result {
        Ok(()) => {
            return Canary::Inconclusive(
                "the canary table exists, so its lookup proves nothing; delete it".into(),
            );
        }
        Err(e) => e,
    };
    let message = err.message.to_ascii_lowercase();
    match err.code.as_deref() {
        Some("ResourceNotFoundException") => Canary::NotFound,
        Some("AccessDeniedException" | "AccessDenied") => {
            if message.contains("no vpc endpoint policy allows") {
                Canary::DeniedByOtherEndpoint(err.message.clone())
            } else if message.contains("identity-based policy")
                || message.contains("service control policy")
                || message.contains("permissions boundary")
                || message.contains("session policy")
                || message.contains("resource control policy")
            {
                Canary::Inconclusive(format!(
                    "{err}; the operator's role must allow dynamodb:DescribeTable on the canary table (`vpcgate iam-policy`)"
                ))
            } else {
                Canary::Denied(err.message.clone())
            }
        }
        _ => Canary::Inconclusive(err.to_string()),
    }
}

/// Classifies a failed signed call. A denial that mentions a VPC endpoint policy is the
/// endpoint's doing; other denials are IAM's.
pub fn classify(err: &AwsError) -> ProbeResult {
    let code = err.code.as_deref().unwrap_or_default();
    let message = err.message.to_ascii_lowercase();
    match code {
        "AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation" => {
            if message.contains("vpc endpoint") || message.contains("vpce") {
                ProbeResult::AccessDeniedByEndpointPolicy
            } else {
                ProbeResult::AccessDeniedByIam
            }
        }
        "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "ExpiredTokenException"
        | "InvalidSignatureException"
        | "MissingAuthenticationTokenException" => ProbeResult::AccessDeniedByIam,
        "ResourceNotFoundException" => ProbeResult::TableNotFound,
        _ if err.code.is_none() && message.contains("timed out") => ProbeResult::Timeout,
        _ if err.code.is_none()
            && (message.contains("dns") || message.contains("failed to lookup")) =>
        {
            ProbeResult::DnsFailure
        }
        _ => ProbeResult::Failed,
    }
}

/// What to probe.
#[derive(Debug, Clone)]
pub struct ProbeRequest<'a> {
    /// The object's canary table, when its endpoint policy carries the canary statement.
    pub canary: Option<&'a str>,
    pub table: Option<&'a str>,
    pub timeout: Duration,
}

/// Runs one probe. Never fails: every failure is a classified report.
pub async fn run(client: &DynamoDb, req: &ProbeRequest<'_>) -> ProbeReport {
    let operation = if req.table.is_some() {
        "DescribeTable"
    } else {
        "ListTables"
    };
    let (host, port) =
        host_port(client.endpoint_url()).unwrap_or_else(|| (client.endpoint_url().to_owned(), 443));
    let mut report = ProbeReport {
        result: ProbeResult::Failed,
        operation: operation.to_owned(),
        host: host.clone(),
        addresses: Vec::new(),
        canary: None,
        latency: None,
        message: None,
    };

    match tokio::time::timeout(req.timeout, tokio::net::lookup_host((host.as_str(), port))).await {
        Err(_) => {
            report.result = ProbeResult::Timeout;
            report.message = Some(format!(
                "resolving {host} took longer than {:?}",
                req.timeout
            ));
            return report;
        }
        Ok(Err(e)) => {
            report.result = ProbeResult::DnsFailure;
            report.message = Some(format!("could not resolve {host}: {e}"));
            return report;
        }
        Ok(Ok(addrs)) => {
            let mut ips: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
            ips.sort();
            ips.dedup();
            report.addresses = ips;
        }
    }

    if let Some(canary) = req.canary {
        let answer = match tokio::time::timeout(req.timeout, client.describe_table(canary)).await {
            Ok(answer) => answer,
            Err(_) => Err(AwsError::new(
                "dynamodb",
                "DescribeTable",
                None,
                format!("the canary call got no answer within {:?}", req.timeout),
            )),
        };
        report.canary = Some(classify_canary(&answer));
    }

    let started = Instant::now();
    let call = async {
        match req.table {
            Some(t) => client.describe_table(t).await,
            None => client.list_tables().await,
        }
    };
    let outcome = tokio::time::timeout(req.timeout, call).await;
    let elapsed = started.elapsed();
    match outcome {
        Err(_) => {
            report.result = ProbeResult::Timeout;
            report.message = Some(format!(
                "{operation} got no answer within {:?}",
                req.timeout
            ));
        }
        Ok(Ok(())) => {
            report.result = ProbeResult::Succeeded;
            report.latency = Some(elapsed);
        }
        Ok(Err(e)) => {
            report.result = classify(&e);
            report.latency = e.code.is_some().then_some(elapsed);
            report.message = Some(match report.result {
                ProbeResult::AccessDeniedByIam => {
                    format!("{e}; grant dynamodb:{operation} to the operator's IAM role")
                }
                ProbeResult::AccessDeniedByEndpointPolicy => {
                    format!("{e}; allow dynamodb:{operation} in the endpoint policy (spec.policy)")
                }
                ProbeResult::TableNotFound => format!(
                    "{e}; create table {} or fix spec.probe.table",
                    req.table.unwrap_or("?")
                ),
                _ => e.to_string(),
            });
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            host_port("https://dynamodb.eu-west-1.amazonaws.com"),
            Some(("dynamodb.eu-west-1.amazonaws.com".into(), 443))
        );
        assert_eq!(
            host_port("http://127.0.0.1:5000/"),
            Some(("127.0.0.1".into(), 5000))
        );
        assert_eq!(
            host_port("http://localhost"),
            Some(("localhost".into(), 80))
        );
        assert_eq!(host_port("http://[::1]:8000"), Some(("::1".into(), 8000)));
        assert_eq!(host_port("not a url"), None);
    }

    #[test]
    fn canary_answers() {
        let e = |code: Option<&str>, msg: &str| {
            Err(AwsError::new("dynamodb", "DescribeTable", code, msg))
        };
        let arn = "arn:aws:dynamodb:us-east-1:1:table/vpcgate-canary-x";
        let kind = |c: Canary| match c {
            Canary::Denied(_) => "through",
            Canary::DeniedByOtherEndpoint(_) => "other",
            Canary::NotFound => "notfound",
            Canary::Inconclusive(_) => "inconclusive",
        };
        let cases = [
            (
                e(
                    Some("AccessDeniedException"),
                    &format!(
                        "User: r is not authorized to perform: dynamodb:DescribeTable on resource: {arn} with an explicit deny in a VPC endpoint policy"
                    ),
                ),
                "through",
            ),
            // Older messages name no cause: only an endpoint policy can deny a table the role may read.
            (
                e(
                    Some("AccessDeniedException"),
                    &format!(
                        "User: r is not authorized to perform: dynamodb:DescribeTable on resource: {arn}"
                    ),
                ),
                "through",
            ),
            (
                e(
                    Some("AccessDeniedException"),
                    &format!(
                        "User: r is not authorized to perform: dynamodb:DescribeTable on resource: {arn} because no VPC endpoint policy allows the dynamodb:DescribeTable action"
                    ),
                ),
                "other",
            ),
            (
                e(
                    Some("AccessDeniedException"),
                    &format!(
                        "User: r is not authorized to perform: dynamodb:DescribeTable on resource: {arn} because no identity-based policy allows the dynamodb:DescribeTable action"
                    ),
                ),
                "inconclusive",
            ),
            (
                e(
                    Some("AccessDeniedException"),
                    "... with an explicit deny in a service control policy",
                ),
                "inconclusive",
            ),
            (
                e(
                    Some("ResourceNotFoundException"),
                    "Requested resource not found",
                ),
                "notfound",
            ),
            (e(Some("ThrottlingException"), "slow down"), "inconclusive"),
            (e(None, "timed out"), "inconclusive"),
            (Ok(()), "inconclusive"),
        ];
        for (answer, want) in cases {
            assert_eq!(kind(classify_canary(&answer)), want, "{answer:?}");
        }
    }

    #[test]
    fn failure_classes() {
        let e = |code: Option<&str>, msg: &str| AwsError::new("dynamodb", "ListTables", code, msg);
        let cases = [
            (
                e(
                    Some("AccessDeniedException"),
                    "User: arn:aws:sts::1:assumed-role/x is not authorized to perform: dynamodb:ListTables because no identity-based policy allows the dynamodb:ListTables action",
                ),
                ProbeResult::AccessDeniedByIam,
            ),
            (
                e(
                    Some("AccessDeniedException"),
                    "User: arn:aws:sts::1:assumed-role/x is not authorized to perform: dynamodb:ListTables on resource: * because no VPC endpoint policy allows the dynamodb:ListTables action",
                ),
                ProbeResult::AccessDeniedByEndpointPolicy,
            ),
            (
                e(
                    Some("UnrecognizedClientException"),
                    "The security token included in the request is invalid.",
                ),
                ProbeResult::AccessDeniedByIam,
            ),
            (
                e(
                    Some("ResourceNotFoundException"),
                    "Requested resource not found",
                ),
                ProbeResult::TableNotFound,
            ),
            (e(None, "timed out"), ProbeResult::Timeout),
            (
                e(
                    None,
                    "could not reach AWS: dns error: failed to lookup address information",
                ),
                ProbeResult::DnsFailure,
            ),
            (
                e(None, "could not reach AWS: connection refused"),
                ProbeResult::Failed,
            ),
            (e(Some("InternalServerError"), "boom"), ProbeResult::Failed),
        ];
        for (err, expected) in cases {
            assert_eq!(classify(&err), expected, "{err}");
        }
    }

    #[test]
    fn latency_format() {
        assert_eq!(format_latency(Duration::from_micros(7_400)), "7ms");
        assert_eq!(format_latency(Duration::from_millis(1_240)), "1.2s");
        assert_eq!(
            ProbeResult::AccessDeniedByEndpointPolicy.as_str(),
            "AccessDeniedByEndpointPolicy"
        );
    }
}
