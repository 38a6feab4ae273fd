//! The shim against a real cluster, through kube-rs.
