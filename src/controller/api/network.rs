//! `/node/{hostname}/network/...`: DNS and ping.

use super::ops::{OpRouter, Route};
use crate::controller::state::AppState;
use crate::wire::ops::network::{NetworkDnsGet, NetworkDnsUpdate, NetworkPingDo};

impl Route for NetworkDnsGet {}
impl Route for NetworkDnsUpdate {}
impl Route for NetworkPingDo {}

/// The network domain's routes.
pub fn router(state: &AppState) -> OpRouter {
    OpRouter::new(state)
        .op::<NetworkDnsGet>()
        .op::<NetworkDnsUpdate>()
        .op::<NetworkPingDo>()
}
