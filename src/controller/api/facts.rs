//! `/facts/keys`: the `@fact.` references a request value may use. A static list served
//! by the controller, with no agent round-trip.

use axum::{routing, Json, Router};

use crate::auth::Permission;
use crate::controller::state::AppState;
use crate::wire::facts::FactKeys;

/// Every built-in `@fact.` key, with its description.
#[utoipa::path(get, path = "/facts/keys", tag = "facts", responses((status = 200, body = FactKeys)),
    security(("BearerAuth" = ["agent:read"])))]
pub async fn keys() -> Json<FactKeys> {
    Json(FactKeys::builtin())
}

/// The facts routes.
pub fn router(state: &AppState) -> Router<AppState> {
    let read = Router::new().route("/facts/keys", routing::get(keys));
    super::by_permission(state, [(Permission::AgentRead, read)])
}
