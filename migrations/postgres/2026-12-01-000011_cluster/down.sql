DROP TRIGGER IF EXISTS messages_settled ON messages;
DROP TRIGGER IF EXISTS messages_queued ON messages;
DROP FUNCTION IF EXISTS wagate_notify_settled();
DROP FUNCTION IF EXISTS wagate_notify_queued();
DROP TABLE IF EXISTS cluster_claims;
DROP TABLE IF EXISTS cluster_commands;
DROP TABLE IF EXISTS session_leases;
DROP TABLE IF EXISTS cluster_nodes;
