//! `/node/{hostname}/...`: job-backed reads of the node, on any target form.

use super::ops::{OpRouter, Route};
use crate::controller::state::AppState;
use crate::wire::ops::node::{
    NodeDiskGet, NodeHostnameGet, NodeLoadGet, NodeMemoryGet, NodeOsGet, NodeStatusGet,
    NodeUptimeGet,
};

impl Route for NodeHostnameGet {}
impl Route for NodeStatusGet {}
impl Route for NodeDiskGet {}
impl Route for NodeMemoryGet {}
impl Route for NodeLoadGet {}
impl Route for NodeOsGet {}
impl Route for NodeUptimeGet {}

/// The node domain's routes.
pub fn router(state: &AppState) -> OpRouter {
    OpRouter::new(state)
        .op::<NodeStatusGet>()
        .op::<NodeHostnameGet>()
        .op::<NodeDiskGet>()
        .op::<NodeMemoryGet>()
        .op::<NodeLoadGet>()
        .op::<NodeOsGet>()
        .op::<NodeUptimeGet>()
}
