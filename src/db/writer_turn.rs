//! How the SQLite connection runs its statements. diesel_async's `SyncConnectionWrapper` hands
//! every statement to tokio's blocking pool and waits to be woken: two thread hops per statement,
//! about 0.3 ms each on a busy 2-core machine (a settle of five statements spent 1.6 ms so). In a
//! writer's turn (`Database::run_write`, which holds the one SQLite writer lock of the process)
//! statements run on the task's own worker thread instead: they are short, and no other writer of
//! ours can make them wait in SQLite's busy handler, so at most one worker blocks at a time and
//! the other runtime workers take over its queued tasks. Reads, and anything off a multi-thread
//! runtime (the current-thread runtimes of tests), keep the blocking pool.

use std::error::Error;

use diesel_async::sync_connection_wrapper::SpawnBlocking;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;

tokio::task_local! {
    /// Set for the task of a writer's turn: its statements run in place.
    static IN_WRITER_TURN: ();
}

/// Runs `fut` as a writer's turn (see the module's comment).
pub(super) async fn writer_turn<F: Future>(fut: F) -> F::Output {
    IN_WRITER_TURN.scope((), fut).await
}

/// The `SpawnBlocking` of wagate's SQLite connections.
pub struct InPlaceInWriterTurn;

impl SpawnBlocking for InPlaceInWriterTurn {
    fn spawn_blocking<'a, R>(
        &mut self,
        task: impl FnOnce() -> R + Send + 'static,
    ) -> BoxFuture<'a, Result<R, Box<dyn Error + Send + Sync + 'static>>>
    where
        R: Send + 'static,
    {
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if multi_thread && IN_WRITER_TURN.try_with(|_| ()).is_ok() {
            return async move { Ok(task()) }.boxed();
        }
        tokio::task::spawn_blocking(task)
            .map(|joined| joined.map_err(|e| Box::new(e) as Box<dyn Error + Send + Sync>))
            .boxed()
    }

    fn get_runtime() -> Self {
        InPlaceInWriterTurn
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread::{ThreadId, current};

    async fn ran_on(in_turn: bool) -> (ThreadId, ThreadId) {
        let mut runtime = InPlaceInWriterTurn::get_runtime();
        let call = async move {
            let here = current().id();
            let ran = runtime.spawn_blocking(|| current().id()).await.unwrap();
            (here, ran)
        };
        match in_turn {
            true => writer_turn(call).await,
            false => call.await,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn statements_run_in_place_only_in_a_writer_turn() {
        let (here, ran) = ran_on(true).await;
        assert_eq!(here, ran, "in a writer's turn: on the task's own thread");
        let (here, ran) = ran_on(false).await;
        assert_ne!(here, ran, "otherwise: on the blocking pool");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_current_thread_runtime_keeps_the_blocking_pool() {
        let (here, ran) = ran_on(true).await;
        assert_ne!(here, ran, "the runtime's only thread never blocks on a statement");
    }
}
