//! Flux artifacts: the archive format (normalised tar.gz), the OCI artifact format and
//! registry client, the artifact store, and the verified fetch with safe extraction.
#![forbid(unsafe_code)]

pub mod archive;
pub mod fetch;
pub mod oci;
pub mod sourceignore;
pub mod storage;
pub mod transport;
