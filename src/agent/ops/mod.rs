//! The agent side of each operation: provider calls shaped into the job's result payload.

pub mod command;
pub mod file;
pub mod network;
pub mod node;
