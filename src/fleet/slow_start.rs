//! Slow start for creates (upstream slowStartBatch): a DaemonSet's creates in a cluster go out in batches of
//! 1, 2, 4, 8, …; the next batch waits for every result of the previous one, and a failure ends the run, so a
//! broken template or a full quota costs a handful of API calls rather than hundreds.

use std::collections::HashSet;

/// The slow-start state of one DaemonSet in one cluster.
#[derive(Clone, Debug)]
pub struct SlowStart {
    window: usize,
    /// Creates of the current batch without a result yet.
    awaiting: HashSet<String>,
    failed: bool,
}

impl Default for SlowStart {
    fn default() -> Self {
        SlowStart { window: 1, awaiting: HashSet::new(), failed: false }
    }
}

impl SlowStart {
    /// How many of `wanted` creates may go out now (0 while a batch is awaiting results).
    pub fn allowance(&mut self, wanted: usize) -> usize {
        if wanted == 0 {
            // Nothing left to create: the next run starts small again, as each upstream sync does.
            if self.awaiting.is_empty() {
                self.window = 1;
            }
            return 0;
        }
        if self.awaiting.is_empty() { wanted.min(self.window) } else { 0 }
    }

    /// Records the ids of a batch just sent.
    pub fn sent(&mut self, ids: impl IntoIterator<Item = String>) {
        self.awaiting.extend(ids);
    }

    /// Records a result (or a create given up on); a completed batch doubles the window, a failed one resets it.
    pub fn finished(&mut self, id: &str, succeeded: bool, max_window: usize) {
        if !self.awaiting.remove(id) {
            return;
        }
        self.failed |= !succeeded;
        if self.awaiting.is_empty() {
            self.window = if self.failed { 1 } else { (self.window * 2).min(max_window.max(1)) };
            self.failed = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(s: &mut SlowStart, wanted: usize, first_id: usize) -> Vec<String> {
        let n = s.allowance(wanted);
        let ids: Vec<String> = (first_id..first_id + n).map(|i| i.to_string()).collect();
        s.sent(ids.clone());
        ids
    }

    #[test]
    fn batches_double_while_everything_succeeds() {
        let mut s = SlowStart::default();
        let mut sizes = Vec::new();
        let mut next = 0;
        let mut left = 20;
        while left > 0 {
            let ids = send(&mut s, left, next);
            assert_eq!(s.allowance(left), 0, "the next batch waits for this one");
            sizes.push(ids.len());
            next += ids.len();
            left -= ids.len();
            for id in &ids {
                s.finished(id, true, 250);
            }
        }
        assert_eq!(sizes, [1, 2, 4, 8, 5]);
    }

    #[test]
    fn a_failure_stops_the_run_and_starts_over() {
        // TestSimpleDaemonSetPodCreateErrors: the API accepts only 10 creates out of 100.
        let mut s = SlowStart::default();
        let (mut accepted, mut calls, mut next) = (0, 0, 0);
        loop {
            let ids = send(&mut s, 100 - accepted, next);
            if ids.is_empty() {
                break;
            }
            calls += ids.len();
            next += ids.len();
            let mut failed = false;
            for id in &ids {
                let ok = accepted < 10;
                accepted += usize::from(ok);
                failed |= !ok;
                s.finished(id, ok, 250);
            }
            if failed {
                break;
            }
        }
        assert_eq!((accepted, calls), (10, 15));
        assert_eq!(s.allowance(90), 1, "after a failure the window is 1 again");
    }

    #[test]
    fn window_is_capped_and_resets_when_idle() {
        let mut s = SlowStart::default();
        for round in 0..10 {
            for id in send(&mut s, 1000, round * 1000) {
                s.finished(&id, true, 8);
            }
        }
        assert_eq!(s.allowance(1000), 8);
        assert_eq!(s.allowance(0), 0);
        assert_eq!(s.allowance(1000), 1);
    }
}
