-- Server-wide secrets, created on first use and shared by every process on this database (the
-- server and the CLI). `api_key_hmac` keys the HMAC-SHA256 that API-key secrets are stored as.
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
