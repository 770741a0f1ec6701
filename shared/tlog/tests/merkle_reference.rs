//! Checks the crate's Merkle trees and proofs against a plain recursive
//! reference written straight from RFC 6962 section 2.1 (MTH, PATH, PROOF and
//! SUBPROOF), for every tree size up to 64, and checks that tampering with any
//! byte of a proof, a leaf or a root makes verification fail.

use std::collections::HashMap;

use buendel_tlog::{
    consistency_nodes, consistency_proof, consistency_proof_len, inclusion_nodes, inclusion_proof,
    inclusion_proof_len, leaf_hash, root_at, root_nodes, verify_consistency, verify_inclusion,
    Frontier, Hash, NodeId, ProofError, EMPTY_ROOT,
};
use sha2::{Digest, Sha256};

/// The reference, deliberately naive and independent of the crate's hashing.
mod rfc6962 {
    use super::*;

    fn leaf(data: &[u8]) -> Hash {
        let mut h = Sha256::new();
        h.update([0x00]);
        h.update(data);
        h.finalize().into()
    }

    fn node(l: &Hash, r: &Hash) -> Hash {
        let mut h = Sha256::new();
        h.update([0x01]);
        h.update(l);
        h.update(r);
        h.finalize().into()
    }

    /// k: the largest power of two smaller than n.
    fn k(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    /// MTH(D[n]).
    pub fn mth(d: &[Vec<u8>]) -> Hash {
        match d.len() {
            0 => Sha256::digest(b"").into(),
            1 => leaf(&d[0]),
            n => {
                let k = k(n);
                node(&mth(&d[..k]), &mth(&d[k..]))
            }
        }
    }

    /// PATH(m, D[n]).
    pub fn path(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
        let n = d.len();
        if n == 1 {
            return vec![];
        }
        let k = k(n);
        if m < k {
            let mut p = path(m, &d[..k]);
            p.push(mth(&d[k..]));
            p
        } else {
            let mut p = path(m - k, &d[k..]);
            p.push(mth(&d[..k]));
            p
        }
    }

    /// SUBPROOF(m, D[n], b).
    fn subproof(m: usize, d: &[Vec<u8>], b: bool) -> Vec<Hash> {
        let n = d.len();
        if m == n {
            return if b { vec![] } else { vec![mth(d)] };
        }
        let k = k(n);
        if m <= k {
            let mut p = subproof(m, &d[..k], b);
            p.push(mth(&d[k..]));
            p
        } else {
            let mut p = subproof(m - k, &d[k..], false);
            p.push(mth(&d[..k]));
            p
        }
    }

    /// PROOF(m, D[n]) for 0 < m < n; empty for m == n (RFC 9162).
    pub fn proof(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
        subproof(m, d, true)
    }
}

fn data(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("leaf {i}").into_bytes()).collect()
}

/// Every perfect node of a tree, as reported by Frontier::push.
fn node_map(d: &[Vec<u8>]) -> (HashMap<NodeId, Hash>, Vec<Hash>) {
    let mut nodes = HashMap::new();
    let mut roots = vec![EMPTY_ROOT];
    let mut f = Frontier::new();
    for leaf in d {
        f.push(leaf_hash(leaf), |id, h| {
            assert!(nodes.insert(id, h).is_none(), "{id} reported twice");
        });
        roots.push(f.root());
    }
    (nodes, roots)
}

const MAX: usize = 64;

#[test]
fn the_frontier_root_and_root_at_equal_the_reference_mth_for_every_size_up_to_64() {
    let d = data(MAX);
    let (nodes, roots) = node_map(&d);
    for size in 0..=MAX {
        let expected = rfc6962::mth(&d[..size]);
        assert_eq!(roots[size], expected, "frontier root at size {size}");
        let at = root_at(size as u64, |id| nodes.get(&id).copied()).expect("all nodes stored");
        assert_eq!(at, expected, "root_at({size})");
        let needed = root_nodes(size as u64);
        let only = root_at(size as u64, |id| needed.contains(&id).then(|| nodes[&id]))
            .expect("root_nodes lists every node root_at needs");
        assert_eq!(only, expected);
    }
}

#[test]
fn the_frontier_is_restored_from_the_hashes_of_its_ids_for_every_size_up_to_64() {
    let d = data(MAX);
    let (nodes, _) = node_map(&d);
    let mut f = Frontier::new();
    for size in 0..=MAX {
        let hashes = Frontier::ids(size as u64)
            .into_iter()
            .map(|id| nodes[&id])
            .collect();
        let restored = Frontier::from_parts(size as u64, hashes).expect("right count");
        assert_eq!(restored, f, "size {size}");
        assert_eq!(restored.root(), f.root());
        if let Some(next) = d.get(size) {
            f.push(leaf_hash(next), |_, _| {});
        }
    }
}

#[test]
fn every_inclusion_proof_up_to_size_64_equals_the_rfc_6962_path_and_verifies() {
    let d = data(MAX);
    let (nodes, _) = node_map(&d);
    for size in 1..=MAX {
        let root = rfc6962::mth(&d[..size]);
        for index in 0..size {
            let expected = rfc6962::path(index, &d[..size]);
            let (i, s) = (index as u64, size as u64);
            let proof = inclusion_proof(i, s, |id| nodes.get(&id).copied()).expect("stored");
            assert_eq!(proof, expected, "PATH({index}, D[{size}])");
            assert_eq!(inclusion_proof_len(i, s), expected.len());
            let needed = inclusion_nodes(i, s).expect("in range");
            let only = inclusion_proof(i, s, |id| needed.contains(&id).then(|| nodes[&id]))
                .expect("inclusion_nodes lists every node the proof needs");
            assert_eq!(only, expected);
            verify_inclusion(&leaf_hash(&d[index]), i, s, &proof, &root)
                .unwrap_or_else(|e| panic!("PATH({index}, D[{size}]) does not verify: {e}"));
        }
    }
}

#[test]
fn every_consistency_proof_up_to_size_64_equals_the_rfc_6962_proof_and_verifies() {
    let d = data(MAX);
    let (nodes, _) = node_map(&d);
    for new in 1..=MAX {
        let new_root = rfc6962::mth(&d[..new]);
        for old in 1..=new {
            let old_root = rfc6962::mth(&d[..old]);
            let expected = rfc6962::proof(old, &d[..new]);
            let (o, n) = (old as u64, new as u64);
            let proof = consistency_proof(o, n, |id| nodes.get(&id).copied()).expect("stored");
            assert_eq!(proof, expected, "PROOF({old}, D[{new}])");
            assert_eq!(consistency_proof_len(o, n), expected.len());
            let needed = consistency_nodes(o, n).expect("ordered");
            let only = consistency_proof(o, n, |id| needed.contains(&id).then(|| nodes[&id]))
                .expect("consistency_nodes lists every node the proof needs");
            assert_eq!(only, expected);
            verify_consistency(o, n, &old_root, &new_root, &proof)
                .unwrap_or_else(|e| panic!("PROOF({old}, D[{new}]) does not verify: {e}"));
        }
        verify_consistency(0, new as u64, &EMPTY_ROOT, &new_root, &[])
            .expect("the empty tree is consistent with every tree");
    }
}

#[test]
fn flipping_any_byte_of_an_inclusion_proof_the_leaf_or_the_root_fails_verification() {
    let d = data(21);
    let (nodes, _) = node_map(&d);
    for size in 1..=d.len() {
        let root = rfc6962::mth(&d[..size]);
        for (index, datum) in d[..size].iter().enumerate() {
            let (i, s) = (index as u64, size as u64);
            let leaf = leaf_hash(datum);
            let proof = inclusion_proof(i, s, |id| nodes.get(&id).copied()).expect("stored");
            for line in 0..proof.len() {
                for byte in 0..32 {
                    let mut bad = proof.clone();
                    bad[line][byte] ^= 0x01;
                    assert!(
                        matches!(
                            verify_inclusion(&leaf, i, s, &bad, &root),
                            Err(ProofError::RootMismatch { .. })
                        ),
                        "size {size} index {index} proof hash {line} byte {byte}"
                    );
                }
            }
            for byte in 0..32 {
                let mut bad_leaf = leaf;
                bad_leaf[byte] ^= 0x80;
                assert!(verify_inclusion(&bad_leaf, i, s, &proof, &root).is_err());
                let mut bad_root = root;
                bad_root[byte] ^= 0x80;
                assert!(verify_inclusion(&leaf, i, s, &proof, &bad_root).is_err());
            }
            if size > 1 {
                let other = (index + 1) % size;
                assert!(
                    verify_inclusion(&leaf, other as u64, s, &proof, &root).is_err(),
                    "size {size}: the proof of {index} also proves {other}"
                );
            }
        }
    }
}

#[test]
fn flipping_any_byte_of_a_consistency_proof_or_either_root_fails_verification() {
    let d = data(21);
    let (nodes, _) = node_map(&d);
    for new in 1..=d.len() {
        let new_root = rfc6962::mth(&d[..new]);
        for old in 1..=new {
            let old_root = rfc6962::mth(&d[..old]);
            let (o, n) = (old as u64, new as u64);
            let proof = consistency_proof(o, n, |id| nodes.get(&id).copied()).expect("stored");
            for line in 0..proof.len() {
                for byte in 0..32 {
                    let mut bad = proof.clone();
                    bad[line][byte] ^= 0x01;
                    assert!(
                        verify_consistency(o, n, &old_root, &new_root, &bad).is_err(),
                        "old {old} new {new} proof hash {line} byte {byte}"
                    );
                }
            }
            for byte in 0..32 {
                let mut bad_old = old_root;
                bad_old[byte] ^= 0x80;
                assert!(verify_consistency(o, n, &bad_old, &new_root, &proof).is_err());
                let mut bad_new = new_root;
                bad_new[byte] ^= 0x80;
                assert!(verify_consistency(o, n, &old_root, &bad_new, &proof).is_err());
            }
        }
    }
}

#[test]
fn proofs_one_hash_too_long_or_too_short_are_refused_by_length() {
    let d = data(13);
    let (nodes, _) = node_map(&d);
    let root = rfc6962::mth(&d);
    let proof = inclusion_proof(5, 13, |id| nodes.get(&id).copied()).expect("stored");
    let mut long = proof.clone();
    long.push(root);
    assert_eq!(
        verify_inclusion(&leaf_hash(&d[5]), 5, 13, &long, &root),
        Err(ProofError::WrongLength {
            expected: proof.len(),
            got: proof.len() + 1
        })
    );
    assert_eq!(
        verify_inclusion(&leaf_hash(&d[5]), 5, 13, &proof[1..], &root),
        Err(ProofError::WrongLength {
            expected: proof.len(),
            got: proof.len() - 1
        })
    );
    assert_eq!(
        verify_inclusion(&leaf_hash(&d[5]), 13, 13, &proof, &root),
        Err(ProofError::IndexOutOfRange {
            index: 13,
            size: 13
        })
    );
    let old_root = rfc6962::mth(&d[..6]);
    let c = consistency_proof(6, 13, |id| nodes.get(&id).copied()).expect("stored");
    assert!(matches!(
        verify_consistency(6, 13, &old_root, &root, &c[1..]),
        Err(ProofError::WrongLength { .. })
    ));
    assert!(matches!(
        verify_consistency(13, 13, &root, &root, &c),
        Err(ProofError::WrongLength { expected: 0, .. })
    ));
}

#[test]
fn equal_sizes_need_equal_roots_and_size_zero_needs_the_empty_root() {
    let d = data(3);
    let a = rfc6962::mth(&d);
    let b = rfc6962::mth(&d[..2]);
    assert_eq!(verify_consistency(3, 3, &a, &a, &[]), Ok(()));
    assert!(matches!(
        verify_consistency(3, 3, &a, &b, &[]),
        Err(ProofError::SameSizeDifferentRoots { size: 3, .. })
    ));
    assert!(matches!(
        verify_consistency(0, 3, &b, &a, &[]),
        Err(ProofError::OldRootMismatch { .. })
    ));
    assert_eq!(
        verify_consistency(0, 3, &EMPTY_ROOT, &a, &[b]),
        Err(ProofError::WrongLength {
            expected: 0,
            got: 1
        })
    );
}
