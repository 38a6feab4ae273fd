//! Revision write + read-back latency on PostgreSQL: a new template written (DaemonSet row, targets and
//! revision in one transaction), then the history read back. Prints p50 / p99 / max over many rounds.
//!
//! Run: `DATABASE_URL=postgres://… cargo bench --bench store` (a scratch database is created and dropped).

use std::str::FromStr;
use std::time::{Duration, Instant};

use chrono::Utc;
use daemonplane::store::*;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Executor};

const ROUNDS: usize = 1000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        println!("DATABASE_URL is not set: skipping the PostgreSQL store benchmark");
        return Ok(());
    };
    let admin = PgConnectOptions::from_str(&url)?;
    let scratch = format!("dp_bench_{}", std::process::id());
    let mut conn = admin.connect().await?;
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {scratch}"))).await?;
    let pool = PgPoolOptions::new().max_connections(4).connect_with(admin.clone().database(&scratch)).await?;
    let store = PgStore::from_pool(pool.clone());
    store.migrate().await?;
    let result = run(&store).await;
    pool.close().await;
    conn.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE {scratch}"))).await?;
    result
}

async fn run(store: &PgStore) -> anyhow::Result<()> {
    let now = Utc::now();
    for c in ["c1", "c2", "c3"] {
        let cluster = ClusterRecord {
            name: c.into(),
            labels: Default::default(),
            token_active: true,
            created_at: now,
            last_seen_at: None,
            shim_version: String::new(),
            node_count: 0,
        };
        store.create_cluster(&cluster, &format!("hash-{c}")).await?;
    }
    let template =
        |n: usize| format!("{{\"spec\":{{\"containers\":[{{\"image\":\"agent:{n}\",\"name\":\"agent\"}}]}}}}");
    let mut latencies = Vec::with_capacity(ROUNDS);
    for n in 1..=ROUNDS {
        let hash = format!("h{n:08}");
        let write = DaemonSetWrite {
            daemonset: DaemonSetRecord {
                uid: "bench-uid".into(),
                namespace: "kube-system".into(),
                name: "agent".into(),
                manifest: template(n),
                generation: n as i64,
                collision_count: None,
                current_revision: n as i64,
                current_hash: hash.clone(),
                deleting: false,
                created_at: now,
                updated_at: Utc::now(),
                rollout: RolloutSettings::default(),
                created_by: "token:bench".into(),
                updated_by: "token:bench".into(),
                targets: Vec::new(),
            },
            expected_generation: (n > 1).then(|| n as i64 - 1),
            targets: vec![("c1".into(), false), ("c2".into(), false), ("c3".into(), false)],
            revision: RevisionRecord {
                name: format!("agent-{hash}"),
                hash,
                revision: n as i64,
                template: template(n),
                change_cause: Some(format!("image agent:{n}")),
                created_at: Utc::now(),
                created_by: "token:bench".into(),
            },
        };
        let start = Instant::now();
        store.write_daemonset(&write).await?;
        let history = store.list_revisions("bench-uid").await?;
        latencies.push(start.elapsed());
        anyhow::ensure!(history.last().map(|r| r.revision) == Some(n as i64), "read back the new revision");
        // Keep the history at upstream's default size, as cleanupHistory would.
        if history.len() > 11 {
            store.delete_revisions("bench-uid", &[history[0].hash.clone()]).await?;
        }
    }
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1)];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "revision write + read-back on PostgreSQL, {ROUNDS} rounds: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(pct(0.50)),
        ms(pct(0.99)),
        ms(*latencies.last().unwrap())
    );
    Ok(())
}
