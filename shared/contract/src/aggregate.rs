//! The shape of every aggregate: pure `decide` and `apply`, no I/O, no clock, no random ids.
//!
//! Whatever a decision needs (the time, looked-up facts, rules) goes into the command. The shell in
//! `buendel-runtime` loads the events, calls [`Aggregate::decide`], appends what it returns with
//! optimistic concurrency, and retries on a conflict.

use crate::reply::FieldError;
use crate::EventKind;

/// A pure, synchronous aggregate.
pub trait Aggregate: Default + Clone + Send + Sync + 'static {
    /// The events this aggregate is made of.
    type Event: EventKind;
    /// What may be asked of it.
    type Command;
    /// Why a command is refused (business reasons only).
    type Error: DomainError;

    /// Folds one event into the state. Events are facts: `apply` never refuses one.
    fn apply(self, event: &Self::Event) -> Self;

    /// Decides what happens on a command: the new events (possibly none), or a refusal.
    fn decide(&self, command: &Self::Command) -> Result<Vec<Self::Event>, Self::Error>;
}

/// A business refusal with a stable, machine-readable code.
pub trait DomainError: std::error::Error + Send + Sync + 'static {
    /// Stable code, e.g. `already_withdrawn`.
    fn code(&self) -> &'static str;
    /// Per-field reasons, where there are any.
    fn details(&self) -> Vec<FieldError> {
        Vec::new()
    }
}

/// Given/when/then for aggregates: `given(events).when(command)` returns what `decide` returns.
pub fn given<A: Aggregate>(events: &[A::Event]) -> A {
    events
        .iter()
        .fold(A::default(), |state, event| state.apply(event))
}
