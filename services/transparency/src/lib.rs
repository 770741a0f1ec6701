//! The transparency logs of a namespace: an RFC 6962 Merkle tree over every LEDGER message and one
//! over every REVIEWS message, in stream order, with signed checkpoints that witnesses cosign.
//!
//! Whoever can write a stream can rewrite a hash chain consistently; nobody can rewrite a log whose
//! checkpoint an auditor or a witness already holds without the next consistency proof failing.
//!
//! Layout:
//! - [`Log`]: which log, its stream and its origin line.
//! - [`keys`]: the log's signing key (from a file or the environment, never printed).
//! - [`tree`]: the tree in Postgres ([`TreeStore`]): leaves, perfect-subtree nodes, checkpoints.
//! - [`service`]: the log service ([`LogService`]): follows both streams, appends leaves, issues
//!   checkpoints on a cadence and on request, and sends each to the witnesses.
//! - [`proofs`]: inclusion and consistency proofs as the CLI and the HTTP API serve them.
//! - [`witness`]: `buendel witness`, a second party's process that cosigns consistent checkpoints
//!   (C2SP tlog-witness `add-checkpoint`), and the client the log calls it with.
//!
//! The pure parts (hashes, proofs, notes, checkpoints, bundles) are in `buendel-tlog`.

pub mod keys;
pub mod proofs;
pub mod service;
pub mod tree;
pub mod witness;

use std::fmt;
use std::str::FromStr;

use buendel_contract::namespace::StreamKind;

pub use keys::LogKey;
pub use service::{LogService, LogServiceLimits};
pub use tree::{StoredCheckpoint, TreeStore};

/// One of the two logs of a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Log {
    /// Every LEDGER message: the funding ledger.
    Ledger,
    /// Every REVIEWS message: votes, recusals, statements and grant decisions.
    Reviews,
}

impl Log {
    /// Both logs.
    pub const ALL: [Log; 2] = [Log::Ledger, Log::Reviews];

    /// The name used in tables, URLs and the origin line.
    pub fn as_str(self) -> &'static str {
        match self {
            Log::Ledger => "ledger",
            Log::Reviews => "reviews",
        }
    }

    /// The stream whose messages are the leaves.
    pub fn stream(self) -> StreamKind {
        match self {
            Log::Ledger => StreamKind::Ledger,
            Log::Reviews => StreamKind::Reviews,
        }
    }

    /// The origin line of this log's checkpoints under a key named `key_name`
    /// (`buendel/<namespace>` by default): `<key_name>/ledger` or `<key_name>/reviews`. The log's
    /// signature uses the origin as its key name, as the checkpoint specification recommends.
    pub fn origin(self, key_name: &str) -> String {
        format!("{key_name}/{}", self.as_str())
    }
}

impl fmt::Display for Log {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A log name that is neither `ledger` nor `reviews`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("no log {0:?}: the logs are `ledger` and `reviews`")]
pub struct UnknownLog(pub String);

impl FromStr for Log {
    type Err = UnknownLog;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ledger" => Ok(Log::Ledger),
            "reviews" => Ok(Log::Reviews),
            other => Err(UnknownLog(other.to_owned())),
        }
    }
}
