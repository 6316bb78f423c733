//! Writes the CRD YAML generated from the Rust types into a directory (`just crds`).

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "crds".to_owned()));
    std::fs::create_dir_all(&dir)?;
    for (file, yaml) in api::crd_documents()? {
        std::fs::write(dir.join(file), yaml)?;
    }
    Ok(())
}
