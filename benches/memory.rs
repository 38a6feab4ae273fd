//! Memory held per node by a cluster view and its planner, measured with a counting allocator.
//!
//! Run: `cargo bench --bench memory`

mod cluster;

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};

use chrono::{TimeZone, Utc};
use daemonplane::engine::manage::{ManageContext, Planner};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` would pass nothing: both just run the measurement.
    let ds = cluster::daemon_set();
    let live: HashSet<String> = [cluster::UID.to_string()].into();
    let none = HashSet::new();
    let ctx = ManageContext {
        now: Utc.timestamp_opt(1_800_000_100, 0).unwrap(),
        live_owner_uids: &live,
        creating_nodes: &none,
        deleting_pods: &none,
        observed_generation: 1,
        burst: 250,
    };
    println!(
        "{:>8} {:>12} {:>14} {:>14} {:>16}",
        "nodes", "view bytes", "view B/node", "planner B/node", "total B/node"
    );
    for n in [1000usize, 5000, 20000] {
        let before = LIVE.load(Ordering::Relaxed);
        let view = cluster::cluster(n, true);
        let with_view = LIVE.load(Ordering::Relaxed);
        let planner = Planner::new(Arc::clone(&ds), &view, &ctx);
        let with_planner = LIVE.load(Ordering::Relaxed);
        let view_bytes = with_view - before;
        let planner_bytes = with_planner - with_view;
        println!(
            "{n:>8} {view_bytes:>12} {:>14.0} {:>14.1} {:>16.0}",
            view_bytes as f64 / n as f64,
            planner_bytes as f64 / n as f64,
            (view_bytes + planner_bytes) as f64 / n as f64
        );
        drop(planner);
        drop(view);
    }
}
