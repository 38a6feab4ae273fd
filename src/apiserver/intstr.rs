//! Int-or-string values: `k8s.io/apimachinery/pkg/util/intstr` (`GetScaledValueFromIntOrPercent`) and the
//! IntOrString helpers of `pkg/apis/apps/validation/validation.go`, with the `strconv.Atoi` they rely on.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::field::{FieldError, Path, go_quote, invalid, nonnegative};
use super::names::is_valid_percent;

/// IntOrString through its `String()` method, as upstream prints it: unquoted.
pub(super) fn int_or_string_raw(v: &IntOrString) -> String {
    match v {
        IntOrString::Int(i) => i.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

/// Go's `strconv.Atoi` as upstream uses it with the error ignored: 0 on bad syntax, clamped on overflow.
fn go_atoi(s: &str) -> i64 {
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    let mut acc: i128 = 0;
    for b in digits.bytes() {
        acc = (acc * 10 + i128::from(b - b'0')).min(i128::from(i64::MAX) + 1);
    }
    let v = if neg { -acc } else { acc };
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Strict `strconv.Atoi`, for the places that report its error.
fn go_atoi_strict(s: &str) -> Result<i64, String> {
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.Atoi: parsing {}: invalid syntax", go_quote(s)));
    }
    let parsed = if neg { format!("-{digits}") } else { digits.to_string() };
    parsed.parse::<i64>().map_err(|_| format!("strconv.Atoi: parsing {}: value out of range", go_quote(s)))
}

/// `intstr.GetScaledValueFromIntOrPercent(v, total, roundUp=true)`: an integer as is, a percent of `total`
/// rounded up. Errors carry upstream's text.
pub fn scaled_value(v: &IntOrString, total: i32) -> Result<i32, String> {
    match v {
        IntOrString::Int(i) => Ok(*i),
        IntOrString::String(raw) => {
            let Some(num) = raw.strip_suffix('%') else {
                return Err("invalid value for IntOrString: invalid type: string is not a percentage".to_string());
            };
            let pct = go_atoi_strict(num)
                .map_err(|e| format!("invalid value for IntOrString: invalid value {}: {e}", go_quote(raw)))?;
            let scaled = (pct as f64 * f64::from(total) / 100.0).ceil();
            Ok(scaled.clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32)
        }
    }
}

/// apps validation's `getPercentValue`: the number of a well-formed percent.
fn percent_value(v: &IntOrString) -> Option<i64> {
    match v {
        IntOrString::String(raw) if is_valid_percent(raw).is_empty() => Some(go_atoi(&raw[..raw.len() - 1])),
        _ => None,
    }
}

/// apps validation's `getIntOrPercentValue`: a malformed string counts as `Atoi` of the whole string (so "abc%"
/// is 0, but a bare "5" is 5).
pub(super) fn int_or_percent_value(v: &IntOrString) -> i64 {
    if let Some(p) = percent_value(v) {
        return p;
    }
    match v {
        IntOrString::Int(i) => i64::from(*i),
        IntOrString::String(raw) => go_atoi(raw),
    }
}

pub(super) fn validate_positive_int_or_percent(v: &IntOrString, path: &Path, errs: &mut Vec<FieldError>) {
    match v {
        IntOrString::String(raw) => {
            for msg in is_valid_percent(raw) {
                errs.push(invalid(path, int_or_string_raw(v), msg));
            }
        }
        IntOrString::Int(i) => nonnegative(i64::from(*i), path, errs),
    }
}

pub(super) fn is_not_more_than_100_percent(v: &IntOrString, path: &Path, errs: &mut Vec<FieldError>) {
    if percent_value(v).is_some_and(|p| p > 100) {
        errs.push(invalid(path, int_or_string_raw(v), "must not be greater than 100%"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::test_support::*;
    use serde_json::json;

    #[test]
    fn scaled_value_rounds_up() {
        let pct = |p: &str, total| scaled_value(&IntOrString::String(p.to_string()), total);
        assert_eq!(pct("50%", 3), Ok(2));
        assert_eq!(pct("10%", 5), Ok(1));
        assert_eq!(pct("50%", 2), Ok(1));
        assert_eq!(pct("100%", 2), Ok(2));
        assert_eq!(pct("0%", 9), Ok(0));
        assert_eq!(pct("33%", 0), Ok(0));
        assert_eq!(pct("1%", 1), Ok(1));
        assert_eq!(pct("25%", 250), Ok(63));
        // Integers are not capped by the total.
        assert_eq!(scaled_value(&IntOrString::Int(7), 3), Ok(7));
        assert_eq!(
            pct("abc", 10),
            Err("invalid value for IntOrString: invalid type: string is not a percentage".to_string())
        );
        assert_eq!(
            pct("x%", 10),
            Err("invalid value for IntOrString: invalid value \"x%\": strconv.Atoi: parsing \"x\": invalid syntax"
                .to_string())
        );
    }

    #[test]
    fn go_atoi_ignores_bad_syntax_and_clamps() {
        assert_eq!(go_atoi("+7"), 7);
        assert_eq!(go_atoi("7x"), 0);
        assert_eq!(go_atoi("99999999999999999999"), i64::MAX);
        // An overflowing percent is clamped, so it is still over 100%.
        assert_eq!(
            rolling(json!({"maxUnavailable": "99999999999999999999%"})),
            vec![format!("{MU}: Invalid value: 99999999999999999999%: must not be greater than 100%")]
        );
    }
}
