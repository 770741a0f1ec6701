//! Inclusion and consistency proofs over the persisted tree, as the CLI and the HTTP API serve them:
//! a `c2sp.org/tlog-proof@v1` bundle for one event, and the tlog-witness `add-checkpoint` body
//! (`old N`, the proof, the checkpoint) between two sizes.
//!
//! Every proof is against a signed checkpoint the log keeps: a client verifies it with the log's
//! pinned key and nothing else.

use uuid::Uuid;

use buendel_tlog::{
    consistency_nodes, consistency_proof, inclusion_nodes, inclusion_proof, ConsistencyBundle,
    Hash, InclusionBundle,
};

use crate::tree::{TreeError, TreeStore};
use crate::Log;

/// Why a proof could not be given.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// The tables.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// No such event in the log.
    #[error("no event {0} in the {1} log")]
    UnknownEvent(Uuid, Log),
    /// No checkpoint covers it yet.
    #[error(
        "no checkpoint of the {log} log covers leaf {index} yet (the latest has {size} leaves)"
    )]
    NotYetCheckpointed {
        /// The log.
        log: Log,
        /// The leaf's index.
        index: u64,
        /// The latest checkpoint's size.
        size: u64,
    },
    /// No checkpoint of that size.
    #[error("no checkpoint of the {log} log has size {size}")]
    NoCheckpoint {
        /// The log.
        log: Log,
        /// The size asked for.
        size: u64,
    },
    /// Sizes in the wrong order.
    #[error("a consistency proof goes from a smaller size to a larger one, not {from} to {to}")]
    Order {
        /// From.
        from: u64,
        /// To.
        to: u64,
    },
    /// The tree lacks a node it should have.
    #[error("computing the proof: {0}")]
    Compute(String),
}

/// An event's inclusion proof in the latest checkpoint, with its stream sequence (so a caller
/// with stream access can put the stored bytes in `extra`).
pub async fn inclusion(
    tree: &TreeStore,
    log: Log,
    event_id: Uuid,
) -> Result<(InclusionBundle, u64), ProofError> {
    let (index, seq) = tree
        .leaf_of_event(log, event_id)
        .await?
        .ok_or(ProofError::UnknownEvent(event_id, log))?;
    let checkpoint = tree.latest_checkpoint(log).await?;
    let checkpoint = match checkpoint {
        Some(c) if c.size > index => c,
        other => {
            return Err(ProofError::NotYetCheckpointed {
                log,
                index,
                size: other.map_or(0, |c| c.size),
            })
        }
    };
    let ids =
        inclusion_nodes(index, checkpoint.size).map_err(|e| ProofError::Compute(e.to_string()))?;
    let nodes = tree.nodes(log, &ids).await?;
    let proof = inclusion_proof(index, checkpoint.size, |id| nodes.get(&id).copied())
        .map_err(|e| ProofError::Compute(e.to_string()))?;
    Ok((
        InclusionBundle {
            extra: None,
            index,
            proof,
            checkpoint: checkpoint.cosigned,
        },
        seq,
    ))
}

/// A consistency proof from tree size `from` to the checkpoint of size `to` (the latest when
/// `None`), with that checkpoint.
pub async fn consistency(
    tree: &TreeStore,
    log: Log,
    from: u64,
    to: Option<u64>,
) -> Result<ConsistencyBundle, ProofError> {
    let checkpoint = match to {
        Some(size) => tree.checkpoint(log, size).await?,
        None => tree.latest_checkpoint(log).await?,
    }
    .ok_or(ProofError::NoCheckpoint {
        log,
        size: to.unwrap_or(0),
    })?;
    if from > checkpoint.size {
        return Err(ProofError::Order {
            from,
            to: checkpoint.size,
        });
    }
    Ok(ConsistencyBundle {
        old_size: from,
        proof: consistency_hashes(tree, log, from, checkpoint.size).await?,
        checkpoint: checkpoint.cosigned,
    })
}

/// The consistency proof from the tree's first `from` leaves to its first `to` (empty when `from`
/// is 0 or equals `to`: the empty tree and a tree itself need no proof), from the persisted nodes.
pub async fn consistency_hashes(
    tree: &TreeStore,
    log: Log,
    from: u64,
    to: u64,
) -> Result<Vec<Hash>, ProofError> {
    if from == 0 || from == to {
        return Ok(Vec::new());
    }
    let ids = consistency_nodes(from, to).map_err(|e| ProofError::Compute(e.to_string()))?;
    let nodes = tree.nodes(log, &ids).await?;
    consistency_proof(from, to, |id| nodes.get(&id).copied())
        .map_err(|e| ProofError::Compute(e.to_string()))
}
