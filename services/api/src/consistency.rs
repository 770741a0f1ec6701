//! Read-your-writes: a request may ask for "at least this" (`?min_seq=STREAM:SEQ`, or the header
//! `Consistency: STREAM:SEQ`, the `stream` and `sequence` of a command's reply). The API then waits
//! until the projection of that stream has applied the sequence, polling its checkpoint, for at
//! most [`WAIT_MS`]; past that it answers 503 `not_yet_projected` with the position it has reached.
//! The parameter is taken off the query before the route reads it.
//!
//! The same middleware refuses a query with a NUL character (`%00`) in it with 400
//! `invalid_query`: no parameter takes one, and Postgres cannot store or compare it in text.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::Uri;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::AppState;

/// The query parameter.
pub const PARAMETER: &str = "min_seq";
/// The header.
pub const HEADER: &str = "consistency";
/// How long a request waits for its position at most (then 503 `not_yet_projected`).
pub const WAIT_MS: u64 = 1_500;
/// How often the checkpoint is read while waiting.
pub const POLL_MS: u64 = 20;
/// The streams the read models are projected from.
pub const STREAMS: [&str; 4] = ["PROPOSALS", "REVIEWS", "LEDGER", "DEADLETTER"];

/// A position: a projected stream and a sequence in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The stream's name without the namespace, e.g. `LEDGER`.
    pub stream: String,
    /// Its sequence, at least 1.
    pub sequence: u64,
}

/// Parses `STREAM:SEQ`.
pub fn parse(value: &str) -> Result<Position, ApiError> {
    let invalid = || {
        ApiError::InvalidQuery(format!(
            "{PARAMETER} must be STREAM:SEQ with STREAM one of {} and SEQ a sequence from 1, \
             as a command's reply gives them; got {value:?}",
            STREAMS.join(", ")
        ))
    };
    let (stream, sequence) = value.split_once(':').ok_or_else(invalid)?;
    let stream = stream.to_ascii_uppercase();
    let sequence: u64 = sequence.parse().map_err(|_| invalid())?;
    if !STREAMS.contains(&stream.as_str()) || sequence == 0 {
        return Err(invalid());
    }
    Ok(Position { stream, sequence })
}

/// Whether a raw query holds a percent-encoded NUL.
fn has_nul(query: &str) -> bool {
    query.as_bytes().windows(3).any(|w| w == b"%00")
}

/// The query without `min_seq`, and the value of `min_seq` if it was given (once).
fn take_parameter(query: &str) -> Result<(String, Option<String>), ApiError> {
    let mut kept = Vec::new();
    let mut found = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key == PARAMETER {
            if found.is_some() {
                return Err(ApiError::InvalidQuery(format!(
                    "{PARAMETER} is given twice"
                )));
            }
            found = Some(value.replace("%3A", ":").replace("%3a", ":"));
        } else {
            kept.push(pair);
        }
    }
    Ok((kept.join("&"), found))
}

/// The middleware: waits for the position the request asks for, then lets it through.
pub async fn read_your_writes(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    // Only the read models' routes (`/v1/...`) take a position; health and metrics answer at once.
    if !request.uri().path().starts_with("/v1/") {
        return next.run(request).await;
    }
    match wait(&state, request).await {
        Ok(request) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

async fn wait(state: &AppState, mut request: Request) -> Result<Request, ApiError> {
    if has_nul(request.uri().query().unwrap_or("")) {
        return Err(ApiError::InvalidQuery(
            "a query parameter contains a NUL character (%00), which no parameter takes".into(),
        ));
    }
    let header = request
        .headers()
        .get(HEADER)
        .map(|v| v.to_str().map(str::to_owned))
        .transpose()
        .map_err(|_| ApiError::InvalidQuery(format!("the {HEADER} header is not text")))?;
    let (query, parameter) = take_parameter(request.uri().query().unwrap_or(""))?;
    let Some(value) = parameter.or(header) else {
        return Ok(request);
    };
    let position = parse(&value)?;
    // The route reads its query without the parameter, as if it had not been given.
    let path = request.uri().path().to_owned();
    let uri = if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    };
    *request.uri_mut() = uri
        .parse::<Uri>()
        .map_err(|e| ApiError::InvalidQuery(e.to_string()))?;
    match applied_within(&state.pool, &position, Duration::from_millis(WAIT_MS)).await? {
        Ok(()) => Ok(request),
        Err(applied) => Err(ApiError::NotYetProjected {
            stream: position.stream,
            asked: position.sequence,
            applied,
        }),
    }
}

/// Polls the read models' checkpoint of `position`'s stream until it has applied the position, for
/// at most `wait`; otherwise the sequence it has reached. The API's `min_seq` and the CLI's
/// `--wait` both wait this way.
pub async fn applied_within(
    pool: &sqlx::PgPool,
    position: &Position,
    wait: Duration,
) -> Result<Result<(), u64>, sqlx::Error> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT last_sequence FROM checkpoints WHERE stream = $1")
                .bind(&position.stream)
                .fetch_optional(pool)
                .await?;
        let applied = applied.and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
        if applied >= position.sequence {
            return Ok(Ok(()));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(Err(applied));
        }
        tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_is_a_projected_stream_and_a_sequence() {
        assert_eq!(
            parse("LEDGER:42").expect("position"),
            Position {
                stream: "LEDGER".into(),
                sequence: 42
            }
        );
        assert_eq!(parse("ledger:1").expect("lower case").stream, "LEDGER");
        for bad in [
            "LEDGER",
            "LEDGER:0",
            "LEDGER:-1",
            "INTAKE:5",
            "LEDGER:x",
            ":5",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_nul_anywhere_in_the_query_is_found() {
        assert!(has_nul("focus_area=%00"));
        assert!(has_nul("limit=5&district=a%00b"));
        assert!(!has_nul("district=L%C3%BCneburg&limit=100"));
    }

    #[test]
    fn the_parameter_is_taken_off_the_query() {
        let (rest, found) =
            take_parameter("status=granted&min_seq=LEDGER%3A7&limit=5").expect("ok");
        assert_eq!(rest, "status=granted&limit=5");
        assert_eq!(found.as_deref(), Some("LEDGER:7"));
        let (rest, found) = take_parameter("limit=5").expect("ok");
        assert_eq!((rest.as_str(), found), ("limit=5", None));
        assert!(take_parameter("min_seq=LEDGER:1&min_seq=LEDGER:2").is_err());
    }
}
