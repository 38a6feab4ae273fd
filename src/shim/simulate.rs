//! An in-process simulated cluster.
