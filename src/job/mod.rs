//! The job model: targets, subjects, records, and the client the controller submits with.

pub mod client;
pub mod hub;
pub mod record;
pub mod store;
pub mod subject;
pub mod target;

pub use client::{JobClient, JobError, JobOutcome, Submit};
pub use record::{JobRecord, JobResponse, JobStatus, StatusEvent};
pub use subject::{OpKind, Subjects};
pub use target::Target;
