//! End-to-end tests of the wagate service: the real server on port 0, real SQLite files and a
//! real PostgreSQL server.

mod common;

mod admin;
mod auth;
mod calls;
mod chats;
mod cli;
mod client_ids;
mod cluster;
mod database;
mod durability;
mod engine;
mod envelope;
mod eras;
mod faults;
mod flow;
mod forward;
mod fuzz;
mod groups;
mod history;
mod mentions;
mod message_kinds;
mod metrics;
mod openapi;
mod ops;
mod outbound;
mod presence;
mod push;
mod queue;
mod receiver;
mod scopes;
mod sent_elsewhere;
mod sessions_offline;
mod support;
mod sync;
mod webhooks;
