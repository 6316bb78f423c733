//! flux-rs core: the Flux API types, Flux's archive and OCI artifact formats, and the
//! helpers every flux-rs binary shares.
#![forbid(unsafe_code)]

pub mod api;
pub mod archive;
pub mod cel;
pub mod conditions;
pub mod duration;
pub mod events;
pub mod fetch;
pub mod oci;
pub mod runtime;
pub mod sourceignore;
pub mod storage;
pub mod transport;
