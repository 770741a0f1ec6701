//! Operator commands: NATS request/reply to a service, the JSON reply printed as it came.
//!
//! A command's `data` is built from its typed struct in [`buendel_contract::commands`], which also
//! names the service and the subject ([`send_command`], [`envelope`]).

use std::io::Read as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::Value;

use buendel_contract::commands::CommandData;
use buendel_contract::namespace::StreamKind;
use buendel_contract::reply::Reply;
use buendel_runtime::{connect, EventStore, Settings};

/// How long a command may take before the CLI gives up (the command may still have happened:
/// retry with the same `--command-id`).
pub const COMMAND_TIMEOUT_MS: u64 = 10_000;

/// Reads a JSON file, or standard input for `-`.
pub fn read_json(path: &Path) -> anyhow::Result<Value> {
    let mut text = String::new();
    if path == Path::new("-") {
        std::io::stdin().read_to_string(&mut text)?;
    } else {
        text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    }
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// Sends `<ns>.cmd.<service>.<command>` and prints the reply; exit code 1 when refused.
pub async fn send(
    settings: &Settings,
    service: &str,
    command: &str,
    command_id: Option<uuid::Uuid>,
    actor: &str,
    data: Value,
) -> anyhow::Result<ExitCode> {
    let client = connect::nats_as(
        &settings.nats_url,
        "buendel-cli",
        settings.nats_nkey.as_deref(),
    )
    .await?;
    let command_id = command_id.unwrap_or_else(uuid::Uuid::new_v4);
    // As an identity, the subject names the actor (`<command>.as.<identity>`) and the envelope
    // declares none.
    let (command, payload) = match &settings.act_as {
        Some(identity) => (
            format!("{command}.as.{identity}"),
            serde_json::json!({"command_id": command_id, "data": data}),
        ),
        None => (
            command.to_owned(),
            serde_json::json!({"command_id": command_id, "actor": actor, "data": data}),
        ),
    };
    let reply = request(
        &client,
        &settings.namespace.command_prefix(service),
        &command,
        &payload,
    )
    .await?;
    println!("{}", serde_json::to_string_pretty(&reply)?);
    if settings.wait {
        if let Some(position) = reply.position() {
            if !wait_projected(settings, &position).await? {
                eprintln!("not projected within {WAIT_MS} ms: {position}");
                return Ok(ExitCode::FAILURE);
            }
            eprintln!("projected: {position}");
        }
    }
    Ok(if reply.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// How long `--wait` waits for the read models.
pub const WAIT_MS: u64 = 10_000;

/// Waits until the read models have applied `position` (`STREAM:SEQ`), for [`WAIT_MS`].
async fn wait_projected(settings: &Settings, position: &str) -> anyhow::Result<bool> {
    use buendel_api::consistency;
    let position =
        consistency::parse(position).map_err(|e| anyhow::anyhow!("the reply's position: {e}"))?;
    let pool = buendel_runtime::db::connect(
        &settings.database_url,
        &settings.namespace,
        buendel_runtime::db::PoolLimits::default(),
    )
    .await?;
    let applied =
        consistency::applied_within(&pool, &position, Duration::from_millis(WAIT_MS)).await;
    pool.close().await;
    Ok(applied?.is_ok())
}

/// The request of a typed command: `{command_id, actor, data}`.
pub fn envelope<T: CommandData>(command_id: uuid::Uuid, actor: &str, command: &T) -> Value {
    serde_json::json!({
        "command_id": command_id,
        "actor": actor,
        "data": command.to_data(),
    })
}

/// Sends a typed command to its service (`<ns>.cmd.<service>.<name>`) and prints the reply;
/// exit code 1 when refused.
pub async fn send_command<T: CommandData>(
    settings: &Settings,
    command_id: Option<uuid::Uuid>,
    actor: &str,
    command: &T,
) -> anyhow::Result<ExitCode> {
    send(
        settings,
        T::SERVICE.as_str(),
        T::NAME,
        command_id,
        actor,
        command.to_data(),
    )
    .await
}

/// One request/reply round trip.
pub async fn request(
    client: &async_nats::Client,
    prefix: &str,
    command: &str,
    payload: &Value,
) -> anyhow::Result<Reply> {
    let subject = format!("{prefix}.{command}");
    let bytes = serde_json::to_vec(payload)?;
    let message = tokio::time::timeout(
        Duration::from_millis(COMMAND_TIMEOUT_MS),
        client.request(subject.clone(), bytes.into()),
    )
    .await
    .with_context(|| format!("{subject} did not answer in time; retry with the same command id"))?
    .with_context(|| {
        format!(
            "{subject}: no service answered; is `buendel up` running, and may this identity send \
             it (a refused subject is logged above as a permissions violation)?"
        )
    })?;
    serde_json::from_slice(&message.payload)
        .with_context(|| format!("{subject} replied with something that is not a reply"))
}

/// Publishes a raw CloudEvent to the intake and prints the stream sequence.
pub async fn publish(settings: &Settings, file: &Path) -> anyhow::Result<ExitCode> {
    let event = read_json(file)?;
    let client = connect::nats_as(
        &settings.nats_url,
        "buendel-cli",
        settings.nats_nkey.as_deref(),
    )
    .await?;
    let store =
        EventStore::new(client, settings.namespace.clone()).with_replicas(settings.replicas);
    let id = event
        .get("id")
        .and_then(Value::as_str)
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .context("the CloudEvent needs an `id` that is a UUID (it is the Nats-Msg-Id)")?;
    // A publisher publishes on its own intake subject, the one its credential allows.
    let channel = settings
        .act_as
        .as_deref()
        .and_then(|identity| identity.strip_prefix("publisher."))
        .unwrap_or("cli");
    let subject = settings.namespace.subject(StreamKind::Intake, channel);
    let sequence = store
        .publish(&subject, id, serde_json::to_vec(&event)?.into())
        .await?;
    println!(
        "{}",
        serde_json::json!({"published": subject, "stream_sequence": sequence})
    );
    Ok(ExitCode::SUCCESS)
}
