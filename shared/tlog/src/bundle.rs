//! The text bundles that carry proofs with their signed checkpoint:
//! c2sp.org/tlog-proof@v1 inclusion proofs (offline-verifiable receipts) and
//! the tlog-witness add-checkpoint body (a consistency proof for a witness),
//! plus the full offline verification of an inclusion bundle.

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::merkle::{consistency_proof_len, inclusion_proof_len, verify_inclusion, ProofError};
use crate::note::{KeyError, KeyKind, Note, NoteError, Verified, Verifier};
use crate::text::{b64_decode, b64_encode, decode_hash, parse_decimal, Lines};
use crate::{leaf_hash, Hash};

/// The first line of every tlog-proof.
const PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";
/// An inclusion proof in a tree of at most 2^64 - 1 leaves has at most 64 hashes.
pub const MAX_INCLUSION_PROOF_LINES: usize = 64;
/// tlog-witness: a client MUST NOT send more than 63 consistency proof lines.
pub const MAX_CONSISTENCY_PROOF_LINES: usize = 63;

/// Why a bundle was refused, naming the bundle line (counted from 1) or the
/// failing part (checkpoint note, checkpoint, proof, key).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BundleError {
    /// A line is missing or does not end in a newline.
    #[error("bundle line {line}: missing (or unterminated by a newline)")]
    MissingLine {
        /// The line.
        line: usize,
    },
    /// A line is not what the format requires there.
    #[error("bundle line {line}: {reason}")]
    Line {
        /// The line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// More proof lines than the format allows.
    #[error("bundle line {line}: more than {max} proof lines")]
    TooManyProofLines {
        /// The first line beyond the limit.
        line: usize,
        /// The limit.
        max: usize,
    },
    /// Nothing follows the empty line where the checkpoint belongs.
    #[error("bundle line {line}: the signed checkpoint is missing")]
    MissingCheckpoint {
        /// Where the checkpoint should start.
        line: usize,
    },
    /// The number of proof lines is not what the index and sizes require.
    #[error(
        "bundle lines {first_line}..: {got} proof lines, but the proof needs exactly {expected}"
    )]
    ProofLength {
        /// The line of the first proof hash.
        first_line: usize,
        /// The required number of hashes.
        expected: usize,
        /// The number given.
        got: usize,
    },
    /// The checkpoint's signed note is malformed or its signatures fail.
    #[error("checkpoint note: {0}")]
    Note(#[from] NoteError),
    /// The checkpoint text is malformed.
    #[error("checkpoint text: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The Merkle proof does not verify.
    #[error("Merkle proof: {0}")]
    Proof(#[from] ProofError),
    /// A key could not be read.
    #[error("key: {0}")]
    Key(#[from] KeyError),
    /// The log key given is not a note-signing key.
    #[error(
        "log key {name:?} is a {kind}, but a log signs checkpoints with a note key (type 0x01)"
    )]
    LogKeyKind {
        /// The key name.
        name: String,
        /// Its kind.
        kind: KeyKind,
    },
    /// A witness key given is not a cosignature key.
    #[error("witness key {name:?} is a {kind}, but witnesses cosign with cosignature/v1 keys (type 0x04)")]
    WitnessKeyKind {
        /// The key name.
        name: String,
        /// Its kind.
        kind: KeyKind,
    },
    /// The checkpoint is from another log than the pinned log key.
    #[error("checkpoint origin {origin:?} is not the pinned log key's name {log:?}")]
    OriginMismatch {
        /// The checkpoint's origin line.
        origin: String,
        /// The log key's name.
        log: String,
    },
    /// Witnesses signed, but the log key did not.
    #[error("the checkpoint has no signature by the log key {name} (key ID {key_id:08x})")]
    LogNotVerified {
        /// The log key's name.
        name: String,
        /// The log key's ID.
        key_id: u32,
    },
    /// Fewer pinned witnesses cosigned than the policy requires.
    #[error("{got} of the pinned witnesses cosigned the checkpoint, but {need} are required")]
    TooFewWitnesses {
        /// Valid cosignatures from pinned witnesses.
        got: usize,
        /// The required number.
        need: usize,
    },
}

/// c2sp.org/tlog-proof@v1: a self-contained, offline-verifiable receipt that
/// an entry is at `index` in a log whose checkpoint is signed (and cosigned).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InclusionBundle {
    /// Opaque, unauthenticated extra data (the `extra` line); never trust it.
    pub extra: Option<Vec<u8>>,
    /// The entry's leaf index.
    pub index: u64,
    /// The RFC 6962 inclusion proof, leaf's sibling first.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, verbatim.
    pub checkpoint: String,
}

/// Appends one base64 line per proof hash.
fn push_proof(out: &mut String, proof: &[Hash]) {
    for hash in proof {
        out.push_str(&b64_encode(hash));
        out.push('\n');
    }
}

/// Reads proof lines up to the empty line; returns them and the number of
/// the first proof line.
fn read_proof(lines: &mut Lines<'_>, max: usize) -> Result<(Vec<Hash>, usize), BundleError> {
    let first_line = lines.next_line_number();
    let mut proof = Vec::new();
    loop {
        let line = lines.next_line_number();
        let text = lines
            .next()
            .map_err(|line| BundleError::MissingLine { line })?;
        if text.is_empty() {
            return Ok((proof, first_line));
        }
        if proof.len() == max {
            return Err(BundleError::TooManyProofLines { line, max });
        }
        let hash = decode_hash(text).map_err(|reason| BundleError::Line {
            line,
            reason: format!("proof hash {}: {reason}", proof.len()),
        })?;
        proof.push(hash);
    }
}

/// Takes the rest as the checkpoint and parses its note and text.
fn read_checkpoint(lines: &Lines<'_>) -> Result<(String, Checkpoint), BundleError> {
    let rest = lines.rest();
    if rest.is_empty() {
        return Err(BundleError::MissingCheckpoint {
            line: lines.next_line_number(),
        });
    }
    let note = Note::parse(rest)?;
    let checkpoint = Checkpoint::parse(&note.text)?;
    Ok((rest.to_owned(), checkpoint))
}

impl InclusionBundle {
    /// The tlog-proof text, to hand to whoever needs the receipt.
    pub fn to_text(&self) -> String {
        let mut out = format!("{PROOF_HEADER}\n");
        if let Some(extra) = &self.extra {
            out.push_str("extra ");
            out.push_str(&b64_encode(extra));
            out.push('\n');
        }
        out.push_str(&format!("index {}\n", self.index));
        push_proof(&mut out, &self.proof);
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }

    /// Parses tlog-proof text strictly: the header, an optional extra line,
    /// the index, at most 64 proof hashes, an empty line and a checkpoint note
    /// whose text is a valid checkpoint; the index must be inside the
    /// checkpoint's tree and the proof exactly as long as it requires.
    /// Signatures are not verified here (see `verify_inclusion_bundle`).
    pub fn parse(s: &str) -> Result<Self, BundleError> {
        let mut lines = Lines::new(s);
        let header = lines
            .next()
            .map_err(|line| BundleError::MissingLine { line })?;
        if header != PROOF_HEADER {
            return Err(BundleError::Line {
                line: 1,
                reason: format!("expected {PROOF_HEADER:?}, found {header:?}"),
            });
        }
        let mut line = lines.next_line_number();
        let mut text = lines
            .next()
            .map_err(|line| BundleError::MissingLine { line })?;
        let mut extra = None;
        if let Some(b64) = text.strip_prefix("extra ") {
            extra = Some(b64_decode(b64).map_err(|reason| BundleError::Line {
                line,
                reason: format!("extra data: {reason}"),
            })?);
            line = lines.next_line_number();
            text = lines
                .next()
                .map_err(|line| BundleError::MissingLine { line })?;
        }
        let index_text = text
            .strip_prefix("index ")
            .ok_or_else(|| BundleError::Line {
                line,
                reason: format!("expected \"index <n>\", found {text:?}"),
            })?;
        let index = parse_decimal(index_text).map_err(|reason| BundleError::Line {
            line,
            reason: format!("index {reason}"),
        })?;
        let (proof, first_line) = read_proof(&mut lines, MAX_INCLUSION_PROOF_LINES)?;
        let (checkpoint, parsed) = read_checkpoint(&lines)?;
        if index >= parsed.size {
            return Err(ProofError::IndexOutOfRange {
                index,
                size: parsed.size,
            }
            .into());
        }
        let expected = inclusion_proof_len(index, parsed.size);
        if proof.len() != expected {
            return Err(BundleError::ProofLength {
                first_line,
                expected,
                got: proof.len(),
            });
        }
        Ok(Self {
            extra,
            index,
            proof,
            checkpoint,
        })
    }
}

/// The tlog-witness add-checkpoint body: "old N\n" + proof lines + "\n" +
/// signed checkpoint. Max 63 proof lines. What a log sends a witness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsistencyBundle {
    /// The size of the witness's previous checkpoint (0 if none).
    pub old_size: u64,
    /// The RFC 6962 consistency proof from old_size to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, verbatim.
    pub checkpoint: String,
}

impl ConsistencyBundle {
    /// The add-checkpoint request body.
    pub fn to_text(&self) -> String {
        let mut out = format!("old {}\n", self.old_size);
        push_proof(&mut out, &self.proof);
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }

    /// Parses an add-checkpoint body strictly: the old size line, at most 63
    /// proof hashes, an empty line and a checkpoint note whose text is a valid
    /// checkpoint; old size must not exceed the checkpoint's and the proof
    /// must be exactly as long as the sizes require. Signatures and the proof
    /// itself are not verified here.
    pub fn parse(s: &str) -> Result<Self, BundleError> {
        let mut lines = Lines::new(s);
        let text = lines
            .next()
            .map_err(|line| BundleError::MissingLine { line })?;
        let old_text = text.strip_prefix("old ").ok_or_else(|| BundleError::Line {
            line: 1,
            reason: format!("expected \"old <size>\", found {text:?}"),
        })?;
        let old_size = parse_decimal(old_text).map_err(|reason| BundleError::Line {
            line: 1,
            reason: format!("old size {reason}"),
        })?;
        let (proof, first_line) = read_proof(&mut lines, MAX_CONSISTENCY_PROOF_LINES)?;
        let (checkpoint, parsed) = read_checkpoint(&lines)?;
        if old_size > parsed.size {
            return Err(ProofError::SizeOrder {
                old: old_size,
                new: parsed.size,
            }
            .into());
        }
        let expected = consistency_proof_len(old_size, parsed.size);
        if proof.len() != expected {
            return Err(BundleError::ProofLength {
                first_line,
                expected,
                got: proof.len(),
            });
        }
        Ok(Self {
            old_size,
            proof,
            checkpoint,
        })
    }
}

/// Full offline verification of an inclusion bundle against pinned keys:
/// parse the checkpoint note, verify it with the log verifier (must be
/// KeyKind::Note and its name == origin), verify every witness verifier given
/// that signed (require `min_witnesses` of them), check inclusion of
/// leaf_hash(leaf_bytes). Returns the parsed Checkpoint and the Verified list.
/// Witness keys must be KeyKind::Cosignature (cosignature/v1). The bundle's
/// `extra` is not authenticated and plays no part.
pub fn verify_inclusion_bundle(
    bundle: &InclusionBundle,
    leaf_bytes: &[u8],
    log: &Verifier,
    witnesses: &[Verifier],
    min_witnesses: usize,
) -> Result<(Checkpoint, Vec<Verified>), BundleError> {
    if log.kind() != KeyKind::Note {
        return Err(BundleError::LogKeyKind {
            name: log.name().to_owned(),
            kind: log.kind(),
        });
    }
    if let Some(w) = witnesses.iter().find(|w| w.kind() != KeyKind::Cosignature) {
        return Err(BundleError::WitnessKeyKind {
            name: w.name().to_owned(),
            kind: w.kind(),
        });
    }
    let note = Note::parse(&bundle.checkpoint)?;
    let checkpoint = Checkpoint::parse(&note.text)?;
    if checkpoint.origin != log.name() {
        return Err(BundleError::OriginMismatch {
            origin: checkpoint.origin,
            log: log.name().to_owned(),
        });
    }
    let mut keys = Vec::with_capacity(1 + witnesses.len());
    keys.push(log.clone());
    keys.extend_from_slice(witnesses);
    let verified = note.verify(&keys)?;
    let is = |v: &Verified, k: &Verifier| v.name == k.name() && v.key_id == k.key_id();
    if !verified.iter().any(|v| is(v, log)) {
        return Err(BundleError::LogNotVerified {
            name: log.name().to_owned(),
            key_id: log.key_id(),
        });
    }
    let cosigned = verified
        .iter()
        .filter(|v| witnesses.iter().any(|w| is(v, w)))
        .count();
    if cosigned < min_witnesses {
        return Err(BundleError::TooFewWitnesses {
            got: cosigned,
            need: min_witnesses,
        });
    }
    verify_inclusion(
        &leaf_hash(leaf_bytes),
        bundle.index,
        checkpoint.size,
        &bundle.proof,
        &checkpoint.root,
    )?;
    Ok((checkpoint, verified))
}
