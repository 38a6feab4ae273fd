//! DaemonSet status with upstream's exact definitions (reference section 5).

/// The apps/v1 DaemonSetStatus counters plus observedGeneration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatusCounts {
    pub desired_number_scheduled: i32,
    pub current_number_scheduled: i32,
    pub number_misscheduled: i32,
    pub number_ready: i32,
    pub updated_number_scheduled: i32,
    pub number_available: i32,
    pub number_unavailable: i32,
    pub observed_generation: i64,
    /// Beyond apps/v1: nodes that should run the pod where it has not started and is predicted to stay Pending.
    pub predicted_pending: i32,
}

impl StatusCounts {
    /// Sums per-cluster counters into a fleet view; observedGeneration is the lowest, so the fleet is only as
    /// current as its least current cluster.
    pub fn sum<'a>(all: impl IntoIterator<Item = &'a StatusCounts>) -> StatusCounts {
        let mut total = StatusCounts::default();
        let mut lowest_generation: Option<i64> = None;
        for s in all {
            total.desired_number_scheduled += s.desired_number_scheduled;
            total.current_number_scheduled += s.current_number_scheduled;
            total.number_misscheduled += s.number_misscheduled;
            total.number_ready += s.number_ready;
            total.updated_number_scheduled += s.updated_number_scheduled;
            total.number_available += s.number_available;
            total.number_unavailable += s.number_unavailable;
            total.predicted_pending += s.predicted_pending;
            lowest_generation = Some(lowest_generation.map_or(s.observed_generation, |g| g.min(s.observed_generation)));
        }
        total.observed_generation = lowest_generation.unwrap_or(0);
        total
    }
}

/// Where a rollout stands in one cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RolloutPhase {
    /// Ordered from least to most advanced, so a fleet's phase is its least advanced cluster's.
    Stalled,
    Progressing,
    Paused,
    Complete,
}

/// What decides a cluster's rollout phase.
#[derive(Clone, Copy, Debug)]
pub struct RolloutFacts<'a> {
    pub generation: i64,
    pub status: &'a StatusCounts,
    pub connected: bool,
    pub on_delete: bool,
    pub paused: bool,
    /// Nodes a partition keeps on earlier revisions.
    pub partition: i32,
    /// A node selector limits which nodes are updated.
    pub canary: bool,
}

/// `kubectl rollout status`'s completion rule for one cluster, then daemonplane's reasons when it does not hold.
pub fn rollout_phase(f: &RolloutFacts<'_>) -> (RolloutPhase, String) {
    let s = f.status;
    let desired = s.desired_number_scheduled;
    if s.observed_generation >= f.generation && s.updated_number_scheduled >= desired && s.number_available >= desired {
        return (RolloutPhase::Complete, format!("{desired} of {desired} nodes updated and available"));
    }
    if !f.connected {
        return (RolloutPhase::Stalled, "the cluster's shim is not connected".into());
    }
    if f.on_delete {
        return (RolloutPhase::Stalled, "updateStrategy OnDelete: old pods are replaced only when deleted".into());
    }
    if f.paused {
        return (RolloutPhase::Paused, "the rollout is paused".into());
    }
    let progress =
        format!("{} of {desired} nodes updated, {} available", s.updated_number_scheduled, s.number_available);
    if f.partition > 0 && s.updated_number_scheduled >= desired - f.partition {
        return (
            RolloutPhase::Paused,
            format!("{progress}; the partition keeps {} nodes on earlier revisions", f.partition),
        );
    }
    if f.canary && s.observed_generation >= f.generation {
        return (
            RolloutPhase::Progressing,
            format!("{progress}; only nodes matching the rollout node selector are updated"),
        );
    }
    (RolloutPhase::Progressing, progress)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(status: &StatusCounts) -> RolloutFacts<'_> {
        RolloutFacts {
            generation: 2,
            status,
            connected: true,
            on_delete: false,
            paused: false,
            partition: 0,
            canary: false,
        }
    }

    #[test]
    fn kubectl_completion_rule_and_reasons() {
        let mut s = StatusCounts {
            desired_number_scheduled: 5,
            updated_number_scheduled: 5,
            number_available: 5,
            observed_generation: 2,
            ..StatusCounts::default()
        };
        assert_eq!(rollout_phase(&facts(&s)).0, RolloutPhase::Complete);
        s.observed_generation = 1;
        assert_eq!(rollout_phase(&facts(&s)).0, RolloutPhase::Progressing, "an old generation is not done");
        s.observed_generation = 2;
        s.number_available = 4;
        assert_eq!(rollout_phase(&facts(&s)).0, RolloutPhase::Progressing);
        assert_eq!(rollout_phase(&RolloutFacts { paused: true, ..facts(&s) }).0, RolloutPhase::Paused);
        assert_eq!(rollout_phase(&RolloutFacts { connected: false, ..facts(&s) }).0, RolloutPhase::Stalled);
        assert_eq!(rollout_phase(&RolloutFacts { on_delete: true, ..facts(&s) }).0, RolloutPhase::Stalled);
        s.updated_number_scheduled = 3;
        s.number_available = 5;
        let (phase, reason) = rollout_phase(&RolloutFacts { partition: 2, ..facts(&s) });
        assert_eq!(phase, RolloutPhase::Paused);
        assert!(reason.contains("partition keeps 2"), "{reason}");
        assert!(RolloutPhase::Stalled < RolloutPhase::Complete);
    }
}
