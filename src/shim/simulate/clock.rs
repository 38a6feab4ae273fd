//! The simulated cluster's timers. Every task ends when the cluster stops, so a dropped cluster leaves nothing
//! running.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

use super::Shared;
use super::state::PodKey;

impl Shared {
    /// Runs `f` after `delay`, unless the cluster stops first.
    pub(super) fn after(self: &Arc<Self>, delay: Duration, f: impl FnOnce(&Arc<Shared>) + Send + 'static) {
        let shared = Arc::clone(self);
        let mut stop = self.stop.subscribe();
        self.runtime.spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(delay) => f(&shared),
                _ = stop.wait_for(|stopped| *stopped) => {}
            }
        });
    }

    /// Runs `f` every `period` from one period on, with the tick number (from 0), until the cluster stops.
    pub(super) fn every(self: &Arc<Self>, period: Duration, mut f: impl FnMut(&Arc<Shared>, u64) + Send + 'static) {
        // A period too long to represent never ticks.
        let Some(first) = Instant::now().checked_add(period) else { return };
        let shared = Arc::clone(self);
        let mut stop = self.stop.subscribe();
        self.runtime.spawn(async move {
            let mut ticks = tokio::time::interval_at(first, period);
            // A late tick (a busy runtime) shifts the schedule rather than firing a burst of changes.
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            for tick in 0u64.. {
                tokio::select! {
                    _ = ticks.tick() => f(&shared, tick),
                    _ = stop.wait_for(|stopped| *stopped) => return,
                }
            }
        });
    }

    /// Starts the pod's containers once the start delay has passed.
    pub(super) fn start_later(self: &Arc<Self>, key: PodKey, uid: String) {
        self.after(self.ready_after, move |s| s.lock().start_pod(&s.mirror, &key, &uid));
    }
}
