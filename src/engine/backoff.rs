//! Failed-pod backoff (reference 2.6): a Failed daemon pod is deleted at once the first time, then only after
//! a delay that starts at 1 s and doubles to 15 min, per DaemonSet, observed generation and node.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

/// upstream's kube-controller-manager settings.
pub const INITIAL_BACKOFF: Duration = Duration::seconds(1);
pub const MAX_BACKOFF: Duration = Duration::minutes(15);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    delay: Duration,
    last_update: DateTime<Utc>,
}

/// The backoff state; time is always an argument.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FailedPodBackoff {
    entries: HashMap<String, Entry>,
}

impl FailedPodBackoff {
    /// upstream's key: `<ds uid>/<observed generation>/<node>`, so a new generation starts afresh.
    pub fn key(ds_uid: &str, observed_generation: i64, node: &str) -> String {
        format!("{ds_uid}/{observed_generation}/{node}")
    }

    /// IsInBackOffSinceUpdate: less than the current delay has passed since the last failure.
    pub fn is_in_backoff(&self, key: &str, now: DateTime<Utc>) -> bool {
        self.entries.get(key).is_some_and(|e| now - e.last_update < e.delay)
    }

    /// When the backoff of `key` ends, if it is running.
    pub fn until(&self, key: &str) -> Option<DateTime<Utc>> {
        self.entries.get(key).map(|e| e.last_update + e.delay)
    }

    /// Next: an absent or stale entry starts at the initial delay, otherwise the delay doubles up to the max.
    pub fn next(&mut self, key: &str, now: DateTime<Utc>) {
        let delay = match self.entries.get(key) {
            Some(e) if now - e.last_update <= MAX_BACKOFF * 2 => (e.delay * 2).min(MAX_BACKOFF),
            _ => INITIAL_BACKOFF,
        };
        self.entries.insert(key.to_string(), Entry { delay, last_update: now });
    }

    /// The current delay of `key`.
    pub fn delay(&self, key: &str) -> Option<Duration> {
        self.entries.get(key).map(|e| e.delay)
    }

    /// Keys whose backoff runs at `now`.
    pub fn keys_in_backoff(&self, now: DateTime<Utc>) -> impl Iterator<Item = &str> {
        self.entries.iter().filter(move |(_, e)| now - e.last_update < e.delay).map(|(k, _)| k.as_str())
    }

    /// The earliest end of a backoff still running at `now`.
    pub fn next_end(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.entries.values().map(|e| e.last_update + e.delay).filter(|end| *end > now).min()
    }

    /// GC: drops entries idle for more than twice the maximum.
    pub fn gc(&mut self, now: DateTime<Utc>) {
        self.entries.retain(|_, e| now - e.last_update <= MAX_BACKOFF * 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn delay_starts_at_one_second_doubles_and_caps() {
        let t0 = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let mut b = FailedPodBackoff::default();
        let key = FailedPodBackoff::key("u", 1, "n");
        assert!(!b.is_in_backoff(&key, t0));
        b.next(&key, t0);
        assert_eq!(b.delay(&key), Some(INITIAL_BACKOFF));
        // TestDaemonKillFailedPodsBackoff: in backoff at delay - 1ns, out of it at delay.
        assert!(b.is_in_backoff(&key, t0 + INITIAL_BACKOFF - Duration::nanoseconds(1)));
        assert!(!b.is_in_backoff(&key, t0 + INITIAL_BACKOFF));
        let mut t = t0;
        for _ in 0..20 {
            t += Duration::seconds(1);
            b.next(&key, t);
        }
        assert_eq!(b.delay(&key), Some(MAX_BACKOFF));
        // Stale entries start over, and GC drops them.
        let later = t + MAX_BACKOFF * 2 + Duration::seconds(1);
        b.next(&key, later);
        assert_eq!(b.delay(&key), Some(INITIAL_BACKOFF));
        b.gc(later + MAX_BACKOFF * 3);
        assert_eq!(b.delay(&key), None);
        assert_ne!(FailedPodBackoff::key("u", 1, "n"), FailedPodBackoff::key("u", 2, "n"));
    }
}
