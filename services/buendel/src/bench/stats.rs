//! Throughput and latency figures.

use std::time::Duration;

use serde::Serialize;

/// Latencies of one kind of operation, in microseconds.
#[derive(Debug, Default, Clone)]
pub struct Latencies(Vec<u64>);

impl Latencies {
    /// Records one latency.
    pub fn record(&mut self, latency: Duration) {
        self.0
            .push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
    }

    /// Adds every latency of another set.
    pub fn extend(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    /// The summary: p50, p99, p99.9 and max in milliseconds (three decimals, as integers of µs).
    pub fn summary(&mut self) -> LatencySummary {
        self.0.sort_unstable();
        let at = |per_mille: usize| -> u64 {
            if self.0.is_empty() {
                return 0;
            }
            let index = (self.0.len() * per_mille).div_ceil(1000).saturating_sub(1);
            self.0[index.min(self.0.len() - 1)]
        };
        LatencySummary {
            count: self.0.len(),
            p50_us: at(500),
            p99_us: at(990),
            p999_us: at(999),
            max_us: self.0.last().copied().unwrap_or(0),
        }
    }
}

/// Percentiles of a latency distribution.
#[derive(Debug, Clone, Copy, Serialize, Default)]
pub struct LatencySummary {
    /// How many samples.
    pub count: usize,
    /// Median, µs.
    pub p50_us: u64,
    /// 99th percentile, µs.
    pub p99_us: u64,
    /// 99.9th percentile, µs.
    pub p999_us: u64,
    /// Largest, µs.
    pub max_us: u64,
}

/// Operations per second, as an integer (no floats anywhere near the figures we compare).
pub fn per_second(operations: usize, elapsed: Duration) -> u64 {
    let micros = elapsed.as_micros().max(1);
    u64::try_from(operations as u128 * 1_000_000 / micros).unwrap_or(u64::MAX)
}

/// A ratio in thousandths (`ratio_milli(71, 134) = 530` means 0.530).
pub fn ratio_milli(value: u64, limit: u64) -> u64 {
    if limit == 0 {
        return 0;
    }
    u64::try_from(u128::from(value) * 1000 / u128::from(limit)).unwrap_or(u64::MAX)
}

/// Formats thousandths as `0.530`.
pub fn milli(value: u64) -> String {
    format!("{}.{:03}", value / 1000, value % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_right_sample() {
        let mut latencies = Latencies::default();
        for i in 1..=1000u64 {
            latencies.record(Duration::from_micros(i));
        }
        let summary = latencies.summary();
        assert_eq!(
            (
                summary.p50_us,
                summary.p99_us,
                summary.p999_us,
                summary.max_us
            ),
            (500, 990, 999, 1000)
        );
    }

    #[test]
    fn ratios_are_in_thousandths() {
        assert_eq!(ratio_milli(71_000, 134_000), 529);
        assert_eq!(milli(529), "0.529");
        assert_eq!(per_second(500, Duration::from_millis(250)), 2000);
    }
}
