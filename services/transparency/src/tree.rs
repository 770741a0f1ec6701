//! The tree in Postgres: `tlog_heads` (how far each log is built), `tlog_leaves` (where each leaf
//! came from), `tlog_nodes` (every perfect subtree's hash) and `tlog_checkpoints`.
//!
//! [`TreeStore::append`] writes a batch of leaves and every node they complete in one transaction,
//! under the head row's lock, after checking that the head is still where the caller's frontier
//! is: two log instances never interleave, and a crash mid-batch leaves the tree as it was (the
//! stream is read again from the head). Any proof or earlier root needs O(log n) nodes, fetched in
//! one query ([`TreeStore::nodes`]).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row as _};
use uuid::Uuid;

use buendel_tlog::{Frontier, Hash, NodeId};

use crate::Log;

/// Why the tree store failed.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// Postgres failed.
    #[error("the transparency log's tables: {0}")]
    Database(#[from] sqlx::Error),
    /// Another instance moved the head since the caller read it.
    #[error("the {log} log is at {found} leaves, not {expected}: another instance appended")]
    Conflict {
        /// The log.
        log: Log,
        /// The size the caller built on.
        expected: u64,
        /// The size found.
        found: u64,
    },
    /// A persisted value is not what the tree needs.
    #[error("the {log} log's tables are damaged: {reason}")]
    Damaged {
        /// The log.
        log: Log,
        /// What is wrong.
        reason: String,
    },
}

/// How far a log is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Leaves in the tree.
    pub size: u64,
    /// The stream sequence of the last leaf (0 before the first).
    pub last_seq: u64,
}

/// One leaf to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    /// The message's stream sequence.
    pub seq: u64,
    /// The event id, where the message could be read.
    pub event_id: Option<Uuid>,
    /// `SHA-256(0x00 || stored bytes)`.
    pub hash: Hash,
}

/// A signed checkpoint as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// The log.
    pub log: Log,
    /// Its tree size.
    pub size: u64,
    /// Its root hash.
    pub root: Hash,
    /// The signed note as signed.
    pub note: String,
    /// The note with every witness cosignature added.
    pub cosigned: String,
    /// When it was signed.
    pub issued_at: DateTime<Utc>,
}

/// The tree tables of one namespace's database.
#[derive(Debug, Clone)]
pub struct TreeStore {
    /// The namespace's pool.
    pool: PgPool,
}

fn to_i64(value: u64, what: &str) -> Result<i64, sqlx::Error> {
    i64::try_from(value).map_err(|_| sqlx::Error::Protocol(format!("{what} {value} beyond i64")))
}

fn to_u64(value: i64, log: Log, what: &str) -> Result<u64, TreeError> {
    u64::try_from(value).map_err(|_| TreeError::Damaged {
        log,
        reason: format!("{what} is {value}"),
    })
}

fn to_hash(bytes: &[u8], log: Log, what: &str) -> Result<Hash, TreeError> {
    Hash::try_from(bytes).map_err(|_| TreeError::Damaged {
        log,
        reason: format!("{what} holds {} bytes, not 32", bytes.len()),
    })
}

impl TreeStore {
    /// Over a migrated pool.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// How far the log is built.
    pub async fn head(&self, log: Log) -> Result<Head, TreeError> {
        let row = sqlx::query("SELECT size, last_seq FROM tlog_heads WHERE log = $1")
            .bind(log.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(Head {
            size: to_u64(row.try_get("size")?, log, "the head's size")?,
            last_seq: to_u64(row.try_get("last_seq")?, log, "the head's sequence")?,
        })
    }

    /// The perfect-subtree hashes `ids` (those present).
    pub async fn nodes(
        &self,
        log: Log,
        ids: &[NodeId],
    ) -> Result<HashMap<NodeId, Hash>, TreeError> {
        let levels: Vec<i16> = ids.iter().map(|id| i16::from(id.level)).collect();
        let indexes = ids
            .iter()
            .map(|id| to_i64(id.index, "a node index"))
            .collect::<Result<Vec<_>, _>>()?;
        let rows = sqlx::query(
            "SELECT n.level, n.idx, n.hash FROM tlog_nodes n \
             JOIN UNNEST($2::smallint[], $3::bigint[]) AS want(level, idx) \
               ON n.level = want.level AND n.idx = want.idx \
             WHERE n.log = $1",
        )
        .bind(log.as_str())
        .bind(&levels)
        .bind(&indexes)
        .fetch_all(&self.pool)
        .await?;
        let mut out = HashMap::with_capacity(rows.len());
        for row in rows {
            let level: i16 = row.try_get("level")?;
            let index: i64 = row.try_get("idx")?;
            let hash: Vec<u8> = row.try_get("hash")?;
            let id = NodeId {
                level: u8::try_from(level).map_err(|_| TreeError::Damaged {
                    log,
                    reason: format!("a node of level {level}"),
                })?,
                index: to_u64(index, log, "a node index")?,
            };
            out.insert(id, to_hash(&hash, log, "a node")?);
        }
        Ok(out)
    }

    /// The frontier of the tree as persisted.
    pub async fn frontier(&self, log: Log) -> Result<Frontier, TreeError> {
        let head = self.head(log).await?;
        self.frontier_at(log, head.size).await
    }

    /// The frontier of the first `size` leaves.
    pub async fn frontier_at(&self, log: Log, size: u64) -> Result<Frontier, TreeError> {
        let ids = Frontier::ids(size);
        let nodes = self.nodes(log, &ids).await?;
        let hashes = ids
            .iter()
            .map(|id| {
                nodes.get(id).copied().ok_or_else(|| TreeError::Damaged {
                    log,
                    reason: format!("node {id:?} of a tree of {size} is missing"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Frontier::from_parts(size, hashes).map_err(|e| TreeError::Damaged {
            log,
            reason: e.to_string(),
        })
    }

    /// Appends `leaves` (in stream order, continuing the head) after `frontier`, whose size must be
    /// the persisted head's, with every node they complete; all or nothing. Returns the new
    /// frontier.
    pub async fn append(
        &self,
        log: Log,
        frontier: &Frontier,
        leaves: &[Leaf],
    ) -> Result<Frontier, TreeError> {
        let Some(last) = leaves.last() else {
            return Ok(frontier.clone());
        };
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query("SELECT size, last_seq FROM tlog_heads WHERE log = $1 FOR UPDATE")
            .bind(log.as_str())
            .fetch_one(&mut *tx)
            .await?;
        let size = to_u64(row.try_get("size")?, log, "the head's size")?;
        let last_seq = to_u64(row.try_get("last_seq")?, log, "the head's sequence")?;
        if size != frontier.size() {
            return Err(TreeError::Conflict {
                log,
                expected: frontier.size(),
                found: size,
            });
        }
        let mut next = frontier.clone();
        let mut leaf_idx = Vec::with_capacity(leaves.len());
        let mut leaf_seq = Vec::with_capacity(leaves.len());
        let mut leaf_event = Vec::with_capacity(leaves.len());
        let mut node_level: Vec<i16> = Vec::with_capacity(leaves.len() * 2);
        let mut node_idx = Vec::with_capacity(leaves.len() * 2);
        let mut node_hash: Vec<Vec<u8>> = Vec::with_capacity(leaves.len() * 2);
        let mut previous_seq = last_seq;
        for leaf in leaves {
            if leaf.seq <= previous_seq {
                return Err(TreeError::Damaged {
                    log,
                    reason: format!("leaf at sequence {} after {previous_seq}", leaf.seq),
                });
            }
            previous_seq = leaf.seq;
            leaf_idx.push(to_i64(next.size(), "a leaf index")?);
            leaf_seq.push(to_i64(leaf.seq, "a sequence")?);
            leaf_event.push(leaf.event_id);
            next.push(leaf.hash, |id, hash| {
                node_level.push(i16::from(id.level));
                node_idx.push(id.index);
                node_hash.push(hash.to_vec());
            });
        }
        let node_idx = node_idx
            .into_iter()
            .map(|i| to_i64(i, "a node index"))
            .collect::<Result<Vec<_>, _>>()?;
        sqlx::query(
            "INSERT INTO tlog_leaves (log, idx, seq, event_id) \
             SELECT $1, * FROM UNNEST($2::bigint[], $3::bigint[], $4::uuid[])",
        )
        .bind(log.as_str())
        .bind(&leaf_idx)
        .bind(&leaf_seq)
        .bind(&leaf_event)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO tlog_nodes (log, level, idx, hash) \
             SELECT $1, * FROM UNNEST($2::smallint[], $3::bigint[], $4::bytea[])",
        )
        .bind(log.as_str())
        .bind(&node_level)
        .bind(&node_idx)
        .bind(&node_hash)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE tlog_heads SET size = $2, last_seq = $3 WHERE log = $1")
            .bind(log.as_str())
            .bind(to_i64(next.size(), "a size")?)
            .bind(to_i64(last.seq, "a sequence")?)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(next)
    }

    /// The first `size` leaf hashes (level-0 nodes), in order: what an export lists so that an
    /// auditor can say which event differs.
    pub async fn leaf_hashes(&self, log: Log, size: u64) -> Result<Vec<Hash>, TreeError> {
        let rows = sqlx::query(
            "SELECT hash FROM tlog_nodes WHERE log = $1 AND level = 0 AND idx < $2 ORDER BY idx",
        )
        .bind(log.as_str())
        .bind(to_i64(size, "a size")?)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let hash: Vec<u8> = row.try_get("hash")?;
                to_hash(&hash, log, "a leaf")
            })
            .collect()
    }

    /// The index and stream sequence of the leaf of an event.
    pub async fn leaf_of_event(
        &self,
        log: Log,
        event_id: Uuid,
    ) -> Result<Option<(u64, u64)>, TreeError> {
        let row = sqlx::query(
            "SELECT idx, seq FROM tlog_leaves WHERE log = $1 AND event_id = $2 ORDER BY idx LIMIT 1",
        )
        .bind(log.as_str())
        .bind(event_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok((
                to_u64(row.try_get("idx")?, log, "a leaf index")?,
                to_u64(row.try_get("seq")?, log, "a sequence")?,
            ))
        })
        .transpose()
    }

    fn checkpoint_of(log: Log, row: &sqlx::postgres::PgRow) -> Result<StoredCheckpoint, TreeError> {
        let root: Vec<u8> = row.try_get("root")?;
        Ok(StoredCheckpoint {
            log,
            size: to_u64(row.try_get("size")?, log, "a checkpoint's size")?,
            root: to_hash(&root, log, "a checkpoint's root")?,
            note: row.try_get("note")?,
            cosigned: row.try_get("cosigned")?,
            issued_at: row.try_get("issued_at")?,
        })
    }

    /// The checkpoint of the largest size.
    pub async fn latest_checkpoint(&self, log: Log) -> Result<Option<StoredCheckpoint>, TreeError> {
        let row = sqlx::query(
            "SELECT size, root, note, cosigned, issued_at FROM tlog_checkpoints \
             WHERE log = $1 ORDER BY size DESC LIMIT 1",
        )
        .bind(log.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| Self::checkpoint_of(log, &row)).transpose()
    }

    /// The checkpoint of one size.
    pub async fn checkpoint(
        &self,
        log: Log,
        size: u64,
    ) -> Result<Option<StoredCheckpoint>, TreeError> {
        // No tree holds more than i64::MAX leaves: a larger size names no checkpoint.
        if i64::try_from(size).is_err() {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT size, root, note, cosigned, issued_at FROM tlog_checkpoints \
             WHERE log = $1 AND size = $2",
        )
        .bind(log.as_str())
        .bind(to_i64(size, "a size")?)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| Self::checkpoint_of(log, &row)).transpose()
    }

    /// Every checkpoint of a log, smallest first.
    pub async fn checkpoints(&self, log: Log) -> Result<Vec<StoredCheckpoint>, TreeError> {
        let rows = sqlx::query(
            "SELECT size, root, note, cosigned, issued_at FROM tlog_checkpoints \
             WHERE log = $1 ORDER BY size",
        )
        .bind(log.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Self::checkpoint_of(log, row))
            .collect()
    }

    /// Keeps a signed checkpoint (a second one of the same size is ignored: the first stays).
    pub async fn insert_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<(), TreeError> {
        sqlx::query(
            "INSERT INTO tlog_checkpoints (log, size, root, note, cosigned, issued_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (log, size) DO NOTHING",
        )
        .bind(checkpoint.log.as_str())
        .bind(to_i64(checkpoint.size, "a size")?)
        .bind(checkpoint.root.as_slice())
        .bind(&checkpoint.note)
        .bind(&checkpoint.cosigned)
        .bind(checkpoint.issued_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Adds cosignature lines to a kept checkpoint (lines already there are not added twice).
    pub async fn add_cosignatures(
        &self,
        log: Log,
        size: u64,
        lines: &[String],
    ) -> Result<(), TreeError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT cosigned FROM tlog_checkpoints WHERE log = $1 AND size = $2 FOR UPDATE",
        )
        .bind(log.as_str())
        .bind(to_i64(size, "a size")?)
        .fetch_one(&mut *tx)
        .await?;
        let mut cosigned: String = row.try_get("cosigned")?;
        for line in lines {
            let line = format!("{}\n", line.trim_end_matches('\n'));
            if !cosigned.contains(&line) {
                cosigned.push_str(&line);
            }
        }
        sqlx::query("UPDATE tlog_checkpoints SET cosigned = $3 WHERE log = $1 AND size = $2")
            .bind(log.as_str())
            .bind(to_i64(size, "a size")?)
            .bind(&cosigned)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The size of the last checkpoint a witness cosigned (0 if none).
    pub async fn witness_size(&self, log: Log, witness: &str) -> Result<u64, TreeError> {
        let row = sqlx::query("SELECT size FROM tlog_witnesses WHERE log = $1 AND witness = $2")
            .bind(log.as_str())
            .bind(witness)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => to_u64(row.try_get("size")?, log, "a witness's size"),
            None => Ok(0),
        }
    }

    /// Records the size of the last checkpoint a witness cosigned.
    pub async fn set_witness_size(
        &self,
        log: Log,
        witness: &str,
        size: u64,
    ) -> Result<(), TreeError> {
        sqlx::query(
            "INSERT INTO tlog_witnesses (log, witness, size) VALUES ($1, $2, $3) \
             ON CONFLICT (log, witness) DO UPDATE SET size = EXCLUDED.size",
        )
        .bind(log.as_str())
        .bind(witness)
        .bind(to_i64(size, "a size")?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
