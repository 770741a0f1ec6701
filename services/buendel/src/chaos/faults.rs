//! The fault schedule, drawn from the seed before the run starts, and its execution: service
//! processes killed with SIGKILL and started again, NATS nodes killed and restarted one at a time
//! (the next only once the cluster has healed), Postgres stopped and started.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use buendel_runtime::EventStore;

use super::env::{cluster_healthy, poll, Servers, Services, CLUSTER_READY_S, NODES};
use crate::bench::workload::Rng;

/// One fault at a moment of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "fault", rename_all = "snake_case")]
pub enum Fault {
    /// SIGKILL the process of slot `slot`; start it again after `down_ms`.
    KillService {
        /// The slot.
        slot: usize,
        /// How long it stays down.
        down_ms: u64,
    },
    /// SIGKILL NATS node `node`; start it again after `down_ms`.
    KillNode {
        /// The node.
        node: usize,
        /// How long it stays down.
        down_ms: u64,
    },
    /// Stop Postgres; start it again after `down_ms`.
    RestartPostgres {
        /// How long it stays down.
        down_ms: u64,
    },
}

/// A fault and when it strikes, from the start of the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Planned {
    /// Milliseconds after the start of the load.
    pub at_ms: u64,
    /// What happens.
    pub fault: Fault,
}

/// How many faults of each kind.
#[derive(Debug, Clone, Copy)]
pub struct Counts {
    /// Service kills.
    pub kills: usize,
    /// NATS node restarts.
    pub node_restarts: usize,
    /// Postgres restarts.
    pub postgres_restarts: usize,
}

/// The schedule of a run: every slot is killed `kills / slots` times or once more, at moments
/// spread over the first nine tenths of `duration`; node and Postgres restarts likewise. Only the
/// seed decides it.
pub fn schedule(seed: u64, duration: Duration, slots: usize, counts: Counts) -> Vec<Planned> {
    let mut rng = Rng::new(seed ^ 0xC4A0_5EED);
    let span_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    let (from_ms, until_ms) = (span_ms / 20, span_ms * 9 / 10);
    let moment = |rng: &mut Rng| from_ms + rng.below(until_ms.saturating_sub(from_ms).max(1));
    let mut targets: Vec<usize> = (0..counts.kills).map(|i| i % slots.max(1)).collect();
    shuffle(&mut rng, &mut targets);
    let mut plan: Vec<Planned> = targets
        .into_iter()
        .map(|slot| Planned {
            at_ms: moment(&mut rng),
            fault: Fault::KillService {
                slot,
                down_ms: rng.below(1_500),
            },
        })
        .collect();
    let mut nodes: Vec<usize> = (0..counts.node_restarts).map(|i| i % NODES).collect();
    shuffle(&mut rng, &mut nodes);
    for node in nodes {
        plan.push(Planned {
            at_ms: moment(&mut rng),
            fault: Fault::KillNode {
                node,
                down_ms: 1_000 + rng.below(3_000),
            },
        });
    }
    for _ in 0..counts.postgres_restarts {
        plan.push(Planned {
            at_ms: moment(&mut rng),
            fault: Fault::RestartPostgres {
                down_ms: 500 + rng.below(2_500),
            },
        });
    }
    plan.sort_by_key(|p| p.at_ms);
    plan
}

fn shuffle<T>(rng: &mut Rng, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = usize::try_from(rng.below(i as u64 + 1)).unwrap_or(0);
        items.swap(i, j);
    }
}

/// What the faults did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Done {
    /// NATS node restarts completed (killed, started, cluster healed).
    pub node_restarts: u32,
    /// Postgres restarts completed.
    pub postgres_restarts: u32,
    /// Faults that could not be carried out, and why (a violation).
    pub failed: Vec<String>,
}

/// The things the faults strike.
#[derive(Clone)]
pub struct Targets {
    /// NATS and Postgres.
    pub servers: Arc<Servers>,
    /// The service processes.
    pub services: Arc<Services>,
    /// To see when the cluster has healed.
    pub store: EventStore,
}

/// Carries out `plan` from `started`, in three lanes at once: service kills (each in its own
/// task, so they overlap), NATS node restarts one after another (the next node goes down only once
/// the cluster has healed), and Postgres restarts.
pub async fn execute(plan: Vec<Planned>, started: Instant, targets: Targets) -> Done {
    let lane = |pick: fn(&Fault) -> bool| -> Vec<Planned> {
        plan.iter().filter(|p| pick(&p.fault)).copied().collect()
    };
    let services = lane(|f| matches!(f, Fault::KillService { .. }));
    let nodes = lane(|f| matches!(f, Fault::KillNode { .. }));
    let postgres = lane(|f| matches!(f, Fault::RestartPostgres { .. }));
    let (mut failed, (node_restarts, node_failed), (postgres_restarts, pg_failed)) = tokio::join!(
        service_lane(services, started, &targets),
        server_lane(nodes, started, &targets),
        server_lane(postgres, started, &targets),
    );
    failed.extend(node_failed);
    failed.extend(pg_failed);
    Done {
        node_restarts,
        postgres_restarts,
        failed,
    }
}

async fn service_lane(plan: Vec<Planned>, started: Instant, targets: &Targets) -> Vec<String> {
    let mut kills = tokio::task::JoinSet::new();
    for planned in plan {
        tokio::time::sleep_until((started + Duration::from_millis(planned.at_ms)).into()).await;
        if let Fault::KillService { slot, down_ms } = planned.fault {
            let services = targets.services.clone();
            kills.spawn(async move { kill_service(&services, slot, down_ms).await });
        }
    }
    let mut failed = Vec::new();
    while let Some(joined) = kills.join_next().await {
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failed.push(format!("service kill: {e:#}")),
            Err(e) => failed.push(format!("service kill panicked: {e}")),
        }
    }
    failed
}

/// NATS or Postgres faults, in order; returns how many completed and what failed.
async fn server_lane(
    plan: Vec<Planned>,
    started: Instant,
    targets: &Targets,
) -> (u32, Vec<String>) {
    let (mut completed, mut failed) = (0, Vec::new());
    for planned in plan {
        tokio::time::sleep_until((started + Duration::from_millis(planned.at_ms)).into()).await;
        let outcome = match planned.fault {
            Fault::KillNode { node, down_ms } => restart_node(targets, node, down_ms).await,
            Fault::RestartPostgres { down_ms } => restart_postgres(&targets.servers, down_ms).await,
            Fault::KillService { .. } => Ok(()),
        };
        match outcome {
            Ok(()) => completed += 1,
            Err(e) => failed.push(format!("{:?}: {e:#}", planned.fault)),
        }
    }
    (completed, failed)
}

/// Kills a slot (once it runs: a kill due while it is still down from the last one waits for it)
/// and starts it again after `down_ms`.
async fn kill_service(services: &Services, slot: usize, down_ms: u64) -> anyhow::Result<()> {
    poll(
        &format!("slot {slot} to be running before its next kill"),
        Duration::from_secs(30),
        || async { services.is_running(slot).await.then_some(()) },
    )
    .await?;
    services.kill(slot).await?;
    // The time it stays down is part of the fault, not a wait for a condition.
    tokio::time::sleep(Duration::from_millis(down_ms)).await;
    services.restart(slot).await
}

async fn restart_node(targets: &Targets, node: usize, down_ms: u64) -> anyhow::Result<()> {
    targets.servers.kill_node(node).await?;
    tokio::time::sleep(Duration::from_millis(down_ms)).await;
    targets.servers.restart_node(node).await?;
    poll(
        "the cluster to heal (every stream led, every replica current)",
        Duration::from_secs(CLUSTER_READY_S),
        || cluster_healthy(&targets.store),
    )
    .await
}

async fn restart_postgres(servers: &Servers, down_ms: u64) -> anyhow::Result<()> {
    servers.stop_postgres().await?;
    tokio::time::sleep(Duration::from_millis(down_ms)).await;
    servers.start_postgres().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts() -> Counts {
        Counts {
            kills: 36,
            node_restarts: 3,
            postgres_restarts: 2,
        }
    }

    #[test]
    fn one_seed_gives_one_schedule_and_another_seed_another() {
        let a = schedule(7, Duration::from_secs(60), 6, counts());
        assert_eq!(a, schedule(7, Duration::from_secs(60), 6, counts()));
        assert_ne!(a, schedule(8, Duration::from_secs(60), 6, counts()));
    }

    #[test]
    fn every_slot_is_killed_its_share_and_every_node_restarted_inside_the_run() {
        let plan = schedule(1, Duration::from_secs(60), 6, counts());
        let mut per_slot = [0; 6];
        let mut per_node = [0; NODES];
        for planned in &plan {
            assert!(
                planned.at_ms >= 3_000 && planned.at_ms < 54_000,
                "{planned:?}"
            );
            match planned.fault {
                Fault::KillService { slot, .. } => per_slot[slot] += 1,
                Fault::KillNode { node, .. } => per_node[node] += 1,
                Fault::RestartPostgres { .. } => {}
            }
        }
        assert_eq!(per_slot, [6; 6]);
        assert_eq!(per_node, [1; NODES]);
        assert!(plan.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
    }
}
