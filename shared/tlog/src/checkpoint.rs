//! C2SP tlog-checkpoint note text: origin, tree size and root hash (plus
//! optional extension lines), written and parsed strictly so that one tree
//! head has exactly one text and therefore one signature message.

use crate::text::{b64_encode, decode_hash, find_control, parse_decimal, Lines};
use crate::{Hash, EMPTY_ROOT};

/// Why checkpoint text was refused, naming the line (counted from 1).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckpointError {
    /// A line, or the text, does not end in a newline.
    #[error("checkpoint line {line}: missing (or unterminated by a newline)")]
    MissingLine {
        /// The line that is missing or unterminated.
        line: usize,
    },
    /// A control character other than newline.
    #[error("checkpoint line {line}: control character 0x{byte:02x} is not allowed")]
    ControlChar {
        /// The line it is on.
        line: usize,
        /// The byte.
        byte: u8,
    },
    /// The origin line is empty.
    #[error("checkpoint line 1: the origin is empty")]
    EmptyOrigin,
    /// The tree size line is not a canonical decimal.
    #[error("checkpoint line 2: tree size {reason}")]
    Size {
        /// What is wrong.
        reason: String,
    },
    /// The root hash line is not base64 of 32 bytes.
    #[error("checkpoint line 3: root hash {reason}")]
    Root {
        /// What is wrong.
        reason: String,
    },
    /// A size-0 checkpoint whose root is not the empty tree's.
    #[error("checkpoint line 3: a checkpoint of size 0 must have the empty root, not {root}")]
    EmptyTreeRoot {
        /// The root given, base64.
        root: String,
    },
    /// An extension line is empty.
    #[error("checkpoint line {line}: extension lines must not be empty")]
    EmptyExtension {
        /// The empty line.
        line: usize,
    },
}

/// A log's signed tree head: who (origin), how many leaves (size), which tree (root).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, and the name its key signs with.
    pub origin: String,
    /// The number of leaves.
    pub size: u64,
    /// The RFC 6962 root of the first `size` leaves.
    pub root: Hash,
    /// Opaque extension lines (not auditable; best left empty).
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The note text to sign: "origin\nsize\nbase64(root)\n" and one line per extension.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            b64_encode(&self.root)
        );
        for ext in &self.extensions {
            out.push_str(ext);
            out.push('\n');
        }
        out
    }

    /// Parses note text strictly: every line newline-terminated, origin
    /// non-empty, size without leading zeroes, root base64 of exactly 32 bytes,
    /// extension lines non-empty, and a size-0 checkpoint must have EMPTY_ROOT.
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        if let Some((line, byte)) = find_control(text) {
            return Err(CheckpointError::ControlChar { line, byte });
        }
        let mut lines = Lines::new(text);
        let origin = lines
            .next()
            .map_err(|line| CheckpointError::MissingLine { line })?;
        if origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        let size_text = lines
            .next()
            .map_err(|line| CheckpointError::MissingLine { line })?;
        let size = parse_decimal(size_text).map_err(|reason| CheckpointError::Size { reason })?;
        let root_text = lines
            .next()
            .map_err(|line| CheckpointError::MissingLine { line })?;
        let root = decode_hash(root_text).map_err(|reason| CheckpointError::Root { reason })?;
        if size == 0 && root != EMPTY_ROOT {
            return Err(CheckpointError::EmptyTreeRoot {
                root: root_text.to_owned(),
            });
        }
        let mut extensions = Vec::new();
        while !lines.rest().is_empty() {
            let line = lines.next_line_number();
            let ext = lines
                .next()
                .map_err(|line| CheckpointError::MissingLine { line })?;
            if ext.is_empty() {
                return Err(CheckpointError::EmptyExtension { line });
            }
            extensions.push(ext.to_owned());
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOFA: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    #[test]
    fn the_spec_example_parses_and_round_trips() {
        let c = Checkpoint::parse(SOFA).expect("spec example");
        assert_eq!(c.origin, "example.com/behind-the-sofa");
        assert_eq!(c.size, 20852163);
        assert!(c.extensions.is_empty());
        assert_eq!(c.to_text(), SOFA);
    }

    #[test]
    fn extensions_round_trip_and_must_not_be_empty() {
        let text = format!("{SOFA}ext one\next two\n");
        let c = Checkpoint::parse(&text).expect("extensions");
        assert_eq!(c.extensions, vec!["ext one", "ext two"]);
        assert_eq!(c.to_text(), text);
        assert_eq!(
            Checkpoint::parse(&format!("{SOFA}\n")),
            Err(CheckpointError::EmptyExtension { line: 4 })
        );
    }

    #[test]
    fn malformed_checkpoints_name_the_line() {
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        assert_eq!(
            Checkpoint::parse(&format!("\n1\n{root}\n")),
            Err(CheckpointError::EmptyOrigin)
        );
        assert!(matches!(
            Checkpoint::parse(&format!("o\n01\n{root}\n")),
            Err(CheckpointError::Size { .. })
        ));
        assert!(matches!(
            Checkpoint::parse("o\n1\nAAAA\n"),
            Err(CheckpointError::Root { .. })
        ));
        assert_eq!(
            Checkpoint::parse(&format!("o\n1\n{root}")),
            Err(CheckpointError::MissingLine { line: 3 })
        );
        assert_eq!(
            Checkpoint::parse("o\n1\n"),
            Err(CheckpointError::MissingLine { line: 3 })
        );
    }

    #[test]
    fn a_size_zero_checkpoint_must_have_the_empty_root() {
        let empty = Checkpoint {
            origin: "o".to_owned(),
            size: 0,
            root: EMPTY_ROOT,
            extensions: vec![],
        };
        assert_eq!(Checkpoint::parse(&empty.to_text()), Ok(empty));
        assert!(matches!(
            Checkpoint::parse("o\n0\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"),
            Err(CheckpointError::EmptyTreeRoot { .. })
        ));
    }
}
