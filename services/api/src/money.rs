//! The `money` part of `GET /v1/proposals/{id}`: the project's money in its fund, read from
//! `proposal_money` (projected from LEDGER). `null` until the ledger booked anything for it.
//!
//! The figures per source are those of [`buendel_contract::ledger::ProjectBalances`], in cents:
//! `reserved`; `committed` (granted, less what was released at closing, including what was paid);
//! `unpaid` (committed − disbursed); `disbursed`; `recovered` (clawback principal assessed);
//! `receivable` (recovered − repaid); `repaid`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use buendel_contract::ledger::ProjectBalances;
use buendel_contract::Cents;

/// A project's money in its fund.
#[derive(Debug, Serialize)]
pub struct Money {
    /// The fund, e.g. `non-2021-2027`.
    pub fund_id: String,
    /// The project's status in the fund: `waitlisted`, `reserved`, `committed`, `closed`,
    /// `released` (`null` only for a stream the ledger service never writes).
    pub status: Option<String>,
    /// Why its reservation was released (`withdrawn`, `refused`, `expired`, `cancelled`), if it was.
    pub release_reason: Option<String>,
    /// The split of its last reservation request, `null` before one.
    pub requested: Option<Requested>,
    /// The ESF+ figures.
    pub esf_plus: ProjectBalances,
    /// The Land figures.
    pub land: ProjectBalances,
    /// ESF+ plus Land.
    pub total: ProjectBalances,
    /// LEDGER stream sequence of the last ledger event about the project.
    pub last_sequence: i64,
    /// Time of that event.
    pub updated_at: DateTime<Utc>,
}

/// A requested amount per source, in cents.
#[derive(Debug, Serialize)]
pub struct Requested {
    /// The ESF+ part.
    pub esf_cents: i64,
    /// The Land part.
    pub land_cents: i64,
}

/// A `proposal_money` row.
#[derive(Debug, sqlx::FromRow)]
struct Row {
    fund_id: String,
    status: Option<String>,
    release_reason: Option<String>,
    requested_esf_cents: Option<i64>,
    requested_land_cents: Option<i64>,
    esf_reserved_cents: i64,
    esf_committed_cents: i64,
    esf_disbursed_cents: i64,
    esf_recovered_cents: i64,
    esf_repaid_cents: i64,
    land_reserved_cents: i64,
    land_committed_cents: i64,
    land_disbursed_cents: i64,
    land_recovered_cents: i64,
    land_repaid_cents: i64,
    last_sequence: i64,
    updated_at: DateTime<Utc>,
}

/// The figures from the five stored ones, by the contract's rule
/// ([`ProjectBalances::from_stored`]: `unpaid` and `receivable` are differences).
fn balances(
    reserved: i64,
    committed: i64,
    disbursed: i64,
    recovered: i64,
    repaid: i64,
) -> ProjectBalances {
    ProjectBalances::from_stored(
        Cents(reserved),
        Cents(committed),
        Cents(disbursed),
        Cents(recovered),
        Cents(repaid),
    )
}

/// The money of a proposal, or `None` when no ledger event about it has been projected.
pub async fn of(pool: &PgPool, proposal_id: Uuid) -> Result<Option<Money>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT fund_id, status, release_reason, requested_esf_cents, requested_land_cents, \
             esf_reserved_cents, esf_committed_cents, esf_disbursed_cents, esf_recovered_cents, \
             esf_repaid_cents, land_reserved_cents, land_committed_cents, land_disbursed_cents, \
             land_recovered_cents, land_repaid_cents, last_sequence, updated_at \
         FROM proposal_money WHERE proposal_id = $1",
    )
    .bind(proposal_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| {
        let esf_plus = balances(
            r.esf_reserved_cents,
            r.esf_committed_cents,
            r.esf_disbursed_cents,
            r.esf_recovered_cents,
            r.esf_repaid_cents,
        );
        let land = balances(
            r.land_reserved_cents,
            r.land_committed_cents,
            r.land_disbursed_cents,
            r.land_recovered_cents,
            r.land_repaid_cents,
        );
        let requested = match (r.requested_esf_cents, r.requested_land_cents) {
            (Some(esf_cents), Some(land_cents)) => Some(Requested {
                esf_cents,
                land_cents,
            }),
            _ => None,
        };
        Money {
            fund_id: r.fund_id,
            status: r.status,
            release_reason: r.release_reason,
            requested,
            esf_plus,
            land,
            total: esf_plus.plus(&land),
            last_sequence: r.last_sequence,
            updated_at: r.updated_at,
        }
    }))
}
