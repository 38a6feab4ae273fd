//! Volumes and volume mounts: `ValidateVolumes` (which volume source, its name, hostPath) and
//! `ValidateVolumeMounts` (`pkg/apis/core/validation/validation.go`).
//!
//! Not validated: volume devices, and per-type volume source fields other than hostPath.

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::core::v1::{Container, Volume, VolumeMount};

use super::field::{FieldError, Path, duplicate, forbidden, go_quote, invalid, not_found, not_supported, required};
use super::names::is_dns1123_label;
use super::or_empty;

/// The volumes a container may mount, by name: those without errors.
pub(super) type Volumes<'a> = BTreeMap<&'a str, &'a Volume>;

/// Volume source fields in upstream's check order: (JSON key, name used in the error path). The path names
/// keep upstream's spellings, typo included.
const VOLUME_SOURCES: &[(&str, &str)] = &[
    ("emptyDir", "emptyDir"),
    ("hostPath", "hostPath"),
    ("gitRepo", "gitRepo"),
    ("gcePersistentDisk", "gcePersistentDisk"),
    ("awsElasticBlockStore", "awsElasticBlockStore"),
    ("secret", "secret"),
    ("nfs", "nfs"),
    ("iscsi", "iscsi"),
    ("glusterfs", "glusterfs"),
    ("flocker", "flocker"),
    ("persistentVolumeClaim", "persistentVolumeClaim"),
    ("rbd", "rbd"),
    ("cinder", "cinder"),
    ("cephfs", "cephFS"),
    ("quobyte", "quobyte"),
    ("downwardAPI", "downwarAPI"),
    ("fc", "fc"),
    ("flexVolume", "flexVolume"),
    ("configMap", "configMap"),
    ("azureFile", "azureFile"),
    ("vsphereVolume", "vsphereVolume"),
    ("photonPersistentDisk", "photonPersistentDisk"),
    ("portworxVolume", "portworxVolume"),
    ("azureDisk", "azureDisk"),
    ("storageos", "storageos"),
    ("projected", "projected"),
    ("scaleIO", "scaleIO"),
    ("csi", "csi"),
    ("ephemeral", "ephemeral"),
    ("image", "image"),
];

/// The source fields a volume sets, in upstream's order (k8s-openapi flattens VolumeSource into Volume).
pub(super) fn volume_source_keys(v: &Volume) -> Vec<&'static str> {
    let value = serde_json::to_value(v).unwrap_or_default();
    VOLUME_SOURCES
        .iter()
        .filter(|(key, _)| value.get(key).is_some_and(|x| !x.is_null()))
        .map(|(_, path_name)| *path_name)
        .collect()
}

pub(super) fn validate_volumes<'a>(
    volumes: &'a [Volume],
    path: &Path,
    errs: &mut Vec<FieldError>,
) -> BTreeMap<&'a str, &'a Volume> {
    let mut valid = BTreeMap::new();
    for (i, v) in volumes.iter().enumerate() {
        let idx = path.index(i);
        let mut el = Vec::new();
        validate_volume_source(v, &idx, &mut el);
        let name_path = idx.child("name");
        if v.name.is_empty() {
            el.push(required(&name_path, ""));
        } else {
            for msg in is_dns1123_label(&v.name) {
                el.push(invalid(&name_path, go_quote(&v.name), msg));
            }
        }
        if valid.contains_key(v.name.as_str()) {
            el.push(duplicate(&name_path, go_quote(&v.name)));
        }
        // Only volumes without errors can be mounted; mounts of the others report NotFound.
        if el.is_empty() {
            valid.insert(v.name.as_str(), v);
        } else {
            errs.extend(el);
        }
    }
    valid
}

fn validate_volume_source(v: &Volume, path: &Path, errs: &mut Vec<FieldError>) {
    let keys = volume_source_keys(v);
    if keys.is_empty() {
        errs.push(required(path, "must specify a volume type"));
        return;
    }
    for key in &keys[1..] {
        errs.push(forbidden(&path.child(key), "may not specify more than 1 volume type"));
    }
    if keys[0] == "hostPath"
        && let Some(hp) = &v.host_path
    {
        let hp_path = path.child("hostPath");
        if hp.path.is_empty() {
            errs.push(required(&hp_path.child("path"), ""));
            return;
        }
        validate_path_no_backsteps(&hp.path, &hp_path.child("path"), errs);
        if let Some(t) = &hp.type_ {
            const TYPES: [&str; 8] =
                ["", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"];
            if !TYPES.contains(&t.as_str()) {
                errs.push(not_supported(&hp_path.child("type"), go_quote(t), &TYPES));
            }
        }
    }
}

fn validate_path_no_backsteps(target: &str, path: &Path, errs: &mut Vec<FieldError>) {
    if target.split('/').any(|part| part == "..") {
        errs.push(invalid(path, go_quote(target), "must not contain '..'"));
    }
}

fn validate_local_descending_path(target: &str, path: &Path, errs: &mut Vec<FieldError>) {
    if target.starts_with('/') {
        errs.push(invalid(path, go_quote(target), "must be a relative path"));
    }
    validate_path_no_backsteps(target, path, errs);
}

pub(super) fn validate_volume_mounts(c: &Container, volumes: &Volumes<'_>, path: &Path, errs: &mut Vec<FieldError>) {
    let privileged = c.security_context.as_ref().and_then(|sc| sc.privileged) == Some(true);
    let mut mount_points = HashSet::new();
    for (i, m) in c.volume_mounts.iter().flatten().enumerate() {
        let idx = path.index(i);
        validate_volume_mount(m, volumes, &idx, path, privileged, &mut mount_points, errs);
    }
}

fn validate_volume_mount<'a>(
    m: &'a VolumeMount,
    volumes: &Volumes<'_>,
    idx: &Path,
    list_path: &Path,
    privileged: bool,
    mount_points: &mut HashSet<&'a str>,
    errs: &mut Vec<FieldError>,
) {
    if m.name.is_empty() {
        errs.push(required(&idx.child("name"), ""));
    }
    let volume = volumes.get(m.name.as_str());
    if volume.is_none() {
        errs.push(not_found(&idx.child("name"), go_quote(&m.name)));
    }
    if m.mount_path.is_empty() {
        errs.push(required(&idx.child("mountPath"), ""));
    }
    if !mount_points.insert(m.mount_path.as_str()) {
        errs.push(invalid(&idx.child("mountPath"), go_quote(&m.mount_path), "must be unique"));
    }
    let sub_path = or_empty(&m.sub_path);
    let sub_path_expr = or_empty(&m.sub_path_expr);
    if volume.is_some_and(|v| v.image.is_some()) {
        if !sub_path.is_empty() {
            errs.push(invalid(&idx.child("subPath"), go_quote(sub_path), "not allowed in image volume sources"));
        }
        if !sub_path_expr.is_empty() {
            errs.push(invalid(
                &idx.child("subPathExpr"),
                go_quote(sub_path_expr),
                "not allowed in image volume sources",
            ));
        }
    }
    // Upstream reports the subPath checks on the list path (no index).
    if !sub_path.is_empty() {
        validate_local_descending_path(sub_path, &list_path.child("subPath"), errs);
    }
    if !sub_path_expr.is_empty() {
        if !sub_path.is_empty() {
            errs.push(invalid(
                &idx.child("subPathExpr"),
                go_quote(sub_path_expr),
                "subPathExpr and subPath are mutually exclusive",
            ));
        }
        validate_local_descending_path(sub_path_expr, &list_path.child("subPathExpr"), errs);
    }
    if let Some(mp) = &m.mount_propagation {
        let mp_path = list_path.child("mountPropagation");
        if !matches!(mp.as_str(), "Bidirectional" | "HostToContainer" | "None") {
            errs.push(not_supported(&mp_path, go_quote(mp), &["Bidirectional", "HostToContainer", "None"]));
        }
        if mp == "Bidirectional" && !privileged {
            errs.push(forbidden(
                &mp_path,
                "Bidirectional mount propagation is available only to privileged containers",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::apiserver::test_support::*;
    use serde_json::{Value, json};

    #[test]
    fn volumes_and_mounts() {
        let pod = |spec: Value| errors(with(&[("spec/template/spec", spec)]));
        let mounted = |volumes: Value, mounts: Value| {
            pod(json!({"containers": [{"name": "c", "image": "i", "volumeMounts": mounts}], "volumes": volumes}))
        };
        assert_eq!(
            mounted(json!([]), json!([{"name": "missing", "mountPath": "/data"}])),
            vec![format!("{}: Not found: \"missing\"", container_path("volumeMounts[0].name"))]
        );
        assert_eq!(
            mounted(json!([{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}]), json!([])),
            vec!["spec.template.spec.volumes[1].name: Duplicate value: \"v\""]
        );
        assert_eq!(
            mounted(json!([{"name": "v", "emptyDir": {}, "hostPath": {"path": "/x"}}]), json!([])),
            vec!["spec.template.spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type"]
        );
        // A volume with an error cannot be mounted: the mount reports NotFound too.
        assert_eq!(
            mounted(json!([{"name": "V", "emptyDir": {}}]), json!([{"name": "V", "mountPath": "/data"}])),
            vec![
                format!("spec.template.spec.volumes[0].name: Invalid value: \"V\": {DNS_LABEL_MSG}"),
                format!("{}: Not found: \"V\"", container_path("volumeMounts[0].name")),
            ]
        );
        assert_eq!(
            mounted(json!([{"name": "v", "hostPath": {"path": "/var/../etc"}}]), json!([])),
            vec!["spec.template.spec.volumes[0].hostPath.path: Invalid value: \"/var/../etc\": must not contain '..'"]
        );
        assert_eq!(
            mounted(json!([{"name": "v", "hostPath": {"path": ""}}]), json!([])),
            vec!["spec.template.spec.volumes[0].hostPath.path: Required value"]
        );
        assert_eq!(
            mounted(json!([{"name": "v", "hostPath": {"path": "/x", "type": "Dir"}}]), json!([])),
            vec![
                "spec.template.spec.volumes[0].hostPath.type: Unsupported value: \"Dir\": supported values: \"\", \"BlockDevice\", \"CharDevice\", \"Directory\", \"DirectoryOrCreate\", \"File\", \"FileOrCreate\", \"Socket\""
            ]
        );
        let v = json!([{"name": "v", "emptyDir": {}}]);
        assert_eq!(
            mounted(v.clone(), json!([{"name": "v", "mountPath": "/d"}, {"name": "v", "mountPath": "/d"}])),
            vec![format!("{}: Invalid value: \"/d\": must be unique", container_path("volumeMounts[1].mountPath"))]
        );
        assert_eq!(
            mounted(v.clone(), json!([{"name": "v", "mountPath": "/d", "subPath": "/abs"}])),
            vec![format!(
                "{}: Invalid value: \"/abs\": must be a relative path",
                container_path("volumeMounts.subPath")
            )]
        );
        assert_eq!(
            mounted(v, json!([{"name": "v", "mountPath": "/d", "mountPropagation": "Bidirectional"}])),
            vec![format!(
                "{}: Forbidden: Bidirectional mount propagation is available only to privileged containers",
                container_path("volumeMounts.mountPropagation")
            )]
        );
    }
}
