//! tlog-proof inclusion bundles and tlog-witness add-checkpoint bodies: text
//! round trips, the full offline verification against pinned keys, the
//! refusal of over-long proofs, and tampering with any byte of a bundle.

use std::collections::HashMap;

use buendel_tlog::{
    consistency_proof, consistency_proof_len, inclusion_proof, leaf_hash, verify_consistency,
    verify_inclusion_bundle, BundleError, Checkpoint, ConsistencyBundle, Frontier, Hash,
    InclusionBundle, KeyKind, NodeId, Note, NoteError, ProofError, Signer, Verifier,
};

const LOG: &str = "example.com/ledger";

fn log() -> Signer {
    Signer::from_seed(LOG, KeyKind::Note, [11u8; 32]).expect("valid name")
}

fn witnesses() -> Vec<Signer> {
    ["w1.example", "w2.example"]
        .iter()
        .zip([12u8, 13])
        .map(|(name, seed)| {
            Signer::from_seed(name, KeyKind::Cosignature, [seed; 32]).expect("valid")
        })
        .collect()
}

fn witness_keys() -> Vec<Verifier> {
    witnesses().iter().map(Signer::verifier).collect()
}

fn entry(i: u64) -> Vec<u8> {
    format!("grant {i}").into_bytes()
}

/// A log of `size` entries: its node map and its checkpoint, signed by the log
/// and cosigned by both witnesses.
fn log_at(size: u64) -> (HashMap<NodeId, Hash>, String) {
    let mut nodes = HashMap::new();
    let mut f = Frontier::new();
    for i in 0..size {
        f.push(leaf_hash(&entry(i)), |id, h| {
            nodes.insert(id, h);
        });
    }
    let text = Checkpoint {
        origin: LOG.to_owned(),
        size,
        root: f.root(),
        extensions: vec![],
    }
    .to_text();
    let mut note = log().sign_note(&text).expect("note key");
    for (i, w) in witnesses().iter().enumerate() {
        note.push_str(&w.cosign(&text, 1_700_000_000 + i as u64).expect("cosign"));
    }
    (nodes, note)
}

fn bundle(index: u64, size: u64) -> InclusionBundle {
    let (nodes, checkpoint) = log_at(size);
    InclusionBundle {
        extra: None,
        index,
        proof: inclusion_proof(index, size, |id| nodes.get(&id).copied()).expect("stored"),
        checkpoint,
    }
}

#[test]
fn an_inclusion_bundle_round_trips_and_verifies_against_the_pinned_keys() {
    let b = bundle(3, 5);
    let text = b.to_text();
    assert!(
        text.starts_with("c2sp.org/tlog-proof@v1\nindex 3\n"),
        "{text}"
    );
    let parsed = InclusionBundle::parse(&text).expect("well-formed");
    assert_eq!(parsed, b);
    let (checkpoint, verified) =
        verify_inclusion_bundle(&parsed, &entry(3), &log().verifier(), &witness_keys(), 2)
            .expect("verifies");
    assert_eq!(checkpoint.size, 5);
    assert_eq!(
        verified.iter().map(|v| v.timestamp).collect::<Vec<_>>(),
        vec![None, Some(1_700_000_000), Some(1_700_000_001)]
    );
}

#[test]
fn extra_data_round_trips_and_is_not_authenticated() {
    let mut b = bundle(0, 1);
    assert!(b.proof.is_empty());
    b.extra = Some(b"age-v1.2.1".to_vec());
    let parsed = InclusionBundle::parse(&b.to_text()).expect("well-formed");
    assert_eq!(parsed, b);
    b.extra = Some(b"anything else".to_vec());
    assert!(verify_inclusion_bundle(&b, &entry(0), &log().verifier(), &witness_keys(), 2).is_ok());
}

#[test]
fn flipping_any_byte_of_an_inclusion_bundle_makes_verification_fail() {
    let text = bundle(2, 3).to_text();
    let (log_key, keys) = (log().verifier(), witness_keys());
    let mut checked = 0;
    for at in 0..text.len() {
        for mask in [0x01u8, 0x02, 0x20, 0x80] {
            let mut bytes = text.clone().into_bytes();
            bytes[at] ^= mask;
            let Ok(flipped) = String::from_utf8(bytes) else {
                continue; // not even UTF-8: no &str to parse
            };
            checked += 1;
            let result = InclusionBundle::parse(&flipped)
                .and_then(|b| verify_inclusion_bundle(&b, &entry(2), &log_key, &keys, 2));
            assert!(
                result.is_err(),
                "byte {at} ({:?}) ^ {mask:#04x} still verifies",
                text.as_bytes()[at] as char
            );
        }
    }
    assert!(checked > 2 * text.len(), "only {checked} flips were UTF-8");
}

#[test]
fn the_wrong_leaf_index_or_keys_are_refused_with_the_reason() {
    let b = bundle(3, 5);
    let (log_key, keys) = (log().verifier(), witness_keys());
    assert!(matches!(
        verify_inclusion_bundle(&b, &entry(4), &log_key, &keys, 2),
        Err(BundleError::Proof(ProofError::RootMismatch { .. }))
    ));
    let other_log = Signer::from_seed("example.com/other", KeyKind::Note, [11u8; 32])
        .expect("valid")
        .verifier();
    assert!(matches!(
        verify_inclusion_bundle(&b, &entry(3), &other_log, &keys, 2),
        Err(BundleError::OriginMismatch { .. })
    ));
    let impostor = Signer::from_seed(LOG, KeyKind::Note, [99u8; 32])
        .expect("valid")
        .verifier();
    assert!(matches!(
        verify_inclusion_bundle(&b, &entry(3), &impostor, &keys, 2),
        Err(BundleError::LogNotVerified { .. })
    ));
    assert!(matches!(
        verify_inclusion_bundle(&b, &entry(3), &impostor, &[], 0),
        Err(BundleError::Note(NoteError::NoKnownSignature))
    ));
    assert!(matches!(
        verify_inclusion_bundle(&b, &entry(3), &keys[0], &keys, 2),
        Err(BundleError::LogKeyKind { .. })
    ));
    assert!(matches!(
        verify_inclusion_bundle(&b, &entry(3), &log_key, std::slice::from_ref(&log_key), 0),
        Err(BundleError::WitnessKeyKind { .. })
    ));
    let third = Signer::from_seed("w3.example", KeyKind::Cosignature, [14u8; 32])
        .expect("valid")
        .verifier();
    let err = verify_inclusion_bundle(&b, &entry(3), &log_key, &[keys[0].clone(), third], 2)
        .expect_err("only one of the pinned witnesses cosigned");
    assert_eq!(err, BundleError::TooFewWitnesses { got: 1, need: 2 });
    assert_eq!(
        err.to_string(),
        "1 of the pinned witnesses cosigned the checkpoint, but 2 are required"
    );
}

#[test]
fn inclusion_bundles_with_a_wrong_proof_length_or_index_are_refused_at_parse() {
    let mut b = bundle(3, 5);
    b.proof.push([0u8; 32]);
    assert!(matches!(
        InclusionBundle::parse(&b.to_text()),
        Err(BundleError::ProofLength {
            first_line: 3,
            expected: 3,
            got: 4
        })
    ));
    let mut b = bundle(3, 5);
    b.index = 5;
    assert!(matches!(
        InclusionBundle::parse(&b.to_text()),
        Err(BundleError::Proof(ProofError::IndexOutOfRange {
            index: 5,
            size: 5
        }))
    ));
    let text = bundle(3, 5).to_text().replace("index 3", "index 03");
    assert!(matches!(
        InclusionBundle::parse(&text),
        Err(BundleError::Line { line: 2, .. })
    ));
}

#[test]
fn a_consistency_bundle_round_trips_and_its_proof_verifies() {
    let (nodes, checkpoint) = log_at(13);
    let proof = consistency_proof(6, 13, |id| nodes.get(&id).copied()).expect("stored");
    let b = ConsistencyBundle {
        old_size: 6,
        proof,
        checkpoint,
    };
    let text = b.to_text();
    assert!(text.starts_with("old 6\n"));
    let parsed = ConsistencyBundle::parse(&text).expect("well-formed");
    assert_eq!(parsed, b);
    let note = Note::parse(&parsed.checkpoint).expect("note");
    let new = Checkpoint::parse(&note.text).expect("checkpoint");
    let (_, old_note) = log_at(6);
    let old = Checkpoint::parse(&Note::parse(&old_note).expect("note").text).expect("checkpoint");
    assert_eq!(
        verify_consistency(6, 13, &old.root, &new.root, &parsed.proof),
        Ok(())
    );

    let empty = ConsistencyBundle {
        old_size: 0,
        proof: vec![],
        checkpoint: b.checkpoint.clone(),
    };
    assert_eq!(ConsistencyBundle::parse(&empty.to_text()), Ok(empty));
}

#[test]
fn sixty_four_consistency_proof_lines_are_refused_at_parse() {
    let (_, checkpoint) = log_at(3);
    let b = ConsistencyBundle {
        old_size: 1,
        proof: vec![[7u8; 32]; 64],
        checkpoint,
    };
    assert_eq!(
        ConsistencyBundle::parse(&b.to_text()),
        Err(BundleError::TooManyProofLines { line: 65, max: 63 })
    );
    let b = ConsistencyBundle {
        proof: vec![[7u8; 32]; 63],
        ..b
    };
    assert_eq!(
        ConsistencyBundle::parse(&b.to_text()),
        Err(BundleError::ProofLength {
            first_line: 2,
            expected: consistency_proof_len(1, 3),
            got: 63
        })
    );
}

#[test]
fn an_old_size_beyond_the_checkpoint_or_with_a_leading_zero_is_refused() {
    let (_, checkpoint) = log_at(3);
    let b = ConsistencyBundle {
        old_size: 4,
        proof: vec![],
        checkpoint: checkpoint.clone(),
    };
    assert_eq!(
        ConsistencyBundle::parse(&b.to_text()),
        Err(BundleError::Proof(ProofError::SizeOrder { old: 4, new: 3 }))
    );
    let text = format!("old 01\n\n{checkpoint}");
    assert!(matches!(
        ConsistencyBundle::parse(&text),
        Err(BundleError::Line { line: 1, .. })
    ));
    let text = format!("old 0\n{checkpoint}");
    assert!(ConsistencyBundle::parse(&text).is_err());
}

#[test]
fn the_tlog_witness_example_body_is_refused_because_its_illustrative_proof_is_too_short() {
    // The spec's example carries four proof lines, but a consistency proof
    // from 20852014 to 20852163 leaves has 18 hashes (RFC 6962 SUBPROOF).
    let body = "old 20852014\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\njrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n\u{2014} example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n";
    assert_eq!(consistency_proof_len(20852014, 20852163), 18);
    assert_eq!(
        ConsistencyBundle::parse(body),
        Err(BundleError::ProofLength {
            first_line: 2,
            expected: 18,
            got: 4
        })
    );
}
