//! The job model: targets, subjects, the status model and detail builder, the store, and
//! the client the controller submits with. The stored shapes are in [`crate::wire::job`].

pub mod answers;
pub mod client;
pub mod detail;
pub mod feed;
pub mod follow;
pub mod hub;
pub mod index;
pub mod status;
pub mod store;
pub mod subject;
pub mod target;

pub use crate::wire::job::{JobEvent, JobRecord, JobResponse, JobStatus, StatusEvent};
pub use client::{JobClient, JobError, JobOutcome, NewJob, Submit};
pub use subject::{OpKind, Subjects};
pub use target::Target;
