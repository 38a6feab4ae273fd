//! The pure heart of daemonplane: placement, per-node reconcile, revisions and status. No I/O, no clock, no
//! async: time and state are arguments, and the same input always gives the same plan.

pub mod atom;
mod atom_set;
pub mod backoff;
pub mod daemonset;
pub mod daemonset_util;
pub mod explain;
pub mod fit;
pub mod label_set;
pub mod manage;
pub mod model;
pub mod placement;
pub mod pod;
pub mod pod_selector;
pub mod revision;
pub mod rolling_update;
pub mod selector;
pub mod status;
pub mod taint;
pub mod view;
