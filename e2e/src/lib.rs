//! The end-to-end harness: real servers started as child processes for the duration of a
//! test (and cleaned up even when the test process dies), and a connection to a real
//! Kubernetes API server (the local control plane, or any cluster `KUBECONFIG` names).

pub mod bin;
pub mod cluster;
pub mod commit_status;
pub mod controllers;
pub mod cosign;
pub mod fields;
pub mod git_server;
pub mod gpg;
pub mod process;
pub mod proxy;
pub mod registry;
pub mod ssh_server;
pub mod tls;
pub mod tuf;
pub mod webhook;
