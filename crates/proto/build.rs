//! Compiles `proto/veil/v1/*.proto` with protox (pure Rust), so a fresh machine needs no `protoc`.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files: Vec<PathBuf> = std::fs::read_dir(root.join("veil/v1"))?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<_, _>>()?;
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let descriptors = protox::compile(&files, [&root])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("veil_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure().compile_fds(descriptors.clone())?;
    // The server side again, with the view answer as pre-encoded bytes (`EncodedView`), so a
    // cached answer is sent without being cloned or encoded again.
    let server_dir = out_dir.join("server");
    std::fs::create_dir_all(&server_dir)?;
    tonic_prost_build::configure()
        .build_client(false)
        .out_dir(&server_dir)
        .extern_path(".veil.v1", "crate::v1")
        .extern_path(".veil.v1.GetViewDefinitionResponse", "crate::EncodedView")
        .compile_fds(descriptors)?;
    Ok(())
}
