//! Counts the SQL statements every connection runs, as the Prometheus counter
//! `wagate_db_statements_total{result="ok"|"error"}`: the database load a node (and, divided by its
//! sessions, a session) puts on a shared PostgreSQL, measured rather than guessed (issue 19's report).
//!
//! It hooks diesel's connection instrumentation (`diesel::connection::set_default_instrumentation`),
//! which both diesel_async's PostgreSQL connection and the SQLite connection it wraps take up when
//! they are established, so every pool connection counts without a wrapper around each query.

use diesel::connection::{Instrumentation, InstrumentationEvent, set_default_instrumentation};

/// Installs the counter for every connection established from now on; idempotent. Fails only when
/// diesel's global instrumentation lock is poisoned, which [`super::Database::connect`] logs and
/// ignores: counting is an observation, never a reason not to start.
pub fn install() -> diesel::QueryResult<()> {
    set_default_instrumentation(counting)
}

fn counting() -> Option<Box<dyn Instrumentation>> {
    Some(Box::new(|event: InstrumentationEvent<'_>| {
        if let InstrumentationEvent::FinishQuery { error, .. } = event {
            let result = if error.is_some() { "error" } else { "ok" };
            metrics::counter!("wagate_db_statements_total", "result" => result).increment(1);
        }
    }))
}
