//! How a Flux object reaches its source: an OCI registry (`registry`) or a Git remote
//! (`git_remote`), with what its Secrets and ServiceAccount say about credentials,
//! certificates and proxies.

pub mod git_remote;
pub mod registry;
