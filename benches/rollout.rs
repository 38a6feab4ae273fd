//! A rolling update of 5,000 nodes with maxUnavailable 10 %: pods become Ready one round after they are created.
//! Counts the rounds against the lower bound and times each round's planning (incremental refresh of the nodes
//! the previous round touched, then manage + rollingUpdate).
//!
//! Run: `cargo bench --bench rollout`

mod cluster;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use daemonplane::engine::backoff::FailedPodBackoff;
use daemonplane::engine::daemonset::CompiledDaemonSet;
use daemonplane::engine::manage::{ManageContext, Planner};
use daemonplane::engine::model::{OWNER_UID_LABEL, REVISION_HASH_LABEL};
use daemonplane::engine::view::{Applied, SlotId};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

const NODES: usize = 5000;
const NEW_HASH: &str = "5b8c7d9f2";

/// One rollout: (rounds, desired nodes, planning time of each round).
fn rollout() -> (usize, usize, Vec<Duration>) {
    let old = cluster::daemon_set();
    let mut spec_ds = (*old).clone();
    spec_ds.hash = NEW_HASH.into();
    let rolling = spec_ds.rollout.rolling_update.as_mut().expect("RollingUpdate by default");
    rolling.max_unavailable = IntOrString::String("10%".into());
    let ds: Arc<CompiledDaemonSet> = Arc::new(spec_ds);
    let mut view = cluster::cluster(NODES, true);
    let desired = view.nodes().filter(|n| ds.policy.evaluate(n).should_run).count();
    let live: HashSet<String> = [cluster::UID.to_string()].into();
    let none = HashSet::new();
    let mut backoff = FailedPodBackoff::default();
    let mut now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
    let ctx = |now| ManageContext {
        now,
        live_owner_uids: &live,
        creating_nodes: &none,
        deleting_pods: &none,
        observed_generation: 1,
        burst: 250,
    };
    let mut planner = Planner::new(Arc::clone(&ds), &view, &ctx(now));
    let (mut rounds, mut rv, mut serial) = (0usize, 1_000_000u64, 0usize);
    let mut times: Vec<Duration> = Vec::new();
    let mut not_ready: Vec<String> = Vec::new();
    let mut touched: Vec<SlotId> = Vec::new();
    loop {
        now += chrono::Duration::seconds(1);
        // Pods created last round are Ready now.
        for uid in not_ready.drain(..) {
            let mut pod = view.pod(&uid).expect("created pod").clone();
            pod.ready = true;
            pod.ready_since = Some(now);
            rv += 1;
            pod.resource_version = rv.to_string();
            if let Applied::Changed(slots) = view.upsert_pod(pod) {
                touched.extend(slots);
            }
        }
        let start = Instant::now();
        planner.refresh(&view, &touched, &ctx(now));
        let plan = planner.plan_round(&view, &ctx(now), &mut backoff);
        times.push(start.elapsed());
        touched.clear();
        if plan.creates.is_empty() && plan.deletes.is_empty() {
            break;
        }
        rounds += 1;
        for d in &plan.deletes {
            rv += 1;
            if let Applied::Changed(slots) = view.delete_pod(&d.uid, &rv.to_string()) {
                touched.extend(slots);
            }
        }
        for node in &plan.creates {
            serial += 1;
            let mut pod = cluster::pod(100_000 + serial, node);
            pod.uid = format!("new-{serial}");
            pod.name = format!("node-agent-new-{serial}");
            pod.labels.insert(REVISION_HASH_LABEL.to_string(), NEW_HASH.to_string());
            pod.labels.insert(OWNER_UID_LABEL.to_string(), cluster::UID.to_string());
            pod.ready = false;
            rv += 1;
            pod.resource_version = rv.to_string();
            not_ready.push(pod.uid.clone());
            if let Applied::Changed(slots) = view.upsert_pod(pod) {
                touched.extend(slots);
            }
        }
        assert!(rounds < 1000, "the rollout does not converge");
    }
    let updated = view.pods().filter(|p| p.revision_hash() == Some(NEW_HASH)).count();
    assert_eq!(updated, desired, "every desired node ends on the new revision");
    (rounds, desired, times)
}

const RUNS: usize = 7;

fn main() {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut medians = Vec::new();
    let mut worsts = Vec::new();
    let (mut rounds, mut desired) = (0, 0);
    for _ in 0..RUNS {
        let (r, d, mut times) = rollout();
        (rounds, desired) = (r, d);
        times.sort();
        medians.push(times[times.len() / 2]);
        worsts.push(*times.last().unwrap());
    }
    medians.sort();
    worsts.sort();
    // Lower bound: a replaced node is unavailable at two consecutive rolling-update evaluations (deleted, then
    // created but not yet Ready), so the deletes of two consecutive rounds share maxUnavailable: at most
    // min(burst, maxUnavailable / 2) per round on average, plus one round to recreate the last batch.
    let budget = 250usize.min(desired.div_ceil(10) / 2);
    let lower_bound = desired.div_ceil(budget) + 1;
    println!("{desired} desired nodes of {NODES}, maxUnavailable 10% ({} pods), burst 250", desired.div_ceil(10));
    println!("rounds: {rounds} (lower bound {lower_bound})");
    println!(
        "planning per round over {RUNS} rollouts: median of medians {:.3} ms, median of worst rounds {:.3} ms \
         (worst rounds range {:.3} to {:.3} ms)",
        ms(medians[RUNS / 2]),
        ms(worsts[RUNS / 2]),
        ms(worsts[0]),
        ms(worsts[RUNS - 1])
    );
}
