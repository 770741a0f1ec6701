//! C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys: signers and
//! verifiers in the vkey / Go `PRIVATE+KEY` text forms, strict note parsing,
//! and verification of both plain note signatures (type 0x01) and timestamped
//! tlog-cosignature/v1 cosignatures (type 0x04).

use std::fmt;

use ed25519_dalek::Signer as _;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::text::{b64_decode, b64_encode, find_control};

/// The most signatures a note may carry; the spec requires at least 16.
pub const MAX_SIGNATURES: usize = 100;
/// The largest note accepted, in bytes.
pub const MAX_NOTE_BYTES: usize = 1 << 20;
/// Cosignature timestamps must not exceed 2^63 - 1 (tlog-cosignature).
const MAX_TIMESTAMP: u64 = i64::MAX as u64;
/// Every signature line starts with an em dash and a space.
const SIG_PREFIX: &str = "\u{2014} ";
/// Go's private key text starts with this.
const PRIVATE_PREFIX: &str = "PRIVATE+KEY+";

/// Which signature type a key makes, since the same Ed25519 key signs a
/// different message (and has a different key ID) under each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// 0x01: plain Ed25519 note signatures, as a log signs its checkpoints.
    Note,
    /// 0x04: timestamped Ed25519 checkpoint cosignatures (tlog-cosignature v1), as witnesses make.
    Cosignature,
}

impl KeyKind {
    /// The signature type byte of the signed-note spec.
    pub fn type_byte(self) -> u8 {
        match self {
            KeyKind::Note => 0x01,
            KeyKind::Cosignature => 0x04,
        }
    }

    /// The kind for a signature type byte, if it is one this crate supports.
    pub fn from_type_byte(byte: u8) -> Option<Self> {
        match byte {
            0x01 => Some(KeyKind::Note),
            0x04 => Some(KeyKind::Cosignature),
            _ => None,
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyKind::Note => f.write_str("Ed25519 note key (type 0x01)"),
            KeyKind::Cosignature => f.write_str("Ed25519 cosignature/v1 key (type 0x04)"),
        }
    }
}

/// Why a key could not be made or read, naming the part of the key text.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// The key name breaks the signed-note name rules.
    #[error("key name {name:?} is invalid: {reason}")]
    InvalidName {
        /// The offending name.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// The key text does not have the `name+hex8+base64` shape.
    #[error("key text is malformed: {reason}")]
    Format {
        /// What is wrong with the shape.
        reason: String,
    },
    /// The key ID part is not 8 lowercase hex digits.
    #[error("key {name:?}: key ID {text:?} is not 8 lowercase hex digits")]
    KeyIdHex {
        /// The key name.
        name: String,
        /// The key ID text.
        text: String,
    },
    /// The key material part is not canonical base64.
    #[error("key {name:?}: key material is not valid base64 ({detail})")]
    Base64 {
        /// The key name.
        name: String,
        /// The decoder's complaint.
        detail: String,
    },
    /// The key material is not a type byte followed by 32 bytes.
    #[error("key {name:?}: key material is {got} bytes, expected 33 (type byte and 32-byte key)")]
    KeyLength {
        /// The key name.
        name: String,
        /// The decoded length.
        got: usize,
    },
    /// The type byte is not one this crate supports (0x01 or 0x04).
    #[error("key {name:?}: unsupported signature type byte 0x{byte:02x}")]
    UnknownType {
        /// The key name.
        name: String,
        /// The type byte.
        byte: u8,
    },
    /// The stated key ID is not the one computed from name, type and key.
    #[error("key {name:?}: stated key ID {stated:08x} but name, type and key give {computed:08x}")]
    KeyIdMismatch {
        /// The key name.
        name: String,
        /// The ID in the text.
        stated: u32,
        /// The ID computed.
        computed: u32,
    },
    /// The 32 bytes are not a valid Ed25519 public key.
    #[error("key {name:?}: the 32 bytes are not a valid Ed25519 public key")]
    InvalidPublicKey {
        /// The key name.
        name: String,
    },
    /// The operating system's random number generator failed.
    #[error("generating key {name:?}: no randomness from the operating system ({detail})")]
    Random {
        /// The key name.
        name: String,
        /// The OS error.
        detail: String,
    },
}

/// Why a note could not be parsed, signed or verified, naming the line
/// (counted from 1 over the whole note) or the signature.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NoteError {
    /// The note is larger than MAX_NOTE_BYTES.
    #[error("note is {len} bytes, more than the {max} accepted")]
    TooLarge {
        /// The note size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A control character other than newline.
    #[error("note line {line}: control character 0x{byte:02x} is not allowed")]
    ControlChar {
        /// The line it is on.
        line: usize,
        /// The byte.
        byte: u8,
    },
    /// The text to sign is empty or does not end in a newline.
    #[error("note text must be non-empty and end in a newline")]
    TextNotTerminated,
    /// There is no empty line separating the text from the signatures.
    #[error("note has no empty line separating the text from the signature lines")]
    NoSeparator,
    /// Nothing follows the separating empty line.
    #[error("note line {line}: no signature lines after the empty line")]
    NoSignatures {
        /// The line where the first signature should be.
        line: usize,
    },
    /// The last line does not end in a newline.
    #[error("note line {line}: the last line does not end in a newline")]
    MissingFinalNewline {
        /// The unterminated line.
        line: usize,
    },
    /// A signature line is malformed.
    #[error("note line {line}: malformed signature line: {reason}")]
    SignatureLine {
        /// The line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// More than MAX_SIGNATURES signature lines.
    #[error("note line {line}: more than {max} signatures")]
    TooManySignatures {
        /// The first line beyond the limit.
        line: usize,
        /// The limit.
        max: usize,
    },
    /// A signature from a known key does not verify: the whole note is rejected.
    #[error("note line {line}: signature by {name} (key ID {key_id:08x}) is invalid: {reason}")]
    BadSignature {
        /// The signature line.
        line: usize,
        /// The signer's name.
        name: String,
        /// The signer's key ID.
        key_id: u32,
        /// Why it fails.
        reason: String,
    },
    /// The same known key signed twice; which signature counts would be ambiguous.
    #[error("note line {line}: second signature by {name} (key ID {key_id:08x}), the first is on line {first_line}")]
    DuplicateSignature {
        /// The second signature's line.
        line: usize,
        /// The first signature's line.
        first_line: usize,
        /// The signer's name.
        name: String,
        /// The signer's key ID.
        key_id: u32,
    },
    /// No signature from a known key: the note must be rejected.
    #[error("note has no signature from a known key (signatures from unknown keys are ignored)")]
    NoKnownSignature,
    /// The key is of the wrong kind for the operation.
    #[error("key {name:?} is a {kind}, which cannot {operation}")]
    WrongKeyKind {
        /// The key name.
        name: String,
        /// The key's kind.
        kind: KeyKind,
        /// What was attempted.
        operation: &'static str,
    },
    /// A cosignature timestamp above 2^63 - 1.
    #[error("cosignature timestamp {timestamp} exceeds 2^63 - 1")]
    TimestampTooLarge {
        /// The timestamp.
        timestamp: u64,
    },
}

/// key ID = SHA-256(name || 0x0A || type || pubkey)[:4] big-endian, the short
/// identifier that pairs a signature line with the key that made it.
pub fn key_id(name: &str, kind: KeyKind, public_key: &[u8; 32]) -> u32 {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update([b'\n', kind.type_byte()])
        .chain_update(public_key)
        .finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Checks the signed-note key name rules: non-empty, no Unicode spaces, no '+'
/// (and, since names sit on note lines, no control characters).
fn check_name(name: &str) -> Result<(), KeyError> {
    let reason = if name.is_empty() {
        "it is empty"
    } else if name.contains('+') {
        "it contains '+'"
    } else if name.chars().any(char::is_whitespace) {
        "it contains a space"
    } else if name.chars().any(char::is_control) {
        "it contains a control character"
    } else {
        return Ok(());
    };
    Err(KeyError::InvalidName {
        name: name.to_owned(),
        reason,
    })
}

/// Splits "name+hex8+base64" and decodes it into (name, id, kind, 32 bytes).
fn parse_key_text(text: &str) -> Result<(&str, u32, KeyKind, [u8; 32]), KeyError> {
    let (name, rest) = text.split_once('+').ok_or_else(|| KeyError::Format {
        reason: "expected <name>+<hex8 key ID>+<base64 key>, found no '+'".to_owned(),
    })?;
    check_name(name)?;
    let (id_text, material) = rest.split_once('+').ok_or_else(|| KeyError::Format {
        reason: format!("key {name:?}: expected <name>+<hex8 key ID>+<base64 key>, found one '+'"),
    })?;
    let id_ok = id_text.len() == 8
        && id_text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let stated = u32::from_str_radix(id_text, 16)
        .ok()
        .filter(|_| id_ok)
        .ok_or_else(|| KeyError::KeyIdHex {
            name: name.to_owned(),
            text: id_text.to_owned(),
        })?;
    let mut bytes = b64_decode(material).map_err(|detail| KeyError::Base64 {
        name: name.to_owned(),
        detail,
    })?;
    let result = decode_key_material(name, &bytes);
    bytes.fill(0); // the material may be a private seed: best-effort wipe
    let (kind, key) = result?;
    Ok((name, stated, kind, key))
}

/// Type byte and 32 key bytes from decoded key material.
fn decode_key_material(name: &str, bytes: &[u8]) -> Result<(KeyKind, [u8; 32]), KeyError> {
    let Some((&byte, key)) = bytes.split_first() else {
        return Err(KeyError::KeyLength {
            name: name.to_owned(),
            got: 0,
        });
    };
    let key: [u8; 32] = key.try_into().map_err(|_| KeyError::KeyLength {
        name: name.to_owned(),
        got: bytes.len(),
    })?;
    let kind = KeyKind::from_type_byte(byte).ok_or_else(|| KeyError::UnknownType {
        name: name.to_owned(),
        byte,
    })?;
    Ok((kind, key))
}

/// The message an Ed25519 cosignature/v1 signs.
fn cosignature_message(text: &str, timestamp: u64) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{text}")
}

/// Checks text to be signed: non-empty, newline-terminated, no control
/// characters, within the size limit.
fn check_text(text: &str) -> Result<(), NoteError> {
    if text.is_empty() || !text.ends_with('\n') {
        return Err(NoteError::TextNotTerminated);
    }
    if text.len() > MAX_NOTE_BYTES {
        return Err(NoteError::TooLarge {
            len: text.len(),
            max: MAX_NOTE_BYTES,
        });
    }
    if let Some((line, byte)) = find_control(text) {
        return Err(NoteError::ControlChar { line, byte });
    }
    Ok(())
}

/// A private Ed25519 key with its name and kind: what a log or witness signs
/// with. The seed is wiped on drop (ed25519-dalek's zeroize) and never printed.
pub struct Signer {
    name: String,
    kind: KeyKind,
    key_id: u32,
    key: SigningKey,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A fresh key with a seed from the operating system's randomness.
    pub fn generate(name: &str, kind: KeyKind) -> Result<Self, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).map_err(|e| KeyError::Random {
            name: name.to_owned(),
            detail: e.to_string(),
        })?;
        let signer = Self::from_seed(name, kind, seed);
        seed.fill(0);
        signer
    }

    /// The key for a known 32-byte Ed25519 seed (tests, key files).
    pub fn from_seed(name: &str, kind: KeyKind, seed: [u8; 32]) -> Result<Self, KeyError> {
        check_name(name)?;
        let key = SigningKey::from_bytes(&seed);
        let key_id = key_id(name, kind, key.verifying_key().as_bytes());
        Ok(Self {
            name: name.to_owned(),
            kind,
            key_id,
            key,
        })
    }

    /// Go's golang.org/x/mod/sumdb/note private key form:
    /// "PRIVATE+KEY+<name>+<hex8 key id>+<base64(type byte || 32-byte seed)>"
    /// (whitespace trimmed); checks the key id matches.
    pub fn from_private_text(text: &str) -> Result<Self, KeyError> {
        let rest = text
            .trim()
            .strip_prefix(PRIVATE_PREFIX)
            .ok_or_else(|| KeyError::Format {
                reason: format!("private key text does not start with {PRIVATE_PREFIX:?}"),
            })?;
        let (name, stated, kind, mut seed) = parse_key_text(rest)?;
        let signer = Self::from_seed(name, kind, seed);
        seed.fill(0);
        let signer = signer?;
        if signer.key_id != stated {
            return Err(KeyError::KeyIdMismatch {
                name: name.to_owned(),
                stated,
                computed: signer.key_id,
            });
        }
        Ok(signer)
    }

    /// The private key text `from_private_text` reads: for key files. Secret!
    pub fn private_text(&self) -> String {
        let mut material = [0u8; 33];
        material[0] = self.kind.type_byte();
        material[1..].copy_from_slice(self.key.as_bytes());
        let text = format!(
            "{PRIVATE_PREFIX}{}+{:08x}+{}",
            self.name,
            self.key_id,
            b64_encode(&material)
        );
        material.fill(0);
        text
    }

    /// The key name that appears on signature lines.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID that appears in signatures.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Which kind of signatures this key makes.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The public half, to pin in clients and witnesses.
    pub fn verifier(&self) -> Verifier {
        Verifier {
            name: self.name.clone(),
            kind: self.kind,
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// Kind::Note only: the signed note text + "\n" + "— name base64(keyid||sig)\n".
    /// `text` must end with "\n" and be valid note text.
    pub fn sign_note(&self, text: &str) -> Result<String, NoteError> {
        if self.kind != KeyKind::Note {
            return Err(NoteError::WrongKeyKind {
                name: self.name.clone(),
                kind: self.kind,
                operation: "sign a note (only type 0x01 keys can)",
            });
        }
        check_text(text)?;
        let signature = self.key.sign(text.as_bytes());
        let mut bytes = Vec::with_capacity(4 + 64);
        bytes.extend_from_slice(&self.key_id.to_be_bytes());
        bytes.extend_from_slice(&signature.to_bytes());
        Ok(format!(
            "{text}\n{SIG_PREFIX}{} {}\n",
            self.name,
            b64_encode(&bytes)
        ))
    }

    /// Kind::Cosignature only: the cosignature/v1 signature LINE
    /// ("— name base64(keyid || u64 BE timestamp || sig)\n") over
    /// "cosignature/v1\ntime <ts>\n" + checkpoint body text, as a witness returns it.
    pub fn cosign(&self, checkpoint_text: &str, timestamp: u64) -> Result<String, NoteError> {
        if self.kind != KeyKind::Cosignature {
            return Err(NoteError::WrongKeyKind {
                name: self.name.clone(),
                kind: self.kind,
                operation: "cosign a checkpoint (only type 0x04 keys can)",
            });
        }
        if timestamp > MAX_TIMESTAMP {
            return Err(NoteError::TimestampTooLarge { timestamp });
        }
        check_text(checkpoint_text)?;
        let message = cosignature_message(checkpoint_text, timestamp);
        let signature = self.key.sign(message.as_bytes());
        let mut bytes = Vec::with_capacity(4 + 8 + 64);
        bytes.extend_from_slice(&self.key_id.to_be_bytes());
        bytes.extend_from_slice(&timestamp.to_be_bytes());
        bytes.extend_from_slice(&signature.to_bytes());
        Ok(format!(
            "{SIG_PREFIX}{} {}\n",
            self.name,
            b64_encode(&bytes)
        ))
    }
}

/// A public Ed25519 key with its name and kind: what a client pins to trust a
/// log's or a witness's signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    kind: KeyKind,
    key_id: u32,
    key: VerifyingKey,
}

impl Verifier {
    /// Reads the vkey form "<name>+<hex8 key id>+<base64(type || 32-byte pubkey)>"
    /// (whitespace trimmed); checks the name rules (non-empty, no spaces, no
    /// '+'), that the id is the computed id, and the type byte.
    pub fn parse(vkey: &str) -> Result<Self, KeyError> {
        let (name, stated, kind, key) = parse_key_text(vkey.trim())?;
        let computed = key_id(name, kind, &key);
        if computed != stated {
            return Err(KeyError::KeyIdMismatch {
                name: name.to_owned(),
                stated,
                computed,
            });
        }
        let key = VerifyingKey::from_bytes(&key).map_err(|_| KeyError::InvalidPublicKey {
            name: name.to_owned(),
        })?;
        Ok(Self {
            name: name.to_owned(),
            kind,
            key_id: computed,
            key,
        })
    }

    /// The vkey text `parse` reads, to publish or configure.
    pub fn vkey(&self) -> String {
        let mut material = [0u8; 33];
        material[0] = self.kind.type_byte();
        material[1..].copy_from_slice(self.key.as_bytes());
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            b64_encode(&material)
        )
    }

    /// The key name expected on signature lines.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID expected in signatures.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Which kind of signatures this key verifies.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// Checks signature bytes (after the key ID) over the note text; returns
    /// the timestamp for cosignatures, or why it fails.
    fn check(&self, text: &str, bytes: &[u8]) -> Result<Option<u64>, String> {
        match self.kind {
            KeyKind::Note => {
                let sig: [u8; 64] = bytes.try_into().map_err(|_| {
                    format!(
                        "signature is {} bytes, an Ed25519 signature has 64",
                        bytes.len()
                    )
                })?;
                self.key
                    .verify_strict(text.as_bytes(), &Signature::from_bytes(&sig))
                    .map_err(|_| {
                        "Ed25519 signature does not verify over the note text".to_owned()
                    })?;
                Ok(None)
            }
            KeyKind::Cosignature => {
                let raw: [u8; 72] = bytes.try_into().map_err(|_| {
                    format!(
                        "cosignature is {} bytes, expected 72 (8-byte timestamp and 64-byte signature)",
                        bytes.len()
                    )
                })?;
                let mut ts = [0u8; 8];
                ts.copy_from_slice(&raw[..8]);
                let timestamp = u64::from_be_bytes(ts);
                if timestamp > MAX_TIMESTAMP {
                    return Err(format!("timestamp {timestamp} exceeds 2^63 - 1"));
                }
                let mut sig = [0u8; 64];
                sig.copy_from_slice(&raw[8..]);
                let message = cosignature_message(text, timestamp);
                self.key
                    .verify_strict(message.as_bytes(), &Signature::from_bytes(&sig))
                    .map_err(|_| {
                        format!("Ed25519 cosignature/v1 with time {timestamp} does not verify over the checkpoint")
                    })?;
                Ok(Some(timestamp))
            }
        }
    }
}

/// One signature line of a note, as parsed (not yet verified).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name on the line.
    pub name: String,
    /// The key ID, the first four bytes of the decoded signature.
    pub key_id: u32,
    /// The signature bytes after the 4-byte key ID.
    pub bytes: Vec<u8>,
}

/// A signed note split into its text and signature lines. Its text MUST be
/// ignored until `verify` succeeds against trusted keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The signed text, including its final newline.
    pub text: String,
    /// The signatures, in the order of their lines.
    pub signatures: Vec<NoteSignature>,
}

/// A signature from a known key that verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The key name.
    pub name: String,
    /// The key ID.
    pub key_id: u32,
    /// The cosignature timestamp, for Cosignature keys; None for Note keys.
    pub timestamp: Option<u64>,
}

impl Note {
    /// Parses per spec: valid UTF-8 (it's a &str), no control chars but \n,
    /// text ends in \n, separated from signature lines by the LAST empty line,
    /// each sig line "— name base64", at most 100 signatures, at most 1 MiB
    /// total; errors name the line number.
    pub fn parse(s: &str) -> Result<Self, NoteError> {
        if s.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge {
                len: s.len(),
                max: MAX_NOTE_BYTES,
            });
        }
        if let Some((line, byte)) = find_control(s) {
            return Err(NoteError::ControlChar { line, byte });
        }
        let split = s.rfind("\n\n").ok_or(NoteError::NoSeparator)?;
        let text = &s[..split + 1];
        let sigs = &s[split + 2..];
        let first_line = first_signature_line(text);
        if sigs.is_empty() {
            return Err(NoteError::NoSignatures { line: first_line });
        }
        let Some(body) = sigs.strip_suffix('\n') else {
            return Err(NoteError::MissingFinalNewline {
                line: first_line + sigs.matches('\n').count(),
            });
        };
        let mut signatures = Vec::new();
        for (i, line_text) in body.split('\n').enumerate() {
            let line = first_line + i;
            if i >= MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures {
                    line,
                    max: MAX_SIGNATURES,
                });
            }
            signatures.push(parse_signature_line(line, line_text)?);
        }
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The note as text; `Note::parse(s)?.to_text() == s` exactly.
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(self.text.len() + 1 + 100 * self.signatures.len());
        out.push_str(&self.text);
        out.push('\n');
        for sig in &self.signatures {
            let mut bytes = Vec::with_capacity(4 + sig.bytes.len());
            bytes.extend_from_slice(&sig.key_id.to_be_bytes());
            bytes.extend_from_slice(&sig.bytes);
            out.push_str(SIG_PREFIX);
            out.push_str(&sig.name);
            out.push(' ');
            out.push_str(&b64_encode(&bytes));
            out.push('\n');
        }
        out
    }

    /// Verifies: signatures whose (name,key_id) match a known verifier MUST
    /// verify (else Err naming the signer and line); unknown ones ignored; a
    /// known key may sign only once; at least one known valid, else
    /// Err(NoKnownSignature). Returns, per verified known key, (name,
    /// Option<timestamp>) — timestamp for Cosignature keys.
    pub fn verify(&self, verifiers: &[Verifier]) -> Result<Vec<Verified>, NoteError> {
        let first_line = first_signature_line(&self.text);
        let mut out: Vec<(usize, Verified)> = Vec::new();
        for (i, sig) in self.signatures.iter().enumerate() {
            let line = first_line + i;
            let Some(verifier) = verifiers
                .iter()
                .find(|v| v.name == sig.name && v.key_id == sig.key_id)
            else {
                continue;
            };
            if let Some((first, _)) = out
                .iter()
                .find(|(_, v)| v.name == sig.name && v.key_id == sig.key_id)
            {
                return Err(NoteError::DuplicateSignature {
                    line,
                    first_line: *first,
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                });
            }
            let timestamp = verifier.check(&self.text, &sig.bytes).map_err(|reason| {
                NoteError::BadSignature {
                    line,
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                    reason,
                }
            })?;
            out.push((
                line,
                Verified {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                    timestamp,
                },
            ));
        }
        if out.is_empty() {
            return Err(NoteError::NoKnownSignature);
        }
        Ok(out.into_iter().map(|(_, v)| v).collect())
    }
}

/// The 1-based line number of the first signature line after `text`.
fn first_signature_line(text: &str) -> usize {
    text.matches('\n').count() + 2
}

/// Parses "— name base64(keyid || sig)".
fn parse_signature_line(line: usize, text: &str) -> Result<NoteSignature, NoteError> {
    let bad = |reason: String| NoteError::SignatureLine { line, reason };
    let rest = text
        .strip_prefix(SIG_PREFIX)
        .ok_or_else(|| bad("does not start with an em dash and a space".to_owned()))?;
    let (name, b64) = rest
        .split_once(' ')
        .ok_or_else(|| bad("no space between the key name and the signature".to_owned()))?;
    check_name(name).map_err(|e| bad(e.to_string()))?;
    let bytes = b64_decode(b64).map_err(|e| bad(format!("signature of {name}: {e}")))?;
    if bytes.len() < 5 {
        return Err(bad(format!(
            "signature of {name} is {} bytes, shorter than a key ID and a signature",
            bytes.len()
        )));
    }
    Ok(NoteSignature {
        name: name.to_owned(),
        key_id: u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
        bytes: bytes[4..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signer_debug_never_prints_the_secret() {
        let signer =
            Signer::from_seed("example.com/log", KeyKind::Note, [7u8; 32]).expect("valid name");
        let debug = format!("{signer:?}");
        let private = signer.private_text();
        let secret = private.rsplit('+').next().expect("has parts");
        assert!(debug.contains("example.com/log"), "{debug}");
        assert!(
            debug.contains(&format!("{:08x}", signer.key_id())),
            "{debug}"
        );
        assert!(!debug.contains(secret), "{debug}");
        assert!(!debug.contains("[7, 7"), "{debug}");
    }

    #[test]
    fn key_names_with_spaces_plus_or_nothing_are_refused() {
        for bad in ["", "a b", "a+b", "a\u{a0}b", "a\tb"] {
            assert!(
                matches!(
                    Signer::from_seed(bad, KeyKind::Note, [1u8; 32]),
                    Err(KeyError::InvalidName { .. })
                ),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn private_text_round_trips_for_both_kinds() {
        for kind in [KeyKind::Note, KeyKind::Cosignature] {
            let signer = Signer::from_seed("w.example/1", kind, [9u8; 32]).expect("valid");
            let again = Signer::from_private_text(&format!("  {}\n", signer.private_text()))
                .expect("round trip");
            assert_eq!(again.verifier(), signer.verifier());
            assert_eq!(again.kind(), kind);
        }
    }

    #[test]
    fn a_private_key_with_a_wrong_key_id_is_refused() {
        let signer = Signer::from_seed("n", KeyKind::Note, [3u8; 32]).expect("valid");
        let text = signer.private_text();
        let wrong = text.replace(&format!("{:08x}", signer.key_id()), "00000000");
        assert!(matches!(
            Signer::from_private_text(&wrong),
            Err(KeyError::KeyIdMismatch { .. })
        ));
    }

    #[test]
    fn note_parse_names_the_line_of_the_problem() {
        assert_eq!(
            Note::parse("a\n\nb\n\n\u{2014} x AAAAAAA=\nnot a sig\n"),
            Err(NoteError::SignatureLine {
                line: 6,
                reason: "does not start with an em dash and a space".to_owned()
            })
        );
        assert_eq!(
            Note::parse("a\n\tb\n\n\u{2014} x AAAAAAA=\n"),
            Err(NoteError::ControlChar { line: 2, byte: 9 })
        );
        assert_eq!(
            Note::parse("a\n\u{2014} x AAAAAAA=\n"),
            Err(NoteError::NoSeparator)
        );
        assert_eq!(
            Note::parse("a\n\n\u{2014} x AAAAAAA="),
            Err(NoteError::MissingFinalNewline { line: 3 })
        );
    }

    #[test]
    fn more_than_one_hundred_signatures_are_refused() {
        let mut s = "text\n\n".to_owned();
        for _ in 0..=MAX_SIGNATURES {
            s.push_str("\u{2014} x AAAAAAA=\n");
        }
        assert_eq!(
            Note::parse(&s),
            Err(NoteError::TooManySignatures {
                line: 103,
                max: MAX_SIGNATURES
            })
        );
    }

    #[test]
    fn a_note_over_one_mebibyte_is_refused() {
        let s = "a".repeat(MAX_NOTE_BYTES) + "\n\n\u{2014} x AAAAAAA=\n";
        assert!(matches!(Note::parse(&s), Err(NoteError::TooLarge { .. })));
    }
}
