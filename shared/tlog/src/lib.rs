//! The transparency log's pure core: RFC 6962 / RFC 9162 Merkle trees and
//! proofs, C2SP signed notes with Ed25519 keys and cosignatures, C2SP
//! checkpoints, and the text bundles (tlog-proof, tlog-witness add-checkpoint)
//! that carry them. Nothing here does I/O; the ledger and the witness build on it.

#![deny(missing_docs)]

pub mod bundle;
pub mod checkpoint;
pub mod merkle;
pub mod note;

mod text;

pub use bundle::{
    verify_inclusion_bundle, BundleError, ConsistencyBundle, InclusionBundle,
    MAX_CONSISTENCY_PROOF_LINES, MAX_INCLUSION_PROOF_LINES,
};
pub use checkpoint::{Checkpoint, CheckpointError};
pub use merkle::{
    consistency_nodes, consistency_proof, consistency_proof_len, inclusion_nodes, inclusion_proof,
    inclusion_proof_len, root_at, root_nodes, verify_consistency, verify_inclusion, Frontier,
    NodeId, ProofError,
};
pub use note::{
    key_id, KeyError, KeyKind, Note, NoteError, NoteSignature, Signer, Verified, Verifier,
    MAX_NOTE_BYTES, MAX_SIGNATURES,
};

use sha2::{Digest, Sha256};

/// A SHA-256 hash: a leaf hash, an interior node hash or a tree root.
pub type Hash = [u8; 32];

/// The root of the empty tree, SHA-256 of the empty string (RFC 6962 2.1), so
/// that a size-0 checkpoint and an empty frontier have a well-defined root.
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// The RFC 6962 leaf hash, SHA-256(0x00 || bytes): the 0x00 prefix keeps a
/// leaf from ever being passed off as an interior node (second preimage).
pub fn leaf_hash(bytes: &[u8]) -> Hash {
    Sha256::new()
        .chain_update([0x00])
        .chain_update(bytes)
        .finalize()
        .into()
}

/// The RFC 6962 interior node hash, SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new()
        .chain_update([0x01])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_root_is_the_sha256_of_the_empty_string() {
        let computed: Hash = Sha256::digest(b"").into();
        assert_eq!(computed, EMPTY_ROOT);
    }

    #[test]
    fn leaf_and_node_hashes_are_domain_separated() {
        let mut concatenated = vec![0x00];
        concatenated.extend_from_slice(b"abc");
        let expected: Hash = Sha256::digest(&concatenated).into();
        assert_eq!(leaf_hash(b"abc"), expected);

        let l = leaf_hash(b"l");
        let r = leaf_hash(b"r");
        let mut joined = vec![0x01];
        joined.extend_from_slice(&l);
        joined.extend_from_slice(&r);
        let expected: Hash = Sha256::digest(&joined).into();
        assert_eq!(node_hash(&l, &r), expected);
    }
}
