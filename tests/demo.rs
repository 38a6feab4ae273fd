//! `daemonplane demo` end to end on small simulated clusters: create, rolling update, rollback.

use std::time::Duration;

use daemonplane::demo::{DemoOptions, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_rolls_out_updates_and_rolls_back_on_three_clusters() {
    let options = DemoOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        sizes: vec![8, 20, 60],
        ready_after: Duration::from_millis(30),
        progress_bars: false,
    };
    let summary = tokio::time::timeout(Duration::from_secs(120), run(options, None)).await.expect("in time").unwrap();
    assert_eq!(summary.clusters.len(), 3);
    for c in &summary.clusters {
        assert!(c.desired > 0, "{c:?}");
        assert_eq!((c.ready, c.updated), (c.desired, c.desired), "{c:?}");
        assert_eq!(c.excluded, c.nodes - c.desired as usize);
    }
    assert!(summary.clusters[2].excluded > 0, "the GPU pool is tainted: {:?}", summary.clusters[2]);
    let old = "quay.io/fluentd_elasticsearch/fluentd:v5.0.1".to_string();
    let new = "quay.io/fluentd_elasticsearch/fluentd:v5.0.2".to_string();
    // Rolling back to revision 1 renumbers it to 3, as kubectl rollout undo does.
    assert_eq!(summary.revisions, vec![(2, new), (3, old.clone())]);
    assert_eq!(summary.image_at_end, old);
    let phases: Vec<&str> = summary.phases.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(phases, ["create", "update", "rollback"]);
}
