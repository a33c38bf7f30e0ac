//! Reconciling `GatewayEndpoint` objects: the pure decisions (`desired`, `plan`, `policy`,
//! `status`) and the engine that runs them against AWS (`reconcile`).

pub mod desired;
pub mod plan;
pub mod policy;
pub mod reconcile;
pub mod status;

pub use reconcile::{CleanupOutcome, Engine, EngineEvent, EventType, Observation, Outcome};
