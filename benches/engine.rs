//! Planning speed: a full plan of one DaemonSet over 5,000 nodes, and a re-plan after one node event.
//!
//! Run: `cargo bench --bench engine`

mod cluster;

use std::collections::HashSet;
use std::hint::black_box;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use daemonplane::engine::backoff::FailedPodBackoff;
use daemonplane::engine::manage::{ManageContext, Planner};
use daemonplane::engine::view::Applied;

fn ctx<'a>(live: &'a HashSet<String>, none: &'a HashSet<String>) -> ManageContext<'a> {
    ManageContext {
        now: Utc.timestamp_opt(1_800_000_100, 0).unwrap(),
        live_owner_uids: live,
        creating_nodes: none,
        deleting_pods: none,
        observed_generation: 1,
        burst: 250,
    }
}

fn full_plan(c: &mut Criterion) {
    let ds = cluster::daemon_set();
    let live: HashSet<String> = [cluster::UID.to_string()].into();
    let none = HashSet::new();
    let ctx = ctx(&live, &none);
    let mut group = c.benchmark_group("full_plan");
    for label in ["steady_5000_nodes", "cold_5000_nodes", "steady_5000_nodes_alternating_label_keys"] {
        let view = match label {
            "cold_5000_nodes" => cluster::cluster(5000, false),
            "steady_5000_nodes" => cluster::cluster(5000, true),
            _ => cluster::cluster_alternating_keys(5000),
        };
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter(|| {
                let planner = Planner::new(Arc::clone(&ds), &view, &ctx);
                let mut backoff = FailedPodBackoff::default();
                black_box(planner.plan(&view, &ctx, &mut backoff))
            })
        });
    }
    group.finish();
}

fn placement_only(c: &mut Criterion) {
    let ds = cluster::daemon_set();
    let nodes: Vec<_> = (0..5000).map(cluster::node).collect();
    c.bench_function("placement_evaluate_5000_nodes", |b| {
        b.iter(|| nodes.iter().filter(|n| ds.policy.evaluate(n).should_run).count())
    });
    // As the planner evaluates: label lookups reused from node to node while the label keys repeat.
    c.bench_function("placement_evaluator_5000_nodes", |b| {
        b.iter(|| {
            let mut evaluator = ds.policy.evaluator();
            nodes.iter().filter(|n| evaluator.evaluate(n).should_run).count()
        })
    });
}

fn replan_after_node_event(c: &mut Criterion) {
    let ds = cluster::daemon_set();
    let live: HashSet<String> = [cluster::UID.to_string()].into();
    let none = HashSet::new();
    let ctx = ctx(&live, &none);
    let mut group = c.benchmark_group("replan_after_one_node_event");
    for n in [1000usize, 5000, 20000] {
        let mut view = cluster::cluster(n, true);
        let mut planner = Planner::new(Arc::clone(&ds), &view, &ctx);
        let mut backoff = FailedPodBackoff::default();
        // Alternate a label on one node, so every iteration is a real change.
        let mut node = cluster::node(n / 2);
        let mut rv = 10_000_000u64;
        group.bench_function(BenchmarkId::from_parameter(format!("{n}_nodes")), |b| {
            b.iter(|| {
                rv += 1;
                node.resource_version = rv.to_string();
                let flip = if rv.is_multiple_of(2) { "rack-a" } else { "rack-b" };
                node.labels.insert("example.com/rack", flip);
                let Applied::Changed(touched) = view.upsert_node(node.clone()) else { unreachable!() };
                planner.refresh(&view, &touched, &ctx);
                black_box(planner.plan(&view, &ctx, &mut backoff))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, full_plan, placement_only, replan_after_node_event);
criterion_main!(benches);
