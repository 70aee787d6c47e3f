-- Events: the durable outbox behind webhooks and the SSE stream. A row is written in the same
-- transaction as the message, ack or state change it reports.
ALTER TABLE messages ADD COLUMN sender_phone TEXT;
ALTER TABLE messages ADD COLUMN error_code TEXT;
ALTER TABLE whatsapp_sessions ADD COLUMN ack_timeouts BIGINT NOT NULL DEFAULT 0;

CREATE TABLE webhooks (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    events TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    uid TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- No foreign key: a deleted session's events are still delivered.
    session_id BIGINT,
    event TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    -- pending | delivered | failed (refused, not retried) | dead (gave up) | skipped (no webhook wanted it)
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    last_status_code INTEGER,
    last_error TEXT,
    delivered_at TIMESTAMP
);
CREATE INDEX events_status ON events(status, id);
CREATE INDEX events_user ON events(user_id, id);

CREATE TABLE webhook_deliveries (
    id BIGSERIAL PRIMARY KEY,
    event_id BIGINT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    url TEXT NOT NULL,
    status_code INTEGER,
    error TEXT,
    latency_ms INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries(event_id);
