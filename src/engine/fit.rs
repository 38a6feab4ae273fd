//! Per-node fit prediction: will a daemon pod run on a node, or sit Pending, and why (kubernetes#31369).
//!
//! Upstream's DaemonSet controller stopped checking resources in v1.12 and leaves them to the scheduler, so a
//! daemon pod on a full node is created and then pends. daemonplane predicts that outcome per node, mirroring the
//! scheduler's `NodeResourcesFit` filter (`fitsRequest` in `pkg/scheduler/framework/plugins/noderesources/fit.go`)
//! for cpu, memory and pod slots, and its `NodePorts` filter (`HostPortInfo.CheckConflict`) for host ports.
//! The pod's demand follows `resource.PodRequests` of `k8s.io/component-helpers` after API server defaulting.
//!
//! Prediction is advice only: placement stays upstream-exact and never reads it.
//!
//! Not reported allocatable: the shim turns a missing allocatable into 0 and cannot tell the two apart per
//! resource. A kubelet always reports cpu, memory and pods together, so an allocatable with all three at 0 means
//! the node's status is not known yet; such a node gets no resource or pod-count prediction (it "fits"). A single
//! 0 next to reported others is taken as a real 0, as the scheduler takes it. Host ports do not depend on
//! allocatable and are always checked.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::atom::Atom;
use super::model::{HostPort, Node, Resources};

/// `v1.ResourceCPU`.
pub const RESOURCE_CPU: &str = "cpu";
/// `v1.ResourceMemory`.
pub const RESOURCE_MEMORY: &str = "memory";
/// `v1.ProtocolTCP`, the protocol of a port that names none.
pub const PROTOCOL_TCP: &str = "TCP";
/// `framework.DefaultBindAllHostIP`, the host IP of a port that names none.
pub const BIND_ALL_HOST_IP: &str = "0.0.0.0";
/// `v1.ContainerRestartPolicyAlways`: an init container with it is a sidecar that keeps running.
const RESTART_POLICY_ALWAYS: &str = "Always";

/// What one daemon pod asks of a node, computed once per DaemonSet template.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodDemand {
    pub cpu_millis: i64,
    pub memory_bytes: i64,
    /// Host ports the pod binds, protocol and host IP filled in ("TCP", "0.0.0.0"), sorted and deduplicated.
    pub host_ports: Vec<HostPort>,
}

/// cpu and memory requests of one container or of a whole pod.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Amounts {
    cpu_millis: i64,
    memory_bytes: i64,
}

impl Amounts {
    fn plus(self, other: Amounts) -> Amounts {
        Amounts {
            cpu_millis: self.cpu_millis.saturating_add(other.cpu_millis),
            memory_bytes: self.memory_bytes.saturating_add(other.memory_bytes),
        }
    }

    fn max(self, other: Amounts) -> Amounts {
        Amounts {
            cpu_millis: self.cpu_millis.max(other.cpu_millis),
            memory_bytes: self.memory_bytes.max(other.memory_bytes),
        }
    }
}

type ResourceList = BTreeMap<String, Quantity>;

/// Parses `list[resource]` with the parser for that resource, naming `what` in the error.
fn parse_entry(list: Option<&ResourceList>, resource: &str, what: &str) -> Result<Option<i64>, QuantityError> {
    let Some(quantity) = list.and_then(|l| l.get(resource)) else { return Ok(None) };
    let parsed = if resource == RESOURCE_CPU { parse_cpu_millis(&quantity.0) } else { parse_bytes(&quantity.0) };
    parsed.map(Some).map_err(|e| QuantityError(format!("{what}.{resource}: {}", e.0)))
}

/// A container's requests after API server defaulting (`SetDefaults_Pod`): a resource with a limit and no
/// request requests its limit. Also says which of cpu and memory the container names at all.
fn container_requests(c: &Container, kind: &str) -> Result<(Amounts, [bool; 2]), QuantityError> {
    let resources = c.resources.as_ref();
    let requests = resources.and_then(|r| r.requests.as_ref());
    let limits = resources.and_then(|r| r.limits.as_ref());
    let mut amounts = Amounts::default();
    let mut named = [false; 2];
    for (i, resource) in [RESOURCE_CPU, RESOURCE_MEMORY].into_iter().enumerate() {
        let value = match parse_entry(requests, resource, &format!("{kind} {:?} requests", c.name))? {
            Some(v) => Some(v),
            None => parse_entry(limits, resource, &format!("{kind} {:?} limits", c.name))?,
        };
        if let Some(v) = value {
            named[i] = true;
            if i == 0 {
                amounts.cpu_millis = v;
            } else {
                amounts.memory_bytes = v;
            }
        }
    }
    Ok((amounts, named))
}

fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some(RESTART_POLICY_ALWAYS)
}

impl PodDemand {
    /// The pod's requests as the scheduler sums them (`resource.PodRequests`): regular containers and sidecar
    /// (restartable) init containers add up; a regular init container needs its own request plus the sidecars
    /// started before it; the pod needs the larger of the two, per resource. Pod-level `resources` (cpu, memory)
    /// replace the container sum, and pod-level limits stand in for requests no container names (the
    /// PodLevelResources defaulting). `overhead` is added last.
    ///
    /// Host ports are those of regular and sidecar init containers (`GetHostPorts`), as the scheduler sees them:
    /// only ports with a `hostPort`, except that on `hostNetwork` every port binds its `containerPort`.
    pub fn from_pod_spec(spec: &PodSpec) -> Result<PodDemand, QuantityError> {
        let mut sum = Amounts::default();
        let mut named = [false; 2];
        for c in &spec.containers {
            let (amounts, n) = container_requests(c, "container")?;
            sum = sum.plus(amounts);
            named = [named[0] || n[0], named[1] || n[1]];
        }
        let mut sidecars = Amounts::default();
        let mut init_max = Amounts::default();
        for c in spec.init_containers.iter().flatten() {
            let (amounts, n) = container_requests(c, "init container")?;
            named = [named[0] || n[0], named[1] || n[1]];
            if is_sidecar(c) {
                sum = sum.plus(amounts);
                sidecars = sidecars.plus(amounts);
                init_max = init_max.max(sidecars);
            } else {
                init_max = init_max.max(amounts.plus(sidecars));
            }
        }
        let mut total = sum.max(init_max);

        if let Some(pod) = spec.resources.as_ref() {
            for (i, resource) in [RESOURCE_CPU, RESOURCE_MEMORY].into_iter().enumerate() {
                let value = match parse_entry(pod.requests.as_ref(), resource, "pod resources.requests")? {
                    Some(v) => Some(v),
                    // Defaulting copies the pod limit to the pod request only when no container names it.
                    None if !named[i] => parse_entry(pod.limits.as_ref(), resource, "pod resources.limits")?,
                    None => None,
                };
                match (i, value) {
                    (0, Some(v)) => total.cpu_millis = v,
                    (_, Some(v)) => total.memory_bytes = v,
                    _ => {}
                }
            }
        }

        let overhead = spec.overhead.as_ref();
        let overhead = Amounts {
            cpu_millis: parse_entry(overhead, RESOURCE_CPU, "overhead")?.unwrap_or(0),
            memory_bytes: parse_entry(overhead, RESOURCE_MEMORY, "overhead")?.unwrap_or(0),
        };
        total = total.plus(overhead);

        let host_network = spec.host_network.unwrap_or(false);
        let mut host_ports = Vec::new();
        let running = spec.init_containers.iter().flatten().filter(|c| is_sidecar(c)).chain(&spec.containers);
        for port in running.flat_map(|c| c.ports.iter().flatten()) {
            let host_port = match port.host_port {
                Some(p) if p != 0 => p,
                // API defaulting: on the host network a container port is a host port.
                _ if host_network => port.container_port,
                _ => continue,
            };
            if host_port <= 0 {
                continue;
            }
            host_ports.push(HostPort {
                port: host_port,
                protocol: Atom::new(non_empty_or(port.protocol.as_deref(), PROTOCOL_TCP)),
                host_ip: Atom::new(non_empty_or(port.host_ip.as_deref(), BIND_ALL_HOST_IP)),
            });
        }
        host_ports.sort();
        host_ports.dedup();

        Ok(PodDemand { cpu_millis: total.cpu_millis, memory_bytes: total.memory_bytes, host_ports })
    }
}

fn non_empty_or<'a>(value: Option<&'a str>, default: &'a str) -> &'a str {
    match value {
        Some(v) if !v.is_empty() => v,
        _ => default,
    }
}

/// Why a pod would stay Pending on a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PendReason {
    /// Upstream "Insufficient cpu". `available_millis` is allocatable minus requested, never below 0.
    InsufficientCpu { requested_millis: i64, available_millis: i64 },
    /// Upstream "Insufficient memory". `available_bytes` is allocatable minus requested, never below 0.
    InsufficientMemory { requested_bytes: i64, available_bytes: i64 },
    /// Upstream "Too many pods": the node's pod slots are all taken.
    TooManyPods { allowed: i64 },
    /// Upstream "node(s) didn't have free ports for the requested pod ports", one per port.
    HostPortConflict { port: i32, protocol: String },
}

impl PendReason {
    /// One line for people, e.g. "insufficient cpu: needs 100m, 50m free".
    pub fn sentence(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for PendReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PendReason::InsufficientCpu { requested_millis, available_millis } => {
                write!(f, "insufficient cpu: needs {requested_millis}m, {available_millis}m free")
            }
            PendReason::InsufficientMemory { requested_bytes, available_bytes } => {
                write!(f, "insufficient memory: needs {requested_bytes} bytes, {available_bytes} bytes free")
            }
            PendReason::TooManyPods { allowed } => write!(f, "too many pods: the node allows {allowed}"),
            PendReason::HostPortConflict { port, protocol } => write!(f, "host port {port}/{protocol} already in use"),
        }
    }
}

/// The predicted outcome of creating the daemon pod on a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fit {
    Runs,
    /// Every reason that applies: cpu, memory, pods, then host ports by port.
    WillPend(Vec<PendReason>),
}

impl Fit {
    pub fn runs(&self) -> bool {
        matches!(self, Fit::Runs)
    }

    /// The reasons to pend; empty when the pod runs.
    pub fn reasons(&self) -> &[PendReason] {
        match self {
            Fit::Runs => &[],
            Fit::WillPend(reasons) => reasons,
        }
    }
}

/// Upstream `HostPortInfo.CheckConflict` for one used port: same protocol and port, and host IPs equal or either
/// binding all addresses. Empty protocol and host IP mean "TCP" and "0.0.0.0" (`sanitize`).
fn ports_conflict(want: &HostPort, used: &HostPort) -> bool {
    let binds_all = |ip: &str| ip.is_empty() || ip == BIND_ALL_HOST_IP;
    want.port > 0
        && want.port == used.port
        && non_empty_or(Some(want.protocol.as_str()), PROTOCOL_TCP)
            == non_empty_or(Some(used.protocol.as_str()), PROTOCOL_TCP)
        && (binds_all(&want.host_ip) || binds_all(&used.host_ip) || want.host_ip == used.host_ip)
}

/// Predicts whether `demand` fits on `node`. `also_placed` is the demand of other daemonplane pods already on
/// the node (they are not in `node.other_pods`), added to the node's used resources, pod count and ports.
///
/// Runs for every node of large clusters: it allocates only when it returns [`Fit::WillPend`].
pub fn predict(demand: &PodDemand, node: &Node, also_placed: &[&PodDemand]) -> Fit {
    // Vec::new does not allocate; only a reason does.
    let mut reasons = Vec::new();
    let allocatable = node.allocatable;
    if allocatable != Resources::default() {
        let other = &node.other_pods;
        let (mut used_cpu, mut used_memory) = (other.requested.cpu_millis, other.requested.memory_bytes);
        for placed in also_placed {
            used_cpu = used_cpu.saturating_add(placed.cpu_millis);
            used_memory = used_memory.saturating_add(placed.memory_bytes);
        }
        // fitsRequest: a resource the pod does not request never makes it pend, even on an overcommitted node.
        let free_cpu = allocatable.cpu_millis.saturating_sub(used_cpu);
        if demand.cpu_millis > 0 && demand.cpu_millis > free_cpu {
            reasons.push(PendReason::InsufficientCpu {
                requested_millis: demand.cpu_millis,
                available_millis: free_cpu.max(0),
            });
        }
        let free_memory = allocatable.memory_bytes.saturating_sub(used_memory);
        if demand.memory_bytes > 0 && demand.memory_bytes > free_memory {
            reasons.push(PendReason::InsufficientMemory {
                requested_bytes: demand.memory_bytes,
                available_bytes: free_memory.max(0),
            });
        }
        let pods_after = i64::from(other.pod_count).saturating_add(also_placed.len() as i64).saturating_add(1);
        if pods_after > allocatable.pods {
            reasons.push(PendReason::TooManyPods { allowed: allocatable.pods });
        }
    }

    let first_port_reason = reasons.len();
    for want in &demand.host_ports {
        let in_use = node.other_pods.host_ports.iter().any(|used| ports_conflict(want, used))
            || also_placed.iter().any(|placed| placed.host_ports.iter().any(|used| ports_conflict(want, used)));
        if in_use {
            reasons.push(PendReason::HostPortConflict {
                port: want.port,
                protocol: non_empty_or(Some(want.protocol.as_str()), PROTOCOL_TCP).to_owned(),
            });
        }
    }

    if reasons.is_empty() {
        return Fit::Runs;
    }
    // A hand-built demand may list ports unsorted, or one port on several host IPs.
    reasons[first_port_reason..].sort_by(|a, b| match (a, b) {
        (
            PendReason::HostPortConflict { port: pa, protocol: qa },
            PendReason::HostPortConflict { port: pb, protocol: qb },
        ) => (pa, qa).cmp(&(pb, qb)),
        _ => std::cmp::Ordering::Equal,
    });
    reasons.dedup();
    Fit::WillPend(reasons)
}

/// A Kubernetes quantity that cannot be used as a request. The message names the bad text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QuantityError(pub String);

impl QuantityError {
    fn new(text: &str, why: &str) -> QuantityError {
        QuantityError(format!("invalid quantity {text:?}: {why}"))
    }
}

/// Parses a cpu quantity ("100m", "0.5", "2", "1e3", ...) into millicores, rounding up to a whole millicore as
/// `Quantity.MilliValue` does ("0.1m" is 1m).
pub fn parse_cpu_millis(q: &str) -> Result<i64, QuantityError> {
    parse_scaled(q, 3)
}

/// Parses a memory quantity ("200Mi", "1Gi", "128974848", "129M", "1.5Gi", "1k", ...) into bytes, rounding up to
/// a whole byte as `Quantity.Value` does ("100m" of memory is 1 byte).
pub fn parse_bytes(q: &str) -> Result<i64, QuantityError> {
    parse_scaled(q, 0)
}

/// Upstream `parseQuantityString` plus `ParseQuantity`'s suffix handling, then `ceil(value * 10^scale)`.
///
/// Follows upstream's scanner, quirks included: a number may have no digits on either side of the point ("1.",
/// ".5"), and a sign or suffix with no digits at all reads as 0. Results beyond i64 saturate at `i64::MAX`
/// (upstream caps binary suffixes there and overflows on decimal ones). Requests cannot be negative (API
/// validation), so a negative quantity is an error.
fn parse_scaled(q: &str, scale: i64) -> Result<i64, QuantityError> {
    let b = q.as_bytes();
    if b.is_empty() {
        return Err(QuantityError::new(q, "empty"));
    }
    let mut pos = 0;
    let negative = b[0] == b'-';
    if b[0] == b'-' || b[0] == b'+' {
        pos += 1;
    }
    let digits_from = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let int_end = digits_from(pos);
    let int_digits = &b[pos..int_end];
    pos = int_end;
    let mut frac_digits: &[u8] = &[];
    if pos < b.len() && b[pos] == b'.' {
        let frac_end = digits_from(pos + 1);
        frac_digits = &b[pos + 1..frac_end];
        pos = frac_end;
    }
    let suffix_start = pos;
    while pos < b.len() && b"eEinumkKMGTP".contains(&b[pos]) {
        pos += 1;
    }
    if pos < b.len() && (b[pos] == b'+' || b[pos] == b'-') {
        pos += 1;
    }
    if digits_from(pos) != b.len() {
        return Err(QuantityError::new(q, "expected <number><suffix>, e.g. 100m, 1.5Gi, 1e3"));
    }
    let suffix = &q[suffix_start..];
    let (exp10, exp2): (i64, u32) = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        s if s.len() > 1 && (s.starts_with('e') || s.starts_with('E')) => match s[1..].parse::<i64>() {
            Ok(e) => (e, 0),
            Err(_) => return Err(QuantityError::new(q, "bad exponent")),
        },
        s => return Err(QuantityError::new(q, &format!("unknown suffix {s:?}"))),
    };
    let value = ceil_scaled(int_digits, frac_digits, i128::from(exp10) + i128::from(scale), exp2);
    if negative && value != 0 {
        return Err(QuantityError::new(q, "a request cannot be negative"));
    }
    Ok(value)
}

/// `ceil(D * 10^exp10 * 2^exp2)` saturated to i64, where D is the decimal number `int_digits.frac_digits`.
/// Exact: the digits go into a small big integer.
fn ceil_scaled(int_digits: &[u8], frac_digits: &[u8], exp10: i128, exp2: u32) -> i64 {
    // Significant digits only: leading zeros dropped, trailing zeros moved into the exponent.
    let all = || int_digits.iter().chain(frac_digits).copied();
    let leading = all().take_while(|&d| d == b'0').count();
    let total = int_digits.len() + frac_digits.len();
    if leading == total {
        return 0;
    }
    let trailing = all().rev().take_while(|&d| d == b'0').count();
    let count = total - leading - trailing;
    let mut exp = exp10 - frac_digits.len() as i128 + trailing as i128;

    // The value lies in [10^magnitude, 10^(magnitude+1)) * 2^exp2, with 2^exp2 <= 2^60 < 10^19.
    let magnitude = count as i128 - 1 + exp;
    if magnitude >= 19 {
        return i64::MAX; // >= 10^19 > i64::MAX
    }
    if magnitude <= -21 {
        return 1; // below 10^-20 * 2^60 < 1, and not zero
    }

    // More than 80 significant digits cannot change the result: the kept ones put the last unit below 10^-60,
    // finer than 2^-60, so every integer lies on their grid and dropped (non-zero) digits only mean "round up".
    let keep = count.min(80);
    let mut inexact = keep < count;
    exp += (count - keep) as i128;

    let mut n = BigUint::default();
    for d in all().skip(leading).take(keep) {
        n.mul_add(10, u32::from(d - b'0'));
    }
    for _ in 0..exp2 / 10 {
        n.mul_add(1 << 10, 0);
    }
    // Bounded by the magnitude checks: at most 18 multiplications and 100 divisions.
    if exp >= 0 {
        for _ in 0..exp {
            n.mul_add(10, 0);
        }
    } else {
        for _ in 0..-exp {
            inexact |= n.div_rem(10) != 0;
        }
    }
    match n.to_u128() {
        Some(v) if v <= i64::MAX as u128 => (v as i64).saturating_add(i64::from(inexact)),
        _ => i64::MAX,
    }
}

/// Just enough of an unsigned big integer for quantity parsing (little-endian 32-bit limbs).
#[derive(Default)]
struct BigUint(Vec<u32>);

impl BigUint {
    fn mul_add(&mut self, mul: u32, add: u32) {
        let mut carry = u64::from(add);
        for limb in &mut self.0 {
            let v = u64::from(*limb) * u64::from(mul) + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry > 0 {
            self.0.push(carry as u32);
        }
    }

    fn div_rem(&mut self, div: u32) -> u32 {
        let mut rem = 0u64;
        for limb in self.0.iter_mut().rev() {
            let cur = (rem << 32) | u64::from(*limb);
            *limb = (cur / u64::from(div)) as u32;
            rem = cur % u64::from(div);
        }
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
        rem as u32
    }

    fn to_u128(&self) -> Option<u128> {
        let significant = self.0.iter().rposition(|&l| l != 0).map_or(0, |i| i + 1);
        if significant > 4 {
            return None;
        }
        Some(self.0[..significant].iter().rev().fold(0u128, |acc, &l| (acc << 32) | u128::from(l)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cpu(q: &str) -> i64 {
        parse_cpu_millis(q).unwrap_or_else(|e| panic!("{e}"))
    }

    fn bytes(q: &str) -> i64 {
        parse_bytes(q).unwrap_or_else(|e| panic!("{e}"))
    }

    fn spec(v: serde_json::Value) -> PodSpec {
        serde_json::from_value(v).expect("valid PodSpec")
    }

    fn demand(v: serde_json::Value) -> PodDemand {
        PodDemand::from_pod_spec(&spec(v)).expect("valid demand")
    }

    /// upstream resourcePodSpec: one container requesting memory and cpu.
    fn resource_demand(memory: &str, cpu: &str) -> PodDemand {
        demand(json!({"containers": [{"name": "foo", "resources": {"requests": {"memory": memory, "cpu": cpu}}}]}))
    }

    fn port(port: i32, protocol: &str, host_ip: &str) -> HostPort {
        HostPort { port, protocol: protocol.into(), host_ip: host_ip.into() }
    }

    fn ports_demand(ports: &[HostPort]) -> PodDemand {
        PodDemand { host_ports: ports.to_vec(), ..PodDemand::default() }
    }

    /// upstream allocatableResources(memory, cpu): always 100 pods.
    fn node(memory: &str, cpu_q: &str) -> Node {
        Node {
            name: "node".into(),
            allocatable: Resources { cpu_millis: cpu(cpu_q), memory_bytes: bytes(memory), pods: 100 },
            ..Node::default()
        }
    }

    fn with_ports(mut n: Node, ports: &[HostPort]) -> Node {
        n.other_pods.host_ports = ports.to_vec();
        n
    }

    // ---- quantity parsing ----

    #[test]
    fn cpu_plain_milli_and_decimal() {
        assert_eq!(cpu("100m"), 100);
        assert_eq!(cpu("2"), 2000);
        assert_eq!(cpu("0.5"), 500);
        assert_eq!(cpu("1.5"), 1500);
        assert_eq!(cpu("0"), 0);
        assert_eq!(cpu("+1"), 1000);
        assert_eq!(cpu("250m"), 250);
        assert_eq!(cpu(".5"), 500);
        assert_eq!(cpu("1."), 1000);
        assert_eq!(cpu("007"), 7000);
    }

    #[test]
    fn cpu_rounds_up_to_whole_millicores() {
        assert_eq!(cpu("0.1m"), 1);
        assert_eq!(cpu("1.0001"), 1001);
        assert_eq!(cpu("1u"), 1);
        assert_eq!(cpu("1n"), 1);
        assert_eq!(cpu("1500u"), 2);
        assert_eq!(cpu("1000u"), 1);
        assert_eq!(cpu("0.0000000000000000000000001"), 1);
        assert_eq!(cpu("100.0000m"), 100);
    }

    #[test]
    fn cpu_exponents() {
        assert_eq!(cpu("1e3"), 1_000_000);
        assert_eq!(cpu("1E3"), 1_000_000);
        assert_eq!(cpu("1e+3"), 1_000_000);
        assert_eq!(cpu("5e-1"), 500);
        assert_eq!(cpu("1e-3"), 1);
        assert_eq!(cpu("1.5e-4"), 1);
        assert_eq!(cpu("12e-3"), 12);
        assert_eq!(cpu("1e0"), 1000);
    }

    #[test]
    fn bytes_decimal_suffixes() {
        assert_eq!(bytes("1k"), 1_000);
        assert_eq!(bytes("129M"), 129_000_000);
        assert_eq!(bytes("1G"), 1_000_000_000);
        assert_eq!(bytes("2T"), 2_000_000_000_000);
        assert_eq!(bytes("1P"), 1_000_000_000_000_000);
        assert_eq!(bytes("1E"), 1_000_000_000_000_000_000);
        assert_eq!(bytes("128974848"), 128_974_848);
        assert_eq!(bytes("1.5k"), 1_500);
        assert_eq!(bytes("123456789012"), 123_456_789_012);
    }

    #[test]
    fn bytes_binary_suffixes() {
        assert_eq!(bytes("1Ki"), 1024);
        assert_eq!(bytes("200Mi"), 200 * 1024 * 1024);
        assert_eq!(bytes("1Gi"), 1 << 30);
        assert_eq!(bytes("1.5Gi"), 1_610_612_736);
        assert_eq!(bytes("1Ti"), 1 << 40);
        assert_eq!(bytes("1Pi"), 1 << 50);
        assert_eq!(bytes("1Ei"), 1 << 60);
        assert_eq!(bytes("0.5Ki"), 512);
        assert_eq!(bytes("123Mi"), 128_974_848);
    }

    #[test]
    fn bytes_round_up_to_whole_bytes() {
        // The well-known trap: "100m" of memory is a tenth of a byte, which the scheduler counts as 1.
        assert_eq!(bytes("100m"), 1);
        assert_eq!(bytes("0.5"), 1);
        assert_eq!(bytes("1.1"), 2);
        assert_eq!(bytes("1.0001Ki"), 1025);
        assert_eq!(bytes("1e-9"), 1);
        assert_eq!(bytes("1n"), 1);
        assert_eq!(bytes("3000m"), 3);
    }

    #[test]
    fn huge_values_saturate() {
        assert_eq!(bytes("8Ei"), i64::MAX);
        assert_eq!(bytes("100E"), i64::MAX);
        assert_eq!(bytes("1e300"), i64::MAX);
        assert_eq!(cpu("10E"), i64::MAX);
        assert_eq!(bytes("9223372036854775807"), i64::MAX);
        assert_eq!(bytes("9223372036854775806"), i64::MAX - 1);
        assert_eq!(bytes("7Ei"), 7 << 60);
    }

    #[test]
    fn exact_with_many_digits() {
        // 100 significant digits: the first 80 are kept, the rest only force rounding up.
        let long = format!("1.{}1", "0".repeat(98));
        assert_eq!(bytes(&long), 2);
        assert_eq!(cpu(&format!("0.001{}", "0".repeat(200))), 1);
        assert_eq!(bytes(&format!("{}.5Ki", "1".repeat(3))), 114_176);
        assert_eq!(bytes("1e-400"), 1);
    }

    #[test]
    fn upstream_scanner_quirks_read_as_zero() {
        assert_eq!(cpu("-0"), 0);
        assert_eq!(cpu("0.000"), 0);
        assert_eq!(cpu("+"), 0);
        assert_eq!(cpu("."), 0);
        assert_eq!(bytes("Mi"), 0);
    }

    #[test]
    fn quantity_errors_name_the_text() {
        for bad in
            ["", "abc", "1.5.5", "12x", "1ki", "1K", "1e", "1e-", "1 ", " 1", "1Mi3", "1EE", "1e3e", "--1", "1Gb"]
        {
            let err = parse_bytes(bad).expect_err(bad);
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err} names {bad:?}");
            assert!(parse_cpu_millis(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_cpu_millis("-100m"), Err(QuantityError::new("-100m", "a request cannot be negative")));
        assert_eq!(parse_bytes("1ki").unwrap_err().to_string(), "invalid quantity \"1ki\": unknown suffix \"ki\"");
        assert_eq!(
            parse_bytes("1e+x").unwrap_err().0,
            "invalid quantity \"1e+x\": expected <number><suffix>, e.g. 100m, 1.5Gi, 1e3"
        );
    }

    // ---- PodDemand ----

    #[test]
    fn demand_sums_containers() {
        let d = demand(json!({"containers": [
            {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}}},
            {"name": "b", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}},
            {"name": "c"},
        ]}));
        assert_eq!(d, PodDemand { cpu_millis: 1100, memory_bytes: (100 << 20) + (1 << 30), host_ports: vec![] });
    }

    #[test]
    fn demand_takes_largest_init_container_when_larger() {
        // upstream computePodResourceRequest example: IC 2/1G and 2/3G, containers 2/1G + 1/1G -> 3 cpu, 3G.
        let d = demand(json!({
            "initContainers": [
                {"name": "ic1", "resources": {"requests": {"cpu": "2", "memory": "1G"}}},
                {"name": "ic2", "resources": {"requests": {"cpu": "2", "memory": "3G"}}},
            ],
            "containers": [
                {"name": "c1", "resources": {"requests": {"cpu": "2", "memory": "1G"}}},
                {"name": "c2", "resources": {"requests": {"cpu": "1", "memory": "1G"}}},
            ],
        }));
        assert_eq!((d.cpu_millis, d.memory_bytes), (3000, 3_000_000_000));
    }

    #[test]
    fn demand_counts_sidecars_in_sum_and_before_later_init_containers() {
        // Sidecar 100m runs with the containers (200m): 300m. The init container after it needs 500m + 100m.
        let d = demand(json!({
            "initContainers": [
                {"name": "side", "restartPolicy": "Always",
                    "resources": {"requests": {"cpu": "100m", "memory": "10M"}}},
                {"name": "init", "resources": {"requests": {"cpu": "500m", "memory": "5M"}}},
            ],
            "containers": [{"name": "c", "resources": {"requests": {"cpu": "200m", "memory": "20M"}}}],
        }));
        assert_eq!((d.cpu_millis, d.memory_bytes), (600, 30_000_000));

        // An init container before the sidecar does not run alongside it.
        let d = demand(json!({
            "initContainers": [
                {"name": "init", "resources": {"requests": {"cpu": "250m"}}},
                {"name": "side", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}},
            ],
            "containers": [{"name": "c", "resources": {"requests": {"cpu": "100m"}}}],
        }));
        assert_eq!(d.cpu_millis, 250);
    }

    #[test]
    fn demand_adds_overhead() {
        let d = demand(json!({
            "overhead": {"cpu": "250m", "memory": "120Mi"},
            "containers": [{"name": "c", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}],
        }));
        assert_eq!((d.cpu_millis, d.memory_bytes), (1250, (1 << 30) + (120 << 20)));
    }

    #[test]
    fn demand_defaults_requests_to_limits() {
        let d = demand(json!({"containers": [
            {"name": "only-limits", "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}}},
            {"name": "mixed", "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "2", "memory": "64Mi"}}},
        ]}));
        assert_eq!((d.cpu_millis, d.memory_bytes), (600, (1 << 30) + (64 << 20)));

        let d = demand(json!({
            "initContainers": [{"name": "i", "resources": {"limits": {"memory": "2Gi"}}}],
            "containers": [{"name": "c", "resources": {"requests": {"memory": "1Gi"}}}],
        }));
        assert_eq!(d.memory_bytes, 2 << 30);
    }

    #[test]
    fn demand_uses_pod_level_resources() {
        let d = demand(json!({
            "resources": {"requests": {"cpu": "2"}, "limits": {"memory": "3Gi"}},
            "containers": [{"name": "c", "resources": {"requests": {"cpu": "100m"}}}],
            "overhead": {"cpu": "10m"},
        }));
        // cpu from the pod request; memory from the pod limit since no container names memory.
        assert_eq!((d.cpu_millis, d.memory_bytes), (2010, 3 << 30));

        let d = demand(json!({
            "resources": {"limits": {"memory": "3Gi"}},
            "containers": [{"name": "c", "resources": {"requests": {"memory": "1Gi"}}}],
        }));
        assert_eq!(d.memory_bytes, 1 << 30);
    }

    #[test]
    fn demand_host_ports() {
        let d = demand(json!({
            "initContainers": [
                {"name": "side", "restartPolicy": "Always", "ports": [{"containerPort": 9000, "hostPort": 9000}]},
                {"name": "init", "ports": [{"containerPort": 9100, "hostPort": 9100}]},
            ],
            "containers": [{"name": "c", "ports": [
                {"containerPort": 80},
                {"containerPort": 8080, "hostPort": 18080, "protocol": "UDP", "hostIP": "10.0.0.1"},
                {"containerPort": 443, "hostPort": 443},
                {"containerPort": 443, "hostPort": 443, "protocol": "TCP"},
            ]}],
        }));
        assert_eq!(
            d.host_ports,
            vec![port(443, "TCP", "0.0.0.0"), port(9000, "TCP", "0.0.0.0"), port(18080, "UDP", "10.0.0.1")]
        );
    }

    #[test]
    fn demand_host_network_binds_container_ports() {
        let d = demand(json!({
            "hostNetwork": true,
            "initContainers": [{"name": "init", "ports": [{"containerPort": 9100}]}],
            "containers": [{"name": "c", "ports": [
                {"containerPort": 9100, "protocol": "UDP"},
                {"containerPort": 53, "hostPort": 53},
            ]}],
        }));
        assert_eq!(d.host_ports, vec![port(53, "TCP", "0.0.0.0"), port(9100, "UDP", "0.0.0.0")]);
    }

    #[test]
    fn demand_error_names_container_and_field() {
        let err = PodDemand::from_pod_spec(&spec(json!({"containers": [
            {"name": "app", "resources": {"limits": {"memory": "lots"}}},
        ]})))
        .unwrap_err();
        assert_eq!(
            err.0,
            "container \"app\" limits.memory: invalid quantity \"lots\": \
             expected <number><suffix>, e.g. 100m, 1.5Gi, 1e3"
        );
        let err = PodDemand::from_pod_spec(&spec(json!({"containers": [{"name": "app"}],
            "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "1Ki5"}}}]})))
        .unwrap_err();
        assert_eq!(err.0, "init container \"i\" requests.cpu: invalid quantity \"1Ki5\": unknown suffix \"Ki5\"");
        let err = PodDemand::from_pod_spec(&spec(json!({"containers": [], "overhead": {"cpu": "1x"}}))).unwrap_err();
        assert!(err.0.starts_with("overhead.cpu: invalid quantity \"1x\""), "{err}");
    }

    #[test]
    fn empty_spec_demands_nothing() {
        assert_eq!(demand(json!({"containers": [{"name": "c"}]})), PodDemand::default());
    }

    // ---- predict ----

    #[test]
    fn upstream_insufficient_capacity_daemon_does_not_unschedule_running_pod() {
        // TestInsufficientCapacityNodeDaemonDoesNotUnscheduleRunningPod: 100M/200m node, another pod uses 75M/75m.
        let mut n = node("100M", "200m");
        n.other_pods.requested = Resources { cpu_millis: 75, memory_bytes: 75_000_000, pods: 0 };
        n.other_pods.pod_count = 1;
        let fit = predict(&resource_demand("75M", "75m"), &n, &[]);
        assert_eq!(
            fit,
            Fit::WillPend(vec![PendReason::InsufficientMemory {
                requested_bytes: 75_000_000,
                available_bytes: 25_000_000
            }])
        );
        assert_eq!(fit.reasons()[0].sentence(), "insufficient memory: needs 75000000 bytes, 25000000 bytes free");
    }

    #[test]
    fn upstream_it_insufficient_capacity_node() {
        // test/integration/daemonset TestInsufficientCapacityNode: 120M on 100M pends, on 200M runs.
        let d = resource_demand("120M", "75m");
        assert_eq!(
            predict(&d, &node("100M", "200m"), &[]),
            Fit::WillPend(vec![PendReason::InsufficientMemory {
                requested_bytes: 120_000_000,
                available_bytes: 100_000_000
            }])
        );
        assert_eq!(predict(&d, &node("200M", "2000m"), &[]), Fit::Runs);
    }

    #[test]
    fn exact_fit_runs_and_one_more_pends() {
        let mut n = node("100M", "200m");
        n.other_pods.requested = Resources { cpu_millis: 100, memory_bytes: 50_000_000, pods: 0 };
        assert_eq!(predict(&resource_demand("50M", "100m"), &n, &[]), Fit::Runs);
        let fit = predict(&resource_demand("50M", "101m"), &n, &[]);
        assert_eq!(
            fit,
            Fit::WillPend(vec![PendReason::InsufficientCpu { requested_millis: 101, available_millis: 100 }])
        );
        assert_eq!(fit.reasons()[0].sentence(), "insufficient cpu: needs 101m, 100m free");
    }

    #[test]
    fn unrequested_resource_never_pends_even_when_overcommitted() {
        let mut n = node("100M", "200m");
        n.other_pods.requested = Resources { cpu_millis: 500, memory_bytes: 0, pods: 0 };
        assert_eq!(predict(&resource_demand("10M", "0"), &n, &[]), Fit::Runs);
        // When it does request cpu, free cpu is reported as 0, not negative.
        assert_eq!(
            predict(&resource_demand("10M", "1m"), &n, &[]),
            Fit::WillPend(vec![PendReason::InsufficientCpu { requested_millis: 1, available_millis: 0 }])
        );
    }

    #[test]
    fn also_placed_daemon_pods_use_resources_slots_and_ports() {
        let n = node("100M", "200m");
        let mine = PodDemand { host_ports: vec![port(9100, "TCP", "0.0.0.0")], ..resource_demand("40M", "100m") };
        let placed = PodDemand { host_ports: vec![port(9100, "TCP", "")], ..resource_demand("70M", "150m") };
        assert_eq!(predict(&mine, &n, &[]), Fit::Runs);
        assert_eq!(
            predict(&mine, &n, &[&placed]),
            Fit::WillPend(vec![
                PendReason::InsufficientCpu { requested_millis: 100, available_millis: 50 },
                PendReason::InsufficientMemory { requested_bytes: 40_000_000, available_bytes: 30_000_000 },
                PendReason::HostPortConflict { port: 9100, protocol: "TCP".into() },
            ])
        );

        let mut small = node("1G", "10");
        small.allocatable.pods = 2;
        let tiny = PodDemand::default();
        assert_eq!(predict(&tiny, &small, &[&tiny]), Fit::Runs);
        assert_eq!(
            predict(&tiny, &small, &[&tiny, &tiny]),
            Fit::WillPend(vec![PendReason::TooManyPods { allowed: 2 }])
        );
    }

    #[test]
    fn upstream_no_port_conflict_launches_pod() {
        // TestNoPortConflictNodeDaemonLaunchesPod: 6661 in use, the daemon wants 6662.
        let n = with_ports(node("100M", "200m"), &[port(6661, "", "")]);
        let d = demand(json!({"containers": [{"name": "c", "ports": [{"containerPort": 6662, "hostPort": 6662}]}]}));
        assert_eq!(predict(&d, &n, &[]), Fit::Runs);
    }

    #[test]
    fn upstream_port_conflict_pends() {
        // TestPortConflictNodeDaemonDoesNotLaunchPod: 666 in use on the node.
        let n = with_ports(node("100M", "200m"), &[port(666, "TCP", "")]);
        let d = demand(json!({"containers": [{"name": "c", "ports": [{"containerPort": 666, "hostPort": 666}]}]}));
        let fit = predict(&d, &n, &[]);
        assert_eq!(fit, Fit::WillPend(vec![PendReason::HostPortConflict { port: 666, protocol: "TCP".into() }]));
        assert_eq!(fit.reasons()[0].sentence(), "host port 666/TCP already in use");
    }

    #[test]
    fn port_conflict_protocol_and_host_ip_rules() {
        let want = |p: HostPort| ports_demand(&[p]);
        let conflicts = |want_port: HostPort, used: HostPort| {
            !predict(&want(want_port), &with_ports(node("1G", "1"), &[used]), &[]).runs()
        };
        // Protocol: empty means TCP; different protocols never conflict.
        assert!(conflicts(port(80, "TCP", ""), port(80, "", "")));
        assert!(conflicts(port(80, "", ""), port(80, "TCP", "")));
        assert!(!conflicts(port(80, "UDP", ""), port(80, "TCP", "")));
        assert!(!conflicts(port(53, "UDP", ""), port(53, "SCTP", "")));
        assert!(conflicts(port(53, "UDP", "0.0.0.0"), port(53, "UDP", "0.0.0.0")));
        // Different ports never conflict.
        assert!(!conflicts(port(80, "TCP", ""), port(81, "TCP", "")));
        // Host IP: equal, or either binds all (empty or 0.0.0.0).
        assert!(conflicts(port(80, "TCP", "127.0.0.1"), port(80, "TCP", "127.0.0.1")));
        assert!(!conflicts(port(80, "TCP", "127.0.0.1"), port(80, "TCP", "127.0.0.2")));
        assert!(conflicts(port(80, "TCP", "0.0.0.0"), port(80, "TCP", "127.0.0.1")));
        assert!(conflicts(port(80, "TCP", ""), port(80, "TCP", "127.0.0.1")));
        assert!(conflicts(port(80, "TCP", "127.0.0.1"), port(80, "TCP", "0.0.0.0")));
        assert!(conflicts(port(80, "TCP", "127.0.0.1"), port(80, "TCP", "")));
        // Upstream compares strings: "::" is not a bind-all address there.
        assert!(!conflicts(port(80, "TCP", "::"), port(80, "TCP", "127.0.0.1")));
    }

    #[test]
    fn port_reasons_sorted_and_deduplicated() {
        let n = with_ports(
            node("1G", "1"),
            &[port(9090, "TCP", ""), port(53, "UDP", ""), port(8080, "TCP", "10.0.0.1"), port(8080, "TCP", "10.0.0.2")],
        );
        // Hand-built, unsorted, with 8080/TCP on two host IPs that are both taken.
        let d = ports_demand(&[
            port(9090, "TCP", ""),
            port(8080, "TCP", "10.0.0.2"),
            port(53, "UDP", ""),
            port(8080, "TCP", "10.0.0.1"),
            port(53, "TCP", ""),
        ]);
        assert_eq!(
            predict(&d, &n, &[]),
            Fit::WillPend(vec![
                PendReason::HostPortConflict { port: 53, protocol: "UDP".into() },
                PendReason::HostPortConflict { port: 8080, protocol: "TCP".into() },
                PendReason::HostPortConflict { port: 9090, protocol: "TCP".into() },
            ])
        );
    }

    #[test]
    fn too_many_pods() {
        let mut n = node("1G", "1");
        n.allocatable.pods = 110;
        n.other_pods.pod_count = 109;
        assert_eq!(predict(&resource_demand("1M", "1m"), &n, &[]), Fit::Runs);
        n.other_pods.pod_count = 110;
        let fit = predict(&resource_demand("1M", "1m"), &n, &[]);
        assert_eq!(fit, Fit::WillPend(vec![PendReason::TooManyPods { allowed: 110 }]));
        assert_eq!(fit.reasons()[0].sentence(), "too many pods: the node allows 110");
    }

    #[test]
    fn every_reason_at_once_in_order() {
        let mut n = with_ports(node("100M", "200m"), &[port(443, "TCP", ""), port(80, "TCP", "")]);
        n.allocatable.pods = 3;
        n.other_pods.requested = Resources { cpu_millis: 150, memory_bytes: 90_000_000, pods: 0 };
        n.other_pods.pod_count = 3;
        let d = demand(json!({"containers": [{"name": "c",
            "resources": {"requests": {"cpu": "100m", "memory": "20M"}},
            "ports": [{"containerPort": 443, "hostPort": 443}, {"containerPort": 80, "hostPort": 80}],
        }]}));
        assert_eq!(
            predict(&d, &n, &[]),
            Fit::WillPend(vec![
                PendReason::InsufficientCpu { requested_millis: 100, available_millis: 50 },
                PendReason::InsufficientMemory { requested_bytes: 20_000_000, available_bytes: 10_000_000 },
                PendReason::TooManyPods { allowed: 3 },
                PendReason::HostPortConflict { port: 80, protocol: "TCP".into() },
                PendReason::HostPortConflict { port: 443, protocol: "TCP".into() },
            ])
        );
    }

    #[test]
    fn not_reported_allocatable_fits_but_ports_still_count() {
        let mut n = Node { name: "fresh".into(), ..Node::default() };
        n.other_pods.pod_count = 40;
        let big = resource_demand("64Gi", "32");
        assert_eq!(predict(&big, &n, &[&big]), Fit::Runs);

        n.other_pods.host_ports = vec![port(80, "TCP", "")];
        let web = PodDemand { host_ports: vec![port(80, "TCP", "0.0.0.0")], ..big };
        assert_eq!(
            predict(&web, &n, &[]),
            Fit::WillPend(vec![PendReason::HostPortConflict { port: 80, protocol: "TCP".into() }])
        );
    }

    #[test]
    fn partly_reported_allocatable_takes_zero_as_zero() {
        // The scheduler reads a missing resource as 0; only an all-zero allocatable means "not reported".
        let mut n = node("1G", "1");
        n.allocatable.pods = 0;
        assert_eq!(
            predict(&PodDemand::default(), &n, &[]),
            Fit::WillPend(vec![PendReason::TooManyPods { allowed: 0 }])
        );
    }

    #[test]
    fn fit_helpers() {
        assert!(Fit::Runs.runs());
        assert!(Fit::Runs.reasons().is_empty());
        let pend = Fit::WillPend(vec![PendReason::TooManyPods { allowed: 1 }]);
        assert!(!pend.runs());
        assert_eq!(pend.reasons().len(), 1);
    }
}
