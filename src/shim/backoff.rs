//! Reconnect delays: exponential with jitter.
