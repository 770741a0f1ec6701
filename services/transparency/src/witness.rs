//! The witness (`buendel witness`): a second party's process (the bank's, the ministry's) with its
//! own key and its own storage, speaking C2SP tlog-witness `POST /add-checkpoint`.
//!
//! For each log it trusts (by the log's verifier key, whose name is the origin) it keeps the latest
//! checkpoint it cosigned, in `<state>/state.json`, written atomically (temporary file, fsync,
//! rename) before it answers; check and update happen under one lock, so two requests never roll
//! the state back. A checkpoint not consistent with the one it holds is refused with 422 and kept,
//! with the one it holds and the proof, in `<state>/evidence/` — that pair proves the log forked.
//!
//! Answers, as the protocol says: 200 with the cosignature line; 400 for a malformed body or an old
//! size beyond the new; 403 for a missing or bad log signature; 404 for an unknown origin; 409
//! (`text/x.tlog.size`) when `old` is not the size it holds; 422 when the proof does not verify.
//!
//! [`WitnessClient`] is the log's side of the same call.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use buendel_tlog::{
    verify_consistency, Checkpoint, ConsistencyBundle, Note, Signer, Verifier, EMPTY_ROOT,
};

use buendel_runtime::CancellationToken;

/// The largest request body a witness reads.
pub const BODY_MAX_BYTES: usize = 64 * 1024;

/// The state file's name inside the state directory.
pub const STATE_FILE: &str = "state.json";

/// What a witness holds for one log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// The size of the latest checkpoint it cosigned.
    pub size: u64,
    /// Its root (base64).
    pub root: String,
    /// The checkpoint as it was submitted.
    pub checkpoint: String,
}

/// Everything a witness holds, by origin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessState {
    /// Per log origin.
    pub logs: BTreeMap<String, Held>,
}

impl WitnessState {
    /// Reads the state of a directory (empty if the directory has none yet).
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        buendel_runtime::files::read_json_or_default(&dir.join(STATE_FILE))
            .context("reading the witness state")
    }

    /// Writes it atomically ([`buendel_runtime::files::write_json_atomically`]).
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        buendel_runtime::files::write_json_atomically(&dir.join(STATE_FILE), self)
    }
}

/// A witness: its key, the logs it trusts, where it keeps its state.
pub struct Witness {
    /// The cosigning key (type 0x04).
    signer: Signer,
    /// The logs' verifier keys, by origin (each key's name).
    logs: BTreeMap<String, Verifier>,
    /// The state directory.
    dir: PathBuf,
    /// The state, under the lock that makes check-and-update atomic.
    state: Mutex<WitnessState>,
}

/// The witness's answer to one `add-checkpoint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// `text/x.tlog.size` for a 409, else `text/plain`.
    pub content_type: &'static str,
    /// The cosignature line, the held size, or the reason.
    pub body: String,
}

impl Answer {
    fn refuse(status: StatusCode, reason: impl Into<String>) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            body: format!("{}\n", reason.into()),
        }
    }
}

impl Witness {
    /// A witness with its state directory (created if missing, state read if there).
    pub fn open(signer: Signer, logs: Vec<Verifier>, dir: &Path) -> anyhow::Result<Self> {
        anyhow::ensure!(
            signer.kind() == buendel_tlog::KeyKind::Cosignature,
            "a witness signs with a cosignature key (type 0x04); make one with `buendel witness keygen`"
        );
        std::fs::create_dir_all(dir.join("evidence"))
            .with_context(|| format!("creating {}", dir.display()))?;
        let state = WitnessState::load(dir)?;
        Ok(Self {
            signer,
            logs: logs.into_iter().map(|v| (v.name().to_owned(), v)).collect(),
            dir: dir.to_owned(),
            state: Mutex::new(state),
        })
    }

    /// Its verifier key.
    pub fn verifier(&self) -> Verifier {
        self.signer.verifier()
    }

    /// What it holds now.
    pub async fn state(&self) -> WitnessState {
        self.state.lock().await.clone()
    }

    /// Handles one `add-checkpoint` body at time `now_s` (POSIX seconds).
    pub async fn add_checkpoint(&self, body: &str, now_s: u64) -> Answer {
        let bundle = match ConsistencyBundle::parse(body) {
            Ok(bundle) => bundle,
            Err(error) => return Answer::refuse(StatusCode::BAD_REQUEST, error.to_string()),
        };
        let note = match Note::parse(&bundle.checkpoint) {
            Ok(note) => note,
            Err(error) => return Answer::refuse(StatusCode::BAD_REQUEST, error.to_string()),
        };
        let checkpoint = match Checkpoint::parse(&note.text) {
            Ok(checkpoint) => checkpoint,
            Err(error) => return Answer::refuse(StatusCode::BAD_REQUEST, error.to_string()),
        };
        let Some(log_key) = self.logs.get(&checkpoint.origin) else {
            return Answer::refuse(
                StatusCode::NOT_FOUND,
                format!("unknown log {:?}", checkpoint.origin),
            );
        };
        if let Err(error) = note.verify(std::slice::from_ref(log_key)) {
            return Answer::refuse(StatusCode::FORBIDDEN, error.to_string());
        }
        if bundle.old_size > checkpoint.size {
            return Answer::refuse(
                StatusCode::BAD_REQUEST,
                format!(
                    "old size {} beyond the checkpoint's {}",
                    bundle.old_size, checkpoint.size
                ),
            );
        }
        let mut state = self.state.lock().await;
        let held = state.logs.get(&checkpoint.origin).cloned();
        let held_size = held.as_ref().map_or(0, |h| h.size);
        if bundle.old_size != held_size {
            return Answer {
                status: StatusCode::CONFLICT,
                content_type: "text/x.tlog.size",
                body: format!("{held_size}\n"),
            };
        }
        if checkpoint.size == 0 && checkpoint.root != EMPTY_ROOT {
            return Answer::refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                "a checkpoint of size 0 must have the empty tree's root",
            );
        }
        if let Err(reason) = consistent(held.as_ref(), &checkpoint, &bundle) {
            let evidence = self.keep_evidence(held.as_ref(), body, now_s);
            let kept = match evidence {
                Ok(path) => format!("; kept as evidence in {}", path.display()),
                Err(error) => format!("; keeping the evidence failed: {error:#}"),
            };
            tracing::error!(origin = checkpoint.origin, %reason, "witness: inconsistent checkpoint refused");
            return Answer::refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("not consistent with the checkpoint of size {held_size} cosigned before: {reason}{kept}"),
            );
        }
        let line = match self.signer.cosign(&note.text, now_s) {
            Ok(line) => line,
            Err(error) => {
                return Answer::refuse(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
            }
        };
        let mut next = state.clone();
        next.logs.insert(
            checkpoint.origin.clone(),
            Held {
                size: checkpoint.size,
                root: base64::engine::general_purpose::STANDARD.encode(checkpoint.root),
                checkpoint: bundle.checkpoint.clone(),
            },
        );
        if let Err(error) = next.save(&self.dir) {
            return Answer::refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the state could not be saved, nothing cosigned: {error:#}"),
            );
        }
        *state = next;
        Answer {
            status: StatusCode::OK,
            content_type: "text/plain; charset=utf-8",
            body: line,
        }
    }

    fn keep_evidence(
        &self,
        held: Option<&Held>,
        body: &str,
        now_s: u64,
    ) -> anyhow::Result<PathBuf> {
        let mut text = String::from("# the checkpoint this witness had cosigned\n");
        text.push_str(held.map_or("(none)\n", |h| h.checkpoint.as_str()));
        text.push_str("\n# the add-checkpoint request it refused\n");
        text.push_str(body);
        let count = std::fs::read_dir(self.dir.join("evidence"))?.count();
        let path = self
            .dir
            .join("evidence")
            .join(format!("{now_s}-{count}.txt"));
        std::fs::write(&path, text)?;
        Ok(path)
    }

    /// Serves `POST /add-checkpoint` (and `GET /state`) on `listener` until `shutdown`.
    pub async fn serve(
        self: Arc<Self>,
        listener: tokio::net::TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let address = listener.local_addr()?;
        tracing::info!(%address, vkey = self.verifier().vkey(), "witness listening");
        let app = Router::new()
            .route("/add-checkpoint", post(add_checkpoint))
            .route("/state", get(state))
            .layer(axum::extract::DefaultBodyLimit::max(BODY_MAX_BYTES))
            .with_state(self);
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
            .context("serving the witness")
    }
}

fn consistent(
    held: Option<&Held>,
    checkpoint: &Checkpoint,
    bundle: &ConsistencyBundle,
) -> Result<(), String> {
    let Some(held) = held.filter(|h| h.size > 0) else {
        return if bundle.proof.is_empty() {
            Ok(())
        } else {
            Err("a proof from size 0 must be empty".to_owned())
        };
    };
    let root = base64::engine::general_purpose::STANDARD
        .decode(&held.root)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or("the held root is damaged")?;
    verify_consistency(
        held.size,
        checkpoint.size,
        &root,
        &checkpoint.root,
        &bundle.proof,
    )
    .map_err(|e| e.to_string())
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn add_checkpoint(State(witness): State<Arc<Witness>>, body: String) -> Response {
    let answer = witness.add_checkpoint(&body, now_s()).await;
    (
        answer.status,
        [(header::CONTENT_TYPE, answer.content_type)],
        answer.body,
    )
        .into_response()
}

async fn state(State(witness): State<Arc<Witness>>) -> Response {
    axum::Json(witness.state().await).into_response()
}

/// What a witness answered the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddOutcome {
    /// 200: the cosignature lines.
    Cosigned(Vec<String>),
    /// 409: the size it holds.
    Conflict(u64),
    /// Anything else.
    Refused {
        /// The status.
        status: u16,
        /// The reason it gave.
        body: String,
    },
}

/// The log's client of one witness.
#[derive(Clone)]
pub struct WitnessClient {
    /// The submission prefix (`http://host:port`).
    url: String,
    /// HTTP/1.1 with keep-alive.
    http: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Full<Bytes>,
    >,
}

impl WitnessClient {
    /// A client of the witness at `url` (its submission prefix).
    pub fn new(url: &str) -> Self {
        let http =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http();
        Self {
            url: url.trim_end_matches('/').to_owned(),
            http,
        }
    }

    /// The submission prefix.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Posts one `add-checkpoint` body.
    pub async fn add_checkpoint(&self, body: &str, timeout_ms: u64) -> anyhow::Result<AddOutcome> {
        let request = axum::http::Request::post(format!("{}/add-checkpoint", self.url))
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(Full::new(Bytes::from(body.to_owned())))
            .context("building the request")?;
        let call = async {
            let response = self.http.request(request).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            Ok::<_, anyhow::Error>((status, String::from_utf8_lossy(&body).into_owned()))
        };
        let (status, body) = tokio::time::timeout(Duration::from_millis(timeout_ms), call)
            .await
            .map_err(|_| anyhow::anyhow!("no answer within {timeout_ms} ms"))?
            .with_context(|| format!("calling {}", self.url))?;
        Ok(match status {
            StatusCode::OK => AddOutcome::Cosigned(
                body.lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
            StatusCode::CONFLICT => match body.trim().parse() {
                Ok(size) => AddOutcome::Conflict(size),
                Err(_) => AddOutcome::Refused {
                    status: status.as_u16(),
                    body,
                },
            },
            other => AddOutcome::Refused {
                status: other.as_u16(),
                body,
            },
        })
    }
}
