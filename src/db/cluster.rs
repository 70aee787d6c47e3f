//! Cluster mode's tables (PostgreSQL only, see [`Database::run_pg`]): the node registry, session
//! leases with their fencing generation, control commands for another node's session, named
//! leases for singleton jobs, and `NOTIFY`. Every time compared here is the database's clock
//! (`now()`), never a node's, so nodes with skewed clocks agree on who holds what.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Bool, Double, Integer, Nullable, Text, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::{Database, DbError, DbResult, now};

/// What an owner's writes for a session carry: its node and the lease generation it was given.
/// A write whose generation is no longer the lease's is refused ([`DbError::Fenced`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub node: Arc<str>,
    pub generation: i64,
}

/// A node of the registry, with how many sessions it owns now.
#[derive(Debug, Clone, QueryableByName, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeRow {
    #[diesel(sql_type = Text)]
    pub node_id: String,
    #[diesel(sql_type = Timestamptz)]
    pub started_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub heartbeat_at: DateTime<Utc>,
    /// Seconds since the last heartbeat, on the database clock.
    #[diesel(sql_type = Double)]
    pub heartbeat_age_secs: f64,
    #[diesel(sql_type = Integer)]
    pub capacity: i32,
    #[diesel(sql_type = Bool)]
    pub draining: bool,
    /// Stopped gracefully (its sessions were released).
    #[diesel(sql_type = Bool)]
    pub stopped: bool,
    /// Heartbeat within a lease and not stopped.
    #[diesel(sql_type = Bool)]
    pub alive: bool,
    #[diesel(sql_type = Text)]
    pub version: String,
    /// Sessions it holds an unexpired lease on.
    #[diesel(sql_type = BigInt)]
    pub owned: i64,
}

/// A session this node just adopted.
#[derive(Debug, Clone, QueryableByName)]
pub struct Adopted {
    #[diesel(sql_type = BigInt)]
    pub session_id: i64,
    #[diesel(sql_type = BigInt)]
    pub generation: i64,
    /// The node that held it before (None: it was released or never owned).
    #[diesel(sql_type = Nullable<Text>)]
    pub previous: Option<String>,
}

/// A session's lease as any node reads it.
#[derive(Debug, Clone, QueryableByName)]
pub struct LeaseRow {
    #[diesel(sql_type = BigInt)]
    pub session_id: i64,
    #[diesel(sql_type = BigInt)]
    pub user_id: i64,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Bool)]
    pub wanted: bool,
    /// The owner, when its lease has not expired.
    #[diesel(sql_type = Nullable<Text>)]
    pub owner: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub generation: i64,
    /// The owner's published `SessionInfo`, JSON.
    #[diesel(sql_type = Nullable<Text>)]
    pub info: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub archive_key: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub archive_bytes: Option<i64>,
}

/// A control command taken by the owner.
#[derive(Debug, Clone, QueryableByName)]
pub struct CommandRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt)]
    pub session_id: i64,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub args: String,
}

#[derive(QueryableByName)]
struct One {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Held {
    #[diesel(sql_type = BigInt)]
    session_id: i64,
    #[diesel(sql_type = BigInt)]
    generation: i64,
}

#[derive(QueryableByName)]
struct MaybeText {
    #[diesel(sql_type = Nullable<Text>)]
    value: Option<String>,
}

/// Inside a transaction: takes a share lock on the session's lease row if `fence` still holds it
/// (so no adoption can commit until this transaction does); `DbError::Fenced` otherwise.
pub(crate) async fn hold_lease(c: &mut AsyncPgConnection, session_id: i64, fence: &Fence) -> DbResult<()> {
    let held: Vec<One> = diesel::sql_query(
        "SELECT 1::bigint AS n FROM session_leases WHERE session_id = $1 AND node_id = $2 \
         AND generation = $3 AND expires_at > now() FOR SHARE",
    )
    .bind::<BigInt, _>(session_id)
    .bind::<Text, _>(fence.node.as_ref())
    .bind::<BigInt, _>(fence.generation)
    .load(c)
    .await?;
    if held.is_empty() { Err(DbError::Fenced) } else { Ok(()) }
}

impl Database {
    /// Registers (or re-registers) this node at start: not draining, not stopped.
    pub async fn register_node(&self, node: &str, capacity: usize, version: &str) -> DbResult<()> {
        let (node, version) = (node.to_string(), version.to_string());
        self.run_pg(move |mut c| async move {
            diesel::sql_query(
                "INSERT INTO cluster_nodes (node_id, capacity, version) VALUES ($1, $2, $3) \
                 ON CONFLICT (node_id) DO UPDATE SET started_at = now(), heartbeat_at = now(), \
                 capacity = EXCLUDED.capacity, version = EXCLUDED.version, draining = false, stopped = false",
            )
            .bind::<Text, _>(&node)
            .bind::<Integer, _>(capacity.min(i32::MAX as usize) as i32)
            .bind::<Text, _>(&version)
            .execute(&mut *c)
            .await?;
            Ok(())
        })
        .await
    }

    /// The heartbeat; returns whether the node was asked to drain (`wagate drain`).
    pub async fn heartbeat(&self, node: &str) -> DbResult<bool> {
        #[derive(QueryableByName)]
        struct Draining {
            #[diesel(sql_type = Bool)]
            draining: bool,
        }
        let node = node.to_string();
        self.run_pg(move |mut c| async move {
            let rows: Vec<Draining> = diesel::sql_query(
                "UPDATE cluster_nodes SET heartbeat_at = now(), stopped = false WHERE node_id = $1 RETURNING draining",
            )
            .bind::<Text, _>(&node)
            .load(&mut *c)
            .await?;
            Ok(<[_]>::first(&rows).is_some_and(|r| r.draining))
        })
        .await
    }

    /// A graceful stop: the node's sessions were released.
    pub async fn mark_node_stopped(&self, node: &str) -> DbResult<()> {
        let node = node.to_string();
        self.run_pg(move |mut c| async move {
            diesel::sql_query("UPDATE cluster_nodes SET stopped = true WHERE node_id = $1")
                .bind::<Text, _>(&node)
                .execute(&mut *c)
                .await?;
            Ok(())
        })
        .await
    }

    /// Asks a node to drain (hand its sessions over and own none) or to take sessions again.
    /// Returns false when no such node is registered.
    pub async fn set_draining(&self, node: &str, draining: bool) -> DbResult<bool> {
        let node = node.to_string();
        self.run_pg(move |mut c| async move {
            let n = diesel::sql_query("UPDATE cluster_nodes SET draining = $2 WHERE node_id = $1")
                .bind::<Text, _>(&node)
                .bind::<Bool, _>(draining)
                .execute(&mut *c)
                .await?;
            Ok(n == 1)
        })
        .await
    }

    /// Every registered node, with its owned sessions; `alive` means a heartbeat within
    /// `lease_secs` (a node silent for longer has lost its leases anyway).
    pub async fn cluster_nodes(&self, lease_secs: u64) -> DbResult<Vec<NodeRow>> {
        self.run_pg(move |mut c| async move {
            Ok(diesel::sql_query(
                "SELECT n.node_id, n.started_at, n.heartbeat_at, \
                   EXTRACT(EPOCH FROM now() - n.heartbeat_at)::float8 AS heartbeat_age_secs, \
                   n.capacity, n.draining, n.stopped, n.version, \
                   (NOT n.stopped AND n.heartbeat_at > now() - make_interval(secs => $1)) AS alive, \
                   (SELECT count(*) FROM session_leases l WHERE l.node_id = n.node_id AND l.expires_at > now()) AS owned \
                 FROM cluster_nodes n ORDER BY n.node_id",
            )
            .bind::<Double, _>(lease_secs as f64)
            .load(&mut *c)
            .await?)
        })
        .await
    }

    /// Sessions wanted and not held by an unexpired lease: what the claim loop may adopt.
    pub async fn unowned_wanted(&self) -> DbResult<i64> {
        self.run_pg(move |mut c| async move {
            let rows: Vec<One> = diesel::sql_query(
                "SELECT count(*) AS n FROM session_leases WHERE wanted \
                 AND (node_id IS NULL OR expires_at IS NULL OR expires_at <= now())",
            )
            .load(&mut *c)
            .await?;
            Ok(<[_]>::first(&rows).map_or(0, |r| r.n))
        })
        .await
    }

    /// Extends this node's unexpired leases by `lease_secs`; returns the ones still held with
    /// their generations. A lease that expired is not renewed: another node may have adopted it.
    pub async fn renew_leases(&self, node: &str, lease_secs: u64) -> DbResult<Vec<(i64, i64)>> {
        let node = node.to_string();
        self.run_pg(move |mut c| async move {
            let rows: Vec<Held> = diesel::sql_query(
                "UPDATE session_leases SET expires_at = now() + make_interval(secs => $2) \
                 WHERE node_id = $1 AND expires_at > now() RETURNING session_id, generation",
            )
            .bind::<Text, _>(&node)
            .bind::<Double, _>(lease_secs as f64)
            .load(&mut *c)
            .await?;
            Ok(rows.into_iter().map(|r| (r.session_id, r.generation)).collect())
        })
        .await
    }

    /// Adopts up to `limit` wanted sessions whose lease is free or expired (`FOR UPDATE SKIP
    /// LOCKED`: nodes claiming at once never wait on each other nor take the same session), or
    /// only `only` when given. Each adoption raises the generation: the previous owner is fenced.
    pub async fn claim_sessions(
        &self,
        node: &str,
        limit: i64,
        only: Option<i64>,
        lease_secs: u64,
    ) -> DbResult<Vec<Adopted>> {
        let node = node.to_string();
        self.run_pg(move |mut c| async move {
            Ok(diesel::sql_query(
                "WITH c AS (SELECT session_id, node_id AS prev FROM session_leases \
                   WHERE wanted AND (node_id IS NULL OR expires_at IS NULL OR expires_at <= now()) \
                   AND ($3::bigint IS NULL OR session_id = $3) \
                   ORDER BY session_id LIMIT $2 FOR UPDATE SKIP LOCKED) \
                 UPDATE session_leases l SET node_id = $1, generation = l.generation + 1, \
                   expires_at = now() + make_interval(secs => $4), claimed_at = now() \
                 FROM c WHERE l.session_id = c.session_id \
                 RETURNING l.session_id, l.generation, c.prev AS previous",
            )
            .bind::<Text, _>(&node)
            .bind::<BigInt, _>(limit)
            .bind::<Nullable<BigInt>, _>(only)
            .bind::<Double, _>(lease_secs as f64)
            .load(&mut *c)
            .await?)
        })
        .await
    }

    /// Gives a lease up (a graceful stop, a drain, or the session ended here). `wanted` false
    /// also says the session should not run anywhere (stopped, logged out, failed). Only the
    /// holder of `fence` can release.
    pub async fn release_lease(&self, session_id: i64, fence: &Fence, wanted: bool) -> DbResult<bool> {
        let fence = fence.clone();
        self.run_pg(move |mut c| async move {
            let n = diesel::sql_query(
                "UPDATE session_leases SET node_id = NULL, expires_at = NULL, wanted = wanted AND $4 \
                 WHERE session_id = $1 AND node_id = $2 AND generation = $3",
            )
            .bind::<BigInt, _>(session_id)
            .bind::<Text, _>(fence.node.as_ref())
            .bind::<BigInt, _>(fence.generation)
            .bind::<Bool, _>(wanted)
            .execute(&mut *c)
            .await?;
            if n == 1 {
                notify(&mut c, "wagate_claim", &session_id.to_string()).await?;
            }
            Ok(n == 1)
        })
        .await
    }

    /// Whether the session should run somewhere; a newly wanted session wakes the claim loops.
    pub async fn set_wanted(&self, session_id: i64, wanted: bool) -> DbResult<()> {
        self.run_pg(move |mut c| async move {
            diesel::sql_query(
                "INSERT INTO session_leases (session_id, wanted) VALUES ($1, $2) \
                 ON CONFLICT (session_id) DO UPDATE SET wanted = EXCLUDED.wanted",
            )
            .bind::<BigInt, _>(session_id)
            .bind::<Bool, _>(wanted)
            .execute(&mut *c)
            .await?;
            if wanted {
                notify(&mut c, "wagate_claim", &session_id.to_string()).await?;
            }
            Ok(())
        })
        .await
    }

    /// A session asked to run (init, a send to a linked session): marked wanted and, when
    /// `node` is given and the lease is free, adopted by that node in the same transaction (no
    /// claim round can take it in between). None: another node holds it, or will take it.
    pub async fn want_session(
        &self,
        session_id: i64,
        node: Option<&str>,
        lease_secs: u64,
    ) -> DbResult<Option<Adopted>> {
        let node = node.map(str::to_string);
        self.run_pg(move |mut c| async move {
            let adopted = c
                .transaction::<_, DbError, _>(async |c| {
                    diesel::sql_query(
                        "INSERT INTO session_leases (session_id, wanted) VALUES ($1, true) \
                         ON CONFLICT (session_id) DO UPDATE SET wanted = true",
                    )
                    .bind::<BigInt, _>(session_id)
                    .execute(c)
                    .await?;
                    let Some(node) = &node else { return Ok(None) };
                    let mut rows: Vec<Adopted> = diesel::sql_query(
                        "UPDATE session_leases SET node_id = $2, generation = generation + 1, \
                           expires_at = now() + make_interval(secs => $3), claimed_at = now() \
                         WHERE session_id = $1 AND (node_id IS NULL OR expires_at IS NULL OR expires_at <= now()) \
                         RETURNING session_id, generation, NULL::text AS previous",
                    )
                    .bind::<BigInt, _>(session_id)
                    .bind::<Text, _>(node)
                    .bind::<Double, _>(lease_secs as f64)
                    .load(c)
                    .await?;
                    Ok(rows.pop())
                })
                .await?;
            if adopted.is_none() {
                notify(&mut c, "wagate_claim", &session_id.to_string()).await?;
            }
            Ok(adopted)
        })
        .await
    }

    /// Rows for sessions that should run but have none yet (linked sessions from before cluster
    /// mode was turned on). Returns how many were added.
    pub async fn ensure_leases(&self, ids: Vec<i64>) -> DbResult<usize> {
        self.run_pg(move |mut c| async move {
            Ok(diesel::sql_query(
                "INSERT INTO session_leases (session_id, wanted) SELECT unnest($1::bigint[]), true \
                 ON CONFLICT (session_id) DO NOTHING",
            )
            .bind::<Array<BigInt>, _>(ids)
            .execute(&mut *c)
            .await?)
        })
        .await
    }

    /// The session's lease as published; None when it has no row.
    pub async fn lease(&self, session_id: i64) -> DbResult<Option<LeaseRow>> {
        Ok(self.leases(Some(vec![session_id])).await?.pop())
    }

    /// Leases of these sessions (all when None).
    pub async fn leases(&self, ids: Option<Vec<i64>>) -> DbResult<Vec<LeaseRow>> {
        self.run_pg(move |mut c| async move {
            Ok(diesel::sql_query(
                "SELECT l.session_id, s.user_id, s.name, l.wanted, \
                   CASE WHEN l.expires_at > now() THEN l.node_id END AS owner, \
                   l.generation, l.info, l.archive_key, l.archive_bytes \
                 FROM session_leases l JOIN whatsapp_sessions s ON s.id = l.session_id \
                 WHERE $1::bigint[] IS NULL OR l.session_id = ANY($1) ORDER BY l.session_id",
            )
            .bind::<Nullable<Array<BigInt>>, _>(ids)
            .load(&mut *c)
            .await?)
        })
        .await
    }

    /// The owner publishes the session's info (JSON) for every node, and tells them.
    pub async fn publish_info(&self, session_id: i64, fence: &Fence, info: String) -> DbResult<()> {
        let fence = fence.clone();
        self.run_pg(move |mut c| async move {
            let n = diesel::sql_query(
                "UPDATE session_leases SET info = $4, info_at = now() \
                 WHERE session_id = $1 AND node_id = $2 AND generation = $3 AND expires_at > now()",
            )
            .bind::<BigInt, _>(session_id)
            .bind::<Text, _>(fence.node.as_ref())
            .bind::<BigInt, _>(fence.generation)
            .bind::<Text, _>(&info)
            .execute(&mut *c)
            .await?;
            if n == 0 {
                return Err(DbError::Fenced);
            }
            notify(&mut c, "wagate_info", &session_id.to_string()).await
        })
        .await
    }

    /// Records the session's latest profile archive (by its owner).
    pub async fn record_archive(&self, session_id: i64, fence: &Fence, key: String, bytes: i64) -> DbResult<()> {
        let fence = fence.clone();
        self.run_pg(move |mut c| async move {
            let n = diesel::sql_query(
                "UPDATE session_leases SET archive_key = $4, archive_bytes = $5, archived_at = now() \
                 WHERE session_id = $1 AND node_id = $2 AND generation = $3",
            )
            .bind::<BigInt, _>(session_id)
            .bind::<Text, _>(fence.node.as_ref())
            .bind::<BigInt, _>(fence.generation)
            .bind::<Text, _>(&key)
            .bind::<BigInt, _>(bytes)
            .execute(&mut *c)
            .await?;
            if n == 0 { Err(DbError::Fenced) } else { Ok(()) }
        })
        .await
    }

    /// Forgets the session's archive (logged out: the link is gone).
    pub async fn clear_archive(&self, session_id: i64) -> DbResult<()> {
        self.run_pg(move |mut c| async move {
            diesel::sql_query(
                "UPDATE session_leases SET archive_key = NULL, archive_bytes = NULL WHERE session_id = $1",
            )
            .bind::<BigInt, _>(session_id)
            .execute(&mut *c)
            .await?;
            Ok(())
        })
        .await
    }

    /// `queued` → `pending` with its key id, like [`Database::claim_queued`], but only while
    /// `fence` holds the session's lease with at least `margin_secs` left: a node that lost the
    /// lease (paused, partitioned) can never start a send. `Ok(false)`: taken meanwhile;
    /// `Err(Fenced)`: the lease is gone.
    pub async fn claim_queued_fenced(
        &self,
        id: i64,
        key_id: String,
        fence: &Fence,
        margin_secs: f64,
    ) -> DbResult<bool> {
        let fence = fence.clone();
        self.run_pg(move |mut c| async move {
            let n = diesel::sql_query(
                "UPDATE messages SET status = 'pending', wa_key_id = $2, updated_at = $3 \
                 WHERE id = $1 AND status = 'queued' AND EXISTS (SELECT 1 FROM session_leases l \
                   WHERE l.session_id = messages.session_id AND l.node_id = $4 AND l.generation = $5 \
                   AND l.expires_at > now() + make_interval(secs => $6))",
            )
            .bind::<BigInt, _>(id)
            .bind::<Text, _>(&key_id)
            .bind::<diesel::sql_types::Timestamp, _>(now())
            .bind::<Text, _>(fence.node.as_ref())
            .bind::<BigInt, _>(fence.generation)
            .bind::<Double, _>(margin_secs)
            .execute(&mut *c)
            .await?;
            if n == 1 {
                return Ok(true);
            }
            // Not claimed: either the row was taken meanwhile, or the lease is gone or too close
            // to its end to start a send.
            let queued: Vec<One> =
                diesel::sql_query("SELECT 1::bigint AS n FROM messages WHERE id = $1 AND status = 'queued'")
                    .bind::<BigInt, _>(id)
                    .load(&mut *c)
                    .await?;
            if queued.is_empty() {
                Ok(false)
            } else {
                Err(DbError::Fenced)
            }
        })
        .await
    }

    /// Sends of this session left `pending` by an earlier owner, back in line with their key id
    /// (the new owner looks the id up on the page before sending again). Returns how many.
    pub async fn requeue_session_pending(&self, session_id: i64) -> DbResult<usize> {
        self.run_pg(move |mut c| async move {
            Ok(diesel::sql_query(
                "UPDATE messages SET status = 'queued', updated_at = $2 WHERE session_id = $1 \
                 AND direction = 'out' AND status = 'pending' AND wa_message_id IS NULL AND wa_key_id IS NOT NULL",
            )
            .bind::<BigInt, _>(session_id)
            .bind::<diesel::sql_types::Timestamp, _>(now())
            .execute(&mut *c)
            .await?)
        })
        .await
    }

    /// One message row, whoever it belongs to (a settled send another node's worker recorded).
    pub async fn message_by_id(&self, id: i64) -> DbResult<Option<super::MessageRow>> {
        use super::schema::messages as m;
        use diesel::{OptionalExtension, QueryDsl, SelectableHelper};
        self.run_pg(move |mut c| async move {
            Ok(m::table
                .find(id)
                .select(super::MessageRow::as_select())
                .first(&mut *c)
                .await
                .optional()?)
        })
        .await
    }

    /// Queues a control command for the session's owner and wakes the nodes; returns its id.
    pub async fn insert_command(&self, session_id: i64, kind: &str, args: String) -> DbResult<i64> {
        let kind = kind.to_string();
        self.run_pg(move |mut c| async move {
            let rows: Vec<One> = diesel::sql_query(
                "INSERT INTO cluster_commands (session_id, kind, args) VALUES ($1, $2, $3) RETURNING id AS n",
            )
            .bind::<BigInt, _>(session_id)
            .bind::<Text, _>(&kind)
            .bind::<Text, _>(&args)
            .load(&mut *c)
            .await?;
            let id = <[_]>::first(&rows).map_or(0, |r| r.n);
            notify(&mut c, "wagate_cmd", &session_id.to_string()).await?;
            Ok(id)
        })
        .await
    }

    /// Takes the new commands for sessions this node owns (`SKIP LOCKED`: each is taken once).
    pub async fn take_commands(&self, node: &str, owned: Vec<i64>) -> DbResult<Vec<CommandRow>> {
        let node = node.to_string();
        self.run_pg(move |mut c| async move {
            Ok(diesel::sql_query(
                "UPDATE cluster_commands SET status = 'running', node_id = $1 WHERE id IN \
                   (SELECT id FROM cluster_commands WHERE status = 'new' AND session_id = ANY($2) \
                    ORDER BY id FOR UPDATE SKIP LOCKED) \
                 RETURNING id, session_id, kind, args",
            )
            .bind::<Text, _>(&node)
            .bind::<Array<BigInt>, _>(owned)
            .load(&mut *c)
            .await?)
        })
        .await
    }

    /// The owner's answer (JSON), and a wake-up for the node that waits for it.
    pub async fn finish_command(&self, id: i64, result: String) -> DbResult<()> {
        self.run_pg(move |mut c| async move {
            diesel::sql_query(
                "UPDATE cluster_commands SET status = 'done', result = $2, done_at = now() WHERE id = $1",
            )
            .bind::<BigInt, _>(id)
            .bind::<Text, _>(&result)
            .execute(&mut *c)
            .await?;
            notify(&mut c, "wagate_cmd_done", &id.to_string()).await
        })
        .await
    }

    /// A command's answer once the owner gave it.
    pub async fn command_result(&self, id: i64) -> DbResult<Option<String>> {
        self.run_pg(move |mut c| async move {
            let rows: Vec<MaybeText> = diesel::sql_query("SELECT result AS value FROM cluster_commands WHERE id = $1")
                .bind::<BigInt, _>(id)
                .load(&mut *c)
                .await?;
            Ok(rows.into_iter().next().and_then(|r| r.value))
        })
        .await
    }

    /// A command nobody answered in time is withdrawn, so a late owner does not run it.
    pub async fn withdraw_command(&self, id: i64) -> DbResult<bool> {
        self.run_pg(move |mut c| async move {
            let n =
                diesel::sql_query("UPDATE cluster_commands SET status = 'withdrawn' WHERE id = $1 AND status = 'new'")
                    .bind::<BigInt, _>(id)
                    .execute(&mut *c)
                    .await?;
            Ok(n == 1)
        })
        .await
    }

    /// Answered or withdrawn commands older than `older_than_secs` are forgotten.
    pub async fn purge_commands(&self, older_than_secs: u64) -> DbResult<usize> {
        self.run_pg(move |mut c| async move {
            Ok(diesel::sql_query(
                "DELETE FROM cluster_commands WHERE status <> 'running' AND created_at < now() - make_interval(secs => $1)",
            )
            .bind::<Double, _>(older_than_secs as f64)
            .execute(&mut *c)
            .await?)
        })
        .await
    }

    /// Takes or renews the named lease `name` for `secs`: true when this node holds it now.
    pub async fn try_claim(&self, name: &str, node: &str, secs: f64) -> DbResult<bool> {
        let (name, node) = (name.to_string(), node.to_string());
        self.run_pg(move |mut c| async move {
            let n = diesel::sql_query(
                "INSERT INTO cluster_claims (name, node_id, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3)) \
                 ON CONFLICT (name) DO UPDATE SET node_id = EXCLUDED.node_id, expires_at = EXCLUDED.expires_at \
                 WHERE cluster_claims.node_id = EXCLUDED.node_id OR cluster_claims.expires_at <= now()",
            )
            .bind::<Text, _>(&name)
            .bind::<Text, _>(&node)
            .bind::<Double, _>(secs)
            .execute(&mut *c)
            .await?;
            Ok(n == 1)
        })
        .await
    }

    /// Gives a named lease up.
    pub async fn release_claim(&self, name: &str, node: &str) -> DbResult<()> {
        let (name, node) = (name.to_string(), node.to_string());
        self.run_pg(move |mut c| async move {
            diesel::sql_query("DELETE FROM cluster_claims WHERE name = $1 AND node_id = $2")
                .bind::<Text, _>(&name)
                .bind::<Text, _>(&node)
                .execute(&mut *c)
                .await?;
            Ok(())
        })
        .await
    }

    /// `NOTIFY channel, payload`.
    pub async fn notify(&self, channel: &'static str, payload: String) -> DbResult<()> {
        self.run_pg(move |mut c| async move { notify(&mut c, channel, &payload).await })
            .await
    }
}

async fn notify(c: &mut AsyncPgConnection, channel: &str, payload: &str) -> DbResult<()> {
    diesel::sql_query("SELECT pg_notify($1, $2)")
        .bind::<Text, _>(channel)
        .bind::<Text, _>(payload)
        .execute(c)
        .await?;
    Ok(())
}

/// A dedicated connection that `LISTEN`s on `channels` (outside the pool: it lives as long as
/// the node). Notifications are read with `notifications_stream`.
pub async fn listener(url: &str, channels: &[&str]) -> DbResult<AsyncPgConnection> {
    use diesel_async::SimpleAsyncConnection;
    let mut c = AsyncPgConnection::establish(url)
        .await
        .map_err(|e| DbError::Connect(e.to_string()))?;
    let sql: String = channels.iter().map(|ch| format!("LISTEN {ch};")).collect();
    c.batch_execute(&sql).await?;
    Ok(c)
}
