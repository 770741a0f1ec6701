//! Property tests over trees of up to 10,000 leaves: generated inclusion and
//! consistency proofs verify, and the same proofs fail for a wrong index, a
//! wrong leaf or a wrong root. (A wrong size alone need not fail: a root does
//! not commit to the tree size, the signed checkpoint does.)

use std::collections::HashMap;
use std::sync::OnceLock;

use buendel_tlog::{
    consistency_proof, inclusion_proof, leaf_hash, root_at, verify_consistency, verify_inclusion,
    Frontier, Hash, NodeId,
};
use proptest::prelude::*;

const LEAVES: u64 = 10_000;

/// Every perfect node of the 10,000-leaf tree, and its root at every size.
struct Tree {
    nodes: HashMap<NodeId, Hash>,
    roots: Vec<Hash>,
}

fn tree() -> &'static Tree {
    static TREE: OnceLock<Tree> = OnceLock::new();
    TREE.get_or_init(|| {
        let mut nodes = HashMap::new();
        let mut f = Frontier::new();
        let mut roots = vec![f.root()];
        for i in 0..LEAVES {
            f.push(leaf_hash(&i.to_be_bytes()), |id, h| {
                nodes.insert(id, h);
            });
            roots.push(f.root());
        }
        Tree { nodes, roots }
    })
}

fn lookup(id: NodeId) -> Option<Hash> {
    tree().nodes.get(&id).copied()
}

proptest! {
    #[test]
    fn generated_inclusion_proofs_verify_and_fail_for_another_index(
        size in 1..=LEAVES,
        index_seed in any::<u64>(),
        other_seed in any::<u64>(),
    ) {
        let index = index_seed % size;
        let root = tree().roots[size as usize];
        prop_assert_eq!(root_at(size, lookup), Ok(root));
        let proof = inclusion_proof(index, size, lookup).expect("all nodes stored");
        let leaf = leaf_hash(&index.to_be_bytes());
        prop_assert_eq!(verify_inclusion(&leaf, index, size, &proof, &root), Ok(()));
        let other = other_seed % size;
        if other != index {
            prop_assert!(verify_inclusion(&leaf, other, size, &proof, &root).is_err());
            let other_leaf = leaf_hash(&other.to_be_bytes());
            prop_assert!(verify_inclusion(&other_leaf, index, size, &proof, &root).is_err());
        }
    }

    #[test]
    fn generated_consistency_proofs_verify_for_every_old_size_up_to_the_new(
        new in 1..=LEAVES,
        old_seed in any::<u64>(),
    ) {
        let old = old_seed % (new + 1);
        let roots = &tree().roots;
        let (old_root, new_root) = (roots[old as usize], roots[new as usize]);
        let proof = consistency_proof(old, new, lookup).expect("all nodes stored");
        prop_assert_eq!(verify_consistency(old, new, &old_root, &new_root, &proof), Ok(()));
        if old > 0 && old < new {
            let wrong_old = roots[(old - 1) as usize];
            prop_assert!(verify_consistency(old, new, &wrong_old, &new_root, &proof).is_err());
            let wrong_new = roots[(new - 1) as usize];
            prop_assert!(verify_consistency(old, new, &old_root, &wrong_new, &proof).is_err());
        }
    }
}
