-- Per-key limits (issue 18). NULL means "no limit", so every existing key keeps full rights.
-- `scopes`: comma-separated subset of read,send,manage. `sessions`: comma-separated session names.
ALTER TABLE api_keys ADD COLUMN scopes TEXT NULL;
ALTER TABLE api_keys ADD COLUMN sessions TEXT NULL;
