//! osapi: turn Linux servers into managed appliances.
//!
//! Data flows one way: API handler -> job client -> NATS -> agent processor -> provider.
//! See `docs/ARCHITECTURE.md` for the code map.

pub mod agent;
pub mod app;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod conditions;
pub mod config;
pub mod controller;
pub mod job;
pub mod nats;
pub mod orchestrator;
pub mod provider;
pub mod registry;
pub mod sdk;
pub mod security;
pub mod service;
pub mod telemetry;
pub mod wire;

/// Version of this build.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
