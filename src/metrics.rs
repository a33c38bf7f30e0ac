//! Prometheus metrics (`prometheus-client`): reconciles, failures by reason, reconcile duration,
//! AWS calls by operation and error code, probe latency, objects by Ready status, status writes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::aws::CallObserver;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AwsCallLabels {
    service: String,
    operation: String,
    /// `OK` or the AWS error code (`Unreachable` when no answer came back).
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReadyLabels {
    ready: String,
}

/// All metrics of the process, shared through the controller's context.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ResultLabels, Counter>,
    failures: Family<ReasonLabels, Counter>,
    duration: Histogram,
    aws_calls: Family<AwsCallLabels, Counter>,
    probe_latency: Histogram,
    objects: Family<ReadyLabels, Gauge>,
    status_writes: Counter,
    yields: Counter,
    ready_by_object: Mutex<HashMap<String, String>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("vpcgate");
        let reconciles = Family::<ResultLabels, Counter>::default();
        let failures = Family::<ReasonLabels, Counter>::default();
        let duration = Histogram::new(exponential_buckets(0.01, 2.0, 12));
        let aws_calls = Family::<AwsCallLabels, Counter>::default();
        let probe_latency = Histogram::new(exponential_buckets(0.001, 2.0, 14));
        let objects = Family::<ReadyLabels, Gauge>::default();
        let status_writes = Counter::default();
        let yields = Counter::default();
        registry.register(
            "reconciles",
            "Reconcile passes by result (ok, error)",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_failures",
            "Failed or degraded reconciles by condition reason",
            failures.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Duration of one reconcile pass",
            duration.clone(),
        );
        registry.register(
            "aws_calls",
            "AWS API calls by service, operation and error code",
            aws_calls.clone(),
        );
        registry.register(
            "probe_latency_seconds",
            "Latency of successful DynamoDB probes",
            probe_latency.clone(),
        );
        registry.register(
            "objects",
            "GatewayEndpoint objects by Ready status",
            objects.clone(),
        );
        registry.register(
            "status_writes",
            "Status patches sent to the API server",
            status_writes.clone(),
        );
        registry.register(
            "yields",
            "Periodic passes that yielded to an object waiting for its first pass",
            yields.clone(),
        );
        Metrics {
            registry,
            reconciles,
            failures,
            duration,
            aws_calls,
            probe_latency,
            objects,
            status_writes,
            yields,
            ready_by_object: Mutex::new(HashMap::new()),
        }
    }

    /// An observer that counts every AWS call into `aws_calls`.
    pub fn aws_observer(self: &std::sync::Arc<Self>) -> CallObserver {
        let me = self.clone();
        CallObserver::new(move |service, operation, err| {
            let code = match err {
                None => "OK".to_owned(),
                Some(e) => e.code.clone().unwrap_or_else(|| "Unreachable".to_owned()),
            };
            me.aws_calls
                .get_or_create(&AwsCallLabels {
                    service: service.to_owned(),
                    operation: operation.to_owned(),
                    code,
                })
                .inc();
        })
    }

    pub fn reconciled(&self, ok: bool, took: Duration) {
        let result = if ok { "ok" } else { "error" }.to_owned();
        self.reconciles
            .get_or_create(&ResultLabels { result })
            .inc();
        self.duration.observe(took.as_secs_f64());
    }

    pub fn failed(&self, reason: &str) {
        self.failures
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    pub fn probed(&self, latency: Duration) {
        self.probe_latency.observe(latency.as_secs_f64());
    }

    pub fn yielded(&self) {
        self.yields.inc();
    }

    pub fn status_written(&self) {
        self.status_writes.inc();
    }

    /// Records an object's Ready status (`True`, `False`, `Unknown`); `None` forgets the object.
    pub fn set_ready(&self, uid: &str, ready: Option<&str>) {
        let mut map = self
            .ready_by_object
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match ready {
            Some(r) => {
                map.insert(uid.to_owned(), r.to_owned());
            }
            None => {
                map.remove(uid);
            }
        }
        for status in ["True", "False", "Unknown"] {
            let n = map.values().filter(|v| v.as_str() == status).count();
            self.objects
                .get_or_create(&ReadyLabels {
                    ready: status.to_owned(),
                })
                .set(n as i64);
        }
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::AwsError;
    use std::sync::Arc;

    #[test]
    fn counters_show_up_in_the_exposition() {
        let m = Arc::new(Metrics::new());
        m.reconciled(true, Duration::from_millis(20));
        m.reconciled(false, Duration::from_millis(20));
        m.failed("VpcNotFound");
        m.probed(Duration::from_millis(7));
        m.status_written();
        m.set_ready("a", Some("True"));
        m.set_ready("b", Some("False"));
        m.set_ready("c", Some("True"));
        m.set_ready("c", None);
        let obs = m.aws_observer();
        obs.observe("ec2", "DescribeVpcs", None);
        obs.observe(
            "ec2",
            "CreateVpcEndpoint",
            Some(&AwsError::new(
                "ec2",
                "CreateVpcEndpoint",
                Some("UnauthorizedOperation"),
                "no",
            )),
        );
        let text = m.encode();
        for line in [
            "vpcgate_reconciles_total{result=\"ok\"} 1",
            "vpcgate_reconciles_total{result=\"error\"} 1",
            "vpcgate_reconcile_failures_total{reason=\"VpcNotFound\"} 1",
            "vpcgate_status_writes_total 1",
            "vpcgate_objects{ready=\"True\"} 1",
            "vpcgate_objects{ready=\"False\"} 1",
            "vpcgate_aws_calls_total{service=\"ec2\",operation=\"DescribeVpcs\",code=\"OK\"} 1",
            "vpcgate_aws_calls_total{service=\"ec2\",operation=\"CreateVpcEndpoint\",code=\"UnauthorizedOperation\"} 1",
            "vpcgate_probe_latency_seconds_count 1",
            "vpcgate_reconcile_duration_seconds_count 2",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }
}
