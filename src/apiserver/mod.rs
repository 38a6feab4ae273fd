//! What the Kubernetes API server does to an apps/v1 DaemonSet before a controller sees it: decoding,
//! defaulting, validation with field paths (upstream's paths and messages), and the create/update strategy.
//! Pure, like the engine: the engine may use these value types and functions, never the other way round.
//!
//! Call [`defaults::set_defaults`] first and validate the defaulted object, as the API server does.

mod containers;
pub mod daemonset;
pub mod defaults;
mod env;
pub mod field;
pub mod intstr;
pub mod manifest;
pub mod metadata;
pub mod names;
mod pod_spec;
mod probes;
pub mod rollout_settings;
mod scheduling;
pub mod strategy;
#[cfg(test)]
mod test_support;
mod volumes;

/// Go's zero value for the string fields k8s-openapi makes optional: absent reads as "".
fn or_empty(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}
