ALTER TABLE api_keys DROP COLUMN sessions;
ALTER TABLE api_keys DROP COLUMN scopes;
