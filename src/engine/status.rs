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
