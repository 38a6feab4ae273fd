//! Probes and lifecycle hooks of a container: `validateProbe`, `validateLifecycle` and the handler rules they
//! share (`pkg/apis/core/validation/validation.go`).

use k8s_openapi::api::core::v1::{
    Container, ExecAction, GRPCAction, HTTPGetAction, Lifecycle, Probe, SleepAction, TCPSocketAction,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::field::{FieldError, Path, forbidden, go_quote, invalid, nonnegative, not_supported, required};
use super::names::{is_http_header_name, is_valid_port_name, is_valid_port_num};
use super::or_empty;

pub(super) fn validate_probes(c: &Container, grace: Option<i64>, path: &Path, errs: &mut Vec<FieldError>) {
    for (field, probe) in [
        ("livenessProbe", &c.liveness_probe),
        ("readinessProbe", &c.readiness_probe),
        ("startupProbe", &c.startup_probe),
    ] {
        let Some(p) = probe else { continue };
        let pp = path.child(field);
        validate_probe(p, grace, &pp, errs);
        if field == "readinessProbe" {
            if let Some(t) = p.termination_grace_period_seconds {
                errs.push(invalid(
                    &pp.child("terminationGracePeriodSeconds"),
                    t.to_string(),
                    "must not be set for readinessProbes",
                ));
            }
        } else if p.success_threshold.unwrap_or(0) != 1 {
            // Liveness and startup probes succeed once.
            errs.push(invalid(
                &pp.child("successThreshold"),
                p.success_threshold.unwrap_or(0).to_string(),
                "must be 1",
            ));
        }
    }
}

/// The actions of a probe or a lifecycle hook, which upstream validates with one `validateHandler`.
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
        if or_empty(&g.path).is_empty() {
            errs.push(required(&gp.child("path"), ""));
        }
        validate_port_num_or_name(&g.port, &gp.child("port"), errs);
        let scheme = or_empty(&g.scheme);
        if !matches!(scheme, "HTTP" | "HTTPS") {
            errs.push(not_supported(&gp.child("scheme"), go_quote(scheme), &["HTTP", "HTTPS"]));
        }
        for header in g.http_headers.iter().flatten() {
            for msg in is_http_header_name(&header.name) {
                errs.push(invalid(&gp.child("httpHeaders"), go_quote(&header.name), msg));
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
                errs.push(invalid(path, go_quote(name), msg));
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

pub(super) fn validate_lifecycle(lc: &Lifecycle, grace: Option<i64>, path: &Path, errs: &mut Vec<FieldError>) {
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
    use crate::apiserver::test_support::*;
    use serde_json::{Value, json};

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
}
