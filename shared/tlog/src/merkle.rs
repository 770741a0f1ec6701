//! RFC 6962 / RFC 9162 (section 2.1) Merkle trees: the incremental frontier a
//! log appends to, the perfect-subtree nodes a proof needs (so a database can
//! fetch them in one query), proof construction from those nodes, and the
//! RFC 9162 verification algorithms for inclusion and consistency proofs.

use std::fmt;

use crate::text::b64_encode;
use crate::{node_hash, Hash, EMPTY_ROOT};

/// A perfect subtree of 2^level leaves, the index-th of its level (leaves
/// index<<level .. (index+1)<<level). Every hash a log stores is one of these,
/// so they are the keys of its node table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// log2 of the number of leaves below the node (0 for a leaf).
    pub level: u8,
    /// The position of the node among the nodes of its level, from the left.
    pub index: u64,
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node level {} index {}", self.level, self.index)
    }
}

/// Why a Merkle operation failed, saying where: which index, which sizes,
/// which node, which lengths, which roots.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProofError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is out of range for a tree of size {size}")]
    IndexOutOfRange {
        /// The leaf index asked for.
        index: u64,
        /// The tree size it was asked for.
        size: u64,
    },
    /// The proof does not have the exact number of hashes RFC 9162 prescribes.
    #[error("proof has {got} hashes, but exactly {expected} are required")]
    WrongLength {
        /// The required number of hashes.
        expected: usize,
        /// The number of hashes given.
        got: usize,
    },
    /// The root recomputed from the proof is not the expected (new) root.
    #[error("root recomputed from the proof is {computed}, but the expected root is {expected}")]
    RootMismatch {
        /// The recomputed root, base64.
        computed: String,
        /// The root it should have been, base64.
        expected: String,
    },
    /// The old root recomputed from a consistency proof is not the old root.
    #[error("old root recomputed from the consistency proof is {computed}, but the old root is {expected}")]
    OldRootMismatch {
        /// The recomputed old root, base64.
        computed: String,
        /// The old root given, base64.
        expected: String,
    },
    /// Two tree heads of the same size with different roots: a split view.
    #[error("two roots for tree size {size}: old {old_root} and new {new_root}")]
    SameSizeDifferentRoots {
        /// The tree size both heads claim.
        size: u64,
        /// The old root, base64.
        old_root: String,
        /// The new root, base64.
        new_root: String,
    },
    /// A consistency proof was asked for from a larger to a smaller tree.
    #[error("old tree size {old} is larger than new tree size {new}")]
    SizeOrder {
        /// The old size.
        old: u64,
        /// The new size.
        new: u64,
    },
    /// The node lookup did not have a node the computation needs.
    #[error("{0} is missing from the node lookup")]
    MissingNode(NodeId),
    /// `Frontier::from_parts` got a different number of hashes than the size has nodes.
    #[error("a frontier of size {size} consists of {expected} nodes, but {got} hashes were given")]
    FrontierParts {
        /// The frontier size.
        size: u64,
        /// The number of nodes a frontier of that size has.
        expected: usize,
        /// The number of hashes given.
        got: usize,
    },
    /// The tree already holds 2^64 - 1 leaves and cannot grow.
    #[error("the tree is full at size {size}; no further leaf can be appended")]
    TreeFull {
        /// The size of the full tree.
        size: u64,
    },
    /// The verification walk ran out of tree before the proof ran out of hashes.
    #[error("proof hash {hash_index} lies above the root of the tree")]
    PathTooLong {
        /// The index (from 0) of the first superfluous proof hash.
        hash_index: usize,
    },
}

/// The incremental tree: the hashes of the perfect subtrees the tree of `size`
/// leaves is made of (the bits of size), largest first. This is all a log needs
/// in memory to append and to compute its root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    nodes: Vec<Hash>,
}

/// A frontier never has more nodes than a u64 has bits.
const MAX_FRONTIER_NODES: usize = 64;

impl Frontier {
    /// The frontier of the empty tree, with room for the largest frontier so
    /// that `push` never reallocates.
    pub fn new() -> Self {
        Self {
            size: 0,
            nodes: Vec::with_capacity(MAX_FRONTIER_NODES),
        }
    }

    /// The number of leaves appended so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash (O(log n)); calls `completed` for every perfect
    /// subtree this completes: the leaf itself (level 0) first, then each merged
    /// parent upwards, so the caller can store every node a proof may need.
    /// A full tree (2^64 - 1 leaves, unreachable in practice) is left unchanged;
    /// use [`Frontier::try_push`] to be told.
    pub fn push(&mut self, leaf: Hash, completed: impl FnMut(NodeId, Hash)) {
        // The only error is TreeFull, documented above as leaving the tree unchanged.
        let _ = self.try_push(leaf, completed);
    }

    /// Like [`Frontier::push`], but refuses to append to a full tree.
    pub fn try_push(
        &mut self,
        leaf: Hash,
        mut completed: impl FnMut(NodeId, Hash),
    ) -> Result<(), ProofError> {
        let old = self.size;
        let new = old
            .checked_add(1)
            .ok_or(ProofError::TreeFull { size: old })?;
        completed(
            NodeId {
                level: 0,
                index: old,
            },
            leaf,
        );
        let mut hash = leaf;
        let mut level: u8 = 0;
        // Each trailing one bit of the old size is a perfect subtree of the
        // same size as the one just completed, directly to its left: merge.
        while (old >> level) & 1 == 1 {
            let Some(left) = self.nodes.pop() else {
                break; // unreachable: the frontier has one node per one bit
            };
            hash = node_hash(&left, &hash);
            level += 1;
            completed(
                NodeId {
                    level,
                    index: old >> level,
                },
                hash,
            );
        }
        self.nodes.push(hash);
        self.size = new;
        Ok(())
    }

    /// The RFC 6962 Merkle tree hash of all leaves so far; EMPTY_ROOT for size 0.
    pub fn root(&self) -> Hash {
        fold_right(self.nodes.iter().copied()).unwrap_or(EMPTY_ROOT)
    }

    /// The NodeIds a frontier of `size` consists of, largest first, so that it
    /// can be persisted as references into the node table.
    pub fn ids(size: u64) -> Vec<NodeId> {
        let mut out = Vec::with_capacity(size.count_ones() as usize);
        push_range_ids(0, size, &mut out);
        out
    }

    /// Restores a frontier from those nodes' hashes, in the order of
    /// `ids(size)`; error if the count differs.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Result<Self, ProofError> {
        let expected = size.count_ones() as usize;
        if hashes.len() != expected {
            return Err(ProofError::FrontierParts {
                size,
                expected,
                got: hashes.len(),
            });
        }
        let mut nodes = hashes;
        nodes.reserve(MAX_FRONTIER_NODES.saturating_sub(nodes.len()));
        Ok(Self { size, nodes })
    }
}

/// The RFC 6962 hash of a list of perfect subtrees, largest (leftmost) first:
/// each one is the left child of the hash of everything to its right.
fn fold_right(hashes: impl DoubleEndedIterator<Item = Hash>) -> Option<Hash> {
    let mut rev = hashes.rev();
    let mut acc = rev.next()?;
    for left in rev {
        acc = node_hash(&left, &acc);
    }
    Some(acc)
}

/// Appends the perfect subtrees [start, end) splits into, largest first. For the
/// ranges the RFC 6962 recursion produces (start aligned to a power of two at
/// least end - start) this is exactly the shape of MTH(D[start:end]).
fn push_range_ids(start: u64, end: u64, out: &mut Vec<NodeId>) {
    let mut at = start;
    while at < end {
        let remaining = end - at;
        let fit = 63 - remaining.leading_zeros(); // floor(log2(remaining))
        let aligned = if at == 0 { 63 } else { at.trailing_zeros() };
        let level = fit.min(aligned);
        out.push(NodeId {
            level: level as u8,
            index: at >> level,
        });
        at += 1u64 << level;
    }
}

/// MTH(D[start:end]) from the lookup.
fn range_hash(
    start: u64,
    end: u64,
    lookup: &impl Fn(NodeId) -> Option<Hash>,
) -> Result<Hash, ProofError> {
    let mut ids = Vec::new();
    push_range_ids(start, end, &mut ids);
    let mut hashes = Vec::with_capacity(ids.len());
    for id in ids {
        hashes.push(lookup(id).ok_or(ProofError::MissingNode(id))?);
    }
    Ok(fold_right(hashes.into_iter()).unwrap_or(EMPTY_ROOT))
}

/// k in RFC 6962: the largest power of two smaller than n (n >= 2).
fn split(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Walks RFC 6962 PATH(index, D[0:size]) and reports each subtree range, root
/// side first (the reverse of proof order). Requires index < size.
fn walk_inclusion(index: u64, size: u64, mut visit: impl FnMut(u64, u64)) {
    let (mut start, mut n, mut m) = (0u64, size, index);
    while n > 1 {
        let k = split(n);
        if m < k {
            visit(start + k, start + n);
            n = k;
        } else {
            visit(start, start + k);
            start += k;
            m -= k;
            n -= k;
        }
    }
}

/// Walks RFC 6962 SUBPROOF(old, D[0:new], true) and reports each subtree range,
/// root side first (the reverse of proof order). Requires 0 < old < new.
fn walk_consistency(old: u64, new: u64, mut visit: impl FnMut(u64, u64)) {
    let (mut start, mut n, mut m, mut whole) = (0u64, new, old, true);
    while m != n {
        let k = split(n);
        if m <= k {
            visit(start + k, start + n);
            n = k;
        } else {
            visit(start, start + k);
            start += k;
            m -= k;
            n -= k;
            whole = false;
        }
    }
    if !whole {
        visit(start, start + n);
    }
}

/// The ranges of an inclusion proof, in proof order (leaf side first).
fn inclusion_ranges(index: u64, size: u64) -> Result<Vec<(u64, u64)>, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut out = Vec::new();
    walk_inclusion(index, size, |a, b| out.push((a, b)));
    out.reverse();
    Ok(out)
}

/// The ranges of a consistency proof, in proof order (old side first).
fn consistency_ranges(old: u64, new: u64) -> Result<Vec<(u64, u64)>, ProofError> {
    if old > new {
        return Err(ProofError::SizeOrder { old, new });
    }
    let mut out = Vec::new();
    if old != 0 && old != new {
        walk_consistency(old, new, |a, b| out.push((a, b)));
        out.reverse();
    }
    Ok(out)
}

/// The ids of all perfect subtrees the ranges consist of, deduplicated and sorted.
fn ranges_nodes(ranges: &[(u64, u64)]) -> Vec<NodeId> {
    let mut out = Vec::new();
    for &(a, b) in ranges {
        push_range_ids(a, b, &mut out);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The perfect-subtree hashes needed to compute an inclusion proof
/// (deduplicated, sorted). Lets a database fetch them in one query.
pub fn inclusion_nodes(index: u64, size: u64) -> Result<Vec<NodeId>, ProofError> {
    Ok(ranges_nodes(&inclusion_ranges(index, size)?))
}

/// The perfect-subtree hashes needed to compute a consistency proof
/// (deduplicated, sorted). Lets a database fetch them in one query.
pub fn consistency_nodes(old_size: u64, new_size: u64) -> Result<Vec<NodeId>, ProofError> {
    Ok(ranges_nodes(&consistency_ranges(old_size, new_size)?))
}

/// The perfect-subtree hashes needed to compute the root at an earlier size
/// (deduplicated, sorted). Lets a database fetch them in one query.
pub fn root_nodes(size: u64) -> Vec<NodeId> {
    let mut out = Frontier::ids(size);
    out.sort_unstable();
    out
}

/// Computes the RFC 6962 inclusion proof (PATH) of leaf `index` in the tree of
/// `size` leaves from a lookup of perfect-subtree hashes (error MissingNode(NodeId)
/// when lookup returns None).
pub fn inclusion_proof(
    index: u64,
    size: u64,
    lookup: impl Fn(NodeId) -> Option<Hash>,
) -> Result<Vec<Hash>, ProofError> {
    inclusion_ranges(index, size)?
        .into_iter()
        .map(|(a, b)| range_hash(a, b, &lookup))
        .collect()
}

/// Computes the RFC 6962 consistency proof (PROOF) from `old_size` to
/// `new_size` from a lookup of perfect-subtree hashes (error MissingNode(NodeId)
/// when lookup returns None). Empty when old_size is 0 or equals new_size.
pub fn consistency_proof(
    old_size: u64,
    new_size: u64,
    lookup: impl Fn(NodeId) -> Option<Hash>,
) -> Result<Vec<Hash>, ProofError> {
    consistency_ranges(old_size, new_size)?
        .into_iter()
        .map(|(a, b)| range_hash(a, b, &lookup))
        .collect()
}

/// Computes the root of the tree at `size` leaves from a lookup of
/// perfect-subtree hashes (error MissingNode(NodeId) when lookup returns None),
/// so a log can sign a checkpoint for any size it has stored.
pub fn root_at(size: u64, lookup: impl Fn(NodeId) -> Option<Hash>) -> Result<Hash, ProofError> {
    range_hash(0, size, &lookup)
}

/// The exact length of the inclusion proof of `index` in a tree of `size`
/// (0 when index >= size); also used by parsers to refuse over-long proofs.
pub fn inclusion_proof_len(index: u64, size: u64) -> usize {
    let mut len = 0;
    if index < size {
        walk_inclusion(index, size, |_, _| len += 1);
    }
    len
}

/// The exact length of the consistency proof from `old` to `new` leaves (0 when
/// old is 0, old equals new, or old > new); also used by parsers to refuse
/// over-long proofs.
pub fn consistency_proof_len(old: u64, new: u64) -> usize {
    let mut len = 0;
    if old != 0 && old < new {
        walk_consistency(old, new, |_, _| len += 1);
    }
    len
}

/// Verifies an inclusion proof with the algorithm of RFC 9162 2.1.3.2, so a
/// client can trust that `leaf` is at `index` in the tree with `root`. Checks
/// index < size and the exact proof length first (WrongLength{expected, got}).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_proof_len(index, size);
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            expected,
            got: proof.len(),
        });
    }
    let mut f = index;
    let mut s = size - 1;
    let mut r = *leaf;
    for (hash_index, p) in proof.iter().enumerate() {
        if s == 0 {
            return Err(ProofError::PathTooLong { hash_index });
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        // Unreachable after the length check; kept so the walk stands alone.
        return Err(ProofError::WrongLength {
            expected,
            got: proof.len(),
        });
    }
    if r != *root {
        return Err(ProofError::RootMismatch {
            computed: b64_encode(&r),
            expected: b64_encode(root),
        });
    }
    Ok(())
}

/// Verifies a consistency proof with the algorithm of RFC 9162 2.1.4.2, so a
/// witness or client can trust that the tree with `new_root` extends the one
/// with `old_root`. Checks the size order and the exact proof length first.
/// With old_size 0 the proof is empty and old_root must be EMPTY_ROOT; with
/// old_size == new_size the proof is empty and the roots must be equal.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::SizeOrder {
            old: old_size,
            new: new_size,
        });
    }
    let expected = consistency_proof_len(old_size, new_size);
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            expected,
            got: proof.len(),
        });
    }
    if old_size == 0 {
        if *old_root != EMPTY_ROOT {
            return Err(ProofError::OldRootMismatch {
                computed: b64_encode(&EMPTY_ROOT),
                expected: b64_encode(old_root),
            });
        }
        return Ok(());
    }
    if old_size == new_size {
        if old_root != new_root {
            return Err(ProofError::SameSizeDifferentRoots {
                size: old_size,
                old_root: b64_encode(old_root),
                new_root: b64_encode(new_root),
            });
        }
        return Ok(());
    }
    // Step 2: if old_size is a power of two the proof omits the old root.
    let (first, rest) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        match proof.split_first() {
            Some((first, rest)) => (first, rest),
            None => {
                return Err(ProofError::WrongLength {
                    expected,
                    got: proof.len(),
                })
            }
        }
    };
    // Proof hash numbering for errors, counting from 0 in the given proof.
    let offset = usize::from(!old_size.is_power_of_two());
    let mut f = old_size - 1;
    let mut s = new_size - 1;
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let mut fr = *first;
    let mut sr = *first;
    for (i, c) in rest.iter().enumerate() {
        if s == 0 {
            return Err(ProofError::PathTooLong {
                hash_index: i + offset,
            });
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength {
            expected,
            got: proof.len(),
        });
    }
    if fr != *old_root {
        return Err(ProofError::OldRootMismatch {
            computed: b64_encode(&fr),
            expected: b64_encode(old_root),
        });
    }
    if sr != *new_root {
        return Err(ProofError::RootMismatch {
            computed: b64_encode(&sr),
            expected: b64_encode(new_root),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leaf_hash;

    #[test]
    fn frontier_ids_follow_the_bits_of_the_size_largest_first() {
        assert_eq!(Frontier::ids(0), vec![]);
        assert_eq!(
            Frontier::ids(13),
            vec![
                NodeId { level: 3, index: 0 },
                NodeId { level: 2, index: 2 },
                NodeId {
                    level: 0,
                    index: 12
                },
            ]
        );
        assert_eq!(Frontier::ids(u64::MAX).len(), 64);
    }

    #[test]
    fn push_reports_the_leaf_first_then_each_merged_parent() {
        let mut f = Frontier::new();
        for i in 0..3u8 {
            f.push(leaf_hash(&[i]), |_, _| {});
        }
        let mut seen = Vec::new();
        f.push(leaf_hash(&[3]), |id, _| seen.push(id));
        assert_eq!(
            seen,
            vec![
                NodeId { level: 0, index: 3 },
                NodeId { level: 1, index: 1 },
                NodeId { level: 2, index: 0 },
            ]
        );
    }

    #[test]
    fn a_full_tree_refuses_another_leaf() {
        let mut f =
            Frontier::from_parts(u64::MAX, vec![[0u8; 32]; 64]).expect("64 hashes for 64 bits");
        let before = f.clone();
        assert_eq!(
            f.try_push([1u8; 32], |_, _| {}),
            Err(ProofError::TreeFull { size: u64::MAX })
        );
        f.push([1u8; 32], |_, _| {});
        assert_eq!(f, before);
    }

    #[test]
    fn from_parts_refuses_the_wrong_number_of_hashes() {
        assert_eq!(
            Frontier::from_parts(5, vec![[0u8; 32]]),
            Err(ProofError::FrontierParts {
                size: 5,
                expected: 2,
                got: 1
            })
        );
    }

    #[test]
    fn a_missing_node_is_named() {
        let err =
            root_at(3, |id| (id.level == 1).then_some([0u8; 32])).expect_err("leaf 2 is missing");
        assert_eq!(err, ProofError::MissingNode(NodeId { level: 0, index: 2 }));
        assert_eq!(
            err.to_string(),
            "node level 0 index 2 is missing from the node lookup"
        );
    }

    #[test]
    fn the_size_order_of_a_consistency_proof_is_checked() {
        assert_eq!(
            consistency_nodes(5, 4),
            Err(ProofError::SizeOrder { old: 5, new: 4 })
        );
        assert_eq!(
            verify_consistency(5, 4, &EMPTY_ROOT, &EMPTY_ROOT, &[]),
            Err(ProofError::SizeOrder { old: 5, new: 4 })
        );
    }

    #[test]
    fn proof_lengths_for_the_largest_trees_stay_within_64() {
        assert_eq!(inclusion_proof_len(0, u64::MAX), 64);
        assert_eq!(inclusion_proof_len(u64::MAX - 1, u64::MAX), 63);
        assert!(consistency_proof_len(u64::MAX - 1, u64::MAX) <= 128);
        assert_eq!(inclusion_proof_len(3, 3), 0);
    }
}
