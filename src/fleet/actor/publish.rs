//! What a round makes visible outside the actor: status and revision usage per DaemonSet in the store (written
//! only when they changed), history cleanup once a revision is no longer run, and the end of a removal.

use std::collections::{BTreeMap, HashMap};

use super::round::Round;
use crate::engine::status::StatusCounts;
use crate::fleet::{Fleet, FleetError};

/// What this actor last stored, per DaemonSet uid.
#[derive(Default)]
pub(super) struct Published {
    pub status: HashMap<String, StatusCounts>,
    usage: HashMap<String, BTreeMap<String, i32>>,
}

impl Published {
    /// Stores what changed in `round`.
    pub async fn publish(&mut self, fleet: &Fleet, cluster: &str, round: Round) -> Result<(), FleetError> {
        let store = fleet.store();
        let mut status_changed = false;
        for (uid, status) in round.statuses {
            if self.status.get(&uid) != Some(&status) {
                store.set_target_status(&uid, cluster, &status).await?;
                self.status.insert(uid, status);
                status_changed = true;
            }
        }
        if status_changed {
            fleet.notify_status();
        }
        for (uid, usage) in round.usages {
            let old = self.usage.get(&uid);
            if old == Some(&usage) {
                continue;
            }
            let hashes_changed = old.is_none_or(|old| !old.keys().eq(usage.keys()));
            store.set_target_revision_usage(&uid, cluster, &usage).await?;
            self.usage.insert(uid.clone(), usage);
            // A revision no pod runs any more may now be pruned.
            if hashes_changed {
                fleet.cleanup_history(&uid).await?;
            }
        }
        if !round.removed.is_empty() {
            for uid in &round.removed {
                store.finish_target_removal(uid, cluster).await?;
            }
            fleet.reload_catalog().await?;
        }
        Ok(())
    }
}
