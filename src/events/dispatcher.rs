//! Delivers outbox events to webhooks: at least once, in order per (user, session), with
//! exponential backoff and jitter, dead-lettered after `webhooks.max_age_secs`. A permanent
//! answer (see [`permanent_status`]) or a URL the address policy refuses settles the event
//! `failed` at once, so the session's later events do not wait behind it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::sync::Semaphore;

use crate::config::WebhookSettings;
use crate::db::{AttemptOutcome, Database, DeliveryRow, EventRow, WebhookRow};
use crate::outbound::{Policy, refusal};

use super::signing::sign;

/// How often the outbox is looked at when nothing wakes the dispatcher (retries falling due).
const IDLE_TICK: Duration = Duration::from_millis(500);
/// Events taken per database round trip within one session's line.
const BATCH: i64 = 100;

type Group = (i64, Option<i64>);

/// The result of one HTTP attempt.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub status_code: Option<u16>,
    /// Why it was not delivered: `HTTP <code> <start of the body>`, the redirect target of a
    /// 3xx, the address the policy refused, or the connection error.
    pub error: Option<String>,
    pub latency: Duration,
    /// A 429's `Retry-After`, in seconds.
    pub retry_after: Option<u64>,
    /// Repeating the same request cannot succeed (see [`permanent_status`]; also a URL the
    /// address policy refuses): the event is settled `failed` at once.
    pub permanent: bool,
}

/// Answers that refuse the event for good: every 3xx (a signed delivery is never re-sent to
/// another address, so a redirect cannot succeed) and 4xx other than 408 Request Timeout,
/// 425 Too Early and 429 Too Many Requests (RFC 9110, RFC 8470, RFC 6585), which ask for a retry.
pub fn permanent_status(code: u16) -> bool {
    (300..400).contains(&code) || ((400..500).contains(&code) && !matches!(code, 408 | 425 | 429))
}

impl Attempt {
    pub fn delivered(&self) -> bool {
        self.status_code.is_some_and(|s| (200..300).contains(&s))
    }

    /// Not delivered, and retrying will not help: settled `failed`, the session's next event goes.
    pub fn refused(&self) -> bool {
        !self.delivered() && self.permanent
    }

    fn failed(error: String, permanent: bool, started: Instant) -> Attempt {
        Attempt {
            status_code: None,
            error: Some(error),
            latency: started.elapsed(),
            retry_after: None,
            permanent,
        }
    }
}

/// The HTTP client every delivery uses, with the webhook address policy it enforces.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    policy: Policy,
}

/// Builds the delivery client: `webhooks.allow_private_urls` / `allowed_private_networks` hold
/// on the address connected to, and redirects are never followed (a 3xx is the answer).
pub fn client(settings: &WebhookSettings) -> Client {
    let policy = Policy::webhooks(settings);
    let http = policy
        .client_builder(0)
        .timeout(Duration::from_secs(settings.timeout_secs))
        .connect_timeout(Duration::from_secs(settings.timeout_secs.min(5)))
        .user_agent(concat!("wagate/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the webhook HTTP client builds");
    Client { http, policy }
}

/// The first characters of a receiver's answer, fit for the delivery log (no control characters:
/// PostgreSQL cannot store NUL, and a log line should stay one line).
fn excerpt(text: &str) -> String {
    let clean: String = text
        .chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    clean.trim().to_string()
}

/// One signed POST of an envelope.
pub async fn post(client: &Client, hook: &WebhookRow, uid: &str, event: &str, body: &str) -> Attempt {
    let t = chrono::Utc::now().timestamp();
    let started = Instant::now();
    let url = match url::Url::parse(&hook.url) {
        Ok(u) => u,
        Err(e) => return Attempt::failed(format!("the webhook URL is not a URL: {e}"), true, started),
    };
    if let Err(r) = client.policy.check_url(&url) {
        return Attempt::failed(format!("not sent: {r}"), true, started);
    }
    let sent = client
        .http
        .post(url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Wagate-Event-Id", uid)
        .header("X-Wagate-Event", event)
        .header("X-Wagate-Timestamp", t.to_string())
        .header("X-Wagate-Signature", sign(&hook.secret, t, body.as_bytes()))
        .body(body.to_string())
        .send()
        .await;
    match sent {
        Ok(resp) => {
            let status = resp.status();
            let code = status.as_u16();
            let header = |name: reqwest::header::HeaderName| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let retry_after = header(reqwest::header::RETRY_AFTER).and_then(|v| v.trim().parse().ok());
            let location = header(reqwest::header::LOCATION);
            let error = if status.is_success() {
                None
            } else if status.is_redirection() {
                // Name the target (relative Locations resolved) so the owner can fix the URL.
                let target = location
                    .map(|l| url.join(&l).map(|u| u.to_string()).unwrap_or(l))
                    .map(|l| format!("redirects to {}", excerpt(&l)))
                    .unwrap_or_else(|| "redirects without a Location".into());
                Some(format!(
                    "HTTP {code}: the receiver {target}; webhooks do not follow redirects (a signed \
                     delivery is not re-sent elsewhere): set the webhook URL to the final address"
                ))
            } else {
                let text = resp.text().await.unwrap_or_default();
                Some(format!("HTTP {code} {}", excerpt(&text)).trim().to_string())
            };
            Attempt {
                status_code: Some(code),
                error,
                latency: started.elapsed(),
                retry_after,
                permanent: permanent_status(code),
            }
        }
        Err(e) => match refusal(&e) {
            Some(r) => Attempt::failed(format!("not sent: {r}"), true, started),
            None => Attempt::failed(describe(&e), e.is_builder(), started),
        },
    }
}

fn describe(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
    }
    s
}

pub struct Dispatcher {
    db: Database,
    client: Client,
    settings: WebhookSettings,
    busy: Mutex<HashSet<Group>>,
    slots: Arc<Semaphore>,
    /// Cluster mode: a line is delivered by the node holding its named lease only.
    leader: Option<crate::upkeep::Leader>,
}

/// The named lease of one line (user, session).
fn line_claim((user_id, session_id): Group) -> String {
    format!("webhook:{user_id}:{}", session_id.unwrap_or(0))
}

impl Dispatcher {
    pub fn new(db: Database, settings: WebhookSettings) -> Arc<Self> {
        Arc::new(Dispatcher {
            client: client(&settings),
            slots: Arc::new(Semaphore::new(settings.concurrency)),
            db,
            settings,
            busy: Mutex::new(HashSet::new()),
            leader: None,
        })
    }

    /// In a cluster: each line is claimed (`cluster_claims`) before it is worked and the claim
    /// renewed before each attempt, so every event is delivered by one node, in order.
    pub fn in_cluster(self: Arc<Self>, leader: Option<crate::upkeep::Leader>) -> Arc<Self> {
        match Arc::try_unwrap(self) {
            Ok(mut d) => {
                d.leader = leader;
                Arc::new(d)
            }
            Err(shared) => shared,
        }
    }

    /// Runs until the runtime stops. Undelivered events stay in the database for the next start.
    pub async fn run(self: Arc<Self>) {
        loop {
            if let Err(e) = self.clone().start_due().await {
                tracing::warn!(error = %e, "webhook dispatcher could not read the outbox");
            }
            tokio::select! {
                // No waiting for a burst to land: a line being delivered picks up what arrives
                // meanwhile, and wake-ups that come while the outbox is read are one.
                _ = self.db.events().woken() => {}
                _ = tokio::time::sleep(IDLE_TICK) => {}
            }
        }
    }

    /// Starts a delivery task for every session line whose head is due and not already being worked.
    async fn start_due(self: Arc<Self>) -> Result<(), crate::db::DbError> {
        let now = crate::db::now();
        for head in self.db.pending_heads().await? {
            let group = (head.user_id, head.session_id);
            if head.next_attempt_at > now || !self.busy.lock().unwrap().insert(group) {
                continue;
            }
            let me = self.clone();
            tokio::spawn(async move {
                let _slot = me.slots.clone().acquire_owned().await;
                let claimed = match &me.leader {
                    Some(l) => l.claim(&me.db, &line_claim(group)).await,
                    None => true,
                };
                // Anything committed before this is seen by the line's reads below.
                let wakes = me.db.events().wakes();
                if claimed {
                    if let Err(e) = me.work_line(group, head.id).await {
                        tracing::warn!(error = %e, user = group.0, "webhook delivery stopped on a database error");
                    }
                    if let Some(l) = &me.leader {
                        let _ = me.db.release_claim(&line_claim(group), &l.node).await;
                    }
                }
                me.busy.lock().unwrap().remove(&group);
                // Events may have arrived for this line while it was busy (the dispatcher's
                // look at them skipped it): one more look, unless nothing came meanwhile.
                if me.db.events().wakes() != wakes {
                    me.db.events().wake();
                }
            });
        }
        Ok(())
    }

    /// Delivers one line's due events in order; stops at the first that must wait for a retry.
    async fn work_line(&self, (user_id, session_id): Group, mut from: i64) -> Result<(), crate::db::DbError> {
        let hook = self.db.webhook(user_id).await?;
        loop {
            let batch = self.db.pending_in_group(user_id, session_id, from, BATCH).await?;
            if batch.is_empty() {
                return Ok(());
            }
            // A short batch is the line's end: what comes later wakes the dispatcher again.
            let more = batch.len() as i64 == BATCH;
            let mut unwanted = Vec::new();
            for ev in batch {
                if ev.next_attempt_at > crate::db::now() {
                    // A retry is not due: the rest of the line waits behind it.
                    if !unwanted.is_empty() {
                        self.db.skip_events(unwanted).await?;
                    }
                    return Ok(());
                }
                from = ev.id + 1;
                let Some(hook) = hook.as_ref().filter(|h| h.wants(&ev.event)) else {
                    unwanted.push(ev.id);
                    continue;
                };
                // Settle what no webhook wants before the next delivery (one UPDATE, not one each).
                if !unwanted.is_empty() {
                    self.db.skip_events(std::mem::take(&mut unwanted)).await?;
                }
                // The line's claim must still be this node's, with a full lease ahead of the attempt.
                if let Some(l) = &self.leader
                    && !l.claim(&self.db, &line_claim((user_id, session_id))).await
                {
                    return Ok(());
                }
                let attempt = post(&self.client, hook, &ev.uid, &ev.event, &ev.body).await;
                let outcome = self.outcome(&ev, &attempt);
                let result = match outcome {
                    AttemptOutcome::Delivered => "delivered",
                    AttemptOutcome::Refused => "refused",
                    AttemptOutcome::Retry { .. } => "retry",
                    AttemptOutcome::Dead => "dead",
                };
                metrics::counter!("wagate_webhook_deliveries_total", "result" => result).increment(1);
                metrics::histogram!("wagate_webhook_delivery_duration_seconds").record(attempt.latency.as_secs_f64());
                tracing::debug!(event = ev.id, code = ?attempt.status_code, ?outcome, "webhook attempt");
                self.db
                    .record_attempt(delivery_row(&ev, hook, &attempt), outcome)
                    .await?;
                if matches!(outcome, AttemptOutcome::Retry { .. }) {
                    return Ok(());
                }
            }
            if !unwanted.is_empty() {
                self.db.skip_events(unwanted).await?;
            }
            if !more {
                return Ok(());
            }
        }
    }

    fn outcome(&self, ev: &EventRow, a: &Attempt) -> AttemptOutcome {
        if a.delivered() {
            return AttemptOutcome::Delivered;
        }
        if a.refused() {
            return AttemptOutcome::Refused;
        }
        let now = crate::db::now();
        let age = (now - ev.created_at).to_std().unwrap_or_default();
        let wait = self.backoff(ev.attempts as u32, a.retry_after);
        if age + wait > Duration::from_secs(self.settings.max_age_secs) {
            return AttemptOutcome::Dead;
        }
        AttemptOutcome::Retry {
            at: now + chrono::Duration::from_std(wait).unwrap_or_default(),
        }
    }

    /// Exponential from `retry_initial_ms`, capped, with jitter (50–100 % of the step) so many
    /// failing lines do not retry in lockstep; a receiver's `Retry-After` is honoured.
    fn backoff(&self, failures_before: u32, retry_after: Option<u64>) -> Duration {
        let base = Duration::from_millis(self.settings.retry_initial_ms);
        let cap = Duration::from_secs(self.settings.retry_max_secs).max(base);
        let step = base
            .saturating_mul(2u32.saturating_pow(failures_before.min(30)))
            .min(cap);
        let jittered = step.mul_f64(rand::rng().random_range(0.5..=1.0));
        jittered.max(Duration::from_secs(retry_after.unwrap_or(0)).min(cap))
    }
}

fn delivery_row(ev: &EventRow, hook: &WebhookRow, a: &Attempt) -> DeliveryRow {
    DeliveryRow {
        id: 0,
        event_id: ev.id,
        attempt: ev.attempts + 1,
        url: hook.url.clone(),
        status_code: a.status_code.map(i32::from),
        error: a.error.clone(),
        latency_ms: a.latency.as_millis().min(i32::MAX as u128) as i32,
        created_at: crate::db::now(),
    }
}
