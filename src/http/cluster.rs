//! `GET /api/v1/cluster/` (admin keys only): the nodes of the cluster, their heartbeats, how many
//! sessions each owns and may own, and which node owns each session with its lease generation.

use actix_web::{HttpResponse, get, web};
use serde_json::{Value, json};

use super::error::{ApiError, ok};
use super::extract::ApiKey;
use super::schemas::{ClusterView, Envelope, ErrorBody};
use crate::AppState;
use crate::error_code::ErrorCode;

#[utoipa::path(
    tag = "service",
    operation_id = "cluster_status",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "This node, every registered node (heartbeat age in seconds on the database clock, `alive`, `draining`, `owned`, `capacity`) and every leased session (`owner`, `generation`, `wanted`, `archiveBytes`). `enabled: false` on a single gateway", body = Envelope<ClusterView>),
        (status = 403, description = "FORBIDDEN: an admin key is needed", body = ErrorBody)
    )
)]
#[get("/api/v1/cluster/")]
pub async fn cluster(state: web::Data<AppState>, ApiKey(p): ApiKey) -> Result<HttpResponse, ApiError> {
    if !p.is_admin {
        return Err(ApiError::coded(
            ErrorCode::Forbidden,
            "The cluster view needs an admin key",
        ));
    }
    let Some(node) = state.sessions.node() else {
        return Ok(ok(json!({
            "enabled": false,
            "node": Value::Null,
            "nodes": [],
            "sessions": [],
            "message": match state.db.backend() {
                "sqlite" => "A single node: cluster mode needs PostgreSQL (database.url) and cluster.enabled = true",
                _ => "A single node: set cluster.enabled = true to run several nodes on this database",
            },
        })));
    };
    let nodes = state.db.cluster_nodes(node.settings.lease_secs).await?;
    let sessions: Vec<Value> = state
        .db
        .leases(None)
        .await?
        .into_iter()
        .map(|l| {
            json!({
                "sessionId": l.session_id,
                "userId": l.user_id,
                "name": l.name,
                "wanted": l.wanted,
                "owner": l.owner,
                "generation": l.generation,
                "archiveBytes": l.archive_bytes,
            })
        })
        .collect();
    Ok(ok(json!({
        "enabled": true,
        "node": &*node.id,
        "leaseSecs": node.settings.lease_secs,
        "nodes": nodes,
        "sessions": sessions,
    })))
}
