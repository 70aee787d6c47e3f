//! The caller's webhook: settings, a test delivery, the delivery log and replays.

use crate::error_code::ErrorCode;
use crate::http::body::Json;
use actix_web::{HttpResponse, delete, get, post, put, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, ok};
use super::extract::ApiKey;
use super::schemas::{Deleted, Delivery, Envelope, ErrorBody, Webhook, WebhookTest};
use crate::AppState;
use crate::db::{DeliveryRow, EventRow, WebhookRow};
use crate::events::EventKind;
use crate::events::dispatcher::{client, post as deliver};
use crate::events::envelope::envelope;
use crate::events::signing::new_secret;
use crate::outbound::Policy;

pub(crate) fn webhook_json(w: &WebhookRow) -> Value {
    json!({
        "url": w.url,
        "secret": w.secret,
        "events": w.events.split_whitespace().collect::<Vec<_>>(),
        "enabled": w.enabled,
        "createdAt": w.created_at.and_utc(),
        "updatedAt": w.updated_at.and_utc(),
    })
}

pub(crate) fn no_webhook() -> ApiError {
    ApiError::coded(ErrorCode::WebhookNotFound, "No webhook is configured")
}

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

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutWebhook {
    /// http:// or https://; internal addresses are refused with `webhooks.allow_private_urls = false`.
    #[schema(required = true, nullable = false)]
    url: Option<String>,
    /// 16 to 200 characters. Omitted: the current secret is kept (a new one is generated for a new webhook).
    #[schema(min_length = 16, max_length = 200)]
    secret: Option<String>,
    /// `message`, `message.ack`, `session.status`, or `*`. Omitted: every event.
    #[schema(min_items = 1)]
    events: Option<Vec<String>>,
    enabled: Option<bool>,
}

fn valid_url(raw: Option<&str>) -> Result<String, ApiError> {
    let raw = raw.map(str::trim).filter(|u| !u.is_empty());
    let raw = raw.ok_or_else(|| ApiError::validation("url", "url is required"))?;
    match url::Url::parse(raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(raw.to_string()),
        _ => Err(ApiError::validation("url", "url must be an http:// or https:// URL")),
    }
}

fn valid_events(events: Option<Vec<String>>) -> Result<String, ApiError> {
    let Some(events) = events else { return Ok("*".into()) };
    if events.is_empty() {
        return Err(ApiError::validation(
            "events",
            "events must name at least one event, or \"*\"",
        ));
    }
    for e in &events {
        if e != "*" && EventKind::parse(e).is_none() {
            let known: Vec<_> = EventKind::SUBSCRIBABLE.iter().map(|k| k.as_str()).collect();
            return Err(ApiError::validation(
                "events",
                format!("unknown event {e:?}; known: {}, or \"*\"", known.join(", ")),
            ));
        }
    }
    Ok(events.join(" "))
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

/// With `webhooks.allow_private_urls = false`: the URL's host (an IP literal, or every address
/// its name resolves to now) must not be internal. Deliveries are checked again on connect.
async fn allowed_url(state: &AppState, raw: &str) -> Result<(), ApiError> {
    let policy = Policy::webhooks(&state.settings.webhooks);
    if policy.allows_all() {
        return Ok(());
    }
    let url = url::Url::parse(raw).map_err(|_| ApiError::validation("url", "url is not a URL"))?;
    policy
        .check_resolved(&url)
        .await
        .map_err(|r| ApiError::validation("url", format!("url is refused: {r}")))
}

/// Validates and stores a user's webhook (the API's PUT and the admin page's).
pub(crate) async fn save_webhook(state: &AppState, user_id: i64, body: PutWebhook) -> Result<WebhookRow, ApiError> {
    let url = valid_url(body.url.as_deref())?;
    allowed_url(state, &url).await?;
    let events = valid_events(body.events)?;
    let current = state.db.webhook(user_id).await?;
    let secret = match body.secret.map(|s| s.trim().to_string()) {
        Some(s) if s.len() < 16 || s.len() > 200 => {
            return Err(ApiError::validation("secret", "secret must have 16 to 200 characters"));
        }
        Some(s) => s,
        None => current.as_ref().map(|c| c.secret.clone()).unwrap_or_else(new_secret),
    };
    let now = crate::db::now();
    Ok(state
        .db
        .put_webhook(WebhookRow {
            id: 0,
            user_id,
            url,
            secret,
            events,
            enabled: body.enabled.unwrap_or(true),
            created_at: now,
            updated_at: now,
        })
        .await?)
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
        "nextAttemptAt": (e.status == "pending").then(|| e.next_attempt_at.and_utc()),
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

const DELIVERY_STATUSES: [&str; 4] = ["pending", "delivered", "failed", "dead"];

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
    if let Some(s) = q.status.as_deref().filter(|s| !DELIVERY_STATUSES.contains(s)) {
        return Err(ApiError::validation(
            "status",
            format!("unknown status {s}; known: {}", DELIVERY_STATUSES.join(", ")),
        ));
    }
    let rows = state.db.deliveries(p.user_id, q.status, q.before_id, limit).await?;
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
