//! Field errors as `k8s.io/apimachinery/pkg/util/validation/field` has them: `field.Path`, `field.Error`
//! rendered exactly like its `Error()`, and the API server's aggregate for an invalid DaemonSet.
//!
//! Bad values are rendered when the error is made: strings quoted like Go's `%q`, integers bare, IntOrString raw;
//! what upstream prints with Go's `%#v` (maps, structs) is printed as JSON.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

// Through k8s-openapi's re-export, so this module needs no serde dependency of its own.
use k8s_openapi::serde::Serialize;

const IS_NEGATIVE: &str = "must be greater than or equal to 0";

/// apimachinery's `field.ErrorType` set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldErrorType {
    NotFound,
    Required,
    Duplicate,
    Invalid,
    /// Rendered "Unsupported value".
    NotSupported,
    Forbidden,
    TooLong,
    TooMany,
    Internal,
}

impl FieldErrorType {
    /// The human text (`ErrorType.String()`).
    pub fn message(self) -> &'static str {
        match self {
            Self::NotFound => "Not found",
            Self::Required => "Required value",
            Self::Duplicate => "Duplicate value",
            Self::Invalid => "Invalid value",
            Self::NotSupported => "Unsupported value",
            Self::Forbidden => "Forbidden",
            Self::TooLong => "Too long",
            Self::TooMany => "Too many",
            Self::Internal => "Internal error",
        }
    }

    /// The machine reason (`metav1.CauseType`), e.g. `FieldValueInvalid`.
    pub fn reason(self) -> &'static str {
        match self {
            Self::NotFound => "FieldValueNotFound",
            Self::Required => "FieldValueRequired",
            Self::Duplicate => "FieldValueDuplicate",
            Self::Invalid => "FieldValueInvalid",
            Self::NotSupported => "FieldValueNotSupported",
            Self::Forbidden => "FieldValueForbidden",
            Self::TooLong => "FieldValueTooLong",
            Self::TooMany => "FieldValueTooMany",
            Self::Internal => "InternalError",
        }
    }

    /// Upstream never prints the bad value of these types.
    fn shows_value(self) -> bool {
        !matches!(self, Self::Required | Self::Forbidden | Self::TooLong | Self::Internal)
    }
}

impl fmt::Display for FieldErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// One validation error, rendered exactly like apimachinery's `field.Error.Error()`.
///
/// `bad_value` is already rendered: strings quoted Go-style, integers bare, IntOrString raw (upstream prints it
/// through its `String()` method), maps and objects as JSON.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    field: String,
    error_type: FieldErrorType,
    bad_value: Option<String>,
    detail: String,
}

impl FieldError {
    /// `Invalid value` of a string field, for callers outside this module.
    pub fn invalid_value(field: &str, value: &str, detail: impl Into<String>) -> Self {
        FieldError {
            field: field.to_string(),
            error_type: FieldErrorType::Invalid,
            bad_value: Some(go_quote(value)),
            detail: detail.into(),
        }
    }

    /// `Required value`, for callers outside this module.
    pub fn required_value(field: &str, detail: impl Into<String>) -> Self {
        FieldError {
            field: field.to_string(),
            error_type: FieldErrorType::Required,
            bad_value: None,
            detail: detail.into(),
        }
    }

    /// The field path, e.g. `spec.template.spec.containers[0].image`.
    pub fn field(&self) -> &str {
        &self.field
    }

    pub fn error_type(&self) -> FieldErrorType {
        self.error_type
    }

    /// The bad value as the message prints it; `None` where upstream has none to print.
    pub fn bad_value(&self) -> Option<&str> {
        self.bad_value.as_deref()
    }

    /// Why the value is bad; may be empty.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The message without its field path: `Invalid value: "x": why`.
    pub fn description(&self) -> String {
        let mut out = self.error_type.message().to_string();
        if self.error_type.shows_value() {
            out.push_str(": ");
            out.push_str(self.bad_value.as_deref().unwrap_or("null"));
        }
        if !self.detail.is_empty() {
            out.push_str(": ");
            out.push_str(&self.detail);
        }
        out
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.description())
    }
}

impl std::error::Error for FieldError {}

/// The API server's 422 for a DaemonSet: `DaemonSet.apps "x" is invalid: [a, b]` (one error is printed without
/// brackets; identical messages are printed once, like `ErrorList.ToAggregate()`).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("DaemonSet.apps {} is invalid: {}", go_quote(.name), aggregate(.errors))]
pub struct InvalidError {
    pub name: String,
    pub errors: Vec<FieldError>,
}

impl InvalidError {
    /// `None` when there is nothing to report.
    pub fn new(name: &str, errors: Vec<FieldError>) -> Option<Self> {
        (!errors.is_empty()).then(|| Self { name: name.to_string(), errors })
    }
}

fn aggregate(errors: &[FieldError]) -> String {
    let mut seen = HashSet::new();
    let msgs: Vec<String> = errors.iter().map(ToString::to_string).filter(|m| seen.insert(m.clone())).collect();
    if msgs.len() == 1 { msgs[0].clone() } else { format!("[{}]", msgs.join(", ")) }
}

/// A `field.Path`: `a.b[0][key]`.
#[derive(Clone, Debug)]
pub(super) struct Path(String);

impl Path {
    pub(super) fn root(name: &str) -> Self {
        Self(name.to_string())
    }
    pub(super) fn child(&self, name: &str) -> Self {
        if self.0.is_empty() { Self(name.to_string()) } else { Self(format!("{}.{name}", self.0)) }
    }
    pub(super) fn index(&self, i: usize) -> Self {
        Self(format!("{}[{i}]", self.0))
    }
    pub(super) fn key(&self, key: &str) -> Self {
        Self(format!("{}[{key}]", self.0))
    }
}

pub(super) fn err(
    path: &Path,
    error_type: FieldErrorType,
    bad_value: Option<String>,
    detail: impl Into<String>,
) -> FieldError {
    FieldError { field: path.0.clone(), error_type, bad_value, detail: detail.into() }
}

pub(super) fn required(path: &Path, detail: &str) -> FieldError {
    err(path, FieldErrorType::Required, None, detail)
}

pub(super) fn forbidden(path: &Path, detail: &str) -> FieldError {
    err(path, FieldErrorType::Forbidden, None, detail)
}

pub(super) fn invalid(path: &Path, value: String, detail: impl Into<String>) -> FieldError {
    err(path, FieldErrorType::Invalid, Some(value), detail)
}

pub(super) fn duplicate(path: &Path, value: String) -> FieldError {
    err(path, FieldErrorType::Duplicate, Some(value), "")
}

pub(super) fn not_found(path: &Path, value: String) -> FieldError {
    err(path, FieldErrorType::NotFound, Some(value), "")
}

pub(super) fn not_supported(path: &Path, value: String, valid: &[&str]) -> FieldError {
    let detail = if valid.is_empty() {
        String::new()
    } else {
        let quoted: Vec<String> = valid.iter().map(|v| go_quote(v)).collect();
        format!("supported values: {}", quoted.join(", "))
    };
    err(path, FieldErrorType::NotSupported, Some(value), detail)
}

pub(super) fn nonnegative(value: i64, path: &Path, errs: &mut Vec<FieldError>) {
    if value < 0 {
        errs.push(invalid(path, value.to_string(), IS_NEGATIVE));
    }
}

/// Go's `strconv.Quote`, which is what `%q` prints.
pub(super) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub(super) fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_string())
}

/// A label or annotation map as a bad value (`null` when absent, like a nil Go map).
pub(super) fn json_map(map: Option<&BTreeMap<String, String>>) -> String {
    map.map_or_else(|| "null".to_string(), json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::daemonset::validate_daemon_set;
    use crate::apiserver::test_support::*;
    use serde_json::json;

    #[test]
    fn field_error_rendering() {
        let p = Path::root("spec").child("x").index(2).key("k");
        assert_eq!(p.0, "spec.x[2][k]");
        assert_eq!(required(&p, "").to_string(), "spec.x[2][k]: Required value");
        assert_eq!(required(&p, "why").to_string(), "spec.x[2][k]: Required value: why");
        assert_eq!(forbidden(&p, "no").to_string(), "spec.x[2][k]: Forbidden: no");
        assert_eq!(invalid(&p, "3".into(), "bad").to_string(), "spec.x[2][k]: Invalid value: 3: bad");
        assert_eq!(duplicate(&p, go_quote("a")).to_string(), "spec.x[2][k]: Duplicate value: \"a\"");
        assert_eq!(not_found(&p, go_quote("a")).to_string(), "spec.x[2][k]: Not found: \"a\"");
        assert_eq!(
            not_supported(&p, go_quote("a"), &["b", "c"]).to_string(),
            "spec.x[2][k]: Unsupported value: \"a\": supported values: \"b\", \"c\""
        );
        let no_value = FieldError {
            field: "f".into(),
            error_type: FieldErrorType::Invalid,
            bad_value: None,
            detail: String::new(),
        };
        assert_eq!(no_value.to_string(), "f: Invalid value: null");
        assert_eq!(FieldErrorType::NotSupported.reason(), "FieldValueNotSupported");
        assert_eq!(go_quote("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\x01é\"");
    }

    #[test]
    fn invalid_error_aggregates_like_the_api_server() {
        let mut v = with(&[("spec/minReadySeconds", json!(-1))]);
        remove(&mut v, "metadata/namespace");
        let errs = validate_daemon_set(&defaulted(v));
        let e = InvalidError::new("abc", errs.clone()).unwrap();
        assert_eq!(
            e.to_string(),
            "DaemonSet.apps \"abc\" is invalid: [metadata.namespace: Required value, spec.minReadySeconds: Invalid value: -1: must be greater than or equal to 0]"
        );
        let one = InvalidError::new("abc", vec![errs[0].clone(), errs[0].clone()]).unwrap();
        assert_eq!(one.to_string(), "DaemonSet.apps \"abc\" is invalid: metadata.namespace: Required value");
        assert_eq!(InvalidError::new("abc", Vec::new()), None);
    }
}
