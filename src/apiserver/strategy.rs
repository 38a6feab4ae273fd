//! The DaemonSet registry strategy (`pkg/registry/apps/daemonset/strategy.go`) as daemonplane applies a
//! manifest: `PrepareForCreate`, `Validate`, `PrepareForUpdate` and `ValidateUpdate` between decoding the text
//! and storing the object.

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetSpec};

use super::daemonset::{validate_daemon_set, validate_daemon_set_update};
use super::defaults::set_defaults;
use super::field::{FieldError, Path, invalid};
use super::manifest::{ManifestError, parse_daemon_set};
use crate::engine::fit::PodDemand;

/// The namespace of a manifest that names none: kubectl fills it from its context, daemonplane's is this.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Why a manifest or a setting is refused.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum Rejection {
    /// The text is not one apps/v1 DaemonSet.
    #[error(transparent)]
    Undecodable(#[from] ManifestError),
    /// The object is invalid (the API server's 422): every error, in upstream's order.
    #[error("{}", join(.0))]
    Invalid(Vec<FieldError>),
}

fn join(errors: &[FieldError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// A manifest the strategy admitted.
#[derive(Clone, Debug, PartialEq)]
pub struct Admitted {
    /// As applied, with the namespace filled in and the server-owned fields dropped: what is stored.
    pub applied: DaemonSet,
    /// `applied` with the API server's defaults, valid: what revisions and the controller see.
    pub defaulted: DaemonSet,
}

/// Decodes a manifest, then prepares, defaults and validates it as the API server does on create; an update
/// admits its new object the same way before [`admit_update`].
pub fn admit(manifest: &str) -> Result<Admitted, Rejection> {
    let mut applied = parse_daemon_set(manifest)?;
    prepare_for_create(&mut applied);
    let mut defaulted = applied.clone();
    set_defaults(&mut defaulted);
    let errors = validate(&defaulted);
    if !errors.is_empty() {
        return Err(Rejection::Invalid(errors));
    }
    Ok(Admitted { applied, defaulted })
}

/// `PrepareForCreate` as far as a manifest goes: status, uid, resourceVersion and generation are the server's,
/// not the user's to set.
fn prepare_for_create(ds: &mut DaemonSet) {
    if ds.metadata.namespace.as_deref().unwrap_or_default().is_empty() {
        ds.metadata.namespace = Some(DEFAULT_NAMESPACE.to_string());
    }
    ds.status = None;
    ds.metadata.uid = None;
    ds.metadata.resource_version = None;
    ds.metadata.generation = None;
}

/// `Validate` on the defaulted object, then the resource quantities, which must parse for fit prediction (the
/// API server rejects what does not parse).
fn validate(ds: &DaemonSet) -> Vec<FieldError> {
    let mut errors = validate_daemon_set(ds);
    if errors.is_empty()
        && let Some(spec) = &ds.spec.template.spec
        && let Err(e) = PodDemand::from_pod_spec(spec)
    {
        // The quantity error names its container and resource, so it stands as the pod spec's bad value.
        errors.push(invalid(&Path::root("spec").child("template").child("spec"), e.to_string(), ""));
    }
    errors
}

/// `ValidateUpdate` of an admitted object over the stored one (as it was applied), both defaulted, then
/// `PrepareForUpdate`'s generation: the returned generation is `old_generation`, plus one when the spec changed.
pub fn admit_update(new_defaulted: &DaemonSet, old_applied: &DaemonSet, old_generation: i64) -> Result<i64, Rejection> {
    let mut old_defaulted = old_applied.clone();
    set_defaults(&mut old_defaulted);
    let errors = validate_daemon_set_update(new_defaulted, &old_defaulted);
    if !errors.is_empty() {
        return Err(Rejection::Invalid(errors));
    }
    Ok(old_generation + i64::from(spec_changed(&old_defaulted.spec, &new_defaulted.spec)))
}

/// Compared as JSON, so an emptied list is a change (upstream's `Semantic.DeepEqual` would call it equal).
fn spec_changed(old: &DaemonSetSpec, new: &DaemonSetSpec) -> bool {
    serde_json::to_value(old).ok() != serde_json::to_value(new).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::test_support::*;
    use serde_json::{Value, json};

    fn admitted(v: &Value) -> Admitted {
        admit(&v.to_string()).expect("admitted")
    }

    #[test]
    fn create_fills_the_namespace_and_drops_server_owned_fields() {
        let mut v = with(&[
            ("metadata/uid", json!("u-1")),
            ("metadata/resourceVersion", json!("42")),
            ("metadata/generation", json!(7)),
            (
                "status",
                json!({"numberReady": 3, "currentNumberScheduled": 3, "desiredNumberScheduled": 3, "numberMisscheduled": 0}),
            ),
        ]);
        remove(&mut v, "metadata/namespace");
        let Admitted { applied, defaulted } = admitted(&v);
        assert_eq!(applied.metadata.namespace.as_deref(), Some(DEFAULT_NAMESPACE));
        assert_eq!((applied.metadata.uid, applied.metadata.resource_version), (None, None));
        assert_eq!((applied.metadata.generation, applied.status), (None, None));
        // What is stored is not defaulted; what is validated is.
        assert_eq!(applied.spec.update_strategy, None);
        assert_eq!(defaulted.spec.revision_history_limit, Some(10));
        // A namespace that is given is kept.
        let kept = admitted(&with(&[("metadata/namespace", json!("kube-system"))]));
        assert_eq!(kept.applied.metadata.namespace.as_deref(), Some("kube-system"));
    }

    #[test]
    fn rejections_say_why() {
        assert_eq!(admit("  "), Err(Rejection::Undecodable(ManifestError::Empty)));
        assert_eq!(admit("  ").unwrap_err().to_string(), "manifest is empty");
        let mut v = with(&[("spec/minReadySeconds", json!(-1))]);
        remove(&mut v, "metadata/name");
        let Err(Rejection::Invalid(errors)) = admit(&v.to_string()) else { panic!("invalid") };
        assert_eq!(
            render(&errors),
            vec![
                "metadata.name: Required value: name or generateName is required",
                "spec.minReadySeconds: Invalid value: -1: must be greater than or equal to 0",
            ]
        );
        assert_eq!(
            Rejection::Invalid(errors).to_string(),
            "metadata.name: Required value: name or generateName is required; \
             spec.minReadySeconds: Invalid value: -1: must be greater than or equal to 0"
        );
    }

    #[test]
    fn resource_quantities_must_parse() {
        let v = with(&[("spec/template/spec/containers/0/resources", json!({"requests": {"cpu": "abc"}}))]);
        let rejection = admit(&v.to_string()).unwrap_err();
        assert_eq!(
            rejection.to_string(),
            "spec.template.spec: Invalid value: container \"abc\" requests.cpu: invalid quantity \"abc\": \
             expected <number><suffix>, e.g. 100m, 1.5Gi, 1e3"
        );
        let Rejection::Invalid(errors) = rejection else { panic!("invalid") };
        assert_eq!(errors[0].field(), "spec.template.spec");
        // Quantities are only looked at once the object is otherwise valid.
        let both = with(&[
            ("spec/template/spec/containers/0/resources", json!({"requests": {"cpu": "abc"}})),
            ("spec/minReadySeconds", json!(-1)),
        ]);
        assert_eq!(
            admit(&both.to_string()).unwrap_err().to_string(),
            "spec.minReadySeconds: Invalid value: -1: must be greater than or equal to 0"
        );
    }

    #[test]
    fn generation_rises_only_when_the_defaulted_spec_changes() {
        let old = admitted(&base()).applied;
        let same = admitted(&base()).defaulted;
        assert_eq!(admit_update(&same, &old, 3), Ok(3));
        let relabeled = admitted(&with(&[("metadata/labels", json!({"team": "x"}))])).defaulted;
        assert_eq!(admit_update(&relabeled, &old, 3), Ok(3), "metadata is not the spec");
        // Spelling out a default is no change either: both sides are compared defaulted.
        let explicit = admitted(&with(&[("spec/revisionHistoryLimit", json!(10))])).defaulted;
        assert_eq!(admit_update(&explicit, &old, 3), Ok(3));
        let new_image = admitted(&with(&[("spec/template/spec/containers/0/image", json!("image:2"))])).defaulted;
        assert_eq!(admit_update(&new_image, &old, 3), Ok(4));
    }

    #[test]
    fn update_rules_apply() {
        let old = admitted(&base()).applied;
        let moved = admitted(&with(&[
            ("spec/selector", json!({"matchLabels": {"c": "d"}})),
            ("spec/template/metadata/labels", json!({"c": "d"})),
        ]))
        .defaulted;
        assert_eq!(
            admit_update(&moved, &old, 1).unwrap_err().to_string(),
            "spec.selector: Invalid value: {\"matchLabels\":{\"c\":\"d\"}}: field is immutable"
        );
    }
}
