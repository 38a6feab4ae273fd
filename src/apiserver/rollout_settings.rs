//! daemonplane's rollout settings beyond apps/v1 (partition, node selector), validated the way the API server
//! validates a manifest: upstream's messages, each error with its field path under `rollout`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::field::{FieldError, Path, go_quote, invalid};
use super::metadata::validate_labels;

/// The partition as settings carry it in text: empty is none, `"N"` keeps N nodes, `"N%"` a percent of the
/// desired nodes from 0% to 100%. Strict, like the API server's integers: ASCII digits only, no sign, no
/// decimals, no leading zero, no surrounding whitespace, and a count fits an int32.
pub fn parse_partition(text: &str) -> Result<Option<IntOrString>, FieldError> {
    if text.is_empty() {
        return Ok(None);
    }
    let parsed = match text.strip_suffix('%') {
        Some(digits) => canonical_count(digits).filter(|&n| n <= 100).map(|_| IntOrString::String(text.to_string())),
        None => canonical_count(text).map(IntOrString::Int),
    };
    match parsed {
        Some(partition) => Ok(Some(partition)),
        None => Err(invalid(
            &Path::root("rollout").child("partition"),
            go_quote(text),
            "must be an integer >= 0 or a percent from 0% to 100%",
        )),
    }
}

/// "0", or digits without a leading zero, that fit an int32.
fn canonical_count(digits: &str) -> Option<i32> {
    let canonical = digits == "0" || digits.bytes().next().is_some_and(|b| (b'1'..=b'9').contains(&b));
    if canonical && digits.bytes().all(|b| b.is_ascii_digit()) { digits.parse().ok() } else { None }
}

/// Every error of the rollout settings: the partition, then the node selector's labels (`ValidateLabels`).
pub fn validate_rollout_settings(partition: &str, node_selector: &BTreeMap<String, String>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Err(e) = parse_partition(partition) {
        errs.push(e);
    }
    validate_labels(Some(node_selector), &Path::root("rollout").child("nodeSelector"), &mut errs);
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::test_support::*;

    #[test]
    fn partition_is_a_count_or_a_percent() {
        let pct = |s: &str| Ok(Some(IntOrString::String(s.to_string())));
        assert_eq!(parse_partition(""), Ok(None));
        assert_eq!(parse_partition("0"), Ok(Some(IntOrString::Int(0))));
        assert_eq!(parse_partition("3"), Ok(Some(IntOrString::Int(3))));
        assert_eq!(parse_partition("2147483647"), Ok(Some(IntOrString::Int(i32::MAX))));
        assert_eq!(parse_partition("0%"), pct("0%"));
        assert_eq!(parse_partition("20%"), pct("20%"));
        assert_eq!(parse_partition("100%"), pct("100%"));
    }

    #[test]
    fn partition_is_strict() {
        for bad in
            ["-1", "+3", " 3", "3 ", "101%", "50.5%", "%", "abc", "2147483648", "007", "007%", "x%", "three", "3%%"]
        {
            let err = parse_partition(bad).expect_err(bad);
            assert_eq!(
                err.to_string(),
                format!(
                    "rollout.partition: Invalid value: {}: must be an integer >= 0 or a percent from 0% to 100%",
                    go_quote(bad)
                )
            );
        }
    }

    #[test]
    fn settings_report_every_error_with_its_path() {
        let selector = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        let render = |errs: Vec<FieldError>| errs.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(validate_rollout_settings("", &BTreeMap::new()), vec![]);
        assert_eq!(validate_rollout_settings("25%", &selector(&[("canary", "true")])), vec![]);
        assert_eq!(
            render(validate_rollout_settings("-1", &selector(&[("a b", "-x"), ("ok", "fine")]))),
            vec![
                "rollout.partition: Invalid value: \"-1\": must be an integer >= 0 or a percent from 0% to 100%"
                    .to_string(),
                format!("rollout.nodeSelector: Invalid value: \"a b\": {NAME_PART_MSG}"),
                format!("rollout.nodeSelector: Invalid value: \"-x\": {LABEL_VALUE_MSG}"),
            ]
        );
    }
}
