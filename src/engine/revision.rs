//! Revisions with ControllerRevision semantics: canonical template bytes, the hash, and constructHistory's
//! choice between a new revision and renumbering an existing one (reference section 4).

use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;

/// upstream's SafeEncodeString alphabet: no vowels, no look-alikes.
const HASH_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The annotation carried into history with each revision.
pub const CHANGE_CAUSE_ANNOTATION: &str = "kubernetes.io/change-cause";

/// JSON with object keys sorted at every level, so equal templates give equal bytes.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Canonical JSON of a pod template: what a revision stores and what "the same template" means.
pub fn canonical_template(template: &PodTemplateSpec) -> String {
    canonical_json(&serde_json::to_value(template).expect("a PodTemplateSpec always serializes"))
}

/// ComputeHash: FNV-1a 32-bit over the canonical template, plus the collision count when set (as uint32 little
/// endian and four zero bytes), rendered in decimal through upstream's alphabet. None and Some(0) differ.
pub fn compute_hash(canonical_template: &str, collision_count: Option<i32>) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u32::from(*b);
            hash = hash.wrapping_mul(0x0100_0193);
        }
    };
    feed(canonical_template.as_bytes());
    if let Some(count) = collision_count {
        feed(&(count as u32).to_le_bytes());
        feed(&[0, 0, 0, 0]);
    }
    hash.to_string().bytes().map(|b| HASH_ALPHABET[usize::from(b) % HASH_ALPHABET.len()] as char).collect()
}

/// upstream's revision name: `<daemonset>-<hash>`.
pub fn revision_name(daemonset: &str, hash: &str) -> String {
    format!("{daemonset}-{hash}")
}

/// An existing revision as constructHistory sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    pub hash: String,
    pub revision: i64,
    pub template: String,
}

/// What constructHistory decided for the current template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentRevision {
    pub hash: String,
    /// The number the current revision has after this sync.
    pub revision: i64,
    /// True when no stored revision had this template.
    pub is_new: bool,
    /// The collision count to store with the DaemonSet (raised when a hash collided with another template).
    pub collision_count: Option<i32>,
}

/// constructHistory: reuse the revision whose template is byte-equal (renumbered to max+1 when it is not
/// already the newest, as A -> B -> A does), or make a new one numbered max+1. A hash already used by another
/// template raises the collision count until the hash is free.
pub fn construct_history(history: &[HistoryEntry], template: &str, collision_count: Option<i32>) -> CurrentRevision {
    let max_revision = history.iter().map(|h| h.revision).max().unwrap_or(0);
    if let Some(existing) = history.iter().find(|h| h.template == template) {
        let others_max = history.iter().filter(|h| h.hash != existing.hash).map(|h| h.revision).max().unwrap_or(0);
        let revision = if existing.revision <= others_max { others_max + 1 } else { existing.revision };
        return CurrentRevision { hash: existing.hash.clone(), revision, is_new: false, collision_count };
    }
    let mut count = collision_count;
    loop {
        let hash = compute_hash(template, count);
        if !history.iter().any(|h| h.hash == hash) {
            return CurrentRevision { hash, revision: max_revision + 1, is_new: true, collision_count: count };
        }
        count = Some(count.map_or(1, |c| c + 1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let a = json!({"b": 1, "a": {"z": [1, {"y": 2, "x": 1}], "c": "s"}});
        assert_eq!(canonical_json(&a), r#"{"a":{"c":"s","z":[1,{"x":1,"y":2}]},"b":1}"#);
    }

    #[test]
    fn hash_properties_match_upstream() {
        let t = r#"{"spec":{}}"#;
        assert_eq!(compute_hash(t, None), compute_hash(t, None), "same template and count -> same hash");
        assert_ne!(compute_hash(t, None), compute_hash(t, Some(0)), "nil and 0 differ");
        assert_ne!(compute_hash(t, Some(0)), compute_hash(t, Some(1)), "a count change gives a new hash");
        let h = compute_hash(t, None);
        assert!(h.len() <= 10 && h.bytes().all(|b| HASH_ALPHABET.contains(&b)));
        assert_eq!(revision_name("fluentd", &h), format!("fluentd-{h}"));
    }

    #[test]
    fn fnv1a_reference_value() {
        // FNV-1a 32 of "" is the offset basis 2166136261; of "a" it is 0xe40c292c = 3826002220.
        let enc =
            |n: u32| -> String { n.to_string().bytes().map(|b| HASH_ALPHABET[usize::from(b) % 27] as char).collect() };
        assert_eq!(compute_hash("", None), enc(2_166_136_261));
        assert_eq!(compute_hash("a", None), enc(3_826_002_220));
    }

    fn entry(hash: &str, revision: i64, template: &str) -> HistoryEntry {
        HistoryEntry { hash: hash.into(), revision, template: template.into() }
    }

    #[test]
    fn first_template_is_revision_one() {
        let cur = construct_history(&[], "A", None);
        assert_eq!((cur.revision, cur.is_new), (1, true));
        assert_eq!(cur.hash, compute_hash("A", None));
    }

    #[test]
    fn a_b_a_reuses_and_renumbers() {
        // reference 4.3 / scenario 82: A=1, B=2, back to A -> A becomes 3 and keeps its hash.
        let ha = compute_hash("A", None);
        let hb = compute_hash("B", None);
        let history = vec![entry(&ha, 1, "A"), entry(&hb, 2, "B")];
        let cur = construct_history(&history, "A", None);
        assert_eq!(cur, CurrentRevision { hash: ha, revision: 3, is_new: false, collision_count: None });
        // Re-applying the newest template keeps its number.
        let cur = construct_history(&history, "B", None);
        assert_eq!((cur.revision, cur.is_new), (2, false));
    }

    #[test]
    fn hash_collision_raises_collision_count() {
        // scenario 76: a stored revision already holds the next template's hash with other data.
        let hb = compute_hash("B", None);
        let history = vec![entry(&hb, 1, "not B")];
        let cur = construct_history(&history, "B", None);
        assert_eq!(cur.collision_count, Some(1));
        assert_eq!(cur.hash, compute_hash("B", Some(1)));
        assert_eq!(cur.revision, 2);
    }
}
