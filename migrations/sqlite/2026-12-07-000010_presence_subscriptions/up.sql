-- Chats whose presence a session subscribed to through the API. WhatsApp's server keeps a
-- subscription for one connection only; the session's actor renews these whenever its page
-- connects (a reload, a browser restart, a gateway restart, another cluster node).
CREATE TABLE presence_subscriptions (
    session_id BIGINT NOT NULL REFERENCES whatsapp_sessions(id) ON DELETE CASCADE,
    chat_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (session_id, chat_id)
);
