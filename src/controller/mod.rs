//! The Kubernetes side: the reconcile of one object (`reconcile`: finalizer, status), its
//! events (`events`), when to look again (`requeue`), leader election (`leader`), the cluster's
//! nodes (`nodes`: the Node watch and the instance lookups behind `spec: {}`), and `run`, which
//! wires the controller, the HTTP endpoints and leader election together. AWS work on endpoints
//! is the engine's.

pub mod events;
pub mod fairness;
pub mod leader;
pub mod nodes;
pub mod reconcile;
pub mod requeue;
pub mod run;

pub use run::{RunConfig, RunError, run};
