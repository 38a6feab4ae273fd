//! apps/v1 DaemonSet defaulting and validation, as the Kubernetes API server does them.
//!
//! Ported from `pkg/apis/apps/v1/defaults.go`, `pkg/apis/core/v1/defaults.go`,
//! `pkg/apis/apps/validation/validation.go`, the pod-template parts of `pkg/apis/core/validation`,
//! `pkg/registry/apps/daemonset/strategy.go` (selector immutability) and the apimachinery name and label
//! checks. Field paths and messages are upstream's, rendered like `field.Error.Error()`.
//!
//! Call [`set_defaults`] first and validate the defaulted object, as the API server does.
//!
//! Known differences from upstream (the reasons are on the code that handles them):
//! - k8s-openapi cannot tell a missing `spec.selector` from `{}`, so both get the `{}` error
//!   ("empty selector is invalid for daemonset"); upstream reports a nil selector as a template-labels mismatch.
//! - Bad values that upstream prints with Go's `%#v` (maps, structs) are printed as JSON.
//! - Not validated: resource quantities, security contexts, volume devices, topology spread, pod
//!   (anti-)affinity, seccomp/AppArmor annotations, DNS search paths and IPs, managed fields, and per-type volume
//!   source fields other than hostPath.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetSpec, DaemonSetUpdateStrategy, RollingUpdateDaemonSet};
use k8s_openapi::api::core::v1::{
    Container, EnvFromSource, EnvVar, ExecAction, GRPCAction, HTTPGetAction, Lifecycle, NodeSelectorRequirement,
    NodeSelectorTerm, ObjectFieldSelector, PodSpec, PodTemplateSpec, Probe, SleepAction, TCPSocketAction, Toleration,
    Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
// Through k8s-openapi's re-export, so this file needs no serde dependency of its own.
use k8s_openapi::serde::Serialize;

/// Annotation that carries the internal `spec.templateGeneration` in apps/v1.
pub const TEMPLATE_GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";

const IS_NEGATIVE: &str = "must be greater than or equal to 0";
const FIELD_IMMUTABLE: &str = "field is immutable";
const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * (1 << 10);
const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";
const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";

// ---------------------------------------------------------------------------------------------------------------
// Field errors
// ---------------------------------------------------------------------------------------------------------------

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
    pub field: String,
    pub error_type: FieldErrorType,
    pub bad_value: Option<String>,
    pub detail: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.error_type.message())?;
        if self.error_type.shows_value() {
            write!(f, ": {}", self.bad_value.as_deref().unwrap_or("null"))?;
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
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
struct Path(String);

impl Path {
    fn root(name: &str) -> Self {
        Self(name.to_string())
    }
    fn child(&self, name: &str) -> Self {
        if self.0.is_empty() { Self(name.to_string()) } else { Self(format!("{}.{name}", self.0)) }
    }
    fn index(&self, i: usize) -> Self {
        Self(format!("{}[{i}]", self.0))
    }
    fn key(&self, key: &str) -> Self {
        Self(format!("{}[{key}]", self.0))
    }
}

fn err(path: &Path, error_type: FieldErrorType, bad_value: Option<String>, detail: impl Into<String>) -> FieldError {
    FieldError { field: path.0.clone(), error_type, bad_value, detail: detail.into() }
}
fn required(path: &Path, detail: &str) -> FieldError {
    err(path, FieldErrorType::Required, None, detail)
}
fn forbidden(path: &Path, detail: &str) -> FieldError {
    err(path, FieldErrorType::Forbidden, None, detail)
}
fn invalid(path: &Path, value: String, detail: impl Into<String>) -> FieldError {
    err(path, FieldErrorType::Invalid, Some(value), detail)
}
fn duplicate(path: &Path, value: String) -> FieldError {
    err(path, FieldErrorType::Duplicate, Some(value), "")
}
fn not_found(path: &Path, value: String) -> FieldError {
    err(path, FieldErrorType::NotFound, Some(value), "")
}
fn not_supported(path: &Path, value: String, valid: &[&str]) -> FieldError {
    let detail = if valid.is_empty() {
        String::new()
    } else {
        let quoted: Vec<String> = valid.iter().map(|v| go_quote(v)).collect();
        format!("supported values: {}", quoted.join(", "))
    };
    err(path, FieldErrorType::NotSupported, Some(value), detail)
}
fn nonnegative(value: i64, path: &Path, errs: &mut Vec<FieldError>) {
    if value < 0 {
        errs.push(invalid(path, value.to_string(), IS_NEGATIVE));
    }
}

/// Go's `strconv.Quote`, which is what `%q` prints.
fn go_quote(s: &str) -> String {
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

fn q(s: &str) -> String {
    go_quote(s)
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_string())
}

/// A label or annotation map as a bad value (`null` when absent, like a nil Go map).
fn json_map(map: Option<&BTreeMap<String, String>>) -> String {
    map.map_or_else(|| "null".to_string(), json)
}

/// IntOrString through its `String()` method, as upstream prints it: unquoted.
fn int_or_string_raw(v: &IntOrString) -> String {
    match v {
        IntOrString::Int(i) => i.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

fn s(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}

// ---------------------------------------------------------------------------------------------------------------
// Name, label and number formats (apimachinery util/validation and api/validate/content)
// ---------------------------------------------------------------------------------------------------------------

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_ERR: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_ERR: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const LABEL_KEY_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_KEY_ERR: &str =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_ERR: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const PERCENT_FMT: &str = "[0-9]+%";
const PERCENT_ERR: &str = "a valid percent string must be a numeric string followed by an ending '%'";

fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{fmt}')");
    }
    let mut out = format!("{msg} (e.g. ");
    for (i, e) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push_str(&format!("'{e}', "));
    }
    out.push_str(&format!("regex used for validation is '{fmt}')"));
    out
}

fn max_len_error(n: usize, unit: &str) -> String {
    format!("must be no more than {n} {unit}")
}

fn lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn matches_dns1123_label(v: &str) -> bool {
    let b = v.as_bytes();
    !b.is_empty() && lower_alnum(b[0]) && lower_alnum(b[b.len() - 1]) && b.iter().all(|&c| lower_alnum(c) || c == b'-')
}

fn matches_dns1123_subdomain(v: &str) -> bool {
    v.split('.').all(matches_dns1123_label)
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn matches_label_key_name(v: &str) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// `IsDNS1123Label`.
pub fn is_dns1123_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len_error(63, "characters"));
    }
    if !matches_dns1123_label(value) {
        if matches_dns1123_subdomain(value) {
            // A valid subdomain but not a label: length was checked above, so it must be the dots.
            errs.push("must not contain dots".to_string());
        } else {
            errs.push(regex_error(DNS1123_LABEL_ERR, DNS1123_LABEL_FMT, &["my-name", "123-abc"]));
        }
    }
    errs
}

fn dns1123_subdomain_errors(value: &str, unit: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 253 {
        errs.push(max_len_error(253, unit));
    }
    if !matches_dns1123_subdomain(value) {
        errs.push(regex_error(DNS1123_SUBDOMAIN_ERR, DNS1123_SUBDOMAIN_FMT, &["example.com"]));
    }
    errs
}

/// `IsDNS1123Subdomain` (util/validation, which counts "characters").
pub fn is_dns1123_subdomain(value: &str) -> Vec<String> {
    dns1123_subdomain_errors(value, "characters")
}

/// `IsQualifiedName` / `content.IsLabelKey` (whose length messages count "bytes").
pub fn is_qualified_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                errs.extend(dns1123_subdomain_errors(prefix, "bytes").into_iter().map(|m| format!("prefix part {m}")));
            }
            *name
        }
        _ => {
            return vec![format!(
                "a valid label key {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(LABEL_KEY_ERR, LABEL_KEY_FMT, &["MyName", "my.name", "123-abc"])
            )];
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errs.push(format!("name part {}", max_len_error(63, "bytes")));
    }
    if !matches_label_key_name(name) {
        errs.push(format!(
            "name part {}",
            regex_error(LABEL_KEY_ERR, LABEL_KEY_FMT, &["MyName", "my.name", "123-abc"])
        ));
    }
    errs
}

/// `IsValidLabelValue`.
pub fn is_valid_label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len_error(63, "bytes"));
    }
    if !value.is_empty() && !matches_label_key_name(value) {
        errs.push(regex_error(LABEL_VALUE_ERR, LABEL_VALUE_FMT, &["MyValue", "my_value", "12345"]));
    }
    errs
}

/// `IsValidPercent`: `^[0-9]+%$`.
pub fn is_valid_percent(value: &str) -> Vec<String> {
    let ok =
        value.strip_suffix('%').is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()));
    if ok { Vec::new() } else { vec![regex_error(PERCENT_ERR, PERCENT_FMT, &["1%", "93%"])] }
}

/// One label, checked like `ValidateLabels`. Each failure reads `Invalid value: "<key or value>": <message>` (the
/// field path is the caller's); several are joined with "; ".
pub fn validate_label(key: &str, value: &str) -> Result<(), String> {
    let key_errs = is_qualified_name(key).into_iter().map(|m| format!("Invalid value: {}: {m}", q(key)));
    let value_errs = is_valid_label_value(value).into_iter().map(|m| format!("Invalid value: {}: {m}", q(value)));
    let all: Vec<String> = key_errs.chain(value_errs).collect();
    if all.is_empty() { Ok(()) } else { Err(all.join("; ")) }
}

/// A DNS-1123 label (`IsDNS1123Label`); the error is upstream's messages joined with "; ".
pub fn validate_dns1123_label(value: &str) -> Result<(), String> {
    let errs = is_dns1123_label(value);
    if errs.is_empty() { Ok(()) } else { Err(errs.join("; ")) }
}

fn is_valid_port_num(port: i64) -> Vec<String> {
    if (1..=65535).contains(&port) { Vec::new() } else { vec!["must be between 1 and 65535, inclusive".to_string()] }
}

fn is_valid_port_name(port: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if port.len() > 15 {
        errs.push(max_len_error(15, "characters"));
    }
    if port.is_empty() || !port.bytes().all(|b| lower_alnum(b) || b == b'-') {
        errs.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_string());
    }
    if !port.bytes().any(|b| b.is_ascii_lowercase()) {
        errs.push("must contain at least one letter (a-z)".to_string());
    }
    if port.contains("--") {
        errs.push("must not contain consecutive hyphens".to_string());
    }
    if port.starts_with('-') || port.ends_with('-') {
        errs.push("must not begin or end with a hyphen".to_string());
    }
    errs
}

/// `IsRelaxedEnvVarName` (RelaxedEnvironmentVariableValidation is GA and always on).
fn is_relaxed_env_var_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.is_empty() {
        errs.push("environment variable name must be non-empty".to_string());
    }
    if value.chars().any(|c| !(' '..='~').contains(&c) || c == '=') {
        errs.push(
            "a valid environment variable name must consist only of printable ASCII characters other than '='"
                .to_string(),
        );
    }
    errs
}

fn is_config_map_key(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 253 {
        errs.push(max_len_error(253, "characters"));
    }
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')) {
        errs.push(regex_error(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
            "[-._a-zA-Z0-9]+",
            &["key.name", "KEY_NAME", "key-name"],
        ));
    }
    if value == "." {
        errs.push("must not be '.'".to_string());
    } else if value == ".." {
        errs.push("must not be '..'".to_string());
    } else if value.starts_with("..") {
        errs.push("must not start with '..'".to_string());
    }
    errs
}

fn is_http_header_name(value: &str) -> Vec<String> {
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        Vec::new()
    } else {
        vec![regex_error(
            "a valid HTTP header must consist of alphanumeric characters or '-'",
            "[-A-Za-z0-9]+",
            &["X-Header-Name"],
        )]
    }
}

/// `NameIsDNSSubdomain(name, prefix)`: a generateName may end in '-'.
fn name_is_dns_subdomain(name: &str, prefix: bool) -> Vec<String> {
    if prefix && name.ends_with('-') {
        // Upstream's maskTrailingDash: drop the last two bytes and append "a".
        let cut = name.len().saturating_sub(2);
        let masked = format!("{}a", name.get(..cut).unwrap_or(""));
        return is_dns1123_subdomain(&masked);
    }
    is_dns1123_subdomain(name)
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

// ---------------------------------------------------------------------------------------------------------------
// IntOrString (intstr and apps validation helpers)
// ---------------------------------------------------------------------------------------------------------------

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
fn int_or_percent_value(v: &IntOrString) -> i64 {
    if let Some(p) = percent_value(v) {
        return p;
    }
    match v {
        IntOrString::Int(i) => i64::from(*i),
        IntOrString::String(raw) => go_atoi(raw),
    }
}

fn validate_positive_int_or_percent(v: &IntOrString, path: &Path, errs: &mut Vec<FieldError>) {
    match v {
        IntOrString::String(raw) => {
            for msg in is_valid_percent(raw) {
                errs.push(invalid(path, int_or_string_raw(v), msg));
            }
        }
        IntOrString::Int(i) => nonnegative(i64::from(*i), path, errs),
    }
}

fn is_not_more_than_100_percent(v: &IntOrString, path: &Path, errs: &mut Vec<FieldError>) {
    if percent_value(v).is_some_and(|p| p > 100) {
        errs.push(invalid(path, int_or_string_raw(v), "must not be greater than 100%"));
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Defaulting
// ---------------------------------------------------------------------------------------------------------------

/// `SetObjectDefaults_DaemonSet` for apps/v1: the DaemonSet defaults plus the pod-template defaults that
/// validation depends on. A missing selector is not filled from the template labels (that was extensions/v1beta1).
pub fn set_defaults(ds: &mut DaemonSet) {
    let spec = &mut ds.spec;
    let strategy = spec.update_strategy.get_or_insert_with(DaemonSetUpdateStrategy::default);
    if s(&strategy.type_).is_empty() {
        strategy.type_ = Some("RollingUpdate".to_string());
    }
    if strategy.type_.as_deref() == Some("RollingUpdate") {
        let ru = strategy.rolling_update.get_or_insert_with(RollingUpdateDaemonSet::default);
        ru.max_unavailable.get_or_insert(IntOrString::Int(1));
        ru.max_surge.get_or_insert(IntOrString::Int(0));
    }
    spec.revision_history_limit.get_or_insert(10);
    set_pod_template_defaults(&mut spec.template);
}

fn default_str(field: &mut Option<String>, value: &str) {
    if s(field).is_empty() {
        *field = Some(value.to_string());
    }
}

fn default_nonzero_i32(field: &mut Option<i32>, value: i32) {
    if field.unwrap_or(0) == 0 {
        *field = Some(value);
    }
}

fn set_pod_template_defaults(template: &mut PodTemplateSpec) {
    // The Go template spec is a struct, so it is always defaulted; a missing one is an empty one.
    let spec = template.spec.get_or_insert_with(PodSpec::default);
    default_str(&mut spec.dns_policy, "ClusterFirst");
    default_str(&mut spec.restart_policy, "Always");
    spec.security_context.get_or_insert_with(Default::default);
    spec.termination_grace_period_seconds.get_or_insert(30);
    default_str(&mut spec.scheduler_name, "default-scheduler");

    for c in spec.containers.iter_mut().chain(spec.init_containers.iter_mut().flatten()) {
        set_container_defaults(c);
    }
    for ec in spec.ephemeral_containers.iter_mut().flatten() {
        // SetDefaults_EphemeralContainer reuses the container defaults.
        set_container_field_defaults(
            s(&ec.image).to_string().as_str(),
            &mut ec.image_pull_policy,
            &mut ec.termination_message_path,
            &mut ec.termination_message_policy,
        );
        for p in ec.ports.iter_mut().flatten() {
            default_str(&mut p.protocol, "TCP");
        }
        for ev in ec.env.iter_mut().flatten() {
            set_env_defaults(ev);
        }
    }
    for v in spec.volumes.iter_mut().flatten() {
        set_volume_defaults(v);
    }
}

fn set_container_defaults(c: &mut Container) {
    let image = s(&c.image).to_string();
    set_container_field_defaults(
        &image,
        &mut c.image_pull_policy,
        &mut c.termination_message_path,
        &mut c.termination_message_policy,
    );
    for p in c.ports.iter_mut().flatten() {
        default_str(&mut p.protocol, "TCP");
    }
    for ev in c.env.iter_mut().flatten() {
        set_env_defaults(ev);
    }
    for probe in [&mut c.liveness_probe, &mut c.readiness_probe, &mut c.startup_probe].into_iter().flatten() {
        default_nonzero_i32(&mut probe.timeout_seconds, 1);
        default_nonzero_i32(&mut probe.period_seconds, 10);
        default_nonzero_i32(&mut probe.success_threshold, 1);
        default_nonzero_i32(&mut probe.failure_threshold, 3);
        if let Some(h) = probe.http_get.as_mut() {
            set_http_get_defaults(h);
        }
    }
    if let Some(lc) = c.lifecycle.as_mut() {
        for h in [&mut lc.post_start, &mut lc.pre_stop].into_iter().flatten() {
            if let Some(g) = h.http_get.as_mut() {
                set_http_get_defaults(g);
            }
        }
    }
}

fn set_container_field_defaults(
    image: &str,
    pull_policy: &mut Option<String>,
    message_path: &mut Option<String>,
    message_policy: &mut Option<String>,
) {
    if s(pull_policy).is_empty() {
        let policy = if image_tag(image).as_deref() == Some("latest") { "Always" } else { "IfNotPresent" };
        *pull_policy = Some(policy.to_string());
    }
    default_str(message_path, "/dev/termination-log");
    default_str(message_policy, "File");
}

fn set_http_get_defaults(h: &mut HTTPGetAction) {
    default_str(&mut h.path, "/");
    default_str(&mut h.scheme, "HTTP");
}

fn set_env_defaults(ev: &mut EnvVar) {
    if let Some(fr) = ev.value_from.as_mut().and_then(|vf| vf.field_ref.as_mut()) {
        default_str(&mut fr.api_version, "v1");
    }
}

fn set_volume_defaults(v: &mut Volume) {
    // SetDefaults_Volume: a volume with no source at all becomes an emptyDir.
    if volume_source_keys(v).is_empty() {
        v.empty_dir = Some(Default::default());
    }
    if let Some(hp) = v.host_path.as_mut() {
        hp.type_.get_or_insert_with(String::new);
    }
    if let Some(sv) = v.secret.as_mut() {
        sv.default_mode.get_or_insert(0o644);
    }
    if let Some(cm) = v.config_map.as_mut() {
        cm.default_mode.get_or_insert(0o644);
    }
    if let Some(da) = v.downward_api.as_mut() {
        da.default_mode.get_or_insert(0o644);
        for item in da.items.iter_mut().flatten() {
            if let Some(fr) = item.field_ref.as_mut() {
                default_str(&mut fr.api_version, "v1");
            }
        }
    }
    if let Some(pj) = v.projected.as_mut() {
        pj.default_mode.get_or_insert(0o644);
        for src in pj.sources.iter_mut().flatten() {
            if let Some(sat) = src.service_account_token.as_mut() {
                sat.expiration_seconds.get_or_insert(3600);
            }
            if let Some(da) = src.downward_api.as_mut() {
                for item in da.items.iter_mut().flatten() {
                    if let Some(fr) = item.field_ref.as_mut() {
                        default_str(&mut fr.api_version, "v1");
                    }
                }
            }
        }
    }
}

/// The tag `parsers.ParseImageName` reports: the explicit tag, "latest" when there is neither tag nor digest,
/// and none when the reference does not parse or only has a digest.
fn image_tag(image: &str) -> Option<String> {
    if image.is_empty() || image.chars().any(char::is_whitespace) {
        return None;
    }
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    if digest.is_some_and(str::is_empty) {
        return None;
    }
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    // Repository path components must be lowercase; the first component may be a registry host.
    let components: Vec<&str> = repo.split('/').collect();
    let has_domain = components.len() > 1 && (components[0].contains(['.', ':']) || components[0] == "localhost");
    let path = if has_domain { &components[1..] } else { &components[..] };
    if repo.is_empty() || path.iter().any(|c| c.is_empty() || c.bytes().any(|b| b.is_ascii_uppercase())) {
        return None;
    }
    match tag {
        Some(t) if !t.is_empty() => Some(t.to_string()),
        Some(_) => None,
        None if digest.is_none() => Some("latest".to_string()),
        None => None,
    }
}

// ---------------------------------------------------------------------------------------------------------------
// DaemonSet validation
// ---------------------------------------------------------------------------------------------------------------

/// `ValidateDaemonSet` (create). Run it on a defaulted object.
pub fn validate_daemon_set(ds: &DaemonSet) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let template_generation = template_generation(&ds.metadata, &mut errs).unwrap_or(0);
    validate_object_meta(&ds.metadata, &Path::root("metadata"), &mut errs);
    validate_daemon_set_spec(&ds.spec, template_generation, &Path::root("spec"), &mut errs);
    errs
}

/// `ValidateDaemonSetUpdate` plus the registry's update rules: the create checks on `new`, metadata that may not
/// change, the templateGeneration rules and, as for apps/v1, an immutable selector.
///
/// The templateGeneration rules run only when `new` carries the annotation: the API server overwrites that value on
/// update, so a caller that does not manage it has nothing to check.
pub fn validate_daemon_set_update(new: &DaemonSet, old: &DaemonSet) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let new_tg = template_generation(&new.metadata, &mut errs);
    let old_tg = template_generation(&old.metadata, &mut Vec::new()).unwrap_or(0);
    validate_object_meta(&new.metadata, &Path::root("metadata"), &mut errs);
    validate_object_meta_update(&new.metadata, &old.metadata, &Path::root("metadata"), &mut errs);

    let spec_path = Path::root("spec");
    if let Some(new_tg) = new_tg {
        let tg_path = spec_path.child("templateGeneration");
        if new_tg < old_tg {
            errs.push(invalid(&tg_path, new_tg.to_string(), "must not be decremented"));
        }
        let template_updated = !semantic_eq(&new.spec.template, &old.spec.template);
        if new_tg == old_tg && template_updated {
            errs.push(invalid(&tg_path, new_tg.to_string(), "must be incremented upon template update"));
        } else if new_tg > old_tg && !template_updated {
            errs.push(invalid(&tg_path, new_tg.to_string(), "must not be incremented without template update"));
        }
    }

    validate_daemon_set_spec(&new.spec, new_tg.unwrap_or(old_tg), &spec_path, &mut errs);

    if !semantic_eq(&new.spec.selector, &old.spec.selector) {
        errs.push(invalid(&spec_path.child("selector"), json(&new.spec.selector), FIELD_IMMUTABLE));
    }
    errs
}

/// `ValidateDaemonSetStatusUpdate`: status counters are non-negative and `collisionCount` never goes down.
pub fn validate_daemon_set_status_update(new: &DaemonSet, old: &DaemonSet) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_object_meta_update(&new.metadata, &old.metadata, &Path::root("metadata"), &mut errs);
    let st = new.status.clone().unwrap_or_default();
    let p = Path::root("status");
    nonnegative(i64::from(st.current_number_scheduled), &p.child("currentNumberScheduled"), &mut errs);
    nonnegative(i64::from(st.number_misscheduled), &p.child("numberMisscheduled"), &mut errs);
    nonnegative(i64::from(st.desired_number_scheduled), &p.child("desiredNumberScheduled"), &mut errs);
    nonnegative(i64::from(st.number_ready), &p.child("numberReady"), &mut errs);
    nonnegative(st.observed_generation.unwrap_or(0), &p.child("observedGeneration"), &mut errs);
    nonnegative(i64::from(st.updated_number_scheduled.unwrap_or(0)), &p.child("updatedNumberScheduled"), &mut errs);
    nonnegative(i64::from(st.number_available.unwrap_or(0)), &p.child("numberAvailable"), &mut errs);
    nonnegative(i64::from(st.number_unavailable.unwrap_or(0)), &p.child("numberUnavailable"), &mut errs);
    if let Some(cc) = st.collision_count {
        nonnegative(i64::from(cc), &p.child("collisionCount"), &mut errs);
    }
    let old_cc = old.status.as_ref().and_then(|s| s.collision_count);
    let decremented = match (st.collision_count, old_cc) {
        (None, Some(_)) => true,
        (Some(n), Some(o)) => n < o,
        _ => false,
    };
    if decremented {
        let value = st.collision_count.unwrap_or(0);
        errs.push(invalid(&p.child("collisionCount"), value.to_string(), "cannot be decremented"));
    }
    errs
}

/// The internal `spec.templateGeneration`, carried by an annotation in apps/v1. A value that is not an integer
/// fails upstream's conversion; it is reported here as a field error.
fn template_generation(meta: &ObjectMeta, errs: &mut Vec<FieldError>) -> Option<i64> {
    let raw = meta.annotations.as_ref()?.get(TEMPLATE_GENERATION_ANNOTATION)?;
    match raw.parse::<i64>() {
        Ok(v) => Some(v),
        Err(_) => {
            let path = Path::root("metadata").child("annotations").key(TEMPLATE_GENERATION_ANNOTATION);
            errs.push(invalid(&path, q(raw), format!("strconv.ParseInt: parsing {}: invalid syntax", q(raw))));
            None
        }
    }
}

fn validate_daemon_set_spec(spec: &DaemonSetSpec, template_generation: i64, path: &Path, errs: &mut Vec<FieldError>) {
    let selector_path = path.child("selector");
    validate_label_selector(&spec.selector, &selector_path, errs);

    let template_labels = spec.template.metadata.as_ref().and_then(|m| m.labels.as_ref());
    // Only a selector that parses is matched (LabelSelectorAsSelector must succeed first).
    if selector_matches(&spec.selector, template_labels) == Some(false) {
        errs.push(invalid(
            &path.child("template").child("metadata").child("labels"),
            json_map(template_labels),
            "`selector` does not match template `labels`",
        ));
    }
    // k8s-openapi has no nil selector: a missing one and `{}` both arrive here as the empty selector.
    if selector_is_empty(&spec.selector) {
        errs.push(invalid(&selector_path, json(&spec.selector), "empty selector is invalid for daemonset"));
    }

    let template_path = path.child("template");
    validate_pod_template_spec(&spec.template, &template_path, errs);

    let empty = PodSpec::default();
    let pod_spec = spec.template.spec.as_ref().unwrap_or(&empty);
    let restart_policy = s(&pod_spec.restart_policy);
    if restart_policy != "Always" {
        errs.push(not_supported(&template_path.child("spec").child("restartPolicy"), q(restart_policy), &["Always"]));
    }
    if pod_spec.active_deadline_seconds.is_some() {
        errs.push(forbidden(
            &template_path.child("spec").child("activeDeadlineSeconds"),
            "activeDeadlineSeconds in DaemonSet is not Supported",
        ));
    }
    nonnegative(i64::from(spec.min_ready_seconds.unwrap_or(0)), &path.child("minReadySeconds"), errs);
    nonnegative(template_generation, &path.child("templateGeneration"), errs);

    let strategy = spec.update_strategy.clone().unwrap_or_default();
    validate_update_strategy(&strategy, &path.child("updateStrategy"), errs);
    if let Some(limit) = spec.revision_history_limit {
        // Zero is a valid revisionHistoryLimit.
        nonnegative(i64::from(limit), &path.child("revisionHistoryLimit"), errs);
    }
}

fn validate_update_strategy(strategy: &DaemonSetUpdateStrategy, path: &Path, errs: &mut Vec<FieldError>) {
    match s(&strategy.type_) {
        "OnDelete" => {}
        "RollingUpdate" => match &strategy.rolling_update {
            None => errs.push(required(&path.child("rollingUpdate"), "")),
            Some(ru) => validate_rolling_update(ru, &path.child("rollingUpdate"), errs),
        },
        _ => errs.push(not_supported(path, json(strategy), &["RollingUpdate", "OnDelete"])),
    }
}

fn validate_rolling_update(ru: &RollingUpdateDaemonSet, path: &Path, errs: &mut Vec<FieldError>) {
    // The internal fields are not pointers: an unset value converts to integer 0.
    let max_unavailable = ru.max_unavailable.clone().unwrap_or(IntOrString::Int(0));
    let max_surge = ru.max_surge.clone().unwrap_or(IntOrString::Int(0));
    let mu_path = path.child("maxUnavailable");
    let ms_path = path.child("maxSurge");
    validate_positive_int_or_percent(&max_unavailable, &mu_path, errs);
    validate_positive_int_or_percent(&max_surge, &ms_path, errs);
    is_not_more_than_100_percent(&max_unavailable, &mu_path, errs);
    is_not_more_than_100_percent(&max_surge, &ms_path, errs);

    let has_unavailable = int_or_percent_value(&max_unavailable) != 0;
    let has_surge = int_or_percent_value(&max_surge) != 0;
    if has_unavailable && has_surge {
        errs.push(invalid(&ms_path, int_or_string_raw(&max_surge), "may not be set when maxUnavailable is non-zero"));
    } else if !has_unavailable && !has_surge {
        errs.push(required(&mu_path, "cannot be 0 when maxSurge is 0"));
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Object metadata
// ---------------------------------------------------------------------------------------------------------------

fn validate_object_meta(meta: &ObjectMeta, path: &Path, errs: &mut Vec<FieldError>) {
    let generate_name = s(&meta.generate_name);
    if !generate_name.is_empty() {
        for msg in name_is_dns_subdomain(generate_name, true) {
            errs.push(invalid(&path.child("generateName"), q(generate_name), msg));
        }
    }
    let name = s(&meta.name);
    if name.is_empty() {
        errs.push(required(&path.child("name"), "name or generateName is required"));
    } else {
        for msg in name_is_dns_subdomain(name, false) {
            errs.push(invalid(&path.child("name"), q(name), msg));
        }
    }
    // The service fills "default" before validating; an empty namespace here is the caller's bug.
    let namespace = s(&meta.namespace);
    if namespace.is_empty() {
        errs.push(required(&path.child("namespace"), ""));
    } else {
        for msg in is_dns1123_label(namespace) {
            errs.push(invalid(&path.child("namespace"), q(namespace), msg));
        }
    }
    nonnegative(meta.generation.unwrap_or(0), &path.child("generation"), errs);
    validate_labels(meta.labels.as_ref(), &path.child("labels"), errs);
    validate_annotations(meta.annotations.as_ref(), &path.child("annotations"), errs);
    validate_owner_references(meta, &path.child("ownerReferences"), errs);

    let finalizers = meta.finalizers.as_deref().unwrap_or_default();
    let fin_path = path.child("finalizers");
    for f in finalizers {
        for msg in is_qualified_name(f) {
            errs.push(invalid(&fin_path, q(f), msg));
        }
    }
    let orphan = finalizers.iter().any(|f| f == "orphan");
    let foreground = finalizers.iter().any(|f| f == "foregroundDeletion");
    if orphan && foreground {
        errs.push(invalid(&fin_path, json(&finalizers), "finalizer orphan and foregroundDeletion cannot be both set"));
    }
    // core's validateKubeFinalizerName runs after the apimachinery checks, per index.
    for (i, f) in finalizers.iter().enumerate() {
        let idx = fin_path.index(i);
        let msgs = is_qualified_name(f);
        if !msgs.is_empty() {
            for msg in msgs {
                errs.push(invalid(&idx, q(f), msg));
            }
        } else if !f.contains('/') && !matches!(f.as_str(), "kubernetes" | "orphan" | "foregroundDeletion") {
            errs.push(invalid(&idx, q(f), "name is neither a standard finalizer name nor is it fully qualified"));
        }
    }
}

fn validate_owner_references(meta: &ObjectMeta, path: &Path, errs: &mut Vec<FieldError>) {
    let refs = meta.owner_references.as_deref().unwrap_or_default();
    let mut first_controller: Option<String> = None;
    for r in refs {
        // schema.FromAPIVersionAndKind: "group/version", "version", or unparseable (more than one '/').
        let (group, version) = match r.api_version.matches('/').count() {
            0 => ("", r.api_version.as_str()),
            1 => r.api_version.split_once('/').unwrap_or(("", "")),
            _ => ("", ""),
        };
        if version.is_empty() {
            errs.push(invalid(&path.child("apiVersion"), q(&r.api_version), "version must not be empty"));
        }
        if r.kind.is_empty() {
            errs.push(invalid(&path.child("kind"), q(&r.kind), "must not be empty"));
        }
        if r.name.is_empty() {
            errs.push(invalid(&path.child("name"), q(&r.name), "must not be empty"));
        }
        if r.uid.is_empty() {
            errs.push(invalid(&path.child("uid"), q(&r.uid), "must not be empty"));
        }
        if group.is_empty() && version == "v1" && r.kind == "Event" {
            errs.push(invalid(path, json(r), "/v1, Kind=Event is disallowed from being an owner"));
        }
        if r.controller == Some(true) {
            let current = format!("{}/{}", r.kind, r.name);
            match &first_controller {
                Some(first) => errs.push(invalid(
                    path,
                    json(&refs),
                    format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {current}"
                    ),
                )),
                None => first_controller = Some(current),
            }
        }
    }
}

fn validate_object_meta_update(new: &ObjectMeta, old: &ObjectMeta, path: &Path, errs: &mut Vec<FieldError>) {
    let new_generation = new.generation.unwrap_or(0);
    if new_generation < old.generation.unwrap_or(0) {
        errs.push(invalid(&path.child("generation"), new_generation.to_string(), "must not be decremented"));
    }
    for (field, new_v, old_v) in
        [("name", &new.name, &old.name), ("namespace", &new.namespace, &old.namespace), ("uid", &new.uid, &old.uid)]
    {
        if s(new_v) != s(old_v) {
            errs.push(invalid(&path.child(field), q(s(new_v)), FIELD_IMMUTABLE));
        }
    }
}

fn validate_labels(labels: Option<&BTreeMap<String, String>>, path: &Path, errs: &mut Vec<FieldError>) {
    for (k, v) in labels.into_iter().flatten() {
        validate_label_name(k, path, errs);
        for msg in is_valid_label_value(v) {
            errs.push(invalid(path, q(v), msg));
        }
    }
}

fn validate_label_name(name: &str, path: &Path, errs: &mut Vec<FieldError>) {
    for msg in is_qualified_name(name) {
        errs.push(invalid(path, q(name), msg));
    }
}

fn validate_annotations(annotations: Option<&BTreeMap<String, String>>, path: &Path, errs: &mut Vec<FieldError>) {
    let Some(annotations) = annotations else {
        return;
    };
    for k in annotations.keys() {
        // Annotation keys are qualified names, but case does not matter.
        for msg in is_qualified_name(&k.to_lowercase()) {
            errs.push(invalid(path, q(k), msg));
        }
    }
    let total: usize = annotations.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(err(
            path,
            FieldErrorType::TooLong,
            None,
            format!("may not be more than {TOTAL_ANNOTATION_SIZE_LIMIT} bytes"),
        ));
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Label selectors
// ---------------------------------------------------------------------------------------------------------------

fn validate_label_selector(sel: &LabelSelector, path: &Path, errs: &mut Vec<FieldError>) {
    validate_labels(sel.match_labels.as_ref(), &path.child("matchLabels"), errs);
    for (i, expr) in sel.match_expressions.iter().flatten().enumerate() {
        let p = path.child("matchExpressions").index(i);
        let values = expr.values.as_deref().unwrap_or_default();
        match expr.operator.as_str() {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(required(&p.child("values"), "must be specified when `operator` is 'In' or 'NotIn'"));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(forbidden(
                        &p.child("values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            op => errs.push(invalid(&p.child("operator"), q(op), "not a valid selector operator")),
        }
        validate_label_name(&expr.key, &p.child("key"), errs);
        for (vi, v) in values.iter().enumerate() {
            for msg in is_valid_label_value(v) {
                errs.push(invalid(&p.child("values").index(vi), q(v), msg));
            }
        }
    }
}

fn selector_is_empty(sel: &LabelSelector) -> bool {
    sel.match_labels.as_ref().is_none_or(BTreeMap::is_empty) && sel.match_expressions.as_ref().is_none_or(Vec::is_empty)
}

/// `LabelSelectorAsSelector(sel).Matches(labels)`: `None` when the selector does not parse, `Some(true)` for
/// the empty selector (it selects everything).
fn selector_matches(sel: &LabelSelector, labels: Option<&BTreeMap<String, String>>) -> Option<bool> {
    let empty = BTreeMap::new();
    let labels = labels.unwrap_or(&empty);
    let key_ok = |k: &str| is_qualified_name(k).is_empty();
    let value_ok = |v: &str| is_valid_label_value(v).is_empty();
    let mut matched = true;
    for (k, v) in sel.match_labels.iter().flatten() {
        if !key_ok(k) || !value_ok(v) {
            return None;
        }
        matched &= labels.get(k) == Some(v);
    }
    for expr in sel.match_expressions.iter().flatten() {
        let values = expr.values.as_deref().unwrap_or_default();
        if !key_ok(&expr.key) || !values.iter().all(|v| value_ok(v)) {
            return None;
        }
        let present = labels.get(&expr.key);
        matched &= match expr.operator.as_str() {
            "In" if !values.is_empty() => present.is_some_and(|v| values.contains(v)),
            "NotIn" if !values.is_empty() => present.is_none_or(|v| !values.contains(v)),
            "Exists" if values.is_empty() => present.is_some(),
            "DoesNotExist" if values.is_empty() => present.is_none(),
            _ => return None,
        };
    }
    Some(matched)
}

/// `apiequality.Semantic.DeepEqual` on API objects: absent and empty collections are equal.
fn semantic_eq<T: Serialize>(a: &T, b: &T) -> bool {
    fn normalize(v: serde_json::Value) -> Option<serde_json::Value> {
        use serde_json::Value;
        match v {
            Value::Null => None,
            Value::Array(items) => {
                let items: Vec<Value> = items.into_iter().map(|i| normalize(i).unwrap_or(Value::Null)).collect();
                (!items.is_empty()).then_some(Value::Array(items))
            }
            Value::Object(map) => {
                let map: serde_json::Map<String, Value> =
                    map.into_iter().filter_map(|(k, v)| normalize(v).map(|v| (k, v))).collect();
                (!map.is_empty()).then_some(Value::Object(map))
            }
            other => Some(other),
        }
    }
    let a = serde_json::to_value(a).ok().and_then(normalize);
    let b = serde_json::to_value(b).ok().and_then(normalize);
    a == b
}

// ---------------------------------------------------------------------------------------------------------------
// Pod template
// ---------------------------------------------------------------------------------------------------------------

fn validate_pod_template_spec(template: &PodTemplateSpec, path: &Path, errs: &mut Vec<FieldError>) {
    let meta = template.metadata.as_ref();
    let annotations = meta.and_then(|m| m.annotations.as_ref());
    // Note the paths: `spec.template.labels`, not `spec.template.metadata.labels`.
    validate_labels(meta.and_then(|m| m.labels.as_ref()), &path.child("labels"), errs);
    validate_annotations(annotations, &path.child("annotations"), errs);

    let empty = PodSpec::default();
    let spec = template.spec.as_ref().unwrap_or(&empty);
    validate_pod_specific_annotations(annotations, spec, &path.child("annotations"), errs);
    validate_pod_spec(spec, &path.child("spec"), errs);
    if spec.ephemeral_containers.as_ref().is_some_and(|ec| !ec.is_empty()) {
        errs.push(forbidden(
            &path.child("spec").child("ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
}

fn validate_pod_specific_annotations(
    annotations: Option<&BTreeMap<String, String>>,
    spec: &PodSpec,
    path: &Path,
    errs: &mut Vec<FieldError>,
) {
    let Some(annotations) = annotations else {
        return;
    };
    if let Some(v) = annotations.get(MIRROR_POD_ANNOTATION)
        && s(&spec.node_name).is_empty()
    {
        errs.push(invalid(
            &path.key(MIRROR_POD_ANNOTATION),
            q(v),
            "must set spec.nodeName if mirror pod annotation is set",
        ));
    }
    if let Some(v) = annotations.get(POD_DELETION_COST) {
        // No '+' sign and no leading zeros, then a 32-bit integer.
        let first_ok = match v.as_bytes().first() {
            Some(b'-') => true,
            Some(b'0') => v == "0",
            Some(b) => b.is_ascii_digit(),
            None => false,
        };
        if !first_ok || v.parse::<i32>().is_err() {
            errs.push(invalid(&path.key(POD_DELETION_COST), q(v), "must be a 32bit integer"));
        }
    }
}

fn validate_pod_spec(spec: &PodSpec, path: &Path, errs: &mut Vec<FieldError>) {
    if spec.termination_grace_period_seconds.is_none() {
        errs.push(required(&path.child("terminationGracePeriodSeconds"), ""));
    }
    let grace = spec.termination_grace_period_seconds;
    let volumes = validate_volumes(spec.volumes.as_deref().unwrap_or_default(), &path.child("volumes"), errs);

    validate_containers(&spec.containers, &volumes, grace, &path.child("containers"), errs);
    let init = spec.init_containers.as_deref().unwrap_or_default();
    validate_init_containers(init, &spec.containers, &volumes, grace, &path.child("initContainers"), errs);
    validate_ephemeral_containers(spec, &volumes, &path.child("ephemeralContainers"), errs);

    if spec.host_network == Some(true) {
        for (ci, c) in spec.containers.iter().enumerate() {
            let ports_path = path.child("containers").index(ci).child("ports");
            for (pi, p) in c.ports.iter().flatten().enumerate() {
                // In a template an unset hostPort is fine; it is defaulted when the pod is created.
                let hp = p.host_port.unwrap_or(0);
                if hp != 0 && hp != p.container_port {
                    errs.push(invalid(
                        &ports_path.index(pi).child("hostPort"),
                        hp.to_string(),
                        "must match `containerPort` when `hostNetwork` is true",
                    ));
                }
            }
        }
    }

    let restart_path = path.child("restartPolicy");
    match s(&spec.restart_policy) {
        "Always" | "OnFailure" | "Never" => {}
        "" => errs.push(required(&restart_path, "")),
        other => errs.push(not_supported(&restart_path, q(other), &["Always", "OnFailure", "Never"])),
    }
    let dns_path = path.child("dnsPolicy");
    let dns_policy = s(&spec.dns_policy);
    match dns_policy {
        "ClusterFirstWithHostNet" | "ClusterFirst" | "Default" | "None" => {}
        "" => errs.push(required(&dns_path, "")),
        other => errs.push(not_supported(
            &dns_path,
            q(other),
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        )),
    }
    validate_labels(spec.node_selector.as_ref(), &path.child("nodeSelector"), errs);
    if let Some(na) = spec.affinity.as_ref().and_then(|a| a.node_affinity.as_ref()) {
        let na_path = path.child("affinity").child("nodeAffinity");
        if let Some(required_sel) = &na.required_during_scheduling_ignored_during_execution {
            let terms_path = na_path.child("requiredDuringSchedulingIgnoredDuringExecution").child("nodeSelectorTerms");
            if required_sel.node_selector_terms.is_empty() {
                errs.push(required(&terms_path, "must have at least one node selector term"));
            }
            for (i, term) in required_sel.node_selector_terms.iter().enumerate() {
                validate_node_selector_term(term, &terms_path.index(i), errs);
            }
        }
        let pref_path = na_path.child("preferredDuringSchedulingIgnoredDuringExecution");
        for (i, term) in na.preferred_during_scheduling_ignored_during_execution.iter().flatten().enumerate() {
            if term.weight <= 0 || term.weight > 100 {
                errs.push(invalid(
                    &pref_path.index(i).child("weight"),
                    term.weight.to_string(),
                    "must be in the range 1-100",
                ));
            }
            validate_node_selector_term(&term.preference, &pref_path.index(i).child("preference"), errs);
        }
    }
    validate_dns_config(spec, dns_policy, &path.child("dnsConfig"), errs);
    for (i, gate) in spec.readiness_gates.iter().flatten().enumerate() {
        let p = path.child("readinessGates").index(i).child("conditionType");
        for msg in is_qualified_name(&gate.condition_type) {
            errs.push(invalid(&p, q(&gate.condition_type), msg));
        }
    }
    let mut gates = HashSet::new();
    for (i, gate) in spec.scheduling_gates.iter().flatten().enumerate() {
        let p = path.child("schedulingGates").index(i);
        for msg in is_qualified_name(&gate.name) {
            errs.push(invalid(&p, q(&gate.name), msg));
        }
        if !gates.insert(gate.name.as_str()) {
            errs.push(duplicate(&p, q(&gate.name)));
        }
    }
    for (field, value) in [("serviceAccountName", &spec.service_account_name), ("nodeName", &spec.node_name)] {
        if !s(value).is_empty() {
            for msg in is_dns1123_subdomain(s(value)) {
                errs.push(invalid(&path.child(field), q(s(value)), msg));
            }
        }
    }
    if let Some(ads) = spec.active_deadline_seconds
        && !(1..=i64::from(i32::MAX)).contains(&ads)
    {
        errs.push(invalid(
            &path.child("activeDeadlineSeconds"),
            ads.to_string(),
            format!("must be between 1 and {}, inclusive", i32::MAX),
        ));
    }
    for (field, value) in [("hostname", &spec.hostname), ("subdomain", &spec.subdomain)] {
        if !s(value).is_empty() {
            for msg in is_dns1123_label(s(value)) {
                errs.push(invalid(&path.child(field), q(s(value)), msg));
            }
        }
    }
    for (i, t) in spec.tolerations.iter().flatten().enumerate() {
        validate_toleration(t, &path.child("tolerations").index(i), errs);
    }
    if !s(&spec.priority_class_name).is_empty() {
        for msg in is_dns1123_subdomain(s(&spec.priority_class_name)) {
            errs.push(invalid(&path.child("priorityClassName"), q(s(&spec.priority_class_name)), msg));
        }
    }
    if let Some(rc) = &spec.runtime_class_name {
        for msg in is_dns1123_subdomain(rc) {
            errs.push(invalid(&path.child("runtimeClassName"), q(rc), msg));
        }
    }
    if let Some(pp) = &spec.preemption_policy {
        let pp_path = path.child("preemptionPolicy");
        match pp.as_str() {
            "PreemptLowerPriority" | "Never" => {}
            "" => errs.push(required(&pp_path, "")),
            other => errs.push(not_supported(&pp_path, q(other), &["PreemptLowerPriority", "Never"])),
        }
    }
}

fn validate_dns_config(spec: &PodSpec, dns_policy: &str, path: &Path, errs: &mut Vec<FieldError>) {
    if dns_policy == "None" {
        match &spec.dns_config {
            None => {
                errs.push(required(path, "must provide `dnsConfig` when `dnsPolicy` is None"));
                return;
            }
            Some(c) if c.nameservers.as_ref().is_none_or(Vec::is_empty) => {
                errs.push(required(
                    &path.child("nameservers"),
                    "must provide at least one DNS nameserver when `dnsPolicy` is None",
                ));
                return;
            }
            Some(_) => {}
        }
    }
    let Some(config) = &spec.dns_config else {
        return;
    };
    let nameservers = config.nameservers.as_deref().unwrap_or_default();
    if nameservers.len() > 3 {
        errs.push(invalid(&path.child("nameservers"), json(&nameservers), "must not have more than 3 nameservers"));
    }
    let searches = config.searches.as_deref().unwrap_or_default();
    if searches.len() > 32 {
        errs.push(invalid(&path.child("searches"), json(&searches), "must not have more than 32 search paths"));
    }
    for (i, option) in config.options.iter().flatten().enumerate() {
        if s(&option.name).is_empty() {
            errs.push(required(&path.child("options").index(i), "must not be empty"));
        }
    }
}

fn validate_node_selector_term(term: &NodeSelectorTerm, path: &Path, errs: &mut Vec<FieldError>) {
    for (j, req) in term.match_expressions.iter().flatten().enumerate() {
        validate_node_selector_requirement(req, &path.child("matchExpressions").index(j), errs);
    }
    for (j, req) in term.match_fields.iter().flatten().enumerate() {
        let p = path.child("matchFields").index(j);
        let values = req.values.as_deref().unwrap_or_default();
        match req.operator.as_str() {
            "In" | "NotIn" => {
                if values.len() != 1 {
                    errs.push(required(
                        &p.child("values"),
                        "must be only one value when `operator` is 'In' or 'NotIn' for node field selector",
                    ));
                }
            }
            op => errs.push(invalid(&p.child("operator"), q(op), "not a valid selector operator")),
        }
        if req.key != "metadata.name" {
            errs.push(invalid(&p.child("key"), q(&req.key), "not a valid field selector key"));
        } else {
            for (i, v) in values.iter().enumerate() {
                for msg in is_dns1123_subdomain(v) {
                    errs.push(invalid(&p.child("values").index(i), q(v), msg));
                }
            }
        }
    }
}

fn validate_node_selector_requirement(req: &NodeSelectorRequirement, path: &Path, errs: &mut Vec<FieldError>) {
    let values = req.values.as_deref().unwrap_or_default();
    match req.operator.as_str() {
        "In" | "NotIn" => {
            if values.is_empty() {
                errs.push(required(&path.child("values"), "must be specified when `operator` is 'In' or 'NotIn'"));
            }
        }
        "Exists" | "DoesNotExist" => {
            if !values.is_empty() {
                errs.push(forbidden(
                    &path.child("values"),
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                ));
            }
        }
        "Gt" | "Lt" => {
            if values.len() != 1 {
                errs.push(required(
                    &path.child("values"),
                    "must be specified single value when `operator` is 'Lt' or 'Gt'",
                ));
            }
        }
        op => errs.push(invalid(&path.child("operator"), q(op), "not a valid selector operator")),
    }
    validate_label_name(&req.key, &path.child("key"), errs);
    for (i, v) in values.iter().enumerate() {
        for msg in is_valid_label_value(v) {
            errs.push(invalid(&path.child("values").index(i), q(v), msg));
        }
    }
}

fn validate_toleration(t: &Toleration, path: &Path, errs: &mut Vec<FieldError>) {
    let key = s(&t.key);
    let operator = s(&t.operator);
    let effect = s(&t.effect);
    let value = s(&t.value);
    if !key.is_empty() {
        validate_label_name(key, &path.child("key"), errs);
    }
    // An empty key with operator Exists means "match every taint".
    if key.is_empty() && operator != "Exists" {
        errs.push(invalid(
            &path.child("operator"),
            q(operator),
            "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
        ));
    }
    if t.toleration_seconds.is_some() && effect != "NoExecute" {
        errs.push(invalid(
            &path.child("effect"),
            q(effect),
            "effect must be 'NoExecute' when `tolerationSeconds` is set",
        ));
    }
    match operator {
        "Equal" | "" => {
            let msgs = is_valid_label_value(value);
            if !msgs.is_empty() {
                errs.push(invalid(&path.child("operator"), q(value), msgs.join(";")));
            }
        }
        "Exists" => {
            if !value.is_empty() {
                errs.push(invalid(
                    &path.child("operator"),
                    q(value),
                    "value must be empty when `operator` is 'Exists'",
                ));
            }
        }
        other => errs.push(not_supported(&path.child("operator"), q(other), &["Equal", "Exists"])),
    }
    if !effect.is_empty() && !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
        errs.push(not_supported(&path.child("effect"), q(effect), &["NoSchedule", "PreferNoSchedule", "NoExecute"]));
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Volumes
// ---------------------------------------------------------------------------------------------------------------

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
fn volume_source_keys(v: &Volume) -> Vec<&'static str> {
    let value = serde_json::to_value(v).unwrap_or_default();
    VOLUME_SOURCES
        .iter()
        .filter(|(key, _)| value.get(key).is_some_and(|x| !x.is_null()))
        .map(|(_, path_name)| *path_name)
        .collect()
}

fn validate_volumes<'a>(
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
                el.push(invalid(&name_path, q(&v.name), msg));
            }
        }
        if valid.contains_key(v.name.as_str()) {
            el.push(duplicate(&name_path, q(&v.name)));
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
                errs.push(not_supported(&hp_path.child("type"), q(t), &TYPES));
            }
        }
    }
}

fn validate_path_no_backsteps(target: &str, path: &Path, errs: &mut Vec<FieldError>) {
    if target.split('/').any(|part| part == "..") {
        errs.push(invalid(path, q(target), "must not contain '..'"));
    }
}

fn validate_local_descending_path(target: &str, path: &Path, errs: &mut Vec<FieldError>) {
    if target.starts_with('/') {
        errs.push(invalid(path, q(target), "must be a relative path"));
    }
    validate_path_no_backsteps(target, path, errs);
}

// ---------------------------------------------------------------------------------------------------------------
// Containers
// ---------------------------------------------------------------------------------------------------------------

type Volumes<'a> = BTreeMap<&'a str, &'a Volume>;

fn validate_containers(
    containers: &[Container],
    volumes: &Volumes<'_>,
    grace: Option<i64>,
    path: &Path,
    errs: &mut Vec<FieldError>,
) {
    if containers.is_empty() {
        errs.push(required(path, ""));
        return;
    }
    let mut names = HashSet::new();
    for (i, c) in containers.iter().enumerate() {
        let p = path.index(i);
        validate_container_common(c, volumes, &p, errs);
        if !names.insert(c.name.as_str()) {
            errs.push(duplicate(&p.child("name"), q(&c.name)));
        }
        if let Some(lc) = &c.lifecycle {
            validate_lifecycle(lc, grace, &p.child("lifecycle"), errs);
        }
        validate_probes(c, grace, &p, errs);
        if c.restart_policy.is_some() {
            errs.push(forbidden(&p.child("restartPolicy"), "may not be set for non-init containers"));
        }
    }
    // Host ports must not collide across all regular containers.
    let mut seen = HashSet::new();
    for (ci, c) in containers.iter().enumerate() {
        for (pi, port) in c.ports.iter().flatten().enumerate() {
            check_host_port(port, &path.index(ci).child("ports").index(pi), &mut seen, errs);
        }
    }
}

fn check_host_port(
    port: &k8s_openapi::api::core::v1::ContainerPort,
    path: &Path,
    seen: &mut HashSet<String>,
    errs: &mut Vec<FieldError>,
) {
    let hp = port.host_port.unwrap_or(0);
    if hp == 0 {
        return;
    }
    let key = format!("{}/{}/{hp}", s(&port.protocol), s(&port.host_ip));
    if seen.contains(&key) {
        errs.push(duplicate(&path.child("hostPort"), q(&key)));
    } else {
        seen.insert(key);
    }
}

fn validate_probes(c: &Container, grace: Option<i64>, path: &Path, errs: &mut Vec<FieldError>) {
    if let Some(p) = &c.liveness_probe {
        let pp = path.child("livenessProbe");
        validate_probe(p, grace, &pp, errs);
        if p.success_threshold.unwrap_or(0) != 1 {
            errs.push(invalid(
                &pp.child("successThreshold"),
                p.success_threshold.unwrap_or(0).to_string(),
                "must be 1",
            ));
        }
    }
    if let Some(p) = &c.readiness_probe {
        let pp = path.child("readinessProbe");
        validate_probe(p, grace, &pp, errs);
        if let Some(t) = p.termination_grace_period_seconds {
            errs.push(invalid(
                &pp.child("terminationGracePeriodSeconds"),
                t.to_string(),
                "must not be set for readinessProbes",
            ));
        }
    }
    if let Some(p) = &c.startup_probe {
        let pp = path.child("startupProbe");
        validate_probe(p, grace, &pp, errs);
        if p.success_threshold.unwrap_or(0) != 1 {
            errs.push(invalid(
                &pp.child("successThreshold"),
                p.success_threshold.unwrap_or(0).to_string(),
                "must be 1",
            ));
        }
    }
}

fn validate_init_containers(
    init: &[Container],
    regular: &[Container],
    volumes: &Volumes<'_>,
    grace: Option<i64>,
    path: &Path,
    errs: &mut Vec<FieldError>,
) {
    let mut names: HashSet<&str> = regular.iter().map(|c| c.name.as_str()).collect();
    for (i, c) in init.iter().enumerate() {
        let p = path.index(i);
        validate_container_common(c, volumes, &p, errs);
        let restart_always = match c.restart_policy.as_deref() {
            None => false,
            Some("Always") => true,
            Some(other) => {
                errs.push(not_supported(&p.child("restartPolicy"), q(other), &["Always"]));
                false
            }
        };
        if names.contains(c.name.as_str()) {
            errs.push(duplicate(&p.child("name"), q(&c.name)));
        } else if !c.name.is_empty() {
            names.insert(c.name.as_str());
        }
        // Init containers run one at a time, so each is checked alone; upstream passes a one-element list,
        // which is why the path always says initContainers[0].
        let mut seen = HashSet::new();
        for (pi, port) in c.ports.iter().flatten().enumerate() {
            check_host_port(port, &path.index(0).child("ports").index(pi), &mut seen, errs);
        }
        if restart_always {
            if let Some(lc) = &c.lifecycle {
                validate_lifecycle(lc, grace, &p.child("lifecycle"), errs);
            }
            validate_probes(c, grace, &p, errs);
        } else {
            let msg = "may not be set for init containers without restartPolicy=Always";
            if c.lifecycle.is_some() {
                errs.push(forbidden(&p.child("lifecycle"), msg));
            }
            for (field, set) in [
                ("livenessProbe", c.liveness_probe.is_some()),
                ("readinessProbe", c.readiness_probe.is_some()),
                ("startupProbe", c.startup_probe.is_some()),
            ] {
                if set {
                    errs.push(forbidden(&p.child(field), msg));
                }
            }
        }
    }
}

fn validate_ephemeral_containers(spec: &PodSpec, volumes: &Volumes<'_>, path: &Path, errs: &mut Vec<FieldError>) {
    let Some(ephemeral) = spec.ephemeral_containers.as_deref() else {
        return;
    };
    let init = spec.init_containers.as_deref().unwrap_or_default();
    let others: HashSet<&str> = spec.containers.iter().chain(init).map(|c| c.name.as_str()).collect();
    let mut all = others.clone();
    for (i, ec) in ephemeral.iter().enumerate() {
        let p = path.index(i);
        // EphemeralContainerCommon has the Container fields; upstream validates it as a Container.
        let as_container: Container = serde_json::to_value(ec).and_then(serde_json::from_value).unwrap_or_default();
        validate_container_common(&as_container, volumes, &p, errs);
        let image = s(&ec.image);
        if image.len() != image.trim().len() {
            errs.push(invalid(&p.child("image"), q(image), "must not have leading or trailing whitespace"));
        }
        if !all.insert(ec.name.as_str()) {
            errs.push(duplicate(&p.child("name"), q(&ec.name)));
        }
        if let Some(target) = ec.target_container_name.as_deref()
            && !target.is_empty()
            && !others.contains(target)
        {
            errs.push(not_found(&p.child("targetContainerName"), q(target)));
        }
    }
}

fn validate_container_common(c: &Container, volumes: &Volumes<'_>, path: &Path, errs: &mut Vec<FieldError>) {
    let name_path = path.child("name");
    if c.name.is_empty() {
        errs.push(required(&name_path, ""));
    } else {
        for msg in is_dns1123_label(&c.name) {
            errs.push(invalid(&name_path, q(&c.name), msg));
        }
    }
    // Upstream deliberately does not trim: " " is a valid image in a template.
    if s(&c.image).is_empty() {
        errs.push(required(&path.child("image"), ""));
    }
    let tmp_path = path.child("terminationMessagePolicy");
    match s(&c.termination_message_policy) {
        "File" | "FallbackToLogsOnError" => {}
        "" => errs.push(required(&tmp_path, "")),
        other => errs.push(not_supported(&tmp_path, q(other), &["File", "FallbackToLogsOnError"])),
    }
    validate_container_ports(c, &path.child("ports"), errs);
    validate_env(c.env.as_deref().unwrap_or_default(), &path.child("env"), errs);
    validate_env_from(c.env_from.as_deref().unwrap_or_default(), &path.child("envFrom"), errs);
    validate_volume_mounts(c, volumes, &path.child("volumeMounts"), errs);
    let pull_path = path.child("imagePullPolicy");
    match s(&c.image_pull_policy) {
        "Always" | "IfNotPresent" | "Never" => {}
        "" => errs.push(required(&pull_path, "")),
        other => errs.push(not_supported(&pull_path, q(other), &["Always", "IfNotPresent", "Never"])),
    }
}

fn validate_container_ports(c: &Container, path: &Path, errs: &mut Vec<FieldError>) {
    let mut names = HashSet::new();
    for (i, port) in c.ports.iter().flatten().enumerate() {
        let idx = path.index(i);
        let name = s(&port.name);
        if !name.is_empty() {
            let msgs = is_valid_port_name(name);
            if !msgs.is_empty() {
                for msg in msgs {
                    errs.push(invalid(&idx.child("name"), q(name), msg));
                }
            } else if !names.insert(name) {
                errs.push(duplicate(&idx.child("name"), q(name)));
            }
        }
        if port.container_port == 0 {
            errs.push(required(&idx.child("containerPort"), ""));
        } else {
            for msg in is_valid_port_num(i64::from(port.container_port)) {
                errs.push(invalid(&idx.child("containerPort"), port.container_port.to_string(), msg));
            }
        }
        let host_port = port.host_port.unwrap_or(0);
        if host_port != 0 {
            for msg in is_valid_port_num(i64::from(host_port)) {
                errs.push(invalid(&idx.child("hostPort"), host_port.to_string(), msg));
            }
        }
        let protocol = s(&port.protocol);
        if protocol.is_empty() {
            errs.push(required(&idx.child("protocol"), ""));
        } else if !matches!(protocol, "TCP" | "UDP" | "SCTP") {
            errs.push(not_supported(&idx.child("protocol"), q(protocol), &["SCTP", "TCP", "UDP"]));
        }
    }
}

fn validate_env(vars: &[EnvVar], path: &Path, errs: &mut Vec<FieldError>) {
    for (i, ev) in vars.iter().enumerate() {
        let idx = path.index(i);
        if ev.name.is_empty() {
            errs.push(required(&idx.child("name"), ""));
        } else {
            for msg in is_relaxed_env_var_name(&ev.name) {
                errs.push(invalid(&idx.child("name"), q(&ev.name), msg));
            }
        }
        let Some(vf) = &ev.value_from else { continue };
        let vf_path = idx.child("valueFrom");
        let mut sources = 0;
        if let Some(fr) = &vf.field_ref {
            sources += 1;
            validate_env_field_ref(fr, &vf_path.child("fieldRef"), errs);
        }
        if let Some(rf) = &vf.resource_field_ref {
            sources += 1;
            let rp = vf_path.child("resourceFieldRef");
            const RESOURCES: [&str; 6] = [
                "limits.cpu",
                "limits.ephemeral-storage",
                "limits.memory",
                "requests.cpu",
                "requests.ephemeral-storage",
                "requests.memory",
            ];
            let hugepages =
                rf.resource.starts_with("limits.hugepages-") || rf.resource.starts_with("requests.hugepages-");
            if rf.resource.is_empty() {
                errs.push(required(&rp.child("resource"), ""));
            } else if !RESOURCES.contains(&rf.resource.as_str()) && !hugepages {
                errs.push(not_supported(&rp.child("resource"), q(&rf.resource), &RESOURCES));
            }
        }
        if let Some(k) = &vf.config_map_key_ref {
            sources += 1;
            validate_key_selector(&k.name, &k.key, &vf_path.child("configMapKeyRef"), errs);
        }
        if let Some(k) = &vf.secret_key_ref {
            sources += 1;
            validate_key_selector(&k.name, &k.key, &vf_path.child("secretKeyRef"), errs);
        }
        if sources == 0 {
            errs.push(invalid(
                &vf_path,
                q(""),
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            ));
        } else if !s(&ev.value).is_empty() {
            errs.push(invalid(&vf_path, q(""), "may not be specified when `value` is not empty"));
        } else if sources > 1 {
            errs.push(invalid(&vf_path, q(""), "may not have more than one field specified at a time"));
        }
    }
}

fn validate_env_field_ref(fr: &ObjectFieldSelector, path: &Path, errs: &mut Vec<FieldError>) {
    let api_version = s(&fr.api_version);
    if api_version.is_empty() {
        errs.push(required(&path.child("apiVersion"), ""));
        return;
    }
    if fr.field_path.is_empty() {
        errs.push(required(&path.child("fieldPath"), ""));
        return;
    }
    // podshelper.ConvertDownwardAPIFieldLabel for v1.
    let subscripted =
        fr.field_path.strip_suffix("']").and_then(|rest| rest.split_once("['")).filter(|(p, _)| !p.is_empty());
    let conversion_error = if api_version != "v1" {
        Some(format!("unsupported pod version: {api_version}"))
    } else if let Some((p, _)) = subscripted {
        (!matches!(p, "metadata.annotations" | "metadata.labels"))
            .then(|| format!("field label does not support subscript: {}", fr.field_path))
    } else {
        const LABELS: [&str; 15] = [
            "metadata.annotations",
            "metadata.labels",
            "metadata.name",
            "metadata.namespace",
            "metadata.uid",
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.serviceAccountName",
            "spec.schedulerName",
            "status.phase",
            "status.hostIP",
            "status.hostIPs",
            "status.podIP",
            "status.podIPs",
            "spec.host",
        ];
        (!LABELS.contains(&fr.field_path.as_str())).then(|| format!("field label not supported: {}", fr.field_path))
    };
    if let Some(e) = conversion_error {
        errs.push(invalid(&path.child("fieldPath"), q(&fr.field_path), format!("error converting fieldPath: {e}")));
        return;
    }
    if let Some((p, subscript)) = subscripted {
        let key = if p == "metadata.annotations" { subscript.to_lowercase() } else { subscript.to_string() };
        for msg in is_qualified_name(&key) {
            errs.push(invalid(path, q(&key), msg));
        }
        return;
    }
    const ENV_PATHS: [&str; 9] = [
        "metadata.name",
        "metadata.namespace",
        "metadata.uid",
        "spec.nodeName",
        "spec.serviceAccountName",
        "status.hostIP",
        "status.hostIPs",
        "status.podIP",
        "status.podIPs",
    ];
    // The legacy "spec.host" converts to spec.nodeName.
    let internal = if fr.field_path == "spec.host" { "spec.nodeName" } else { fr.field_path.as_str() };
    if !ENV_PATHS.contains(&internal) {
        errs.push(not_supported(&path.child("fieldPath"), q(internal), &ENV_PATHS));
    }
}

fn validate_key_selector(name: &str, key: &str, path: &Path, errs: &mut Vec<FieldError>) {
    for msg in is_dns1123_subdomain(name) {
        errs.push(invalid(&path.child("name"), q(name), msg));
    }
    if key.is_empty() {
        errs.push(required(&path.child("key"), ""));
    } else {
        for msg in is_config_map_key(key) {
            errs.push(invalid(&path.child("key"), q(key), msg));
        }
    }
}

fn validate_env_from(sources: &[EnvFromSource], path: &Path, errs: &mut Vec<FieldError>) {
    for (i, ev) in sources.iter().enumerate() {
        let idx = path.index(i);
        let prefix = s(&ev.prefix);
        if !prefix.is_empty() {
            for msg in is_relaxed_env_var_name(prefix) {
                errs.push(invalid(&idx.child("prefix"), q(prefix), msg));
            }
        }
        let mut count = 0;
        for (field, name) in [
            ("configMapRef", ev.config_map_ref.as_ref().map(|r| r.name.as_str())),
            ("secretRef", ev.secret_ref.as_ref().map(|r| r.name.as_str())),
        ] {
            let Some(name) = name else { continue };
            count += 1;
            let np = idx.child(field).child("name");
            if name.is_empty() {
                errs.push(required(&np, ""));
            } else {
                for msg in name_is_dns_subdomain(name, true) {
                    errs.push(invalid(&np, q(name), msg));
                }
            }
        }
        // Upstream reports these on the list path, not the item.
        if count == 0 {
            errs.push(invalid(path, q(""), "must specify one of: `configMapRef` or `secretRef`"));
        } else if count > 1 {
            errs.push(invalid(path, q(""), "may not have more than one field specified at a time"));
        }
    }
}

fn validate_volume_mounts(c: &Container, volumes: &Volumes<'_>, path: &Path, errs: &mut Vec<FieldError>) {
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
        errs.push(not_found(&idx.child("name"), q(&m.name)));
    }
    if m.mount_path.is_empty() {
        errs.push(required(&idx.child("mountPath"), ""));
    }
    if !mount_points.insert(m.mount_path.as_str()) {
        errs.push(invalid(&idx.child("mountPath"), q(&m.mount_path), "must be unique"));
    }
    let sub_path = s(&m.sub_path);
    let sub_path_expr = s(&m.sub_path_expr);
    if volume.is_some_and(|v| v.image.is_some()) {
        if !sub_path.is_empty() {
            errs.push(invalid(&idx.child("subPath"), q(sub_path), "not allowed in image volume sources"));
        }
        if !sub_path_expr.is_empty() {
            errs.push(invalid(&idx.child("subPathExpr"), q(sub_path_expr), "not allowed in image volume sources"));
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
                q(sub_path_expr),
                "subPathExpr and subPath are mutually exclusive",
            ));
        }
        validate_local_descending_path(sub_path_expr, &list_path.child("subPathExpr"), errs);
    }
    if let Some(mp) = &m.mount_propagation {
        let mp_path = list_path.child("mountPropagation");
        if !matches!(mp.as_str(), "Bidirectional" | "HostToContainer" | "None") {
            errs.push(not_supported(&mp_path, q(mp), &["Bidirectional", "HostToContainer", "None"]));
        }
        if mp == "Bidirectional" && !privileged {
            errs.push(forbidden(
                &mp_path,
                "Bidirectional mount propagation is available only to privileged containers",
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Probes and lifecycle handlers
// ---------------------------------------------------------------------------------------------------------------

#[derive(Default)]
struct Handler<'a> {
    exec: Option<&'a ExecAction>,
    http_get: Option<&'a HTTPGetAction>,
    tcp_socket: Option<&'a TCPSocketAction>,
    grpc: Option<&'a GRPCAction>,
    sleep: Option<&'a SleepAction>,
}

fn validate_handler(h: &Handler<'_>, grace: Option<i64>, path: &Path, errs: &mut Vec<FieldError>) {
    let mut count = 0;
    let mut take = |field: &str, set: bool, errs: &mut Vec<FieldError>| -> bool {
        if !set {
            return false;
        }
        if count > 0 {
            errs.push(forbidden(&path.child(field), "may not specify more than 1 handler type"));
            return false;
        }
        count += 1;
        true
    };
    if take("exec", h.exec.is_some(), errs)
        && let Some(e) = h.exec
        && e.command.as_ref().is_none_or(Vec::is_empty)
    {
        errs.push(required(&path.child("exec").child("command"), ""));
    }
    if take("httpGet", h.http_get.is_some(), errs)
        && let Some(g) = h.http_get
    {
        let gp = path.child("httpGet");
        if s(&g.path).is_empty() {
            errs.push(required(&gp.child("path"), ""));
        }
        validate_port_num_or_name(&g.port, &gp.child("port"), errs);
        let scheme = s(&g.scheme);
        if !matches!(scheme, "HTTP" | "HTTPS") {
            errs.push(not_supported(&gp.child("scheme"), q(scheme), &["HTTP", "HTTPS"]));
        }
        for header in g.http_headers.iter().flatten() {
            for msg in is_http_header_name(&header.name) {
                errs.push(invalid(&gp.child("httpHeaders"), q(&header.name), msg));
            }
        }
    }
    if take("tcpSocket", h.tcp_socket.is_some(), errs)
        && let Some(t) = h.tcp_socket
    {
        validate_port_num_or_name(&t.port, &path.child("tcpSocket").child("port"), errs);
    }
    if take("grpc", h.grpc.is_some(), errs)
        && let Some(g) = h.grpc
    {
        validate_port_num_or_name(&IntOrString::Int(g.port), &path.child("grpc").child("port"), errs);
    }
    if take("sleep", h.sleep.is_some(), errs)
        && let Some(sl) = h.sleep
        && let Some(grace) = grace
        && (sl.seconds < 0 || sl.seconds > grace)
    {
        // PodLifecycleSleepActionAllowZero is on by default, so zero is allowed.
        errs.push(invalid(
            &path.child("sleep"),
            sl.seconds.to_string(),
            format!("must be non-negative and less than terminationGracePeriodSeconds ({grace})"),
        ));
    }
    if count == 0 {
        errs.push(required(path, "must specify a handler type"));
    }
}

fn validate_port_num_or_name(port: &IntOrString, path: &Path, errs: &mut Vec<FieldError>) {
    match port {
        IntOrString::Int(n) => {
            for msg in is_valid_port_num(i64::from(*n)) {
                errs.push(invalid(path, n.to_string(), msg));
            }
        }
        IntOrString::String(name) => {
            for msg in is_valid_port_name(name) {
                errs.push(invalid(path, q(name), msg));
            }
        }
    }
}

fn validate_probe(p: &Probe, grace: Option<i64>, path: &Path, errs: &mut Vec<FieldError>) {
    let handler = Handler {
        exec: p.exec.as_ref(),
        http_get: p.http_get.as_ref(),
        tcp_socket: p.tcp_socket.as_ref(),
        grpc: p.grpc.as_ref(),
        sleep: None,
    };
    validate_handler(&handler, grace, path, errs);
    for (field, value) in [
        ("initialDelaySeconds", p.initial_delay_seconds),
        ("timeoutSeconds", p.timeout_seconds),
        ("periodSeconds", p.period_seconds),
        ("successThreshold", p.success_threshold),
        ("failureThreshold", p.failure_threshold),
    ] {
        nonnegative(i64::from(value.unwrap_or(0)), &path.child(field), errs);
    }
    if let Some(t) = p.termination_grace_period_seconds
        && t <= 0
    {
        errs.push(invalid(&path.child("terminationGracePeriodSeconds"), t.to_string(), "must be greater than 0"));
    }
}

fn validate_lifecycle(lc: &Lifecycle, grace: Option<i64>, path: &Path, errs: &mut Vec<FieldError>) {
    for (field, handler) in [("postStart", &lc.post_start), ("preStop", &lc.pre_stop)] {
        if let Some(h) = handler {
            let handler = Handler {
                exec: h.exec.as_ref(),
                http_get: h.http_get.as_ref(),
                tcp_socket: h.tcp_socket.as_ref(),
                grpc: None,
                sleep: h.sleep.as_ref(),
            };
            validate_handler(&handler, grace, &path.child(field), errs);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    const DNS_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
    const NAME_PART_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
    const PERCENT_MSG: &str = "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')";
    const BAD_KEY: &str = "NoUppercaseOrSpecialCharsLike=Equals";

    /// Upstream's validSelector / validPodTemplate DaemonSet.
    fn base() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "abc", "namespace": "default"},
            "spec": {
                "selector": {"matchLabels": {"a": "b"}},
                "template": {
                    "metadata": {"labels": {"a": "b"}},
                    "spec": {"containers": [{"name": "abc", "image": "image"}]}
                }
            }
        })
    }

    /// Sets `path` ("a/b/0/c") in a JSON tree, creating objects on the way.
    fn set(v: &mut Value, path: &str, new: Value) {
        let parts: Vec<&str> = path.split('/').collect();
        let mut cur = v;
        for part in &parts[..parts.len() - 1] {
            cur = match cur {
                Value::Array(items) => &mut items[part.parse::<usize>().expect("array index")],
                other => other
                    .as_object_mut()
                    .expect("object on the path")
                    .entry(part.to_string())
                    .or_insert_with(|| json!({})),
            };
        }
        let last = parts[parts.len() - 1];
        match cur {
            Value::Array(items) => items[last.parse::<usize>().expect("array index")] = new,
            other => {
                other.as_object_mut().expect("object at the end").insert(last.to_string(), new);
            }
        }
    }

    fn remove(v: &mut Value, path: &str) {
        let (parent, last) = path.rsplit_once('/').unwrap_or(("", path));
        let target = if parent.is_empty() { v } else { v.pointer_mut(&format!("/{parent}")).expect("parent exists") };
        target.as_object_mut().expect("object").remove(last);
    }

    fn with(pairs: &[(&str, Value)]) -> Value {
        let mut v = base();
        for (path, value) in pairs {
            set(&mut v, path, value.clone());
        }
        v
    }

    fn parse(v: Value) -> DaemonSet {
        serde_json::from_value(v).expect("manifest parses")
    }

    fn defaulted(v: Value) -> DaemonSet {
        let mut ds = parse(v);
        set_defaults(&mut ds);
        ds
    }

    fn render(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    fn errors(v: Value) -> Vec<String> {
        render(&validate_daemon_set(&defaulted(v)))
    }

    fn update_errors(new: Value, old: Value) -> Vec<String> {
        render(&validate_daemon_set_update(&defaulted(new), &defaulted(old)))
    }

    fn container_path(rest: &str) -> String {
        format!("spec.template.spec.containers[0].{rest}")
    }

    // --- the Kubernetes documentation's example --------------------------------------------------------------

    fn fluentd() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {
                "name": "fluentd-elasticsearch",
                "namespace": "kube-system",
                "labels": {"k8s-app": "fluentd-logging"}
            },
            "spec": {
                "selector": {"matchLabels": {"name": "fluentd-elasticsearch"}},
                "template": {
                    "metadata": {"labels": {"name": "fluentd-elasticsearch"}},
                    "spec": {
                        "tolerations": [
                            {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"},
                            {"key": "node-role.kubernetes.io/master", "operator": "Exists", "effect": "NoSchedule"}
                        ],
                        "containers": [{
                            "name": "fluentd-elasticsearch",
                            "image": "quay.io/fluentd_elasticsearch/fluentd:v5.0.1",
                            "resources": {
                                "limits": {"memory": "200Mi"},
                                "requests": {"cpu": "100m", "memory": "200Mi"}
                            },
                            "volumeMounts": [{"name": "varlog", "mountPath": "/var/log"}]
                        }],
                        "terminationGracePeriodSeconds": 30,
                        "volumes": [{"name": "varlog", "hostPath": {"path": "/var/log"}}]
                    }
                }
            }
        })
    }

    #[test]
    fn fluentd_example_is_valid_after_defaulting() {
        let ds = defaulted(fluentd());
        assert_eq!(render(&validate_daemon_set(&ds)), Vec::<String>::new());
    }

    #[test]
    fn fluentd_example_defaults_like_upstream() {
        let ds = defaulted(fluentd());
        // What the API server stores for this manifest (`kubectl get ds -o json`, spec only).
        let expected = json!({
            "revisionHistoryLimit": 10,
            "selector": {"matchLabels": {"name": "fluentd-elasticsearch"}},
            "template": {
                "metadata": {"labels": {"name": "fluentd-elasticsearch"}},
                "spec": {
                    "containers": [{
                        "image": "quay.io/fluentd_elasticsearch/fluentd:v5.0.1",
                        "imagePullPolicy": "IfNotPresent",
                        "name": "fluentd-elasticsearch",
                        "resources": {
                            "limits": {"memory": "200Mi"},
                            "requests": {"cpu": "100m", "memory": "200Mi"}
                        },
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File",
                        "volumeMounts": [{"mountPath": "/var/log", "name": "varlog"}]
                    }],
                    "dnsPolicy": "ClusterFirst",
                    "restartPolicy": "Always",
                    "schedulerName": "default-scheduler",
                    "securityContext": {},
                    "terminationGracePeriodSeconds": 30,
                    "tolerations": [
                        {"effect": "NoSchedule", "key": "node-role.kubernetes.io/control-plane", "operator": "Exists"},
                        {"effect": "NoSchedule", "key": "node-role.kubernetes.io/master", "operator": "Exists"}
                    ],
                    "volumes": [{"hostPath": {"path": "/var/log", "type": ""}, "name": "varlog"}]
                }
            },
            "updateStrategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}, "type": "RollingUpdate"}
        });
        assert_eq!(serde_json::to_value(&ds.spec).unwrap(), expected);
        let strategy = ds.spec.update_strategy.unwrap();
        let ru = strategy.rolling_update.unwrap();
        assert_eq!(ru.max_unavailable, Some(IntOrString::Int(1)));
        assert_eq!(ru.max_surge, Some(IntOrString::Int(0)));
        // Defaulting leaves metadata alone.
        assert_eq!(serde_json::to_value(&ds.metadata).unwrap(), fluentd()["metadata"]);
    }

    #[test]
    fn defaults_keep_explicit_values_and_skip_rolling_update_for_on_delete() {
        let ds = defaulted(with(&[
            ("spec/updateStrategy", json!({"type": "OnDelete"})),
            ("spec/revisionHistoryLimit", json!(0)),
            ("spec/template/spec/restartPolicy", json!("Never")),
            ("spec/template/spec/terminationGracePeriodSeconds", json!(5)),
        ]));
        let strategy = ds.spec.update_strategy.as_ref().unwrap();
        assert_eq!(strategy.type_.as_deref(), Some("OnDelete"));
        assert_eq!(strategy.rolling_update, None);
        assert_eq!(ds.spec.revision_history_limit, Some(0));
        let pod = ds.spec.template.spec.as_ref().unwrap();
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        assert_eq!(pod.termination_grace_period_seconds, Some(5));

        // A partly given rollingUpdate keeps its value and gets the other default.
        let ds = defaulted(with(&[("spec/updateStrategy", json!({"rollingUpdate": {"maxSurge": "10%"}}))]));
        let ru = ds.spec.update_strategy.unwrap().rolling_update.unwrap();
        assert_eq!(ru.max_surge, Some(IntOrString::String("10%".into())));
        assert_eq!(ru.max_unavailable, Some(IntOrString::Int(1)));
    }

    #[test]
    fn nil_selector_is_not_defaulted_from_template_labels() {
        let mut v = base();
        remove(&mut v, "spec/selector");
        let ds = defaulted(v);
        assert_eq!(ds.spec.selector, LabelSelector::default());
        assert_eq!(
            render(&validate_daemon_set(&ds)),
            vec!["spec.selector: Invalid value: {}: empty selector is invalid for daemonset"]
        );
    }

    #[test]
    fn pod_template_defaults() {
        let ds = defaulted(with(&[(
            "spec/template/spec",
            json!({
                "containers": [{
                    "name": "c",
                    "image": "nginx",
                    "ports": [{"containerPort": 80}],
                    "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                    "livenessProbe": {"httpGet": {"port": 8080}}
                }],
                "volumes": [{"name": "scratch"}, {"name": "cfg", "configMap": {"name": "cfg"}}]
            }),
        )]));
        let pod = ds.spec.template.spec.as_ref().unwrap();
        let c = &pod.containers[0];
        assert_eq!(c.image_pull_policy.as_deref(), Some("Always"), "untagged image means :latest");
        assert_eq!(c.ports.as_ref().unwrap()[0].protocol.as_deref(), Some("TCP"));
        let fr = c.env.as_ref().unwrap()[0].value_from.as_ref().unwrap().field_ref.as_ref().unwrap();
        assert_eq!(fr.api_version.as_deref(), Some("v1"));
        let probe = c.liveness_probe.as_ref().unwrap();
        assert_eq!(
            (probe.timeout_seconds, probe.period_seconds, probe.success_threshold, probe.failure_threshold),
            (Some(1), Some(10), Some(1), Some(3))
        );
        let get = probe.http_get.as_ref().unwrap();
        assert_eq!((get.path.as_deref(), get.scheme.as_deref()), (Some("/"), Some("HTTP")));
        let vols = pod.volumes.as_ref().unwrap();
        assert!(vols[0].empty_dir.is_some(), "a volume without a source becomes an emptyDir");
        assert_eq!(vols[1].config_map.as_ref().unwrap().default_mode, Some(0o644));
        assert_eq!(render(&validate_daemon_set(&ds)), Vec::<String>::new());
    }

    #[test]
    fn image_pull_policy_follows_the_tag() {
        for (image, policy) in [
            ("nginx", "Always"),
            ("nginx:latest", "Always"),
            ("nginx:1.25", "IfNotPresent"),
            ("nginx@sha256:0123456789abcdef", "IfNotPresent"),
            ("nginx:1.25@sha256:0123456789abcdef", "IfNotPresent"),
            ("localhost:5000/nginx", "Always"),
            ("registry.example.com:5000/team/app:2.0", "IfNotPresent"),
            ("quay.io/fluentd_elasticsearch/fluentd:v5.0.1", "IfNotPresent"),
            ("Not/A/Valid/Reference", "IfNotPresent"),
        ] {
            let ds = defaulted(with(&[("spec/template/spec/containers/0/image", json!(image))]));
            let c = &ds.spec.template.spec.as_ref().unwrap().containers[0];
            assert_eq!(c.image_pull_policy.as_deref(), Some(policy), "{image}");
        }
        let ds = defaulted(with(&[("spec/template/spec/containers/0/imagePullPolicy", json!("Never"))]));
        assert_eq!(ds.spec.template.spec.as_ref().unwrap().containers[0].image_pull_policy.as_deref(), Some("Never"));
        assert_eq!(
            errors(with(&[("spec/template/spec/containers/0/imagePullPolicy", json!("Sometimes"))])),
            vec![format!(
                "{}: Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\"",
                container_path("imagePullPolicy")
            )]
        );
    }

    // --- TestValidateDaemonSet (scenario 84) ------------------------------------------------------------------

    #[test]
    fn upstream_success_cases() {
        let on_delete = ("spec/updateStrategy", json!({"type": "OnDelete"}));
        assert_eq!(errors(with(std::slice::from_ref(&on_delete))), Vec::<String>::new());
        assert_eq!(errors(with(&[on_delete.clone(), ("metadata/name", json!("abc-123"))])), Vec::<String>::new());
        let hostnet = with(&[
            on_delete,
            ("metadata/name", json!("hostnet")),
            ("spec/template/spec/hostNetwork", json!(true)),
            ("spec/template/spec/containers/0/ports", json!([{"containerPort": 12345, "protocol": "TCP"}])),
        ]);
        assert_eq!(errors(hostnet), Vec::<String>::new());
        // The default RollingUpdate strategy is valid too.
        assert_eq!(errors(base()), Vec::<String>::new());
    }

    #[test]
    fn upstream_error_zero_length_name() {
        assert_eq!(
            errors(with(&[("metadata/name", json!(""))])),
            vec!["metadata.name: Required value: name or generateName is required"]
        );
    }

    #[test]
    fn upstream_error_missing_namespace() {
        let mut v = base();
        remove(&mut v, "metadata/namespace");
        assert_eq!(errors(v), vec!["metadata.namespace: Required value"]);
    }

    #[test]
    fn upstream_error_nil_and_empty_selector() {
        let expected = vec!["spec.selector: Invalid value: {}: empty selector is invalid for daemonset"];
        let mut nil = base();
        remove(&mut nil, "spec/selector");
        assert_eq!(errors(nil), expected);
        assert_eq!(errors(with(&[("spec/selector", json!({}))])), expected);
        assert_eq!(
            errors(with(&[("spec/selector", json!({"matchLabels": {}}))])),
            vec!["spec.selector: Invalid value: {\"matchLabels\":{}}: empty selector is invalid for daemonset"]
        );
    }

    #[test]
    fn upstream_error_selector_does_not_match() {
        assert_eq!(
            errors(with(&[("spec/selector", json!({"matchLabels": {"foo": "bar"}}))])),
            vec![
                "spec.template.metadata.labels: Invalid value: {\"a\":\"b\"}: `selector` does not match template `labels`"
            ]
        );
    }

    #[test]
    fn upstream_error_invalid_template() {
        let mut v = base();
        remove(&mut v, "spec/template");
        assert_eq!(
            errors(v),
            vec![
                "spec.template.metadata.labels: Invalid value: null: `selector` does not match template `labels`",
                "spec.template.spec.containers: Required value",
            ]
        );
    }

    #[test]
    fn upstream_error_invalid_labels() {
        assert_eq!(
            errors(with(&[("metadata/labels", json!({BAD_KEY: "bar"}))])),
            vec![format!("metadata.labels: Invalid value: \"{BAD_KEY}\": {NAME_PART_MSG}")]
        );
        // "invalid_label 2": bad metadata labels, no selector, bad template labels.
        let mut v = with(&[
            ("metadata/labels", json!({BAD_KEY: "bar"})),
            ("spec/template/metadata/labels", json!({BAD_KEY: "b"})),
        ]);
        remove(&mut v, "spec/selector");
        assert_eq!(
            errors(v),
            vec![
                format!("metadata.labels: Invalid value: \"{BAD_KEY}\": {NAME_PART_MSG}"),
                "spec.selector: Invalid value: {}: empty selector is invalid for daemonset".to_string(),
                format!("spec.template.labels: Invalid value: \"{BAD_KEY}\": {NAME_PART_MSG}"),
            ]
        );
    }

    #[test]
    fn upstream_error_invalid_annotation() {
        assert_eq!(
            errors(with(&[("metadata/annotations", json!({BAD_KEY: "bar"}))])),
            vec![format!("metadata.annotations: Invalid value: \"{BAD_KEY}\": {NAME_PART_MSG}")]
        );
    }

    #[test]
    fn upstream_error_restart_policy() {
        for policy in ["OnFailure", "Never"] {
            assert_eq!(
                errors(with(&[("spec/template/spec/restartPolicy", json!(policy))])),
                vec![format!(
                    "spec.template.spec.restartPolicy: Unsupported value: \"{policy}\": supported values: \"Always\""
                )]
            );
        }
        // An unknown policy fails the pod check and the DaemonSet check.
        assert_eq!(
            errors(with(&[("spec/template/spec/restartPolicy", json!("Foo"))])),
            vec![
                "spec.template.spec.restartPolicy: Unsupported value: \"Foo\": supported values: \"Always\", \"OnFailure\", \"Never\"",
                "spec.template.spec.restartPolicy: Unsupported value: \"Foo\": supported values: \"Always\"",
            ]
        );
    }

    #[test]
    fn upstream_error_ephemeral_containers() {
        let v = with(&[
            ("spec/updateStrategy", json!({"type": "OnDelete"})),
            ("spec/template/spec/ephemeralContainers", json!([{"name": "debug", "image": "image"}])),
        ]);
        assert_eq!(
            errors(v),
            vec!["spec.template.spec.ephemeralContainers: Forbidden: ephemeral containers not allowed in pod template"]
        );
    }

    #[test]
    fn active_deadline_seconds_is_forbidden() {
        assert_eq!(
            errors(with(&[("spec/template/spec/activeDeadlineSeconds", json!(60))])),
            vec![
                "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in DaemonSet is not Supported"
            ]
        );
        assert_eq!(
            errors(with(&[("spec/template/spec/activeDeadlineSeconds", json!(0))])),
            vec![
                "spec.template.spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive",
                "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in DaemonSet is not Supported",
            ]
        );
    }

    // --- metadata -------------------------------------------------------------------------------------------

    #[test]
    fn metadata_name_is_a_dns_subdomain() {
        assert_eq!(
            errors(with(&[("metadata/name", json!("Abc"))])),
            vec![format!("metadata.name: Invalid value: \"Abc\": {SUBDOMAIN_MSG}")]
        );
        assert_eq!(errors(with(&[("metadata/name", json!("abc.def"))])), Vec::<String>::new());
        let long = "a".repeat(254);
        assert_eq!(
            errors(with(&[("metadata/name", json!(long))])),
            vec![format!("metadata.name: Invalid value: \"{long}\": must be no more than 253 characters")]
        );
        assert_eq!(
            errors(with(&[("metadata/name", json!("-abc"))])),
            vec![format!("metadata.name: Invalid value: \"-abc\": {SUBDOMAIN_MSG}")]
        );
    }

    #[test]
    fn generate_name_may_end_in_a_dash() {
        let mut v = with(&[("metadata/generateName", json!("abc-"))]);
        remove(&mut v, "metadata/name");
        assert_eq!(errors(v), vec!["metadata.name: Required value: name or generateName is required"]);
        assert_eq!(
            errors(with(&[("metadata/generateName", json!("Abc-"))])),
            vec![format!("metadata.generateName: Invalid value: \"Abc-\": {SUBDOMAIN_MSG}")]
        );
    }

    #[test]
    fn metadata_namespace_is_a_dns_label() {
        assert_eq!(
            errors(with(&[("metadata/namespace", json!("Default"))])),
            vec![format!("metadata.namespace: Invalid value: \"Default\": {DNS_LABEL_MSG}")]
        );
        assert_eq!(
            errors(with(&[("metadata/namespace", json!("kube.system"))])),
            vec!["metadata.namespace: Invalid value: \"kube.system\": must not contain dots"]
        );
    }

    #[test]
    fn label_keys_and_values() {
        assert_eq!(
            errors(with(&[("metadata/labels", json!({"ok": "-bad"}))])),
            vec![format!("metadata.labels: Invalid value: \"-bad\": {LABEL_VALUE_MSG}")]
        );
        let long = "v".repeat(64);
        assert_eq!(
            errors(with(&[("metadata/labels", json!({"ok": long}))])),
            vec![format!("metadata.labels: Invalid value: \"{long}\": must be no more than 63 bytes")]
        );
        assert_eq!(
            errors(with(&[("metadata/labels", json!({"Example.com/x": "v"}))])),
            vec![format!("metadata.labels: Invalid value: \"Example.com/x\": prefix part {SUBDOMAIN_MSG}")]
        );
        assert_eq!(
            errors(with(&[("metadata/labels", json!({"/x": "v"}))])),
            vec!["metadata.labels: Invalid value: \"/x\": prefix part must be non-empty"]
        );
        assert_eq!(
            errors(with(&[("metadata/labels", json!({"a/b/c": "v"}))])),
            vec![
                "metadata.labels: Invalid value: \"a/b/c\": a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            ]
        );
        assert_eq!(
            errors(with(&[("metadata/labels", json!({"example.com/": "v"}))])),
            vec![
                "metadata.labels: Invalid value: \"example.com/\": name part must be non-empty".to_string(),
                format!("metadata.labels: Invalid value: \"example.com/\": {NAME_PART_MSG}"),
            ]
        );
        // Good keys and values, including an empty value.
        let good = json!({"app.kubernetes.io/name": "x", "A_b.c-D": "", "k": "My_Value.1"});
        assert_eq!(errors(with(&[("metadata/labels", good)])), Vec::<String>::new());
    }

    #[test]
    fn template_labels_and_annotations_have_their_own_paths() {
        let v = with(&[
            ("spec/template/metadata/labels", json!({"a": "b", "bad key": "x"})),
            ("spec/template/metadata/annotations", json!({"bad key": "x"})),
        ]);
        assert_eq!(
            errors(v),
            vec![
                format!("spec.template.labels: Invalid value: \"bad key\": {NAME_PART_MSG}"),
                format!("spec.template.annotations: Invalid value: \"bad key\": {NAME_PART_MSG}"),
            ]
        );
    }

    #[test]
    fn annotation_keys_ignore_case_and_size_is_limited() {
        assert_eq!(
            errors(with(&[("metadata/annotations", json!({"Example.COM/Some-Key": "x"}))])),
            Vec::<String>::new()
        );
        let big = "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT);
        assert_eq!(
            errors(with(&[("metadata/annotations", json!({"k": big}))])),
            vec!["metadata.annotations: Too long: may not be more than 262144 bytes"]
        );
    }

    #[test]
    fn finalizers_and_owner_references() {
        assert_eq!(
            errors(with(&[("metadata/finalizers", json!(["kubernetes", "example.com/cleanup", "cleanup"]))])),
            vec![
                "metadata.finalizers[2]: Invalid value: \"cleanup\": name is neither a standard finalizer name nor is it fully qualified"
            ]
        );
        let refs = json!([
            {"apiVersion": "v1", "kind": "Node", "name": "n1", "uid": "u1", "controller": true},
            {"apiVersion": "", "kind": "Node", "name": "n2", "uid": "", "controller": true}
        ]);
        let out = errors(with(&[("metadata/ownerReferences", refs)]));
        assert_eq!(out[0], "metadata.ownerReferences.apiVersion: Invalid value: \"\": version must not be empty");
        assert_eq!(out[1], "metadata.ownerReferences.uid: Invalid value: \"\": must not be empty");
        assert!(out[2].ends_with(
            "Only one reference can have Controller set to true. Found \"true\" in references for Node/n1 and Node/n2"
        ));
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn template_generation_annotation() {
        assert_eq!(
            errors(with(&[("metadata/annotations", json!({TEMPLATE_GENERATION_ANNOTATION: "-1"}))])),
            vec!["spec.templateGeneration: Invalid value: -1: must be greater than or equal to 0"]
        );
        assert_eq!(
            errors(with(&[("metadata/annotations", json!({TEMPLATE_GENERATION_ANNOTATION: "x"}))])),
            vec![
                "metadata.annotations[deprecated.daemonset.template.generation]: Invalid value: \"x\": strconv.ParseInt: parsing \"x\": invalid syntax"
            ]
        );
    }

    // --- selector -------------------------------------------------------------------------------------------

    #[test]
    fn selector_match_labels_syntax() {
        // A selector that does not parse is not matched against the template.
        assert_eq!(
            errors(with(&[("spec/selector", json!({"matchLabels": {BAD_KEY: "b"}}))])),
            vec![format!("spec.selector.matchLabels: Invalid value: \"{BAD_KEY}\": {NAME_PART_MSG}")]
        );
        assert_eq!(
            errors(with(&[("spec/selector", json!({"matchLabels": {"a": "b c"}}))])),
            vec![format!("spec.selector.matchLabels: Invalid value: \"b c\": {LABEL_VALUE_MSG}")]
        );
    }

    #[test]
    fn selector_match_expressions_syntax() {
        let expr = |e: Value| errors(with(&[("spec/selector", json!({"matchExpressions": [e]}))]));
        assert_eq!(
            expr(json!({"key": "a", "operator": "In"})),
            vec![
                "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"
            ]
        );
        assert_eq!(
            expr(json!({"key": "a", "operator": "NotIn", "values": []})),
            vec![
                "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"
            ]
        );
        assert_eq!(
            expr(json!({"key": "a", "operator": "Exists", "values": ["b"]})),
            vec![
                "spec.selector.matchExpressions[0].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
            ]
        );
        assert_eq!(
            expr(json!({"key": "zz", "operator": "DoesNotExist", "values": ["b"]})),
            vec![
                "spec.selector.matchExpressions[0].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
            ]
        );
        assert_eq!(
            expr(json!({"key": "a", "operator": "Foo", "values": ["b"]})),
            vec!["spec.selector.matchExpressions[0].operator: Invalid value: \"Foo\": not a valid selector operator"]
        );
        assert_eq!(
            expr(json!({"key": "a", "operator": "In", "values": ["b", "-x"]})),
            vec![format!("spec.selector.matchExpressions[0].values[1]: Invalid value: \"-x\": {LABEL_VALUE_MSG}")]
        );
        assert_eq!(
            expr(json!({"key": "a b", "operator": "Exists"})),
            vec![format!("spec.selector.matchExpressions[0].key: Invalid value: \"a b\": {NAME_PART_MSG}")]
        );
    }

    #[test]
    fn selector_expressions_are_matched_like_upstream() {
        let labels = ("spec/template/metadata/labels", json!({"a": "b", "tier": "node"}));
        let ok = |exprs: Value| errors(with(&[labels.clone(), ("spec/selector", json!({"matchExpressions": exprs}))]));
        let valid = json!([
            {"key": "a", "operator": "In", "values": ["x", "b"]},
            {"key": "tier", "operator": "NotIn", "values": ["web"]},
            {"key": "absent", "operator": "NotIn", "values": ["x"]},
            {"key": "tier", "operator": "Exists"},
            {"key": "absent", "operator": "DoesNotExist"}
        ]);
        assert_eq!(ok(valid), Vec::<String>::new());
        let mismatch = "spec.template.metadata.labels: Invalid value: {\"a\":\"b\",\"tier\":\"node\"}: `selector` does not match template `labels`";
        assert_eq!(ok(json!([{"key": "tier", "operator": "NotIn", "values": ["node"]}])), vec![mismatch]);
        assert_eq!(ok(json!([{"key": "absent", "operator": "Exists"}])), vec![mismatch]);
        assert_eq!(ok(json!([{"key": "a", "operator": "DoesNotExist"}])), vec![mismatch]);
        // matchLabels and matchExpressions are ANDed.
        let both = json!({"matchLabels": {"a": "b"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}]});
        assert_eq!(errors(with(&[labels.clone(), ("spec/selector", both)])), vec![mismatch]);
    }

    // --- containers -----------------------------------------------------------------------------------------

    #[test]
    fn at_least_one_container() {
        assert_eq!(
            errors(with(&[("spec/template/spec/containers", json!([]))])),
            vec!["spec.template.spec.containers: Required value"]
        );
    }

    #[test]
    fn container_names() {
        let name = |n: &str| errors(with(&[("spec/template/spec/containers/0/name", json!(n))]));
        assert_eq!(name(""), vec![format!("{}: Required value", container_path("name"))]);
        assert_eq!(name("Abc"), vec![format!("{}: Invalid value: \"Abc\": {DNS_LABEL_MSG}", container_path("name"))]);
        assert_eq!(
            name("a.b"),
            vec![format!("{}: Invalid value: \"a.b\": must not contain dots", container_path("name"))]
        );
        let long = "a".repeat(64);
        assert_eq!(
            name(&long),
            vec![format!("{}: Invalid value: \"{long}\": must be no more than 63 characters", container_path("name"))]
        );
        assert_eq!(
            errors(with(&[(
                "spec/template/spec/containers",
                json!([{"name": "abc", "image": "i"}, {"name": "abc", "image": "i"}])
            )])),
            vec!["spec.template.spec.containers[1].name: Duplicate value: \"abc\""]
        );
    }

    #[test]
    fn container_image_is_required() {
        let mut v = base();
        remove(&mut v, "spec/template/spec/containers/0/image");
        assert_eq!(errors(v), vec![format!("{}: Required value", container_path("image"))]);
    }

    #[test]
    fn container_restart_policy_and_termination_message_policy() {
        assert_eq!(
            errors(with(&[("spec/template/spec/containers/0/restartPolicy", json!("Always"))])),
            vec![format!("{}: Forbidden: may not be set for non-init containers", container_path("restartPolicy"))]
        );
        assert_eq!(
            errors(with(&[("spec/template/spec/containers/0/terminationMessagePolicy", json!("Stdout"))])),
            vec![format!(
                "{}: Unsupported value: \"Stdout\": supported values: \"File\", \"FallbackToLogsOnError\"",
                container_path("terminationMessagePolicy")
            )]
        );
    }

    #[test]
    fn container_ports() {
        let ports = |p: Value| errors(with(&[("spec/template/spec/containers/0/ports", p)]));
        let port_path = |rest: &str| container_path(&format!("ports[{rest}"));
        assert_eq!(ports(json!([{"containerPort": 1}, {"containerPort": 65535}])), Vec::<String>::new());
        assert_eq!(
            ports(json!([{"containerPort": 0}])),
            vec![format!("{}: Required value", port_path("0].containerPort"))]
        );
        assert_eq!(
            ports(json!([{"containerPort": 70000}])),
            vec![format!(
                "{}: Invalid value: 70000: must be between 1 and 65535, inclusive",
                port_path("0].containerPort")
            )]
        );
        assert_eq!(
            ports(json!([{"containerPort": 80, "hostPort": 70000}])),
            vec![format!("{}: Invalid value: 70000: must be between 1 and 65535, inclusive", port_path("0].hostPort"))]
        );
        assert_eq!(
            ports(json!([{"containerPort": 80, "hostPort": -1}])),
            vec![format!("{}: Invalid value: -1: must be between 1 and 65535, inclusive", port_path("0].hostPort"))]
        );
        assert_eq!(
            ports(json!([{"containerPort": 80, "protocol": "HTTP"}])),
            vec![format!(
                "{}: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
                port_path("0].protocol")
            )]
        );
        assert_eq!(ports(json!([{"containerPort": 80, "protocol": "SCTP"}])), Vec::<String>::new());
        assert_eq!(
            ports(json!([{"name": "http", "containerPort": 80}, {"name": "http", "containerPort": 81}])),
            vec![format!("{}: Duplicate value: \"http\"", port_path("1].name"))]
        );
        assert_eq!(
            ports(json!([{"name": "HTTP", "containerPort": 80}])),
            vec![
                format!(
                    "{}: Invalid value: \"HTTP\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                    port_path("0].name")
                ),
                format!("{}: Invalid value: \"HTTP\": must contain at least one letter (a-z)", port_path("0].name")),
            ]
        );
        assert_eq!(
            ports(json!([{"name": "-a--b", "containerPort": 80}])),
            vec![
                format!("{}: Invalid value: \"-a--b\": must not contain consecutive hyphens", port_path("0].name")),
                format!("{}: Invalid value: \"-a--b\": must not begin or end with a hyphen", port_path("0].name")),
            ]
        );
        assert_eq!(
            ports(json!([{"name": "a-very-long-port-name", "containerPort": 80}])),
            vec![format!(
                "{}: Invalid value: \"a-very-long-port-name\": must be no more than 15 characters",
                port_path("0].name")
            )]
        );
    }

    #[test]
    fn host_ports_collide_across_containers() {
        let v = with(&[(
            "spec/template/spec/containers",
            json!([
                {"name": "a", "image": "i", "ports": [{"containerPort": 8080, "hostPort": 8080}]},
                {"name": "b", "image": "i", "ports": [{"containerPort": 8080, "hostPort": 8080},
                                                     {"containerPort": 8080, "hostPort": 8080, "protocol": "UDP"}]}
            ]),
        )]);
        assert_eq!(
            errors(v),
            vec!["spec.template.spec.containers[1].ports[0].hostPort: Duplicate value: \"TCP//8080\""]
        );
    }

    #[test]
    fn host_network_host_port_must_match_container_port() {
        let v = with(&[
            ("spec/template/spec/hostNetwork", json!(true)),
            ("spec/template/spec/containers/0/ports", json!([{"containerPort": 80, "hostPort": 81}])),
        ]);
        assert_eq!(
            errors(v),
            vec![format!(
                "{}: Invalid value: 81: must match `containerPort` when `hostNetwork` is true",
                container_path("ports[0].hostPort")
            )]
        );
    }

    #[test]
    fn init_containers() {
        let v = with(&[(
            "spec/template/spec/initContainers",
            json!([
                {"name": "abc", "image": "i"},
                {"name": "side", "image": "i", "restartPolicy": "Always", "readinessProbe": {"exec": {"command": ["true"]}}},
                {"name": "once", "image": "i", "restartPolicy": "Never", "livenessProbe": {"exec": {"command": ["true"]}}}
            ]),
        )]);
        assert_eq!(
            errors(v),
            vec![
                "spec.template.spec.initContainers[0].name: Duplicate value: \"abc\"",
                "spec.template.spec.initContainers[2].restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
                "spec.template.spec.initContainers[2].livenessProbe: Forbidden: may not be set for init containers without restartPolicy=Always",
            ]
        );
    }

    #[test]
    fn env_vars() {
        let env = |e: Value| errors(with(&[("spec/template/spec/containers/0/env", e)]));
        assert_eq!(env(json!([{"name": "MY_VAR.1-x", "value": "v"}])), Vec::<String>::new());
        assert_eq!(
            env(json!([{"name": "A=B"}])),
            vec![format!(
                "{}: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='",
                container_path("env[0].name")
            )]
        );
        assert_eq!(env(json!([{"name": ""}])), vec![format!("{}: Required value", container_path("env[0].name"))]);
        let field_ref = |p: &str| env(json!([{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": p}}}]));
        assert_eq!(field_ref("spec.nodeName"), Vec::<String>::new());
        assert_eq!(field_ref("metadata.labels['app']"), Vec::<String>::new());
        assert_eq!(
            field_ref("status.phase"),
            vec![format!(
                "{}: Unsupported value: \"status.phase\": supported values: \"metadata.name\", \"metadata.namespace\", \"metadata.uid\", \"spec.nodeName\", \"spec.serviceAccountName\", \"status.hostIP\", \"status.hostIPs\", \"status.podIP\", \"status.podIPs\"",
                container_path("env[0].valueFrom.fieldRef.fieldPath")
            )]
        );
        assert_eq!(
            field_ref("spec.nothing"),
            vec![format!(
                "{}: Invalid value: \"spec.nothing\": error converting fieldPath: field label not supported: spec.nothing",
                container_path("env[0].valueFrom.fieldRef.fieldPath")
            )]
        );
        assert_eq!(
            env(json!([{"name": "X", "value": "v", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}])),
            vec![format!(
                "{}: Invalid value: \"\": may not be specified when `value` is not empty",
                container_path("env[0].valueFrom")
            )]
        );
        assert_eq!(
            env(json!([{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": ""}}}])),
            vec![format!("{}: Required value", container_path("env[0].valueFrom.secretKeyRef.key"))]
        );
    }

    #[test]
    fn probes_and_lifecycle() {
        let c = |pairs: &[(&str, Value)]| {
            let owned: Vec<(String, Value)> =
                pairs.iter().map(|(p, v)| (format!("spec/template/spec/containers/0/{p}"), v.clone())).collect();
            let refs: Vec<(&str, Value)> = owned.iter().map(|(p, v)| (p.as_str(), v.clone())).collect();
            errors(with(&refs))
        };
        assert_eq!(
            c(&[("livenessProbe", json!({"tcpSocket": {"port": "http"}, "initialDelaySeconds": 5}))]),
            Vec::<String>::new()
        );
        assert_eq!(
            c(&[("livenessProbe", json!({"exec": {"command": ["true"]}, "successThreshold": 2}))]),
            vec![format!("{}: Invalid value: 2: must be 1", container_path("livenessProbe.successThreshold"))]
        );
        assert_eq!(
            c(&[("readinessProbe", json!({}))]),
            vec![format!("{}: Required value: must specify a handler type", container_path("readinessProbe"))]
        );
        assert_eq!(
            c(&[("startupProbe", json!({"httpGet": {"port": 0}, "exec": {"command": ["x"]}}))]),
            vec![format!(
                "{}: Forbidden: may not specify more than 1 handler type",
                container_path("startupProbe.httpGet")
            )]
        );
        assert_eq!(
            c(&[("livenessProbe", json!({"httpGet": {"port": 0}, "periodSeconds": -1}))]),
            vec![
                format!(
                    "{}: Invalid value: 0: must be between 1 and 65535, inclusive",
                    container_path("livenessProbe.httpGet.port")
                ),
                format!(
                    "{}: Invalid value: -1: must be greater than or equal to 0",
                    container_path("livenessProbe.periodSeconds")
                ),
            ]
        );
        assert_eq!(
            c(&[("lifecycle", json!({"preStop": {"sleep": {"seconds": 31}}}))]),
            vec![format!(
                "{}: Invalid value: 31: must be non-negative and less than terminationGracePeriodSeconds (30)",
                container_path("lifecycle.preStop.sleep")
            )]
        );
    }

    // --- volumes --------------------------------------------------------------------------------------------

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

    // --- scheduling fields ----------------------------------------------------------------------------------

    #[test]
    fn tolerations() {
        let tol = |t: Value| errors(with(&[("spec/template/spec/tolerations", json!([t]))]));
        let p = "spec.template.spec.tolerations[0]";
        assert_eq!(tol(json!({"operator": "Exists"})), Vec::<String>::new());
        assert_eq!(
            tol(json!({"key": "k", "value": "v", "effect": "NoExecute", "tolerationSeconds": 5})),
            Vec::<String>::new()
        );
        assert_eq!(
            tol(json!({"key": "k", "operator": "Foo"})),
            vec![format!("{p}.operator: Unsupported value: \"Foo\": supported values: \"Equal\", \"Exists\"")]
        );
        assert_eq!(
            tol(json!({"key": "k", "operator": "Exists", "value": "v"})),
            vec![format!("{p}.operator: Invalid value: \"v\": value must be empty when `operator` is 'Exists'")]
        );
        assert_eq!(
            tol(json!({"operator": "Equal", "value": "v"})),
            vec![format!(
                "{p}.operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\""
            )]
        );
        assert_eq!(
            tol(json!({"key": "k", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 10})),
            vec![format!(
                "{p}.effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set"
            )]
        );
        assert_eq!(
            tol(json!({"key": "k", "operator": "Exists", "effect": "Sometimes"})),
            vec![format!(
                "{p}.effect: Unsupported value: \"Sometimes\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\""
            )]
        );
    }

    #[test]
    fn node_affinity_and_node_selector() {
        let affinity = |na: Value| errors(with(&[("spec/template/spec/affinity", json!({"nodeAffinity": na}))]));
        let req =
            "spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms";
        let term = |e: Value| json!({"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [e]}]}});
        assert_eq!(affinity(term(json!({"key": "zone", "operator": "In", "values": ["a"]}))), Vec::<String>::new());
        assert_eq!(
            affinity(term(json!({"key": "zone", "operator": "In"}))),
            vec![format!(
                "{req}[0].matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"
            )]
        );
        assert_eq!(
            affinity(term(json!({"key": "cpus", "operator": "Gt", "values": ["1", "2"]}))),
            vec![format!(
                "{req}[0].matchExpressions[0].values: Required value: must be specified single value when `operator` is 'Lt' or 'Gt'"
            )]
        );
        assert_eq!(
            affinity(json!({"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}})),
            vec![format!("{req}: Required value: must have at least one node selector term")]
        );
        assert_eq!(
            affinity(json!({"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 0, "preference": {}}]})),
            vec![
                "spec.template.spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value: 0: must be in the range 1-100"
            ]
        );
        assert_eq!(
            errors(with(&[("spec/template/spec/nodeSelector", json!({"disk": "s s d"}))])),
            vec![format!("spec.template.spec.nodeSelector: Invalid value: \"s s d\": {LABEL_VALUE_MSG}")]
        );
    }

    #[test]
    fn dns_policy_and_pod_names() {
        assert_eq!(
            errors(with(&[("spec/template/spec/dnsPolicy", json!("Foo"))])),
            vec![
                "spec.template.spec.dnsPolicy: Unsupported value: \"Foo\": supported values: \"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\""
            ]
        );
        assert_eq!(
            errors(with(&[("spec/template/spec/dnsPolicy", json!("None"))])),
            vec!["spec.template.spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None"]
        );
        assert_eq!(
            errors(with(&[("spec/template/spec/serviceAccountName", json!("Bad_SA"))])),
            vec![format!("spec.template.spec.serviceAccountName: Invalid value: \"Bad_SA\": {SUBDOMAIN_MSG}")]
        );
        assert_eq!(
            errors(with(&[("spec/template/spec/hostname", json!("a.b"))])),
            vec!["spec.template.spec.hostname: Invalid value: \"a.b\": must not contain dots"]
        );
    }

    #[test]
    fn pod_deletion_cost_annotation() {
        let cost = |v: &str| {
            errors(with(&[(
                "spec/template/metadata/annotations",
                json!({"controller.kubernetes.io/pod-deletion-cost": v}),
            )]))
        };
        assert_eq!(cost("-5"), Vec::<String>::new());
        assert_eq!(cost("0"), Vec::<String>::new());
        for bad in ["+10", "007", "1.5", "2147483648"] {
            assert_eq!(
                cost(bad),
                vec![format!(
                    "spec.template.annotations[controller.kubernetes.io/pod-deletion-cost]: Invalid value: \"{bad}\": must be a 32bit integer"
                )]
            );
        }
    }

    // --- spec numbers and update strategy -------------------------------------------------------------------

    #[test]
    fn min_ready_seconds_and_revision_history_limit() {
        assert_eq!(
            errors(with(&[("spec/minReadySeconds", json!(-1))])),
            vec!["spec.minReadySeconds: Invalid value: -1: must be greater than or equal to 0"]
        );
        assert_eq!(
            errors(with(&[("spec/revisionHistoryLimit", json!(-1))])),
            vec!["spec.revisionHistoryLimit: Invalid value: -1: must be greater than or equal to 0"]
        );
        assert_eq!(
            errors(with(&[("spec/revisionHistoryLimit", json!(0)), ("spec/minReadySeconds", json!(30))])),
            Vec::<String>::new()
        );
    }

    #[test]
    fn update_strategy_type() {
        assert_eq!(
            errors(with(&[("spec/updateStrategy", json!({"type": "Foo"}))])),
            vec![
                "spec.updateStrategy: Unsupported value: {\"type\":\"Foo\"}: supported values: \"RollingUpdate\", \"OnDelete\""
            ]
        );
        // rollingUpdate under OnDelete is accepted and ignored, however odd.
        let on_delete = json!({"type": "OnDelete", "rollingUpdate": {"maxUnavailable": "abc", "maxSurge": -3}});
        assert_eq!(errors(with(&[("spec/updateStrategy", on_delete)])), Vec::<String>::new());
    }

    #[test]
    fn rolling_update_without_rolling_update_is_required() {
        // Defaulting always fills it, so bypass it the way a stored object could.
        let mut ds = defaulted(base());
        ds.spec.update_strategy.as_mut().unwrap().rolling_update = None;
        assert_eq!(render(&validate_daemon_set(&ds)), vec!["spec.updateStrategy.rollingUpdate: Required value"]);
    }

    fn rolling(ru: Value) -> Vec<String> {
        errors(with(&[("spec/updateStrategy", json!({"type": "RollingUpdate", "rollingUpdate": ru}))]))
    }

    const MU: &str = "spec.updateStrategy.rollingUpdate.maxUnavailable";
    const MS: &str = "spec.updateStrategy.rollingUpdate.maxSurge";

    #[test]
    fn rolling_update_valid_values() {
        for ru in [
            json!({}),
            json!({"maxUnavailable": 1, "maxSurge": 0}),
            json!({"maxUnavailable": 0, "maxSurge": 1}),
            json!({"maxUnavailable": 0, "maxSurge": "10%"}),
            json!({"maxUnavailable": "100%"}),
            json!({"maxUnavailable": 200}),
        ] {
            assert_eq!(rolling(ru.clone()), Vec::<String>::new(), "{ru}");
        }
    }

    #[test]
    fn rolling_update_both_non_zero() {
        assert_eq!(
            rolling(json!({"maxUnavailable": 1, "maxSurge": 1})),
            vec![format!("{MS}: Invalid value: 1: may not be set when maxUnavailable is non-zero")]
        );
        assert_eq!(
            rolling(json!({"maxUnavailable": "50%", "maxSurge": "10%"})),
            vec![format!("{MS}: Invalid value: 10%: may not be set when maxUnavailable is non-zero")]
        );
    }

    #[test]
    fn rolling_update_both_zero() {
        let expected = vec![format!("{MU}: Required value: cannot be 0 when maxSurge is 0")];
        assert_eq!(rolling(json!({"maxUnavailable": 0, "maxSurge": 0})), expected);
        assert_eq!(rolling(json!({"maxUnavailable": "0%", "maxSurge": 0})), expected);
        assert_eq!(rolling(json!({"maxUnavailable": 0})), expected, "maxSurge defaults to 0");
    }

    #[test]
    fn rolling_update_percent_limits() {
        assert_eq!(
            rolling(json!({"maxUnavailable": "110%"})),
            vec![format!("{MU}: Invalid value: 110%: must not be greater than 100%")]
        );
        assert_eq!(
            rolling(json!({"maxUnavailable": 0, "maxSurge": "110%"})),
            vec![format!("{MS}: Invalid value: 110%: must not be greater than 100%")]
        );
    }

    #[test]
    fn rolling_update_malformed_values() {
        // A malformed percent counts as Atoi of the string: 0 here, so the both-zero rule fires as well.
        assert_eq!(
            rolling(json!({"maxUnavailable": "20Percent"})),
            vec![
                format!("{MU}: Invalid value: 20Percent: {PERCENT_MSG}"),
                format!("{MU}: Required value: cannot be 0 when maxSurge is 0"),
            ]
        );
        assert_eq!(
            rolling(json!({"maxUnavailable": "abc%"})),
            vec![
                format!("{MU}: Invalid value: abc%: {PERCENT_MSG}"),
                format!("{MU}: Required value: cannot be 0 when maxSurge is 0"),
            ]
        );
        // ...but a bare number string counts as that number (upstream quirk), so only the format error.
        assert_eq!(rolling(json!({"maxUnavailable": "5"})), vec![format!("{MU}: Invalid value: 5: {PERCENT_MSG}")]);
        assert_eq!(
            rolling(json!({"maxUnavailable": -1})),
            vec![format!("{MU}: Invalid value: -1: must be greater than or equal to 0")]
        );
        assert_eq!(
            rolling(json!({"maxUnavailable": 1, "maxSurge": "1.5%"})),
            vec![format!("{MS}: Invalid value: 1.5%: {PERCENT_MSG}")]
        );
    }

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

    // --- TestValidateDaemonSetUpdate (scenario 85) ------------------------------------------------------------

    fn on_delete(tg: Option<i64>) -> Value {
        let mut v = with(&[("spec/updateStrategy", json!({"type": "OnDelete"}))]);
        if let Some(tg) = tg {
            set(&mut v, "metadata/annotations", json!({TEMPLATE_GENERATION_ANNOTATION: tg.to_string()}));
        }
        v
    }

    fn tweak(mut v: Value, pairs: &[(&str, Value)]) -> Value {
        for (path, value) in pairs {
            set(&mut v, path, value.clone());
        }
        v
    }

    #[test]
    fn update_success_cases() {
        assert_eq!(update_errors(on_delete(Some(1)), on_delete(Some(1))), Vec::<String>::new());
        // "change template": new node selector and node name, templateGeneration bumped.
        let changed = tweak(
            on_delete(Some(4)),
            &[("spec/template/spec/nodeSelector", json!({"a": "b"})), ("spec/template/spec/nodeName", json!("xyz"))],
        );
        assert_eq!(update_errors(changed, on_delete(Some(3))), Vec::<String>::new());
        // "change update strategy".
        let rolling = tweak(
            on_delete(Some(4)),
            &[("spec/updateStrategy", json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}))],
        );
        assert_eq!(update_errors(rolling, on_delete(Some(4))), Vec::<String>::new());
        // "unchanged templateGeneration upon semantically equal template update": [] equals absent.
        let equal = tweak(on_delete(Some(4)), &[("spec/template/spec/imagePullSecrets", json!([]))]);
        assert_eq!(update_errors(equal, on_delete(Some(4))), Vec::<String>::new());
        // Without the annotation the server manages templateGeneration, so a template change is fine.
        let image = tweak(on_delete(None), &[("spec/template/spec/containers/0/image", json!("image:2"))]);
        assert_eq!(update_errors(image, on_delete(Some(7))), Vec::<String>::new());
    }

    #[test]
    fn update_selector_is_immutable() {
        let new = tweak(
            on_delete(Some(3)),
            &[
                ("spec/selector", json!({"matchLabels": {"c": "d"}})),
                ("spec/template/metadata/labels", json!({"c": "d"})),
            ],
        );
        assert_eq!(
            update_errors(new, on_delete(Some(2))),
            vec!["spec.selector: Invalid value: {\"matchLabels\":{\"c\":\"d\"}}: field is immutable"]
        );
        // Semantically equal selectors are not a change.
        let same =
            tweak(on_delete(Some(1)), &[("spec/selector", json!({"matchLabels": {"a": "b"}, "matchExpressions": []}))]);
        assert_eq!(update_errors(same, on_delete(Some(1))), Vec::<String>::new());
    }

    #[test]
    fn update_error_cases() {
        // "change daemon name".
        let old = tweak(on_delete(Some(1)), &[("metadata/name", json!(""))]);
        assert_eq!(
            update_errors(on_delete(Some(1)), old),
            vec!["metadata.name: Invalid value: \"abc\": field is immutable"]
        );
        // "invalid selector": the syntax error, plus the apps/v1 immutability rule.
        let bad = tweak(on_delete(Some(1)), &[("spec/selector", json!({"matchLabels": {BAD_KEY: "b"}}))]);
        assert_eq!(
            update_errors(bad, on_delete(Some(1))),
            vec![
                format!("spec.selector.matchLabels: Invalid value: \"{BAD_KEY}\": {NAME_PART_MSG}"),
                format!(
                    "spec.selector: Invalid value: {{\"matchLabels\":{{\"{BAD_KEY}\":\"b\"}}}}: field is immutable"
                ),
            ]
        );
        // "invalid pod".
        let no_containers = tweak(on_delete(Some(2)), &[("spec/template/spec/containers", json!([]))]);
        assert_eq!(
            update_errors(no_containers, on_delete(Some(1))),
            vec!["spec.template.spec.containers: Required value"]
        );
        // "invalid update strategy".
        let random = tweak(on_delete(Some(1)), &[("spec/updateStrategy", json!({"type": "Random"}))]);
        assert_eq!(
            update_errors(random, on_delete(Some(1))),
            vec![
                "spec.updateStrategy: Unsupported value: {\"type\":\"Random\"}: supported values: \"RollingUpdate\", \"OnDelete\""
            ]
        );
        // "negative templateGeneration".
        assert_eq!(
            update_errors(on_delete(Some(-1)), on_delete(Some(-1))),
            vec!["spec.templateGeneration: Invalid value: -1: must be greater than or equal to 0"]
        );
        // "decreased templateGeneration".
        assert_eq!(
            update_errors(on_delete(Some(1)), on_delete(Some(2))),
            vec!["spec.templateGeneration: Invalid value: 1: must not be decremented"]
        );
        // "unchanged templateGeneration upon template update".
        let image = tweak(on_delete(Some(2)), &[("spec/template/spec/containers/0/image", json!("image:2"))]);
        assert_eq!(
            update_errors(image, on_delete(Some(2))),
            vec!["spec.templateGeneration: Invalid value: 2: must be incremented upon template update"]
        );
        // Incremented without a template change.
        assert_eq!(
            update_errors(on_delete(Some(2)), on_delete(Some(1))),
            vec!["spec.templateGeneration: Invalid value: 2: must not be incremented without template update"]
        );
        // Generation and namespace.
        let new =
            tweak(on_delete(Some(1)), &[("metadata/generation", json!(1)), ("metadata/namespace", json!("other"))]);
        let old = tweak(on_delete(Some(1)), &[("metadata/generation", json!(2))]);
        assert_eq!(
            update_errors(new, old),
            vec![
                "metadata.generation: Invalid value: 1: must not be decremented",
                "metadata.namespace: Invalid value: \"other\": field is immutable",
            ]
        );
    }

    #[test]
    fn update_runs_the_rolling_update_rules() {
        let new = tweak(
            on_delete(Some(1)),
            &[(
                "spec/updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}}),
            )],
        );
        assert_eq!(
            update_errors(new, on_delete(Some(1))),
            vec![format!("{MS}: Invalid value: 1: may not be set when maxUnavailable is non-zero")]
        );
    }

    fn with_status(status: Value) -> DaemonSet {
        parse(tweak(base(), &[("status", status)]))
    }

    #[test]
    fn status_update() {
        let good = json!({"currentNumberScheduled": 1, "numberMisscheduled": 2, "desiredNumberScheduled": 3,
                          "numberReady": 1, "updatedNumberScheduled": 1, "numberAvailable": 1, "numberUnavailable": 2});
        assert_eq!(validate_daemon_set_status_update(&with_status(good.clone()), &with_status(good.clone())), vec![]);
        let negative = json!({"currentNumberScheduled": -1, "numberMisscheduled": -1, "desiredNumberScheduled": -3,
                              "numberReady": -1, "observedGeneration": -3, "updatedNumberScheduled": -1,
                              "numberAvailable": -1, "numberUnavailable": -2, "collisionCount": -1});
        assert_eq!(
            render(&validate_daemon_set_status_update(&with_status(negative), &with_status(good.clone()))),
            vec![
                "status.currentNumberScheduled: Invalid value: -1: must be greater than or equal to 0",
                "status.numberMisscheduled: Invalid value: -1: must be greater than or equal to 0",
                "status.desiredNumberScheduled: Invalid value: -3: must be greater than or equal to 0",
                "status.numberReady: Invalid value: -1: must be greater than or equal to 0",
                "status.observedGeneration: Invalid value: -3: must be greater than or equal to 0",
                "status.updatedNumberScheduled: Invalid value: -1: must be greater than or equal to 0",
                "status.numberAvailable: Invalid value: -1: must be greater than or equal to 0",
                "status.numberUnavailable: Invalid value: -2: must be greater than or equal to 0",
                "status.collisionCount: Invalid value: -1: must be greater than or equal to 0",
            ]
        );
        let cc = |n: Option<i32>| {
            let mut st = good.clone();
            if let Some(n) = n {
                st["collisionCount"] = json!(n);
            }
            with_status(st)
        };
        assert_eq!(
            render(&validate_daemon_set_status_update(&cc(Some(1)), &cc(Some(2)))),
            vec!["status.collisionCount: Invalid value: 1: cannot be decremented"]
        );
        assert_eq!(
            render(&validate_daemon_set_status_update(&cc(None), &cc(Some(2)))),
            vec!["status.collisionCount: Invalid value: 0: cannot be decremented"]
        );
        assert_eq!(validate_daemon_set_status_update(&cc(Some(3)), &cc(Some(2))), vec![]);
        assert_eq!(validate_daemon_set_status_update(&cc(Some(0)), &cc(None)), vec![]);
    }

    // --- rendering ------------------------------------------------------------------------------------------

    #[test]
    fn field_error_rendering() {
        let p = Path::root("spec").child("x").index(2).key("k");
        assert_eq!(p.0, "spec.x[2][k]");
        assert_eq!(required(&p, "").to_string(), "spec.x[2][k]: Required value");
        assert_eq!(required(&p, "why").to_string(), "spec.x[2][k]: Required value: why");
        assert_eq!(forbidden(&p, "no").to_string(), "spec.x[2][k]: Forbidden: no");
        assert_eq!(invalid(&p, "3".into(), "bad").to_string(), "spec.x[2][k]: Invalid value: 3: bad");
        assert_eq!(duplicate(&p, q("a")).to_string(), "spec.x[2][k]: Duplicate value: \"a\"");
        assert_eq!(not_found(&p, q("a")).to_string(), "spec.x[2][k]: Not found: \"a\"");
        assert_eq!(
            not_supported(&p, q("a"), &["b", "c"]).to_string(),
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
        assert_eq!(q("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\x01é\"");
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

    #[test]
    fn single_label_and_dns_label_helpers() {
        assert_eq!(validate_label("app.kubernetes.io/name", ""), Ok(()));
        assert_eq!(
            validate_label("a b", "-x"),
            Err(format!("Invalid value: \"a b\": {NAME_PART_MSG}; Invalid value: \"-x\": {LABEL_VALUE_MSG}"))
        );
        assert_eq!(validate_dns1123_label("cluster-1"), Ok(()));
        assert_eq!(validate_dns1123_label("a.b"), Err("must not contain dots".to_string()));
        let long = format!("A{}", "a".repeat(63));
        assert_eq!(validate_dns1123_label(&long), Err(format!("must be no more than 63 characters; {DNS_LABEL_MSG}")));
    }

    #[test]
    fn format_helpers() {
        assert!(is_dns1123_subdomain("a.b-c.d").is_empty());
        assert!(!is_dns1123_subdomain("a..b").is_empty());
        assert!(!is_dns1123_subdomain("").is_empty());
        assert!(is_dns1123_label("a-1").is_empty());
        assert!(is_qualified_name("example.com/My_Name.1").is_empty());
        assert!(is_valid_label_value("").is_empty());
        assert!(is_valid_percent("0%").is_empty());
        assert!(!is_valid_percent("%").is_empty());
        assert!(!is_valid_percent("-1%").is_empty());
        assert!(!is_valid_percent("1%\n").is_empty());
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
