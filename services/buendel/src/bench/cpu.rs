//! CPU time by process, from `/proc`: what each phase of the bench costs each service, Postgres,
//! NATS and the bench itself, so a cost that grows with history shows as microseconds per proposal
//! that grow from one run to a longer one, whatever the two cores were shared with.

use std::collections::BTreeMap;

/// The unit of the times in `/proc/<pid>/stat` (Linux's `USER_HZ`, 100 on every architecture
/// it exports to user space).
const TICKS_PER_S: u64 = 100;

/// CPU time one process has used (user and system, with its children waited for), ms.
pub fn process_ms(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: the fields after it follow the last `)`.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime, stime, cutime and cstime are fields 14 to 17; the state (field 3) is fields[0].
    let ticks: u64 = fields
        .get(11..15)?
        .iter()
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    Some(ticks * 1_000 / TICKS_PER_S)
}

/// CPU time used by every process whose command name is `comm` (Postgres's backends, the NATS
/// server), ms. A process that ended is counted in its parent's waited-for children's time.
pub fn named_ms(comm: &str) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
        })
        .filter_map(process_ms)
        .sum()
}

/// CPU time so far, ms, by name.
pub type Sample = BTreeMap<String, u64>;

/// Takes a sample: the processes given by name and pid, Postgres, NATS and this process.
pub fn sample(processes: &[(&str, Option<u32>)]) -> Sample {
    let mut out: Sample = processes
        .iter()
        .filter_map(|(name, pid)| Some(((*name).to_owned(), process_ms((*pid)?)?)))
        .collect();
    out.insert("postgres".into(), named_ms("postgres"));
    out.insert("nats-server".into(), named_ms("nats-server"));
    out.insert("bench".into(), process_ms(std::process::id()).unwrap_or(0));
    out
}

/// What each process used between two samples, µs per `units` (per proposal).
pub fn per_unit_us(before: &Sample, after: &Sample, units: usize) -> BTreeMap<String, u64> {
    let units = u64::try_from(units.max(1)).unwrap_or(u64::MAX);
    after
        .iter()
        .map(|(name, ms)| {
            let used = ms.saturating_sub(before.get(name).copied().unwrap_or(0));
            (name.clone(), used * 1_000 / units)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_seen_to_use_cpu() {
        let before = sample(&[("self", Some(std::process::id()))]);
        let mut x = 0u64;
        let mut spins = 0u64;
        while process_ms(std::process::id()).unwrap_or(0) <= before["bench"] + 20 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            spins += 1;
            assert!(spins < 100_000_000_000, "no CPU time counted");
        }
        let after = sample(&[("self", Some(std::process::id()))]);
        let used = per_unit_us(&before, &after, 2);
        assert!(used["self"] >= 10_000, "{used:?} ({x})");
        assert!(after.contains_key("postgres") && after.contains_key("nats-server"));
    }
}
