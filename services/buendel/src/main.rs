//! `buendel`: one binary for people.
//!
//! - `buendel up [--demo]` runs every service in one process (streams, migrations, HTTP API).
//! - `buendel serve <service>` runs one service alone, so each can be its own process.
//! - Operator commands (`submit`, `withdraw`, …) send NATS requests and print the JSON reply.
//!
//! `main` stays thin: parse settings, set up telemetry, run until a shutdown signal.

mod cli;

use clap::Parser as _;

/// mimalloc instead of the system allocator: the services allocate and free many small
/// buffers per event (JSON values, envelopes), where glibc's malloc showed up in the profile
/// (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    buendel_runtime::telemetry::init(cli.settings.log_format);
    match cli.run().await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
