-- Cluster mode (PostgreSQL only): nodes, session leases with a fencing generation, control
-- commands for another node's session, named leases for singleton jobs, and notifications that
-- wake the owner of a session's queue and the node a caller waits on.

CREATE TABLE cluster_nodes (
    node_id TEXT PRIMARY KEY,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    capacity INTEGER NOT NULL,
    draining BOOLEAN NOT NULL DEFAULT false,
    stopped BOOLEAN NOT NULL DEFAULT false,
    version TEXT NOT NULL DEFAULT ''
);

-- One row per session that should run somewhere (`wanted`) or did. `generation` grows by one at
-- every adoption: it is the fencing token every owner write carries. Times are the database's.
CREATE TABLE session_leases (
    session_id BIGINT PRIMARY KEY REFERENCES whatsapp_sessions(id) ON DELETE CASCADE,
    wanted BOOLEAN NOT NULL DEFAULT true,
    node_id TEXT,
    generation BIGINT NOT NULL DEFAULT 0,
    expires_at TIMESTAMPTZ,
    claimed_at TIMESTAMPTZ,
    -- The owner's published SessionInfo (JSON): state, reason, QR, phone…
    info TEXT,
    info_at TIMESTAMPTZ,
    -- The last profile archive in the object store: its key, size and time.
    archive_key TEXT,
    archive_bytes BIGINT,
    archived_at TIMESTAMPTZ
);
CREATE INDEX session_leases_node ON session_leases (node_id);

CREATE TABLE cluster_commands (
    id BIGSERIAL PRIMARY KEY,
    session_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    args TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT 'new',
    node_id TEXT,
    result TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    done_at TIMESTAMPTZ
);
CREATE INDEX cluster_commands_new ON cluster_commands (session_id) WHERE status = 'new';

-- Named leases: the upkeep leader, one webhook line (user, session) being delivered.
CREATE TABLE cluster_claims (
    name TEXT PRIMARY KEY,
    node_id TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

-- A queued (or requeued) message wakes its session's worker wherever it runs.
CREATE FUNCTION wagate_notify_queued() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('wagate_queue', NEW.session_id::text);
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER messages_queued AFTER INSERT OR UPDATE OF status ON messages
    FOR EACH ROW WHEN (NEW.status = 'queued' AND NEW.session_id IS NOT NULL)
    EXECUTE FUNCTION wagate_notify_queued();

-- A send settled (sent or failed) tells the node whose caller waits for it.
CREATE FUNCTION wagate_notify_settled() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('wagate_settled', NEW.id::text);
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER messages_settled AFTER UPDATE OF status ON messages
    FOR EACH ROW WHEN (OLD.status IN ('queued', 'pending') AND NEW.status NOT IN ('queued', 'pending')
                       AND NEW.direction = 'out')
    EXECUTE FUNCTION wagate_notify_settled();
