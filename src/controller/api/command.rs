//! `/node/{hostname}/command/...`: run a program (no shell) or a shell string.

use super::ops::{OpRouter, Route};
use crate::controller::state::AppState;
use crate::wire::ops::command::{CommandExec, CommandShell};

impl Route for CommandExec {}
impl Route for CommandShell {}

/// The command domain's routes.
pub fn router(state: &AppState) -> OpRouter {
    OpRouter::new(state)
        .op::<CommandExec>()
        .op::<CommandShell>()
}
