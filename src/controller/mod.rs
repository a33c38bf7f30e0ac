//! The Kubernetes side: the reconcile of one object (`reconcile`: finalizer, status), its
//! events (`events`),
//! when to look again (`requeue`), leader election (`leader`), and `run`, which wires the
//! controller, the HTTP endpoints and leader election together. All AWS work is the engine's.

pub mod events;
pub mod leader;
pub mod reconcile;
pub mod requeue;
pub mod run;

pub use run::{RunConfig, RunError, run};
