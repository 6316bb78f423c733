//! Cluster commands, output-compatible with the flux CLI: `get`, `reconcile`, `suspend`,
//! `resume` for sources, Kustomizations, HelmReleases and the image kinds (and `get` for
//! Alerts and Receivers), `trace`, `events`, `create secret oci|git`, `create source git`,
//! `create image repository|policy|update` and `check`; one module per command.

mod check;
mod common;
mod create_git;
mod create_image;
mod create_secret;
mod events;
mod get;
mod reconcile;
mod suspend;
mod trace;

pub use check::CheckArgs;
pub use create_secret::CreateCommand;
pub use events::EventsArgs;
pub use get::GetCommand;
pub use reconcile::TargetCommand;
pub use trace::TraceArgs;
