//! Runs actions from the service against the cluster, at most a bounded number at a time, exactly once per
//! action id: a redelivered action (the service resends in-flight intents after a reconnect) is answered with
//! the result of its first run instead of running again.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::{Semaphore, mpsc};

use super::{Applier, Outcome};
use crate::pb;
use crate::pb::action::Kind as ActionKind;

/// How many finished action results are remembered for redeliveries.
const REMEMBERED_RESULTS: usize = 8192;

#[derive(Default)]
struct Ledger {
    in_flight: HashSet<String>,
    done: HashMap<String, pb::ActionResult>,
    done_order: VecDeque<String>,
}

impl Ledger {
    fn finish(&mut self, result: &pb::ActionResult) {
        self.in_flight.remove(&result.action_id);
        if self.done.insert(result.action_id.clone(), result.clone()).is_none() {
            self.done_order.push_back(result.action_id.clone());
        }
        while self.done_order.len() > REMEMBERED_RESULTS {
            if let Some(old) = self.done_order.pop_front() {
                self.done.remove(&old);
            }
        }
    }
}

/// What to do with an incoming action.
#[derive(Debug, PartialEq)]
pub enum Accepted {
    /// Started; its result arrives on the results channel.
    Started,
    /// Already running; its result will arrive when it ends.
    AlreadyRunning,
    /// Already finished: send this result again.
    Finished(pb::ActionResult),
    /// Cannot be run or reported (no id).
    Ignored(&'static str),
}

/// Lives across sessions, so results of actions that finish while disconnected are reported on the next one.
pub struct Dispatcher {
    applier: Arc<dyn Applier>,
    permits: Arc<Semaphore>,
    ledger: Arc<Mutex<Ledger>>,
    results: mpsc::UnboundedSender<pb::ActionResult>,
}

fn result(action_id: &str, outcome: Outcome) -> pb::ActionResult {
    pb::ActionResult {
        action_id: action_id.to_string(),
        outcome: if outcome.succeeded { pb::ActionOutcome::Succeeded } else { pb::ActionOutcome::Failed } as i32,
        message: outcome.message,
        pod_uid: outcome.pod_uid,
    }
}

impl Dispatcher {
    /// A dispatcher and the channel its results arrive on.
    pub fn new(applier: Arc<dyn Applier>, parallel: usize) -> (Self, mpsc::UnboundedReceiver<pb::ActionResult>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let d = Dispatcher {
            applier,
            permits: Arc::new(Semaphore::new(parallel.max(1))),
            ledger: Arc::default(),
            results: tx,
        };
        (d, rx)
    }

    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes one action from the service.
    pub fn accept(&self, action: pb::Action) -> Accepted {
        if action.action_id.is_empty() {
            return Accepted::Ignored("action without an action_id");
        }
        {
            let mut ledger = self.ledger();
            if let Some(done) = ledger.done.get(&action.action_id) {
                return Accepted::Finished(done.clone());
            }
            if !ledger.in_flight.insert(action.action_id.clone()) {
                return Accepted::AlreadyRunning;
            }
        }
        let applier = Arc::clone(&self.applier);
        let permits = Arc::clone(&self.permits);
        let ledger = Arc::clone(&self.ledger);
        let results = self.results.clone();
        tokio::spawn(async move {
            let outcome = match permits.acquire_owned().await {
                Ok(_permit) => match &action.kind {
                    Some(ActionKind::CreatePod(create)) => applier.create_pod(create).await,
                    Some(ActionKind::DeletePod(delete)) => applier.delete_pod(delete).await,
                    None => Outcome::failed("malformed action: it carries neither create_pod nor delete_pod"),
                },
                Err(_) => Outcome::failed("the shim is shutting down"),
            };
            let r = result(&action.action_id, outcome);
            match &action.kind {
                Some(ActionKind::CreatePod(c)) if r.outcome == pb::ActionOutcome::Failed as i32 => {
                    tracing::warn!(action = %r.action_id, pod = %format!("{}/{}", c.namespace, c.name), error = %r.message, "create failed")
                }
                Some(ActionKind::DeletePod(d)) if r.outcome == pb::ActionOutcome::Failed as i32 => {
                    tracing::warn!(action = %r.action_id, pod = %format!("{}/{}", d.namespace, d.name), error = %r.message, "delete failed")
                }
                _ => tracing::debug!(action = %r.action_id, outcome = r.outcome, "action done"),
            }
            ledger.lock().unwrap_or_else(|e| e.into_inner()).finish(&r);
            let _ = results.send(r);
        });
        Accepted::Started
    }

    /// Number of actions still running.
    pub fn in_flight(&self) -> usize {
        self.ledger().in_flight.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct Counting(AtomicUsize);

    #[async_trait]
    impl Applier for Counting {
        async fn create_pod(&self, c: &pb::CreatePod) -> Outcome {
            self.0.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            Outcome::succeeded(format!("uid-{}", c.name))
        }
        async fn delete_pod(&self, _: &pb::DeletePod) -> Outcome {
            Outcome::failed("forbidden")
        }
    }

    fn create(id: &str) -> pb::Action {
        pb::Action {
            action_id: id.into(),
            kind: Some(ActionKind::CreatePod(pb::CreatePod { name: format!("p-{id}"), ..Default::default() })),
        }
    }

    #[tokio::test]
    async fn each_action_id_runs_once_and_redeliveries_get_the_first_result() {
        let applier = Arc::new(Counting::default());
        let (d, mut rx) = Dispatcher::new(applier.clone(), 4);
        assert_eq!(d.accept(create("a")), Accepted::Started);
        assert_eq!(d.accept(create("a")), Accepted::AlreadyRunning);
        let r = rx.recv().await.unwrap();
        assert_eq!((r.action_id.as_str(), r.pod_uid.as_str()), ("a", "uid-p-a"));
        assert_eq!(r.outcome, pb::ActionOutcome::Succeeded as i32);
        assert_eq!(d.accept(create("a")), Accepted::Finished(r));
        assert_eq!(applier.0.load(Ordering::SeqCst), 1);
        assert_eq!(d.in_flight(), 0);
    }

    #[tokio::test]
    async fn malformed_and_failing_actions_are_reported_failed() {
        let (d, mut rx) = Dispatcher::new(Arc::new(Counting::default()), 1);
        assert!(matches!(d.accept(pb::Action { action_id: String::new(), kind: None }), Accepted::Ignored(_)));
        d.accept(pb::Action { action_id: "x".into(), kind: None });
        let r = rx.recv().await.unwrap();
        assert_eq!(r.outcome, pb::ActionOutcome::Failed as i32);
        assert!(r.message.contains("neither create_pod nor delete_pod"), "{}", r.message);
        d.accept(pb::Action { action_id: "y".into(), kind: Some(ActionKind::DeletePod(pb::DeletePod::default())) });
        let r = rx.recv().await.unwrap();
        assert_eq!((r.outcome, r.message.as_str()), (pb::ActionOutcome::Failed as i32, "forbidden"));
    }
}
