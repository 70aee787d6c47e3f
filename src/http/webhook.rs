//! The caller's webhook: settings, a test delivery, the delivery log and replays.

use crate::api_common::views::webhook_json;
use crate::api_common::webhook_config::{PutWebhook, no_webhook, save_webhook};
use crate::error_code::ErrorCode;
use crate::http::body::Json;
use actix_web::{HttpResponse, delete, get, post, put, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, ok};
use super::extract::ApiKey;
use super::schemas::{Deleted, Delivery, Envelope, ErrorBody, Webhook, WebhookTest};
use crate::AppState;
use crate::db::{DeliveryRow, EventRow, EventStatus};
use crate::events::EventKind;
use crate::events::dispatcher::{client, post as deliver};
use crate::events::envelope;

#[utoipa::path(
    tag = "webhook",
    operation_id = "get_webhook",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The webhook, with its secret", body = Envelope<Webhook>),
        (status = 404, description = "WEBHOOK_NOT_FOUND", body = ErrorBody)
    )
)]
#[get("/api/v1/webhook/")]
pub async fn get_webhook(state: web::Data<AppState>, ApiKey(p): ApiKey) -> Result<HttpResponse, ApiError> {
    let hook = state.db.webhook(p.user_id).await?.ok_or_else(no_webhook)?;
    Ok(ok(webhook_json(&hook)))
}

#[utoipa::path(
    tag = "webhook",
    operation_id = "put_webhook",
    security(("api_key" = [])),
    request_body(content = PutWebhook, example = json!({"url": "https://example.com/hooks/wa", "events": ["message", "message.ack", "session.status"], "enabled": true})),
    responses(
        (status = 200, description = "The stored webhook, with its secret", body = Envelope<Webhook>),
        (status = 400, description = "VALIDATION_ERROR (url, events, secret), BAD_REQUEST (malformed JSON, unknown field)", body = ErrorBody)
    )
)]
#[put("/api/v1/webhook/")]
pub async fn put_webhook(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    body: Json<PutWebhook>,
) -> Result<HttpResponse, ApiError> {
    let hook = save_webhook(&state, p.user_id, body.into_inner()).await?;
    Ok(ok(webhook_json(&hook)))
}

#[utoipa::path(
    tag = "webhook",
    operation_id = "delete_webhook",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Removed", body = Envelope<Deleted>),
        (status = 404, description = "WEBHOOK_NOT_FOUND", body = ErrorBody)
    )
)]
#[delete("/api/v1/webhook/")]
pub async fn delete_webhook(state: web::Data<AppState>, ApiKey(p): ApiKey) -> Result<HttpResponse, ApiError> {
    if !state.db.delete_webhook(p.user_id).await? {
        return Err(no_webhook());
    }
    Ok(ok(json!({ "deleted": true })))
}

/// Sends a signed `webhook.test` event now and reports what the receiver answered.
#[utoipa::path(
    tag = "webhook",
    operation_id = "test_webhook",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "What the receiver answered to a signed `webhook.test` event", body = Envelope<WebhookTest>),
        (status = 404, description = "WEBHOOK_NOT_FOUND", body = ErrorBody)
    )
)]
#[post("/api/v1/webhook/test/")]
pub async fn test_webhook(state: web::Data<AppState>, ApiKey(p): ApiKey) -> Result<HttpResponse, ApiError> {
    let hook = state.db.webhook(p.user_id).await?.ok_or_else(no_webhook)?;
    let uid = format!("evt_test_{}", uuid::Uuid::new_v4().simple());
    let body = envelope(
        &uid,
        EventKind::Test,
        None,
        crate::db::now(),
        json!({ "message": "wagate webhook test" }),
    )
    .to_string();
    let client = client(&state.settings.webhooks);
    let attempt = state
        .runtime
        .spawn(async move { deliver(&client, &hook, &uid, EventKind::Test.as_str(), &body).await })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(ok(json!({
        "delivered": attempt.delivered(),
        "statusCode": attempt.status_code,
        "latencyMs": attempt.latency.as_millis() as u64,
        "error": attempt.error,
    })))
}

fn delivery_json(e: &EventRow, attempts: &[DeliveryRow]) -> Value {
    json!({
        "id": e.id,
        "eventId": e.uid,
        "event": e.event,
        "status": e.status,
        "attempts": e.attempts,
        "lastStatusCode": e.last_status_code,
        "lastError": e.last_error,
        "createdAt": e.created_at.and_utc(),
        "nextAttemptAt": (e.status == EventStatus::Pending).then(|| e.next_attempt_at.and_utc()),
        "deliveredAt": e.delivered_at.map(|t| t.and_utc()),
        "body": serde_json::from_str::<Value>(&e.body).unwrap_or(Value::Null),
        "log": attempts.iter().map(|a| json!({
            "attempt": a.attempt,
            "url": a.url,
            "statusCode": a.status_code,
            "error": a.error,
            "latencyMs": a.latency_ms,
            "at": a.created_at.and_utc(),
        })).collect::<Vec<_>>(),
    })
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    /// pending, delivered, failed (refused by the receiver) or dead (gave up).
    #[param(pattern = "^(pending|delivered|failed|dead)$")]
    status: Option<String>,
    /// A page: ids below this.
    before_id: Option<i64>,
    /// 1 to 200, default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

#[utoipa::path(
    tag = "webhook",
    operation_id = "list_deliveries",
    security(("api_key" = [])),
    params(DeliveriesQuery),
    responses(
        (status = 200, description = "Events, newest first, each with its attempts", body = Envelope<Vec<Delivery>>),
        (status = 400, description = "VALIDATION_ERROR (status, limit), BAD_REQUEST (malformed or unknown query parameter)", body = ErrorBody)
    )
)]
#[get("/api/v1/webhook/deliveries/")]
pub async fn deliveries(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    q: web::Query<DeliveriesQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::validation("limit", "limit must be between 1 and 200"));
    }
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(
            EventStatus::parse(s)
                .filter(|e| EventStatus::LISTED.contains(e))
                .ok_or_else(|| {
                    let known: Vec<_> = EventStatus::LISTED.iter().map(|e| e.as_str()).collect();
                    ApiError::validation("status", format!("unknown status {s}; known: {}", known.join(", ")))
                })?,
        ),
    };
    let rows = state.db.deliveries(p.user_id, status, q.before_id, limit).await?;
    Ok(ok(rows.iter().map(|(e, a)| delivery_json(e, a)).collect::<Vec<_>>()))
}

#[utoipa::path(
    tag = "webhook",
    operation_id = "replay_delivery",
    security(("api_key" = [])),
    params(("id" = i64, Path, description = "The delivery's (event's) `id`")),
    responses(
        (status = 200, description = "Queued for delivery again", body = Envelope<Delivery>),
        (status = 404, description = "EVENT_NOT_FOUND", body = ErrorBody)
    )
)]
#[post("/api/v1/webhook/deliveries/{id}/replay/")]
pub async fn replay(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let row = state
        .db
        .replay_event(p.user_id, id)
        .await?
        .ok_or_else(|| ApiError::coded(ErrorCode::EventNotFound, format!("No event {id}")))?;
    Ok(ok(delivery_json(&row, &[])))
}
