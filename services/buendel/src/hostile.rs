//! `buendel hostile`: a seeded stream of hostile intake messages, interleaved with good proposals,
//! published to a running system's INTAKE, and the proof that every one was either accepted or
//! dead-lettered with its reasons.
//!
//! Layout: [`Rng`] (SplitMix64, so one seed is one run on every machine), [`Kind`] (every kind of
//! message with the outcome it must have), [`Generator`] (the messages of one seed, built one at a
//! time so the run holds no input in memory), [`drive`] (publish, wait, count, check that the
//! service still answers, measure resident memory) and [`run`] (the subcommand: a whole system in
//! a fresh namespace around [`drive`]).
//!
//! Nothing here reads the wall clock for what it generates: the dates of good proposals come from
//! the `today` passed in (the services' clock); only the elapsed time in the report is measured.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use chrono::{Days, NaiveDate};
use futures::stream::FuturesOrdered;
use futures::StreamExt as _;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::Digest as _;
use sqlx::PgPool;
use uuid::Uuid;

use buendel_contract::commands::{ApplicantInput, CommandData as _, Submit};
use buendel_contract::namespace::StreamKind;
use buendel_contract::proposal::{ProjectType, Terms};
use buendel_contract::{BasisPoints, Cents};
use buendel_runtime::{EventStore, Settings};

use crate::system::{Parts, System};

/// The knobs of a run.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct HostileArgs {
    /// How many intake messages to publish (good and hostile together).
    #[arg(long, default_value_t = 100_000)]
    pub messages: usize,
    /// The seed of the messages: one seed gives the same bytes on every run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Publishes awaiting their acknowledgement at once.
    #[arg(long, default_value_t = 256)]
    pub window: usize,
    /// How long to wait for the last message to be accepted or dead-lettered, seconds.
    #[arg(long, default_value_t = 1_800)]
    pub timeout_s: u64,
}

/// The largest message the generator builds (below NATS's default `max_payload` of 1 MiB).
pub const MESSAGE_BYTES_MAX: usize = 1_000_000;
/// The smallest "megabyte string" message: one byte above the intake's limit.
const LARGE_BYTES_MIN: usize = buendel_submission::domain::intake::MESSAGE_BYTES_MAX + 1;

/// The simulation's SplitMix64 ([`buendel_sim::rng::Rng`]; the same seed gives the same sequence
/// everywhere), with indexes as `usize`.
#[derive(Debug, Clone)]
pub struct Rng(buendel_sim::rng::Rng);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(buendel_sim::rng::Rng::new(seed))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A number in `0..n` (`n` > 0; the tiny modulo bias does not matter here).
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "below(0)");
        (self.next_u64() % n as u64) as usize
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: usize, high: usize) -> usize {
        assert!(low <= high, "between({low}, {high})");
        low + self.below(high - low + 1)
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A random (version 4) UUID from this generator.
    pub fn uuid(&mut self) -> Uuid {
        let bits = (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64());
        uuid::Builder::from_random_bytes(bits.to_be_bytes()).into_uuid()
    }
}

/// What must become of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expected {
    /// Accepted: a new proposal is stored.
    Accepted,
    /// Dead-lettered with this code.
    DeadLettered(&'static str),
}

/// Every kind of message the generator builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A valid submission of a new proposal.
    Good,
    /// A valid submission with an unknown envelope member (a CloudEvents extension): accepted.
    Extension,
    /// A valid submission cut short.
    Truncated,
    /// Not JSON: `=` for `:`, trailing commas, single quotes, `NaN`, garbage, nothing at all.
    Malformed,
    /// Bytes that are not UTF-8 inside a string.
    InvalidUtf8,
    /// A raw NUL byte inside a string.
    NulByte,
    /// An escaped control character (`\u0000`, ...) in a single-line field.
    EscapedControl,
    /// Arrays or objects nested far deeper than the limit (a thousand and more).
    DeepNesting,
    /// Integers beyond 64 bits (or beyond what a double holds exactly), exponents beyond a double.
    HugeNumber,
    /// A member named twice (also through an escape: `"\u0069d"` is `"id"`).
    DuplicateKey,
    /// A field of the wrong JSON type.
    WrongType,
    /// An unknown field inside `data`.
    UnknownField,
    /// A string of up to a megabyte: the message exceeds the intake's limit.
    MegabyteString,
    /// A good message's id (and proposal) again, with another body.
    ConflictingReplay,
    /// A valid-looking submission for an alliance that does not exist.
    UnknownAlliance,
    /// A `\uD800`–`\uDFFF` escape without its other half.
    LoneSurrogate,
    /// Valid JSON that is no object: an array, a string, a number, `null`.
    NotAnObject,
}

impl Kind {
    /// Every kind, with its weight in a thousand messages.
    pub const WEIGHTS: [(Kind, usize); 17] = [
        (Kind::Good, 400),
        (Kind::Extension, 40),
        (Kind::Truncated, 40),
        (Kind::Malformed, 40),
        (Kind::InvalidUtf8, 40),
        (Kind::NulByte, 40),
        (Kind::EscapedControl, 40),
        (Kind::DeepNesting, 40),
        (Kind::HugeNumber, 40),
        (Kind::DuplicateKey, 40),
        (Kind::WrongType, 40),
        (Kind::UnknownField, 40),
        (Kind::MegabyteString, 5),
        (Kind::ConflictingReplay, 40),
        (Kind::UnknownAlliance, 40),
        (Kind::LoneSurrogate, 40),
        (Kind::NotAnObject, 15),
    ];

    /// What must become of a message of this kind.
    pub fn expected(self) -> Expected {
        use buendel_contract::ijson;
        match self {
            Kind::Good | Kind::Extension => Expected::Accepted,
            Kind::Truncated | Kind::Malformed | Kind::NulByte => {
                Expected::DeadLettered(ijson::NOT_JSON)
            }
            Kind::InvalidUtf8 => Expected::DeadLettered(ijson::INVALID_UTF8),
            Kind::EscapedControl => Expected::DeadLettered(ijson::CONTROL_CHARACTER),
            Kind::DeepNesting => Expected::DeadLettered(ijson::NESTING_TOO_DEEP),
            Kind::HugeNumber => Expected::DeadLettered(ijson::NUMBER_OUT_OF_RANGE),
            Kind::DuplicateKey => Expected::DeadLettered(ijson::DUPLICATE_MEMBER),
            Kind::LoneSurrogate => Expected::DeadLettered(ijson::LONE_SURROGATE),
            Kind::MegabyteString => Expected::DeadLettered("too_large"),
            Kind::ConflictingReplay => Expected::DeadLettered("conflicting_duplicate"),
            Kind::WrongType | Kind::UnknownField | Kind::UnknownAlliance | Kind::NotAnObject => {
                Expected::DeadLettered("invalid_input")
            }
        }
    }

    /// The kind's name in reports.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// One generated message.
#[derive(Debug, Clone)]
pub struct Message {
    /// What it is.
    pub kind: Kind,
    /// Its `Nats-Msg-Id` (fresh for every message, so the server stores each).
    pub msg_id: Uuid,
    /// The bytes as published.
    pub bytes: Vec<u8>,
    /// The proposal it is about, where it names one.
    pub proposal_id: Option<Uuid>,
}

/// The messages of one seed.
#[derive(Debug, Clone)]
pub struct Generator {
    rng: Rng,
    /// The services' date: good proposals start 30 to 90 days after it.
    today: NaiveDate,
    /// The last good event, which a [`Kind::ConflictingReplay`] sends again with another body.
    last_good: Option<Value>,
}

/// Where a raw (not JSON-buildable) value is put into a serialized event.
const MARK: &str = "@@hostile@@";

impl Generator {
    /// The generator of `seed`, for services whose date is `today`.
    pub fn new(seed: u64, today: NaiveDate) -> Self {
        Self {
            rng: Rng::new(seed),
            today,
            last_good: None,
        }
    }

    /// The next message.
    pub fn next_message(&mut self) -> Message {
        let total: usize = Kind::WEIGHTS.iter().map(|(_, w)| w).sum();
        let mut roll = self.rng.below(total);
        let mut kind = Kind::Good;
        for (k, weight) in Kind::WEIGHTS {
            if roll < weight {
                kind = k;
                break;
            }
            roll -= weight;
        }
        if kind == Kind::ConflictingReplay && self.last_good.is_none() {
            kind = Kind::Good;
        }
        self.build(kind)
    }

    /// A message of `kind`.
    pub fn build(&mut self, kind: Kind) -> Message {
        let msg_id = self.rng.uuid();
        let proposal_id = self.rng.uuid();
        let mut event = self.good_event(proposal_id);
        let bytes = match kind {
            Kind::Good => {
                self.last_good = Some(event.clone());
                to_bytes(&event)
            }
            Kind::Extension => {
                let value = match self.rng.below(3) {
                    0 => json!(self.rng.uuid()),
                    1 => json!(self.rng.below(1_000_000)),
                    _ => json!({"trace": self.rng.uuid(), "hops": [1, 2, 3]}),
                };
                event[format!("x{}", self.rng.below(1_000))] = value;
                to_bytes(&event)
            }
            Kind::Truncated => {
                let bytes = to_bytes(&event);
                let at = self.rng.below(bytes.len());
                bytes[..at].to_vec()
            }
            Kind::Malformed => self.malformed(&event),
            Kind::InvalidUtf8 => {
                let bad: &[&[u8]] = &[
                    &[0xff],
                    &[0xfe, 0xfe],
                    &[0xc0, 0x80],
                    &[0x80],
                    &[0xe2, 0x82],
                    &[0xed, 0xa0, 0x80],
                    &[0xf8, 0x88, 0x80, 0x80, 0x80],
                ];
                let bad = *self.rng.pick(bad);
                event["data"]["title"] = json!(MARK);
                splice(&to_bytes(&event), &[b"\"Kurs ", bad, b" 2027\""].concat())
            }
            Kind::NulByte => {
                event["data"]["applicant"]["name"] = json!(MARK);
                splice(&to_bytes(&event), b"\"Bildung\0swerk\"")
            }
            Kind::EscapedControl => {
                let escape = *self
                    .rng
                    .pick(&["\\u0000", "\\u0007", "\\u001b", "\\u001F", "\\n", "\\u0085"]);
                event["data"]["title"] = json!(MARK);
                splice(
                    &to_bytes(&event),
                    format!("\"Zwei{escape}Zeilen\"").as_bytes(),
                )
            }
            Kind::DeepNesting => {
                let depth = if self.rng.below(2) == 0 {
                    1_000
                } else {
                    self.rng.between(33, 5_000)
                };
                let deep = if self.rng.below(2) == 0 {
                    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
                } else {
                    format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth))
                };
                event["data"]["duration_months"] = json!(MARK);
                splice(&to_bytes(&event), deep.as_bytes())
            }
            Kind::HugeNumber => {
                let huge = *self.rng.pick(&[
                    "18446744073709551616",
                    "-9223372036854775809",
                    "9007199254740993",
                    "340282366920938463463374607431768211456",
                    "1e400",
                    "-1e309",
                    "123456789012345678901234567890",
                ]);
                let field = *self.rng.pick(&[
                    "eligible_cost_cents",
                    "requested_rate_bp",
                    "duration_months",
                ]);
                event["data"][field] = json!(MARK);
                splice(&to_bytes(&event), huge.as_bytes())
            }
            Kind::DuplicateKey => {
                let text = String::from_utf8_lossy(&to_bytes(&event)).into_owned();
                let other = self.rng.uuid();
                let (at, extra) = match self.rng.below(3) {
                    0 => ("\"id\":", format!("\"\\u0069d\":\"{other}\",")),
                    1 => ("\"title\":", "\"title\":\"Zweiter Titel\",".to_owned()),
                    _ => (
                        "\"eligible_cost_cents\":",
                        "\"eligible_cost_cents\":99,".to_owned(),
                    ),
                };
                text.replacen(at, &format!("{extra}{at}"), 1).into_bytes()
            }
            Kind::WrongType => {
                let (path, value): (&[&str], Value) = match self.rng.below(8) {
                    0 => (&["data", "eligible_cost_cents"], json!("30000000")),
                    1 => (&["data", "duration_months"], json!(18.5)),
                    2 => (&["data", "title"], json!(42)),
                    3 => (&["data", "focus_areas"], json!("dual_training")),
                    4 => (&["data", "applicant"], json!(["Bildungswerk"])),
                    5 => (&["data", "planned_start"], json!(null)),
                    6 => (&["id"], json!(12345)),
                    _ => (&["data", "requested_rate_bp"], json!(true)),
                };
                set(&mut event, path, value);
                to_bytes(&event)
            }
            Kind::UnknownField => {
                let name = format!("extra_{}", self.rng.below(1_000));
                if self.rng.below(2) == 0 {
                    event["data"][name] = json!("surplus");
                } else {
                    event["data"]["applicant"][name] = json!(1);
                }
                to_bytes(&event)
            }
            Kind::MegabyteString => {
                let envelope = to_bytes(&event).len();
                let size = self
                    .rng
                    .between(LARGE_BYTES_MIN, MESSAGE_BYTES_MAX - envelope);
                let letter = char::from(b'a' + self.rng.below(26) as u8);
                event["data"]["summary"] = json!(letter.to_string().repeat(size));
                to_bytes(&event)
            }
            Kind::ConflictingReplay => {
                let mut replay = self.last_good.clone().unwrap_or(event);
                let cost = replay["data"]["eligible_cost_cents"].as_i64().unwrap_or(0);
                let delta = 1 + self.rng.below(1_000) as i64;
                replay["data"]["eligible_cost_cents"] = json!(cost - delta);
                let proposal = replay["data"]["proposal_id"]
                    .as_str()
                    .and_then(|s| Uuid::parse_str(s).ok());
                return Message {
                    kind,
                    msg_id,
                    bytes: to_bytes(&replay),
                    proposal_id: proposal,
                };
            }
            Kind::UnknownAlliance => {
                let alliance = *self
                    .rng
                    .pick(&["xyz", "NON", "nonn", "son-2", "", "allianz-nord"]);
                event["data"]["alliance_id"] = json!(alliance);
                to_bytes(&event)
            }
            Kind::LoneSurrogate => {
                let escape = *self.rng.pick(&["\\ud800", "\\udbff", "\\udc00", "\\udfff"]);
                event["data"]["title"] = json!(MARK);
                splice(
                    &to_bytes(&event),
                    format!("\"Kurs {escape} 2027\"").as_bytes(),
                )
            }
            Kind::NotAnObject => match self.rng.below(4) {
                0 => to_bytes(&json!([event])),
                1 => to_bytes(&json!("buendel.proposal.submitted.v1")),
                2 => b"42".to_vec(),
                _ => b"null".to_vec(),
            },
        };
        Message {
            kind,
            msg_id,
            bytes,
            proposal_id: Some(proposal_id),
        }
    }

    fn malformed(&mut self, event: &Value) -> Vec<u8> {
        let text = String::from_utf8_lossy(&to_bytes(event)).into_owned();
        match self.rng.below(9) {
            0 => text.replacen(':', "=", 1),
            1 => text.replacen(',', "", 1),
            2 => format!("{},}}", &text[..text.len() - 1]),
            3 => text.replacen("\"specversion\"", "'specversion'", 1),
            4 => text.replacen("\"duration_months\":18", "\"duration_months\":NaN", 1),
            5 => {
                let len = self.rng.between(1, 200);
                let garbage: String = (0..len)
                    .map(|_| char::from(b' ' + self.rng.below(95) as u8))
                    .collect();
                format!("{{@{garbage}")
            }
            6 => String::new(),
            7 => format!("{text}{text}"),
            _ => text.replacen("\"title\":\"", "\"title\":\"unterminated", 1)[..text.len() - 30]
                .to_owned(),
        }
        .into_bytes()
    }

    /// A valid `submitted` event of `non` for a new proposal.
    fn good_event(&mut self, proposal_id: Uuid) -> Value {
        let start = self
            .today
            .checked_add_days(Days::new(30 + self.rng.below(60) as u64))
            .unwrap_or(self.today);
        let submit = Submit {
            proposal_id,
            alliance_id: "non".into(),
            applicant: ApplicantInput {
                name: "Bildungswerk Heidekreis e.V.".into(),
                kind: "verein".into(),
                district: "heidekreis".into(),
            },
            terms: Terms {
                title: format!("Ausbildungsbotschafter {}", self.rng.below(10_000)),
                summary: "Trainees visit schools.".into(),
                project_type: ProjectType::Structure,
                focus_areas: vec!["dual_training".into()],
                districts: vec!["heidekreis".into()],
                planned_start: start,
                duration_months: 18,
                eligible_cost_cents: Cents(1_000_000 + 100 * self.rng.below(100_000) as i64),
                requested_rate_bp: BasisPoints(7_000),
            },
        };
        json!({
            "specversion": "1.0",
            "id": self.rng.uuid(),
            "source": "/hostile/portal",
            "type": "buendel.proposal.submitted.v1",
            "subject": proposal_id,
            "datacontenttype": "application/json",
            "data": submit.to_data(),
        })
    }
}

fn to_bytes(value: &Value) -> Vec<u8> {
    // A `Value` always serializes.
    serde_json::to_vec(value).unwrap_or_default()
}

/// `bytes` with the marker string (quotes included) replaced by `raw`.
fn splice(bytes: &[u8], raw: &[u8]) -> Vec<u8> {
    let mark = format!("\"{MARK}\"");
    let mark = mark.as_bytes();
    match bytes.windows(mark.len()).position(|w| w == mark) {
        Some(at) => [&bytes[..at], raw, &bytes[at + mark.len()..]].concat(),
        None => bytes.to_vec(),
    }
}

fn set(value: &mut Value, path: &[&str], to: Value) {
    let mut at = value;
    for key in path {
        at = &mut at[*key];
    }
    *at = to;
}

/// What became of the messages of one kind.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct KindCount {
    /// Published.
    pub published: u64,
    /// Accepted (a proposal of this message is stored).
    pub accepted: u64,
    /// Dead-lettered, by code.
    pub dead_lettered: BTreeMap<String, u64>,
    /// Not as [`Kind::expected`] says (must be 0).
    pub unexpected: u64,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The knobs.
    pub args: HostileArgs,
    /// SHA-256 over every published message (its kind, id and bytes): the same seed gives the same.
    pub trace_sha256: String,
    /// Messages published.
    pub published: u64,
    /// Bytes published.
    pub published_bytes: u64,
    /// Messages accepted.
    pub accepted: u64,
    /// Messages dead-lettered (with `source` = `intake`).
    pub dead_lettered: u64,
    /// Dead letters without any reason (must be 0).
    pub dead_letters_without_reasons: u64,
    /// Good proposals (of [`Expected::Accepted`] kinds) not stored (must be 0).
    pub good_missing: u64,
    /// Per kind.
    pub kinds: BTreeMap<String, KindCount>,
    /// After the run, a new good message was accepted and a command was answered.
    pub still_serving: bool,
    /// Resident memory of this process after the system started, KiB.
    pub rss_start_kib: u64,
    /// Resident memory after every message was handled, KiB.
    pub rss_end_kib: u64,
    /// The highest resident memory of this process, KiB.
    pub rss_peak_kib: u64,
    /// From the first publish until every message was handled, milliseconds.
    pub elapsed_ms: u64,
    /// What does not hold (empty when the run passed).
    pub failures: Vec<String>,
}

/// A line of `/proc/self/status` in KiB (`VmRSS`, `VmHWM`); 0 where there is no `/proc`.
pub fn proc_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                let rest = line.strip_prefix(field)?.strip_prefix(':')?;
                rest.split_whitespace().next()?.parse().ok()
            })
        })
        .unwrap_or(0)
}

/// Publishes `args.messages` messages of `args.seed` to the INTAKE of a running system (whose
/// INTAKE must be empty), waits until each is accepted or dead-lettered, counts, and checks that
/// the service still answers. `today` is the services' date.
pub async fn drive(
    store: &EventStore,
    client: &async_nats::Client,
    pool: &PgPool,
    today: NaiveDate,
    args: &HostileArgs,
) -> anyhow::Result<Report> {
    let ns = store.namespace().clone();
    let first = store
        .stream_last_sequence(StreamKind::Intake)
        .await
        .context("reading INTAKE")?;
    anyhow::ensure!(
        first == 0,
        "INTAKE of {ns} is not empty: use a fresh namespace"
    );
    let rss_start_kib = proc_status_kib("VmRSS");
    let started = Instant::now();
    let subject = ns.subject(StreamKind::Intake, "hostile");
    let mut generator = Generator::new(args.seed, today);
    let mut trace = sha2::Sha256::new();
    // The kind of each INTAKE sequence (index = sequence - 1), and of each proposal id.
    let mut by_sequence: Vec<Option<Kind>> = vec![None; args.messages];
    let mut by_proposal: HashMap<Uuid, Kind> = HashMap::new();
    let mut published_bytes = 0u64;
    let mut acks = FuturesOrdered::new();
    for _ in 0..args.messages {
        let message = generator.next_message();
        trace.update(message.kind.name().as_bytes());
        trace.update(message.msg_id.as_bytes());
        trace.update(&message.bytes);
        published_bytes += message.bytes.len() as u64;
        if let Some(proposal_id) = message.proposal_id {
            by_proposal.entry(proposal_id).or_insert(message.kind);
        }
        let publish = async_nats::jetstream::message::PublishMessage::build()
            .payload(Bytes::from(message.bytes))
            .message_id(message.msg_id.to_string());
        let ack = store
            .jetstream()
            .send_publish(subject.clone(), publish)
            .await
            .context("publishing to INTAKE")?;
        let kind = message.kind;
        acks.push_back(async move { (kind, ack.await) });
        while acks.len() >= args.window.max(1) {
            record(acks.next().await, &mut by_sequence)?;
        }
    }
    while !acks.is_empty() {
        record(acks.next().await, &mut by_sequence)?;
    }
    let published = args.messages as u64;
    wait_handled(pool, published, Duration::from_secs(args.timeout_s)).await?;
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let rss_end_kib = proc_status_kib("VmRSS");

    let mut kinds: BTreeMap<String, KindCount> = BTreeMap::new();
    for kind in by_sequence.iter().flatten() {
        kinds.entry(kind.name()).or_default().published += 1;
    }
    let mut failures = Vec::new();
    let letters: Vec<(i64, String, i32)> = sqlx::query_as(
        "SELECT stream_sequence, code, jsonb_array_length(reasons) FROM dead_letters \
         WHERE source = 'intake'",
    )
    .fetch_all(pool)
    .await
    .context("reading the dead letters")?;
    let mut dead_letters_without_reasons = 0;
    for (sequence, code, reasons) in &letters {
        if *reasons == 0 {
            dead_letters_without_reasons += 1;
        }
        let kind = usize::try_from(*sequence)
            .ok()
            .and_then(|s| s.checked_sub(1))
            .and_then(|i| by_sequence.get(i).copied().flatten());
        let Some(kind) = kind else {
            failures.push(format!(
                "a dead letter of INTAKE sequence {sequence}, never published"
            ));
            continue;
        };
        let count = kinds.entry(kind.name()).or_default();
        *count.dead_lettered.entry(code.clone()).or_default() += 1;
        if !matches!(kind.expected(), Expected::DeadLettered(c) if c == code) {
            count.unexpected += 1;
        }
    }
    let stored: Vec<Uuid> = sqlx::query_scalar("SELECT proposal_id FROM proposals")
        .fetch_all(pool)
        .await
        .context("reading the proposals")?;
    let mut accepted = 0;
    for proposal_id in &stored {
        accepted += 1;
        match by_proposal.get(proposal_id) {
            Some(kind) => {
                let count = kinds.entry(kind.name()).or_default();
                count.accepted += 1;
                if kind.expected() != Expected::Accepted {
                    count.unexpected += 1;
                }
            }
            None => failures.push(format!("proposal {proposal_id} stored, never published")),
        }
    }
    let good_missing: u64 = kinds
        .iter()
        .filter(|(name, _)| {
            Kind::WEIGHTS
                .iter()
                .any(|(k, _)| k.name() == **name && k.expected() == Expected::Accepted)
        })
        .map(|(_, count)| count.published.saturating_sub(count.accepted))
        .sum();
    for (name, count) in &kinds {
        let handled = count.accepted + count.dead_lettered.values().sum::<u64>();
        if handled != count.published {
            failures.push(format!(
                "{name}: {} published, {handled} accepted or dead-lettered",
                count.published
            ));
        }
        if count.unexpected > 0 {
            failures.push(format!("{name}: {} not as expected", count.unexpected));
        }
    }
    if dead_letters_without_reasons > 0 {
        failures.push(format!(
            "{dead_letters_without_reasons} dead letters without reasons"
        ));
    }
    if good_missing > 0 {
        failures.push(format!("{good_missing} good messages not stored"));
    }
    let still_serving = still_serving(store, client, pool, &mut generator).await;
    if !still_serving {
        failures.push("the service does not answer after the run".to_owned());
    }
    let dead_lettered = letters.len() as u64;
    if accepted + dead_lettered != published {
        failures.push(format!(
            "{published} published, {accepted} accepted, {dead_lettered} dead-lettered"
        ));
    }
    Ok(Report {
        args: args.clone(),
        trace_sha256: buendel_contract::canonical::hex(&trace.finalize()),
        published,
        published_bytes,
        accepted,
        dead_lettered,
        dead_letters_without_reasons,
        good_missing,
        kinds,
        still_serving,
        rss_start_kib,
        rss_end_kib,
        rss_peak_kib: proc_status_kib("VmHWM"),
        elapsed_ms,
        failures,
    })
}

type Acked = (
    Kind,
    Result<
        async_nats::jetstream::publish::PublishAck,
        async_nats::jetstream::context::PublishError,
    >,
);

fn record(acked: Option<Acked>, by_sequence: &mut [Option<Kind>]) -> anyhow::Result<()> {
    let Some((kind, ack)) = acked else {
        return Ok(());
    };
    let ack = ack.context("INTAKE did not acknowledge a message")?;
    anyhow::ensure!(
        !ack.duplicate,
        "INTAKE took message {} as a duplicate",
        ack.sequence
    );
    let slot = usize::try_from(ack.sequence)
        .ok()
        .and_then(|s| s.checked_sub(1))
        .and_then(|i| by_sequence.get_mut(i))
        .with_context(|| format!("INTAKE sequence {} out of range", ack.sequence))?;
    *slot = Some(kind);
    Ok(())
}

/// Waits until the read models hold a proposal or a dead letter for each of `published` messages.
async fn wait_handled(pool: &PgPool, published: u64, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        let handled: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM proposals) \
             + (SELECT count(*) FROM dead_letters WHERE source = 'intake')",
        )
        .fetch_one(pool)
        .await
        .context("counting what was handled")?;
        if u64::try_from(handled).unwrap_or(0) >= published {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "after {} s only {handled} of {published} messages were handled",
            limit.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether, after the run, one more good message is accepted and a command answered (within 30 s).
async fn still_serving(
    store: &EventStore,
    client: &async_nats::Client,
    pool: &PgPool,
    generator: &mut Generator,
) -> bool {
    let ns = store.namespace();
    let message = generator.build(Kind::Good);
    let subject = ns.subject(StreamKind::Intake, "hostile");
    if store
        .publish(&subject, message.msg_id, Bytes::from(message.bytes))
        .await
        .is_err()
    {
        return false;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut stored = false;
    while !stored && Instant::now() < deadline {
        stored =
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM proposals WHERE proposal_id = $1")
                .bind(message.proposal_id)
                .fetch_one(pool)
                .await
                .is_ok_and(|n| n == 1);
        if !stored {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // A command with a hostile body is answered with its code, not dropped.
    let prefix = ns.command_prefix("submission");
    let reply = crate::commands::request(client, &prefix, "submit", &json!({"data": 1})).await;
    stored && reply.is_ok_and(|r| r.code() == Some("invalid_input"))
}

/// `buendel hostile`: a whole system in the settings' namespace (which must be fresh), [`drive`],
/// then the namespace's streams and database are removed.
pub async fn run(settings: Settings, args: HostileArgs) -> anyhow::Result<Report> {
    let system = System::start(
        &settings,
        Parts {
            api: None,
            ..Parts::all(([127, 0, 0, 1], 0).into())
        },
    )
    .await?;
    let today = settings.clock.today();
    let report = drive(&system.store, &system.client, &system.pool, today, &args).await;
    let (store, pool) = (system.store.clone(), system.pool.clone());
    system.stop().await?;
    store
        .delete_streams()
        .await
        .context("removing the streams")?;
    pool.close().await;
    let options = buendel_runtime::db::options(&settings.database_url, &settings.namespace)?;
    buendel_runtime::db::drop_database(&options)
        .await
        .context("removing the database")?;
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use buendel_submission::domain::intake::validate_event;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, 5).expect("a date")
    }

    #[test]
    fn every_kind_is_refused_or_accepted_by_the_intake_parser_as_it_expects() {
        let mut generator = Generator::new(7, today());
        let known = |id: &str| id == "non" || id == "son";
        for (kind, _) in Kind::WEIGHTS {
            for _ in 0..200 {
                let message = generator.build(kind);
                let verdict = validate_event(&message.bytes, &known);
                let text = String::from_utf8_lossy(&message.bytes);
                let text = &text[..text.len().min(600)];
                match (kind.expected(), verdict) {
                    (Expected::Accepted, Ok(_)) => {}
                    // A replay is valid on its own; the receipt refuses it.
                    (Expected::DeadLettered("conflicting_duplicate"), Ok(_)) => {}
                    (Expected::DeadLettered(code), Err(rejected)) => {
                        assert_eq!(rejected.code, code, "{kind:?}: {text}");
                        assert!(!rejected.reasons.is_empty(), "{kind:?}: {text}");
                    }
                    (expected, verdict) => {
                        panic!("{kind:?} expected {expected:?}, got {verdict:?}: {text}")
                    }
                }
            }
        }
    }

    #[test]
    fn a_seed_generates_the_same_messages_twice_and_another_seed_others() {
        let run = |seed| {
            let mut generator = Generator::new(seed, today());
            let mut hash = sha2::Sha256::new();
            for _ in 0..2_000 {
                let m = generator.next_message();
                hash.update(m.msg_id.as_bytes());
                hash.update(&m.bytes);
            }
            hash.finalize()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }

    #[test]
    fn every_message_fits_the_nats_payload_and_every_kind_occurs() {
        let mut generator = Generator::new(11, today());
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20_000 {
            let m = generator.next_message();
            assert!(m.bytes.len() <= MESSAGE_BYTES_MAX, "{:?}", m.kind);
            seen.insert(m.kind);
        }
        assert_eq!(seen.len(), Kind::WEIGHTS.len());
    }
}
