//! Signed notes and cosignatures: the C2SP and Go test vectors, cosign/verify
//! round trips, the rules for unknown and bad signatures, and tampering with
//! any byte of a signed checkpoint.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use buendel_tlog::{
    key_id, Checkpoint, KeyKind, Note, NoteError, Signer, Verified, Verifier, EMPTY_ROOT,
};

const FOO_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
const FOO_NOTE: &str = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

const PETER_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const PETER_TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG_LINE: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

const LOG: &str = "example.com/log";
const WITNESS: &str = "witness.example/w1";

fn log_signer() -> Signer {
    Signer::from_seed(LOG, KeyKind::Note, [1u8; 32]).expect("valid name")
}

fn witness_signer() -> Signer {
    Signer::from_seed(WITNESS, KeyKind::Cosignature, [2u8; 32]).expect("valid name")
}

fn checkpoint_text() -> String {
    Checkpoint {
        origin: LOG.to_owned(),
        size: 7,
        root: [0x5au8; 32],
        extensions: vec![],
    }
    .to_text()
}

/// A checkpoint signed by the log and cosigned by the witness at time 1700000000.
fn cosigned_checkpoint() -> String {
    let text = checkpoint_text();
    let signed = log_signer().sign_note(&text).expect("note key");
    signed
        + &witness_signer()
            .cosign(&text, 1_700_000_000)
            .expect("cosignature key")
}

#[test]
fn the_signed_note_spec_example_verifies_with_its_vkey() {
    let verifier = Verifier::parse(FOO_VKEY).expect("spec vkey");
    assert_eq!(verifier.vkey(), FOO_VKEY);
    assert_eq!(verifier.name(), "example.com/foo");
    assert_eq!(verifier.key_id(), 0x530d903a);
    assert_eq!(verifier.kind(), KeyKind::Note);
    let note = Note::parse(FOO_NOTE).expect("spec note");
    assert_eq!(note.text, "This is an example message.\n");
    assert_eq!(note.to_text(), FOO_NOTE);
    assert_eq!(
        note.verify(&[verifier]),
        Ok(vec![Verified {
            name: "example.com/foo".to_owned(),
            key_id: 0x530d903a,
            timestamp: None
        }])
    );
}

#[test]
fn the_key_id_of_the_spec_example_is_computed_from_its_name_and_key() {
    let material = STANDARD
        .decode("AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k")
        .expect("base64");
    assert_eq!(material[0], 0x01);
    let key: [u8; 32] = material[1..].try_into().expect("32 bytes");
    assert_eq!(key_id("example.com/foo", KeyKind::Note, &key), 0x530d903a);
    assert_ne!(
        key_id("example.com/foo", KeyKind::Cosignature, &key),
        0x530d903a
    );
}

#[test]
fn the_spec_example_note_fails_when_its_text_is_changed() {
    let verifier = Verifier::parse(FOO_VKEY).expect("spec vkey");
    let tampered = FOO_NOTE.replace("example message", "example massage");
    let note = Note::parse(&tampered).expect("still well-formed");
    assert!(matches!(
        note.verify(&[verifier]),
        Err(NoteError::BadSignature { line: 3, ref name, key_id: 0x530d903a, .. }) if name == "example.com/foo"
    ));
}

#[test]
fn go_private_key_text_gives_the_go_verifier_key_and_signature() {
    let signer = Signer::from_private_text(PETER_SKEY).expect("Go test key");
    assert_eq!(signer.name(), "PeterNeumann");
    assert_eq!(signer.key_id(), 0xc74f20a3);
    assert_eq!(signer.private_text(), PETER_SKEY);
    assert_eq!(signer.verifier().vkey(), PETER_VKEY);
    let signed = signer.sign_note(PETER_TEXT).expect("note key");
    assert_eq!(signed, format!("{PETER_TEXT}\n{PETER_SIG_LINE}"));
    let verifier = Verifier::parse(PETER_VKEY).expect("Go test vkey");
    let note = Note::parse(&signed).expect("well-formed");
    assert_eq!(note.verify(&[verifier]).map(|v| v.len()), Ok(1));
}

#[test]
fn the_quasimodo_and_sofa_examples_parse_and_round_trip_but_verify_with_no_key() {
    let quasimodo = "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned \u{e8} subito sera.\n\n\u{2014} quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n";
    let note = Note::parse(quasimodo).expect("spec example");
    assert!(note.text.ends_with("subito sera.\n"));
    assert!(
        note.text.contains("\n\n"),
        "the text keeps its own empty line"
    );
    assert_eq!(note.to_text(), quasimodo);
    let foo = Verifier::parse(FOO_VKEY).expect("spec vkey");
    assert_eq!(note.verify(&[foo]), Err(NoteError::NoKnownSignature));

    let sofa = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n\u{2014} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";
    let note = Note::parse(sofa).expect("spec example");
    assert_eq!(note.to_text(), sofa);
    let checkpoint = Checkpoint::parse(&note.text).expect("spec checkpoint");
    assert_eq!(checkpoint.size, 20852163);
    // The cosignature's first eight bytes after the key ID are the timestamp
    // of the spec's example message, "time 1679315147".
    let cosig = &note.signatures[1].bytes;
    assert_eq!(cosig.len(), 8 + 64);
    let ts = u64::from_be_bytes(cosig[..8].try_into().expect("8 bytes"));
    assert_eq!(ts, 1679315147);
}

#[test]
fn a_cosignature_verifies_and_reports_its_timestamp() {
    let note = Note::parse(&cosigned_checkpoint()).expect("well-formed");
    let verified = note
        .verify(&[log_signer().verifier(), witness_signer().verifier()])
        .expect("both verify");
    assert_eq!(
        verified,
        vec![
            Verified {
                name: LOG.to_owned(),
                key_id: log_signer().key_id(),
                timestamp: None
            },
            Verified {
                name: WITNESS.to_owned(),
                key_id: witness_signer().key_id(),
                timestamp: Some(1_700_000_000)
            },
        ]
    );
    let only_witness = note
        .verify(&[witness_signer().verifier()])
        .expect("witness");
    assert_eq!(only_witness[0].timestamp, Some(1_700_000_000));
}

#[test]
fn a_note_key_cannot_cosign_and_a_cosignature_key_cannot_sign_notes() {
    let text = checkpoint_text();
    assert!(matches!(
        log_signer().cosign(&text, 1),
        Err(NoteError::WrongKeyKind {
            kind: KeyKind::Note,
            ..
        })
    ));
    assert!(matches!(
        witness_signer().sign_note(&text),
        Err(NoteError::WrongKeyKind {
            kind: KeyKind::Cosignature,
            ..
        })
    ));
}

#[test]
fn a_cosignature_made_with_the_same_key_as_a_note_key_does_not_verify_as_one() {
    // The witness's seed used as a note key: a different key ID, and a 72-byte
    // cosignature under that ID is not a 64-byte note signature.
    let text = checkpoint_text();
    let cosigner = witness_signer();
    let note_key = Signer::from_seed(WITNESS, KeyKind::Note, [2u8; 32]).expect("valid");
    assert_ne!(note_key.key_id(), cosigner.key_id());
    let line = cosigner.cosign(&text, 5).expect("cosignature key");
    let b64 = line.trim_end().rsplit(' ').next().expect("has a signature");
    let mut bytes = STANDARD.decode(b64).expect("base64");
    bytes[..4].copy_from_slice(&note_key.key_id().to_be_bytes());
    let forged = format!(
        "{}\u{2014} {WITNESS} {}\n",
        log_signer().sign_note(&text).expect("note key"),
        STANDARD.encode(&bytes)
    );
    let note = Note::parse(&forged).expect("well-formed");
    let err = note
        .verify(&[log_signer().verifier(), note_key.verifier()])
        .expect_err("a cosignature is not a note signature");
    assert!(
        matches!(err, NoteError::BadSignature { line: 6, ref name, .. } if name == WITNESS),
        "{err}"
    );
}

#[test]
fn a_cosignature_with_a_changed_timestamp_fails_naming_the_witness() {
    let text = checkpoint_text();
    let line = witness_signer()
        .cosign(&text, 1_700_000_000)
        .expect("cosign");
    let b64 = line.trim_end().rsplit(' ').next().expect("has a signature");
    let mut bytes = STANDARD.decode(b64).expect("base64");
    bytes[4..12].copy_from_slice(&1_700_000_001u64.to_be_bytes());
    let note = format!(
        "{}\u{2014} {WITNESS} {}\n",
        log_signer().sign_note(&text).expect("note key"),
        STANDARD.encode(&bytes)
    );
    let err = Note::parse(&note)
        .expect("well-formed")
        .verify(&[log_signer().verifier(), witness_signer().verifier()])
        .expect_err("timestamp is signed");
    assert!(
        matches!(err, NoteError::BadSignature { ref name, ref reason, .. } if name == WITNESS && reason.contains("1700000001")),
        "{err}"
    );
    assert!(err.to_string().contains("line 6"), "{err}");
}

#[test]
fn a_cosignature_from_an_unknown_key_is_ignored_and_the_log_key_suffices() {
    let note = Note::parse(&cosigned_checkpoint()).expect("well-formed");
    let verified = note.verify(&[log_signer().verifier()]).expect("log key");
    assert_eq!(verified.len(), 1);
    assert_eq!(verified[0].name, LOG);
    // Same name as the witness but another key: still unknown, still ignored.
    let impostor = Signer::from_seed(WITNESS, KeyKind::Cosignature, [3u8; 32]).expect("valid");
    let verified = note
        .verify(&[log_signer().verifier(), impostor.verifier()])
        .expect("log key");
    assert_eq!(verified.len(), 1);
}

#[test]
fn a_known_key_with_a_bad_signature_fails_the_whole_note() {
    let mut note = Note::parse(&cosigned_checkpoint()).expect("well-formed");
    note.signatures[1].bytes[20] ^= 0x01;
    let err = note
        .verify(&[log_signer().verifier(), witness_signer().verifier()])
        .expect_err("the witness's signature is bad");
    assert!(
        matches!(err, NoteError::BadSignature { line: 6, ref name, .. } if name == WITNESS),
        "{err}"
    );
}

#[test]
fn a_second_signature_by_the_same_known_key_is_refused() {
    let text = checkpoint_text();
    let w = witness_signer();
    let note = log_signer().sign_note(&text).expect("note key")
        + &w.cosign(&text, 1).expect("cosign")
        + &w.cosign(&text, 2).expect("cosign");
    let err = Note::parse(&note)
        .expect("well-formed")
        .verify(&[log_signer().verifier(), w.verifier()])
        .expect_err("duplicate");
    assert!(
        matches!(
            err,
            NoteError::DuplicateSignature {
                line: 7,
                first_line: 6,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn flipping_any_signature_byte_fails_naming_the_signer_and_any_key_id_byte_drops_it() {
    let keys = [log_signer().verifier(), witness_signer().verifier()];
    let note = Note::parse(&cosigned_checkpoint()).expect("well-formed");
    for (s, sig) in note.signatures.iter().enumerate() {
        for byte in 0..sig.bytes.len() {
            let mut bad = note.clone();
            bad.signatures[s].bytes[byte] ^= 0x01;
            let err = bad.verify(&keys).expect_err("flipped signature byte");
            assert!(
                matches!(err, NoteError::BadSignature { line, ref name, .. } if line == 5 + s && *name == sig.name),
                "signature {s} byte {byte}: {err}"
            );
        }
        for bit in 0..32 {
            let mut bad = note.clone();
            bad.signatures[s].key_id ^= 1 << bit;
            let verified = bad.verify(&keys).expect("the other signature verifies");
            assert!(
                verified.iter().all(|v| v.name != sig.name),
                "signature {s} key ID bit {bit} still counted"
            );
        }
    }
}

#[test]
fn flipping_any_byte_of_a_signed_checkpoint_fails_verification_naming_the_line_or_signature() {
    let text = checkpoint_text();
    let signed = log_signer().sign_note(&text).expect("note key");
    let keys = [log_signer().verifier()];
    for at in 0..signed.len() {
        for mask in [0x01u8, 0x20, 0x80] {
            let mut bytes = signed.clone().into_bytes();
            bytes[at] ^= mask;
            let Ok(flipped) = String::from_utf8(bytes) else {
                continue; // not even UTF-8: no &str to verify
            };
            // The line the (possibly re-split) signature is on in the flipped note.
            let sig_line = flipped[..flipped.rfind("\n\n").map_or(0, |i| i + 1)]
                .matches('\n')
                .count()
                + 2;
            let result = Note::parse(&flipped).and_then(|n| n.verify(&keys));
            let err = match result {
                Ok(_) => panic!("byte {at} ^ {mask:#04x} still verifies"),
                Err(err) => err,
            };
            let named = match &err {
                NoteError::BadSignature { name, line, .. } => name == LOG && *line == sig_line,
                NoteError::ControlChar { .. }
                | NoteError::SignatureLine { .. }
                | NoteError::NoSeparator
                | NoteError::NoSignatures { .. }
                | NoteError::MissingFinalNewline { .. }
                | NoteError::NoKnownSignature => true,
                _ => false,
            };
            assert!(named, "byte {at} ^ {mask:#04x}: {err}");
            if at < text.len()
                && !matches!(err, NoteError::ControlChar { .. } | NoteError::NoSeparator)
            {
                assert!(
                    matches!(err, NoteError::BadSignature { .. }),
                    "text byte {at} ^ {mask:#04x}: {err}"
                );
            }
        }
    }
}

#[test]
fn vkeys_with_a_wrong_id_type_or_name_are_refused() {
    use buendel_tlog::KeyError;
    assert!(matches!(
        Verifier::parse("example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"),
        Err(KeyError::KeyIdMismatch { .. })
    ));
    assert!(matches!(
        Verifier::parse("example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"),
        Err(KeyError::KeyIdHex { .. })
    ));
    assert!(matches!(
        Verifier::parse("example.com/foo+530d903a+AukyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"),
        Err(KeyError::UnknownType { byte: 0x02, .. })
    ));
    assert!(matches!(
        Verifier::parse("+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"),
        Err(KeyError::InvalidName { .. })
    ));
    assert!(matches!(
        Verifier::parse(
            "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2kAA=="
        ),
        Err(KeyError::KeyLength { .. })
    ));
    let w = witness_signer().verifier();
    assert_eq!(Verifier::parse(&w.vkey()), Ok(w.clone()));
    assert_eq!(w.kind(), KeyKind::Cosignature);
}

#[test]
fn generated_keys_sign_and_verify() {
    let signer = Signer::generate("example.com/fresh", KeyKind::Note).expect("OS randomness");
    let text = format!("example.com/fresh\n0\n{}\n", STANDARD.encode(EMPTY_ROOT));
    let note = Note::parse(&signer.sign_note(&text).expect("note key")).expect("well-formed");
    assert_eq!(note.verify(&[signer.verifier()]).map(|v| v.len()), Ok(1));
    assert!(matches!(
        signer.sign_note("no final newline"),
        Err(NoteError::TextNotTerminated)
    ));
}
