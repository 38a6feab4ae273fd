//! Reconnect delays: exponential with jitter, so a fleet of shims that lost the service at the same moment
//! does not come back at the same moment.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

/// Exponential backoff with "equal jitter": each delay is drawn from [d/2, d] where d doubles per attempt up
/// to `max`. backon's jitter adds up to one more delay, so it runs on halves: [h, 2h] with h = d/2.
#[derive(Debug)]
pub struct Backoff {
    builder: ExponentialBuilder,
    delays: ExponentialBackoff,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        let builder = ExponentialBuilder::default()
            .with_min_delay(initial / 2)
            .with_max_delay(max.max(initial) / 2)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times();
        Backoff { delays: builder.build(), builder }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        self.delays.next().expect("an unbounded backoff always yields")
    }

    /// Back to the initial delay (after a session that worked).
    pub fn reset(&mut self) {
        self.delays = self.builder.build();
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(Duration::from_millis(500), Duration::from_secs(30))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_within_jitter_up_to_the_cap_and_reset() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let ceilings = [100u64, 200, 400, 800, 1000, 1000];
        for ceiling in ceilings {
            let d = b.next_delay().as_millis() as u64;
            assert!(d >= ceiling / 2 && d <= ceiling, "{d} not in [{}, {ceiling}]", ceiling / 2);
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn jitter_spreads_delays() {
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..50 {
            let mut b = Backoff::new(Duration::from_secs(10), Duration::from_secs(10));
            seen.insert(b.next_delay().as_millis());
        }
        assert!(seen.len() > 10, "delays should differ: {seen:?}");
    }
}
