//! A realistic mixed cluster to simulate: a tainted control plane, a tainted GPU pool and workers of mixed size
//! and architecture spread over three zones.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::config::{
    ARCH_LABEL, CONTROL_PLANE_LABEL, HOSTNAME_LABEL, OS_LABEL, REGION_LABEL, SimConfig, SimNode, ZONE_LABEL,
    healthy_conditions,
};
use crate::engine::daemonset_util::TAINT_EFFECT_NO_SCHEDULE;
use crate::engine::fit::{BIND_ALL_HOST_IP, PROTOCOL_TCP};
use crate::pb;

/// Label of the GPU pool.
pub const GPU_LABEL: &str = "example.com/gpu";
/// Taint key of the GPU pool (as the NVIDIA GPU operator sets it).
pub const GPU_TAINT: &str = "nvidia.com/gpu";

const GIB: i64 = 1 << 30;
const MIB: i64 = 1 << 20;
const ZONES: [&str; 3] = ["zone-a", "zone-b", "zone-c"];
const REGION: &str = "region-1";
/// Worker shapes (cores, GiB), cycled independently of the zones.
const WORKER_SHAPES: [(i64, i64); 3] = [(4, 16), (8, 32), (16, 64)];
/// Host ports of the static control-plane pods (etcd, kube-apiserver, controller-manager, scheduler).
const CONTROL_PLANE_PORTS: [i32; 5] = [2379, 2380, 6443, 10257, 10259];

impl SimConfig {
    /// `nodes` nodes named `<name_prefix>-cp-NNN`, `-gpu-NNN` and `-worker-NNN`: one control-plane node from 4
    /// nodes on and three from 20 on, about a tenth of the rest in the GPU pool, and workers over three zones,
    /// one in four arm64. The same size always gives the same cluster. Pods start after 3 s.
    pub fn fleet_like(name_prefix: &str, nodes: usize) -> SimConfig {
        let control_planes = match nodes {
            0..=3 => 0,
            4..=19 => 1,
            _ => 3,
        };
        let gpus = (nodes - control_planes) / 10;
        let workers = nodes - control_planes - gpus;
        let width = nodes.to_string().len().max(3);
        // Seeded by the size only, so a size names one cluster.
        let mut rng = StdRng::seed_from_u64(0x5eed_f1ee_0000_0000 ^ nodes as u64);
        let mut list = Vec::with_capacity(nodes);
        for i in 0..control_planes {
            let mut node = shaped(&format!("{name_prefix}-cp-{i:0width$}"), ZONES[i % 3], "amd64", (4, 16));
            node.labels.insert(CONTROL_PLANE_LABEL.into(), String::new());
            node.taints.push(taint(CONTROL_PLANE_LABEL, ""));
            node.other_pods = control_plane_pods();
            list.push(node);
        }
        for i in 0..gpus {
            let mut node = shaped(&format!("{name_prefix}-gpu-{i:0width$}"), ZONES[i % 3], "amd64", (16, 64));
            node.labels.insert(GPU_LABEL.into(), "true".into());
            node.taints.push(taint(GPU_TAINT, "present"));
            node.other_pods = workload_pods(&mut rng, &node.allocatable);
            list.push(node);
        }
        for i in 0..workers {
            let arch = if i % 4 == 3 { "arm64" } else { "amd64" };
            let shape = WORKER_SHAPES[(i / 3) % 3];
            let mut node = shaped(&format!("{name_prefix}-worker-{i:0width$}"), ZONES[i % 3], arch, shape);
            node.other_pods = workload_pods(&mut rng, &node.allocatable);
            list.push(node);
        }
        SimConfig { nodes: list, ready_after: Duration::from_secs(3), ..SimConfig::default() }
    }
}

/// A healthy node of `cores` CPU and `gib` GiB, less what the kubelet and system reserve.
fn shaped(name: &str, zone: &str, arch: &str, (cores, gib): (i64, i64)) -> SimNode {
    let labels =
        [(HOSTNAME_LABEL, name), (OS_LABEL, "linux"), (ARCH_LABEL, arch), (ZONE_LABEL, zone), (REGION_LABEL, REGION)];
    SimNode {
        name: name.to_string(),
        labels: labels.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        taints: Vec::new(),
        allocatable: pb::Resources {
            cpu_millis: cores * 1000 - 80 - 10 * cores,
            memory_bytes: gib * GIB - GIB / 2 - gib * GIB / 25,
            pods: 110,
        },
        other_pods: pb::OtherPods::default(),
        conditions: healthy_conditions(),
    }
}

fn taint(key: &str, value: &str) -> pb::Taint {
    pb::Taint { key: key.into(), value: value.into(), effect: TAINT_EFFECT_NO_SCHEDULE.into() }
}

/// The static control-plane pods plus kube-proxy and CoreDNS.
fn control_plane_pods() -> pb::OtherPods {
    pb::OtherPods {
        requested: Some(pb::Resources { cpu_millis: 750, memory_bytes: 900 * MIB, pods: 0 }),
        pod_count: 6,
        host_ports: CONTROL_PLANE_PORTS
            .iter()
            .map(|&port| pb::HostPort { port, protocol: PROTOCOL_TCP.into(), host_ip: BIND_ALL_HOST_IP.into() })
            .collect(),
    }
}

/// Application pods asking for 10–55% of the node's cpu and memory.
fn workload_pods(rng: &mut StdRng, allocatable: &pb::Resources) -> pb::OtherPods {
    let share = |rng: &mut StdRng, total: i64, unit: i64| total * rng.random_range(10..=55) / 100 / unit * unit;
    pb::OtherPods {
        requested: Some(pb::Resources {
            cpu_millis: share(rng, allocatable.cpu_millis, 10),
            memory_bytes: share(rng, allocatable.memory_bytes, MIB),
            pods: 0,
        }),
        pod_count: rng.random_range(2..=30),
        host_ports: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(config: &SimConfig, part: &str) -> usize {
        config.nodes.iter().filter(|n| n.name.contains(part)).count()
    }

    #[test]
    fn fleet_like_is_deterministic_per_size() {
        assert_eq!(SimConfig::fleet_like("c1", 50).nodes, SimConfig::fleet_like("c1", 50).nodes);
        assert_ne!(
            SimConfig::fleet_like("c1", 50).nodes[10].other_pods,
            SimConfig::fleet_like("c1", 51).nodes[10].other_pods
        );
        assert!(SimConfig::fleet_like("c1", 0).nodes.is_empty());
    }

    #[test]
    fn fleet_like_has_the_expected_pools() {
        let config = SimConfig::fleet_like("c1", 100);
        assert_eq!(config.nodes.len(), 100);
        assert_eq!((count(&config, "-cp-"), count(&config, "-gpu-"), count(&config, "-worker-")), (3, 9, 88));
        assert_eq!(config.nodes[0].name, "c1-cp-000");

        let cp = &config.nodes[0];
        assert!(cp.is_control_plane());
        assert_eq!(cp.taints, vec![taint(CONTROL_PLANE_LABEL, "")]);
        assert_eq!(cp.other_pods.host_ports.len(), 5);

        let gpu = config.nodes.iter().find(|n| n.name == "c1-gpu-000").unwrap();
        assert_eq!(gpu.labels[GPU_LABEL], "true");
        assert_eq!(gpu.taints, vec![taint(GPU_TAINT, "present")]);

        let workers: Vec<&SimNode> = config.nodes.iter().filter(|n| n.name.contains("-worker-")).collect();
        assert!(workers.iter().all(|n| n.taints.is_empty() && n.is_ready() && n.labels[OS_LABEL] == "linux"));
        for zone in ZONES {
            let in_zone = workers.iter().filter(|n| n.labels[ZONE_LABEL] == zone).count();
            assert!((29..=30).contains(&in_zone), "{zone}: {in_zone}");
        }
        assert_eq!(workers.iter().filter(|n| n.labels[ARCH_LABEL] == "arm64").count(), 22);
        for n in &config.nodes {
            assert_eq!(n.labels[HOSTNAME_LABEL], n.name);
            let alloc = &n.allocatable;
            assert!((3_000..16_000).contains(&alloc.cpu_millis), "{}: {alloc:?}", n.name);
            assert!((14 * GIB..64 * GIB).contains(&alloc.memory_bytes), "{}: {alloc:?}", n.name);
            assert_eq!(alloc.pods, 110);
            let requested = n.other_pods.requested.unwrap();
            assert!(requested.cpu_millis > 0 && requested.cpu_millis < alloc.cpu_millis);
            assert!(requested.memory_bytes > 0 && requested.memory_bytes < alloc.memory_bytes);
            assert!(n.other_pods.pod_count >= 2);
        }
    }

    #[test]
    fn small_fleets_are_all_workers() {
        let config = SimConfig::fleet_like("s", 3);
        assert!(config.nodes.iter().all(|n| n.name.starts_with("s-worker-") && n.taints.is_empty()));
        assert_eq!(count(&SimConfig::fleet_like("s", 10), "-cp-"), 1);
    }
}
