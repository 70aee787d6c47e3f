//! `GET /api/v1/events/stream`: the caller's events as Server-Sent Events. The `id:` of each event
//! is its outbox id, so a client that reconnects with `Last-Event-ID` misses nothing (the outbox
//! keeps events for `webhooks.max_age_secs`).

use std::collections::VecDeque;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, get, web};
use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::broadcast;

use super::error::ApiError;
use super::extract::ApiKey;
use super::schemas::ErrorBody;
use crate::AppState;
use crate::db::Database;
use crate::events::{EventKind, Published};

const KEEP_ALIVE: Duration = Duration::from_secs(15);
const REPLAY_BATCH: i64 = 500;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// Only this session's events (and events of no session).
    session: Option<String>,
    /// Comma-separated event names.
    events: Option<String>,
    /// Replay events after this id (what `Last-Event-ID` does).
    since: Option<i64>,
}

struct Filter {
    user_id: i64,
    session: Option<String>,
    events: Option<Vec<String>>,
}

impl Filter {
    fn wants(&self, e: &Published) -> bool {
        e.user_id == self.user_id
            && self
                .session
                .as_ref()
                .is_none_or(|s| e.session.as_deref().is_none_or(|es| es == s))
            && self.events.as_ref().is_none_or(|l| l.iter().any(|x| x == &e.event))
    }
}

struct Stream {
    db: Database,
    rx: broadcast::Receiver<Published>,
    filter: Filter,
    last_id: i64,
    replay: bool,
    backlog: VecDeque<Published>,
    greeted: bool,
}

fn frame(e: &Published) -> Bytes {
    Bytes::from(format!("id: {}\nevent: {}\ndata: {}\n\n", e.id, e.event, e.body))
}

impl Stream {
    /// The next chunk to write; `None` ends the response.
    async fn next(&mut self) -> Option<Result<Bytes, actix_web::Error>> {
        if !self.greeted {
            self.greeted = true;
            return Some(Ok(Bytes::from_static(b": connected\n\n")));
        }
        loop {
            if let Some(e) = self.backlog.pop_front() {
                self.last_id = e.id;
                return Some(Ok(frame(&e)));
            }
            if self.replay {
                let rows = match self
                    .db
                    .events_after(self.filter.user_id, self.last_id, REPLAY_BATCH)
                    .await
                {
                    Ok(rows) => rows,
                    Err(e) => {
                        tracing::warn!(error = %e, "event stream could not read the outbox");
                        return None;
                    }
                };
                self.replay = rows.len() as i64 == REPLAY_BATCH;
                if let Some(last) = rows.last() {
                    self.last_id = last.id;
                }
                let wanted = rows.into_iter().map(|r| Published {
                    id: r.id,
                    user_id: r.user_id,
                    session: serde_json::from_str::<serde_json::Value>(&r.body)
                        .ok()
                        .and_then(|b| b["session"].as_str().map(str::to_string)),
                    event: r.event,
                    body: r.body.into(),
                });
                let wanted: Vec<_> = wanted.filter(|p| self.filter.wants(p)).collect();
                // `last_id` already covers the skipped rows; delivered ones move it again.
                self.backlog.extend(wanted);
                continue;
            }
            tokio::select! {
                got = self.rx.recv() => match got {
                    // A wake-up: the events are read from the outbox in id order (commit order), so
                    // one published late by its task is not skipped past.
                    Ok(e) if e.id > self.last_id && self.filter.wants(&e) => self.replay = true,
                    Ok(_) => {}
                    // Fell behind the in-memory channel: catch up from the outbox.
                    Err(broadcast::error::RecvError::Lagged(_)) => self.replay = true,
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = tokio::time::sleep(KEEP_ALIVE) => return Some(Ok(Bytes::from_static(b": keep-alive\n\n"))),
            }
        }
    }
}

#[utoipa::path(
    tag = "events",
    operation_id = "stream_events",
    security(("api_key" = [])),
    params(
        StreamQuery,
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event id (what `since` does)")
    ),
    responses(
        (status = 200, description = "Server-Sent Events until the client hangs up: `id:` the event id, `event:` its name, `data:` the envelope; a comment every 15 s keeps the connection alive", content_type = "text/event-stream", body = String),
        (status = 400, description = "VALIDATION_ERROR (unknown event name), BAD_REQUEST (malformed or unknown query parameter)", body = ErrorBody)
    )
)]
#[get("/api/v1/events/stream")]
pub async fn stream(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    q: web::Query<StreamQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let events = match q.events.as_deref() {
        None => None,
        Some(list) => {
            let names: Vec<String> = list
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            if let Some(bad) = names.iter().find(|n| EventKind::parse(n).is_none()) {
                let all: Vec<&str> = EventKind::SUBSCRIBABLE.iter().map(|k| k.as_str()).collect();
                return Err(ApiError::validation(
                    "events",
                    format!("events has an unknown event {bad:?}: use {}", all.join(", ")),
                ));
            }
            Some(names)
        }
    };
    let last_event_id = req
        .headers()
        .get("Last-Event-ID")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let resume = last_event_id.or(q.since);
    // Subscribe before reading the backlog, so nothing falls between the two.
    let rx = state.db.events().subscribe();
    let stream = Stream {
        db: state.db.clone(),
        rx,
        filter: Filter {
            user_id: p.user_id,
            session: q.session,
            events,
        },
        last_id: resume.unwrap_or(0),
        replay: resume.is_some(),
        backlog: VecDeque::new(),
        greeted: false,
    };
    let body = futures_util::stream::unfold(stream, |mut s| async move { s.next().await.map(|chunk| (chunk, s)) });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}
