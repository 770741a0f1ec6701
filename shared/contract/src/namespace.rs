//! One `namespace` names everything: streams, subjects, durable consumers and the database.
//!
//! Tests use a fresh namespace each, so they run in parallel and leave nothing behind;
//! `buendel up --namespace demo` is isolated from the default `buendel`.

use std::fmt;

/// The longest namespace we accept; stream and consumer names stay well below NATS limits.
pub const NAMESPACE_LEN_MAX: usize = 32;

/// A validated namespace: `[a-z][a-z0-9_]{0,31}`.
///
/// Lower case, digits and `_` only, so it is a valid NATS subject token, stream-name prefix and
/// Postgres database name without quoting.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Namespace(String);

/// Why a namespace was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "namespace {0:?} is invalid: use 1 to 32 characters a-z, 0-9 and _, starting with a letter"
)]
pub struct InvalidNamespace(pub String);

/// The streams of the design, each with the subjects it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    /// Raw proposal events as published by other services.
    Intake,
    /// The Proposal aggregates, written by `submission`.
    Proposals,
    /// The Review aggregates, written by `approval`.
    Reviews,
    /// The Fund aggregates (funding ledger), written by `ledger`.
    Ledger,
    /// Every rejected input, with its reasons.
    Deadletter,
    /// One receipt per intake event id: the digest of the first body accepted under that id, so a
    /// later body under the same id is told apart from an exact repeat (`conflicting_duplicate`).
    Receipts,
    /// Decisions of several events, recorded whole before their events are appended one by one on a
    /// server without atomic batches (before 2.12), so that any process can complete one that was
    /// cut short (see the runtime's repository).
    Decisions,
}

impl StreamKind {
    /// Every stream, in the order they are created.
    pub const ALL: [StreamKind; 7] = [
        StreamKind::Intake,
        StreamKind::Proposals,
        StreamKind::Reviews,
        StreamKind::Ledger,
        StreamKind::Deadletter,
        StreamKind::Receipts,
        StreamKind::Decisions,
    ];

    /// The stream's name without the namespace prefix.
    pub fn suffix(self) -> &'static str {
        match self {
            StreamKind::Intake => "INTAKE",
            StreamKind::Proposals => "PROPOSALS",
            StreamKind::Reviews => "REVIEWS",
            StreamKind::Ledger => "LEDGER",
            StreamKind::Deadletter => "DEADLETTER",
            StreamKind::Receipts => "RECEIPTS",
            StreamKind::Decisions => "DECISIONS",
        }
    }

    /// The subject token after the namespace (`<ns>.<token>.>`).
    pub fn token(self) -> &'static str {
        match self {
            StreamKind::Intake => "intake",
            StreamKind::Proposals => "proposal",
            StreamKind::Reviews => "review",
            StreamKind::Ledger => "ledger",
            StreamKind::Deadletter => "deadletter",
            StreamKind::Receipts => "receipt",
            StreamKind::Decisions => "decision",
        }
    }
}

impl Namespace {
    /// Parses and validates a namespace.
    pub fn new(name: impl Into<String>) -> Result<Self, InvalidNamespace> {
        let name = name.into();
        let mut chars = name.chars();
        let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if starts_with_letter && rest_ok && name.len() <= NAMESPACE_LEN_MAX {
            Ok(Self(name))
        } else {
            Err(InvalidNamespace(name))
        }
    }

    /// The namespace as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The JetStream stream name, e.g. `BUENDEL_PROPOSALS`.
    pub fn stream(&self, kind: StreamKind) -> String {
        format!("{}_{}", self.0.to_ascii_uppercase(), kind.suffix())
    }

    /// The wildcard subject a stream captures, e.g. `buendel.proposal.>`.
    pub fn stream_subjects(&self, kind: StreamKind) -> String {
        format!("{}.{}.>", self.0, kind.token())
    }

    /// The subject of one aggregate (or one intake channel), e.g. `buendel.proposal.<id>`.
    pub fn subject(&self, kind: StreamKind, id: impl fmt::Display) -> String {
        format!("{}.{}.{}", self.0, kind.token(), id)
    }

    /// The subject prefix of a service's commands, e.g. `buendel.cmd.submission`.
    pub fn command_prefix(&self, service: &str) -> String {
        format!("{}.cmd.{}", self.0, service)
    }

    /// A durable consumer name for one service reading one stream, e.g. `submission_intake`.
    pub fn durable(&self, service: &str, kind: StreamKind) -> String {
        format!("{}_{}", service, kind.token())
    }

    /// The Postgres database this namespace projects into (the namespace itself).
    pub fn database(&self) -> &str {
        &self.0
    }

    /// The NATS micro service name of a service in this namespace.
    pub fn service_name(&self, service: &str) -> String {
        format!("{}_{}", self.0, service)
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Default for Namespace {
    fn default() -> Self {
        Self("buendel".to_owned())
    }
}

impl std::str::FromStr for Namespace {
    type Err = InvalidNamespace;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_derives_every_name() {
        let ns = Namespace::new("t1").expect("valid");
        assert_eq!(ns.stream(StreamKind::Proposals), "T1_PROPOSALS");
        assert_eq!(ns.stream_subjects(StreamKind::Intake), "t1.intake.>");
        assert_eq!(
            ns.subject(StreamKind::Ledger, "non-2021-2027"),
            "t1.ledger.non-2021-2027"
        );
        assert_eq!(ns.command_prefix("submission"), "t1.cmd.submission");
    }

    #[test]
    fn a_namespace_with_dots_or_capitals_is_refused() {
        for bad in ["", "a.b", "Abc", "1abc", "a>b", "a b", &"a".repeat(33)] {
            assert!(Namespace::new(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
