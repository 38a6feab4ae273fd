//! The store suite, run on PostgreSQL and on SQLite through `#[sqlx::test]`.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use daemonplane::store::*;

/// Runs a store test on both backends.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::*;
            #[sqlx::test(migrations = "./migrations/postgres")]
            async fn postgres(pool: sqlx::PgPool) {
                super::$name(Arc::new(PgStore::from_pool(pool))).await
            }
            #[sqlx::test(migrations = "./migrations/sqlite")]
            async fn sqlite(pool: sqlx::SqlitePool) {
                super::$name(Arc::new(SqliteStore::from_pool(pool))).await
            }
        }
    )*};
}

on_both_backends!(
    clusters_round_trip,
    tokens_rotate_and_revoke,
    token_rotation_overlap,
    api_tokens_round_trip,
    daemonset_create_update_and_conflict,
    revisions_renumber_on_reuse,
    targets_removal_and_deleting,
    status_round_trip,
    intents_round_trip,
    revision_usage_and_pruning,
);

fn at(secs: i64) -> chrono::DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
}

fn cluster(name: &str) -> ClusterRecord {
    ClusterRecord {
        name: name.into(),
        labels: [("env".to_string(), "prod".to_string())].into(),
        token_active: true,
        created_at: at(0),
        last_seen_at: None,
        shim_version: String::new(),
        node_count: 0,
    }
}

fn daemonset(uid: &str, name: &str, generation: i64, hash: &str, revision: i64) -> DaemonSetRecord {
    DaemonSetRecord {
        uid: uid.into(),
        namespace: "default".into(),
        name: name.into(),
        manifest: format!("{{\"gen\":{generation}}}"),
        generation,
        collision_count: None,
        current_revision: revision,
        current_hash: hash.into(),
        deleting: false,
        created_at: at(1),
        updated_at: at(generation),
        rollout: RolloutSettings {
            partition: "20%".into(),
            paused: generation > 1,
            node_selector: [("canary".to_string(), "true".to_string())].into(),
            strict_budget: true,
        },
        created_by: "token:creator".into(),
        updated_by: format!("token:gen{generation}"),
        targets: vec![],
    }
}

fn revision(hash: &str, number: i64, template: &str) -> RevisionRecord {
    RevisionRecord {
        hash: hash.into(),
        revision: number,
        name: format!("ds-{hash}"),
        template: template.into(),
        change_cause: Some(format!("set {template}")),
        created_at: at(number),
        created_by: format!("token:rev{number}"),
    }
}

async fn clusters_round_trip(store: Arc<dyn Store>) {
    store.create_cluster(&cluster("b"), "hash-b").await.unwrap();
    store.create_cluster(&cluster("a"), "hash-a").await.unwrap();
    assert!(matches!(store.create_cluster(&cluster("a"), "hash-x").await, Err(StoreError::AlreadyExists(_))));
    let all = store.list_clusters().await.unwrap();
    assert_eq!(all.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(store.get_cluster("a").await.unwrap().unwrap(), cluster("a"));
    assert!(store.get_cluster("zzz").await.unwrap().is_none());
    let seen = ClusterSeen { name: "a".into(), at: at(50), shim_version: "shim/2".into(), node_count: 12 };
    store.record_cluster_seen(&seen).await.unwrap();
    let a = store.get_cluster("a").await.unwrap().unwrap();
    assert_eq!((a.last_seen_at, a.shim_version.as_str(), a.node_count), (Some(at(50)), "shim/2", 12));
}

async fn tokens_rotate_and_revoke(store: Arc<dyn Store>) {
    let by_hash = |hash: &'static str| {
        let store = Arc::clone(&store);
        async move { store.cluster_by_token_hash(hash, at(10)).await.unwrap() }
    };
    store.create_cluster(&cluster("a"), "h1").await.unwrap();
    assert_eq!(by_hash("h1").await.unwrap().0.name, "a");
    store.set_cluster_token("a", Some("h2"), None).await.unwrap();
    assert!(by_hash("h1").await.is_none());
    assert!(by_hash("h2").await.is_some());
    store.set_cluster_token("a", None, None).await.unwrap();
    assert!(by_hash("h2").await.is_none());
    assert!(!store.get_cluster("a").await.unwrap().unwrap().token_active);
    assert!(matches!(store.set_cluster_token("nope", None, None).await, Err(StoreError::NotFound(_))));
}

async fn token_rotation_overlap(store: Arc<dyn Store>) {
    store.create_cluster(&cluster("a"), "h1").await.unwrap();
    store.set_cluster_token("a", Some("h2"), Some(at(60))).await.unwrap();
    let (record, matched) = store.cluster_by_token_hash("h1", at(59)).await.unwrap().unwrap();
    assert_eq!((record.name.as_str(), matched), ("a", TokenMatch::Previous { valid_until: at(60) }));
    assert!(store.cluster_by_token_hash("h1", at(60)).await.unwrap().is_none(), "the overlap ends at its time");
    assert_eq!(store.cluster_by_token_hash("h2", at(59)).await.unwrap().unwrap().1, TokenMatch::Current);
    // A second rotation replaces the previous token; a rotation without overlap ends it at once.
    store.set_cluster_token("a", Some("h3"), Some(at(120))).await.unwrap();
    assert!(store.cluster_by_token_hash("h1", at(59)).await.unwrap().is_none());
    assert!(store.cluster_by_token_hash("h2", at(100)).await.unwrap().is_some());
    store.set_cluster_token("a", Some("h4"), None).await.unwrap();
    assert!(store.cluster_by_token_hash("h3", at(100)).await.unwrap().is_none());
    // Revocation ends every token.
    store.set_cluster_token("a", Some("h5"), Some(at(120))).await.unwrap();
    store.set_cluster_token("a", None, None).await.unwrap();
    for hash in ["h4", "h5"] {
        assert!(store.cluster_by_token_hash(hash, at(100)).await.unwrap().is_none(), "{hash}");
    }
}

fn api_token(name: &str, role: &str, namespaces: &[&str]) -> ApiTokenRecord {
    ApiTokenRecord {
        name: name.into(),
        role: role.into(),
        namespaces: namespaces.iter().map(|n| n.to_string()).collect(),
        created_at: at(1),
        expires_at: Some(at(3600)),
        created_by: "token:bootstrap-admin".into(),
        revoked_at: None,
    }
}

async fn api_tokens_round_trip(store: Arc<dyn Store>) {
    let first = api_token("bootstrap-admin", "admin", &[]);
    assert!(store.create_first_api_token(&first, "hb").await.unwrap());
    let second = api_token("other-admin", "admin", &[]);
    assert!(!store.create_first_api_token(&second, "hx").await.unwrap(), "only while there is none");
    let ci = api_token("ci", "operator", &["team-a", "team-b"]);
    store.create_api_token(&ci, "hc").await.unwrap();
    assert!(matches!(store.create_api_token(&ci, "hd").await, Err(StoreError::AlreadyExists(_))));
    assert!(matches!(
        store.create_api_token(&api_token("dup-hash", "viewer", &[]), "hc").await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(store.api_token_by_hash("hc").await.unwrap(), Some(ci.clone()));
    assert_eq!(store.api_token_by_hash("hx").await.unwrap(), None);
    let names: Vec<String> = store.list_api_tokens().await.unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["bootstrap-admin", "ci"]);
    let revoked = store.revoke_api_token("ci", at(20)).await.unwrap();
    assert_eq!(revoked.revoked_at, Some(at(20)));
    assert_eq!(store.revoke_api_token("ci", at(30)).await.unwrap().revoked_at, Some(at(20)), "first time kept");
    assert_eq!(store.api_token_by_hash("hc").await.unwrap().unwrap().revoked_at, Some(at(20)));
    assert!(matches!(store.revoke_api_token("nope", at(20)).await, Err(StoreError::NotFound(_))));
}

async fn daemonset_create_update_and_conflict(store: Arc<dyn Store>) {
    store.create_cluster(&cluster("c1"), "h").await.unwrap();
    let create = DaemonSetWrite {
        daemonset: daemonset("u1", "agent", 1, "ha", 1),
        expected_generation: None,
        targets: vec![("c1".into(), false)],
        revision: revision("ha", 1, "A"),
    };
    store.write_daemonset(&create).await.unwrap();
    let got = store.get_daemonset("default", "agent").await.unwrap().unwrap();
    assert_eq!(got.generation, 1);
    assert_eq!(got.targets.len(), 1);
    assert_eq!((got.targets[0].cluster.as_str(), got.targets[0].removing), ("c1", false));
    // Creating the same name again conflicts.
    let mut dup = create.clone();
    dup.daemonset.uid = "u2".into();
    assert!(matches!(store.write_daemonset(&dup).await, Err(StoreError::Conflict(_))));
    // An update computed from a stale generation conflicts; from the current one it lands.
    let mut update = create.clone();
    update.daemonset = daemonset("u1", "agent", 2, "hb", 2);
    update.revision = revision("hb", 2, "B");
    update.expected_generation = Some(5);
    assert!(matches!(store.write_daemonset(&update).await, Err(StoreError::Conflict(_))));
    update.expected_generation = Some(1);
    store.write_daemonset(&update).await.unwrap();
    let got = store.get_daemonset("default", "agent").await.unwrap().unwrap();
    assert_eq!((got.generation, got.current_hash.as_str(), got.current_revision), (2, "hb", 2));
    assert_eq!(got.rollout, update.daemonset.rollout, "rollout settings round-trip");
    assert_eq!((got.created_by.as_str(), got.updated_by.as_str()), ("token:creator", "token:gen2"), "authors");
    assert!(got.rollout.paused);
    let listed = store.list_daemonsets(Some("default")).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].targets.len(), 1);
    assert!(store.list_daemonsets(Some("other")).await.unwrap().is_empty());
    assert_eq!(store.list_daemonsets(None).await.unwrap().len(), 1);
}

async fn revisions_renumber_on_reuse(store: Arc<dyn Store>) {
    let mut w = DaemonSetWrite {
        daemonset: daemonset("u1", "agent", 1, "ha", 1),
        expected_generation: None,
        targets: vec![],
        revision: revision("ha", 1, "A"),
    };
    store.write_daemonset(&w).await.unwrap();
    w.daemonset = daemonset("u1", "agent", 2, "hb", 2);
    w.expected_generation = Some(1);
    w.revision = revision("hb", 2, "B");
    store.write_daemonset(&w).await.unwrap();
    // Back to A: the same row, renumbered to 3, its change cause kept from when it was made.
    w.daemonset = daemonset("u1", "agent", 3, "ha", 3);
    w.expected_generation = Some(2);
    let mut again = revision("ha", 3, "A");
    again.change_cause = Some("later".into());
    w.revision = again;
    store.write_daemonset(&w).await.unwrap();
    let revs = store.list_revisions("u1").await.unwrap();
    assert_eq!(revs.iter().map(|r| (r.hash.as_str(), r.revision)).collect::<Vec<_>>(), [("hb", 2), ("ha", 3)]);
    assert_eq!(revs[1].change_cause.as_deref(), Some("set A"));
    assert_eq!(revs[1].template, "A");
    assert_eq!(revs[1].created_by, "token:rev3", "the author of the reuse");
    // Writing the current revision again (a change of targets or settings) keeps its author.
    w.daemonset = daemonset("u1", "agent", 3, "ha", 3);
    w.expected_generation = Some(3);
    w.revision.created_by = "token:someone-else".into();
    store.write_daemonset(&w).await.unwrap();
    assert_eq!(store.list_revisions("u1").await.unwrap()[1].created_by, "token:rev3");
    store.delete_daemonset("u1").await.unwrap();
    assert!(store.list_revisions("u1").await.unwrap().is_empty(), "revisions go with their DaemonSet");
}

async fn targets_removal_and_deleting(store: Arc<dyn Store>) {
    for c in ["c1", "c2"] {
        store.create_cluster(&cluster(c), &format!("h{c}")).await.unwrap();
    }
    let w = DaemonSetWrite {
        daemonset: daemonset("u1", "agent", 1, "ha", 1),
        expected_generation: None,
        targets: vec![("c1".into(), false), ("c2".into(), false)],
        revision: revision("ha", 1, "A"),
    };
    store.write_daemonset(&w).await.unwrap();
    // Dropping c2 from the targets marks it removing; a removal of a non-removing target does nothing.
    let mut w2 = w.clone();
    w2.daemonset.generation = 1;
    w2.expected_generation = Some(1);
    w2.targets = vec![("c1".into(), false), ("c2".into(), true)];
    store.write_daemonset(&w2).await.unwrap();
    assert!(!store.finish_target_removal("u1", "c1").await.unwrap());
    assert!(!store.finish_target_removal("u1", "c2").await.unwrap());
    let got = store.get_daemonset("default", "agent").await.unwrap().unwrap();
    assert_eq!(got.targets.iter().map(|t| t.cluster.as_str()).collect::<Vec<_>>(), ["c1"]);
    // Deleting: every target removing; the DaemonSet goes with its last target.
    store.mark_daemonset_deleting("u1", "token:t").await.unwrap();
    let got = store.get_daemonset("default", "agent").await.unwrap().unwrap();
    assert!(got.deleting && got.targets.iter().all(|t| t.removing));
    assert_eq!(got.updated_by, "token:t", "the deletion's author");
    assert!(store.finish_target_removal("u1", "c1").await.unwrap());
    assert!(store.get_daemonset("default", "agent").await.unwrap().is_none());
    assert!(matches!(store.mark_daemonset_deleting("u1", "token:t").await, Err(StoreError::NotFound(_))));
}

async fn status_round_trip(store: Arc<dyn Store>) {
    store.create_cluster(&cluster("c1"), "h").await.unwrap();
    let w = DaemonSetWrite {
        daemonset: daemonset("u1", "agent", 1, "ha", 1),
        expected_generation: None,
        targets: vec![("c1".into(), false)],
        revision: revision("ha", 1, "A"),
    };
    store.write_daemonset(&w).await.unwrap();
    let s = StatusCounts {
        desired_number_scheduled: 5,
        current_number_scheduled: 4,
        number_misscheduled: 1,
        number_ready: 3,
        updated_number_scheduled: 2,
        number_available: 3,
        number_unavailable: 2,
        observed_generation: 1,
        predicted_pending: 1,
    };
    store.set_target_status("u1", "c1", &s).await.unwrap();
    let got = store.get_daemonset("default", "agent").await.unwrap().unwrap();
    assert_eq!(got.targets[0].status, s);
    // Re-writing the targets keeps the stored status.
    let mut w2 = w.clone();
    w2.expected_generation = Some(1);
    store.write_daemonset(&w2).await.unwrap();
    assert_eq!(store.get_daemonset("default", "agent").await.unwrap().unwrap().targets[0].status, s);
}

async fn intents_round_trip(store: Arc<dyn Store>) {
    store.create_cluster(&cluster("c1"), "h").await.unwrap();
    let intent = |id: &str, kind: IntentKind, secs: i64| ActionIntent {
        id: id.into(),
        cluster: "c1".into(),
        ds_uid: "u1".into(),
        kind,
        node: "n1".into(),
        pod_namespace: "default".into(),
        pod_name: format!("agent-{id}"),
        pod_uid: if kind == IntentKind::Delete { "pod-uid".into() } else { String::new() },
        payload: if kind == IntentKind::Create { "{\"kind\":\"Pod\"}".into() } else { String::new() },
        created_at: at(secs),
    };
    let all = vec![intent("b", IntentKind::Delete, 2), intent("a", IntentKind::Create, 1)];
    store.insert_intents(&all).await.unwrap();
    let listed = store.list_intents("c1").await.unwrap();
    assert_eq!(listed, vec![all[1].clone(), all[0].clone()], "oldest first, every field intact");
    store.delete_intents(&["a".to_string()]).await.unwrap();
    assert_eq!(store.list_intents("c1").await.unwrap(), vec![all[0].clone()]);
    assert!(store.list_intents("c2").await.unwrap().is_empty());
}

async fn revision_usage_and_pruning(store: Arc<dyn Store>) {
    store.create_cluster(&cluster("c1"), "h").await.unwrap();
    let mut w = DaemonSetWrite {
        daemonset: daemonset("u1", "agent", 1, "ha", 1),
        expected_generation: None,
        targets: vec![("c1".into(), false)],
        revision: revision("ha", 1, "A"),
    };
    store.write_daemonset(&w).await.unwrap();
    w.daemonset = daemonset("u1", "agent", 2, "hb", 2);
    w.expected_generation = Some(1);
    w.revision = revision("hb", 2, "B");
    store.write_daemonset(&w).await.unwrap();
    let usage: std::collections::BTreeMap<String, i32> = [("ha".to_string(), 3), ("hb".to_string(), 1)].into();
    store.set_target_revision_usage("u1", "c1", &usage).await.unwrap();
    let got = store.get_daemonset("default", "agent").await.unwrap().unwrap();
    assert_eq!(got.targets[0].revision_usage, usage);
    store.delete_revisions("u1", &["ha".to_string()]).await.unwrap();
    let left: Vec<String> = store.list_revisions("u1").await.unwrap().into_iter().map(|r| r.hash).collect();
    assert_eq!(left, ["hb"]);
}
