//! What the Kubernetes API server does to an apps/v1 DaemonSet before a controller sees it: decoding,
//! defaulting, validation with field paths, and the create/update strategy. Pure, like the engine: the engine
//! may use these value types and functions, never the other way round.

pub mod manifest;
