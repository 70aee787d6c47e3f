//! A user's webhook settings: validated and stored the same way from the API and the admin page.

use serde::Deserialize;

use super::error::ApiError;
use crate::AppState;
use crate::db::WebhookRow;
use crate::error_code::ErrorCode;
use crate::events::EventKind;
use crate::events::signing::new_secret;
use crate::outbound::Policy;

pub fn no_webhook() -> ApiError {
    ApiError::coded(ErrorCode::WebhookNotFound, "No webhook is configured")
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
    /// `message`, `message.any`, `message.ack`, `message.reaction`, `message.edited`,
    /// `message.revoked`, `poll.vote`, `presence.update`, `group.join`, `group.leave`,
    /// `group.update`, `call.received`, `call.rejected`, `session.status`, `session.sync`, or `*`.
    /// Omitted: every event.
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
pub async fn save_webhook(state: &AppState, user_id: i64, body: PutWebhook) -> Result<WebhookRow, ApiError> {
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
