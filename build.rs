//! Compiles proto/ with protox (pure Rust, no system protoc) and embeds the descriptor set for reflection.

use std::{env, path::PathBuf};

use prost::Message as _;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["proto/daemonplane/v1/fleet.proto", "proto/daemonplane/v1/shim.proto"];
    // protox emits no rerun-if-changed lines; watching the directories re-runs this script on any change.
    println!("cargo:rerun-if-changed=proto");
    // sqlx::migrate!() embeds migrations at compile time.
    println!("cargo:rerun-if-changed=migrations");
    let fds = protox::compile(protos, ["proto"])?;
    // tonic-prost-build ignores file_descriptor_set_path() on the compile_fds path, so write it ourselves.
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("daemonplane_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // The generated `connect` constructor would clash with the ShimService.Connect RPC method; clients are
        // built with `new(channel)` instead.
        .build_transport(false)
        .compile_fds(fds)?;
    Ok(())
}
