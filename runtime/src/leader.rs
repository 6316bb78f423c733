//! Leader election on a `coordination.k8s.io/v1` Lease, with controller-runtime's semantics:
//! wait until the lease is free or expired, take it, renew it every retry period, and give
//! up (stop the process) when it cannot be renewed within the renew deadline.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, PostParams};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

#[derive(Clone, Debug)]
pub struct LeaseTiming {
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

/// `<controller>-leader-election`, or with a label selector (sharding), suffixed with the
/// first 8 hex characters of the selector's SHA-256, as Flux names it.
pub fn lease_name(controller: &str, label_selector: Option<&str>) -> String {
    match label_selector {
        Some(selector) => {
            let hash = format!("{:x}", Sha256::digest(selector.as_bytes()));
            format!("{controller}-leader-election-{}", &hash[..8])
        }
        None => format!("{controller}-leader-election"),
    }
}

/// Whether a lease held by `holder` can be taken by `identity` at `now`.
pub fn can_acquire(spec: &LeaseSpec, identity: &str, now: jiff::Timestamp) -> bool {
    let holder = spec.holder_identity.as_deref().unwrap_or_default();
    if holder.is_empty() || holder == identity {
        return true;
    }
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(0));
    match &spec.renew_time {
        Some(renewed) => renewed.0 + jiff::SignedDuration::from_secs(duration) < now,
        None => true,
    }
}

pub struct Leadership {
    lost: watch::Receiver<bool>,
    release: tokio::task::JoinHandle<()>,
}

impl Leadership {
    /// Blocks until this process holds the lease `name` in `namespace`, then keeps renewing
    /// it in the background.
    pub async fn acquire(client: Client, namespace: &str, name: &str, timing: LeaseTiming) -> Self {
        let api: Api<Lease> = Api::namespaced(client, namespace);
        let identity = format!(
            "{}_{:x}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "flux-rs".to_owned()),
            fastrand::u64(..)
        );
        loop {
            match try_acquire_or_renew(&api, name, &identity, &timing).await {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, lease = name, "leader election failed"),
            }
            tokio::time::sleep(timing.retry_period).await;
        }
        tracing::info!(lease = name, identity, "became leader");
        let (tx, lost) = watch::channel(false);
        let name = name.to_owned();
        let release = tokio::spawn(async move {
            let mut last_renewal = tokio::time::Instant::now();
            loop {
                tokio::time::sleep(timing.retry_period).await;
                match try_acquire_or_renew(&api, &name, &identity, &timing).await {
                    Ok(true) => last_renewal = tokio::time::Instant::now(),
                    Ok(false) => {
                        tracing::error!(lease = %name, "leadership taken by another instance");
                        let _ = tx.send(true);
                        return;
                    }
                    Err(e) if last_renewal.elapsed() > timing.renew_deadline => {
                        tracing::error!(error = %e, lease = %name, "could not renew the lease in time");
                        let _ = tx.send(true);
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, lease = %name, "lease renewal failed"),
                }
            }
        });
        Self { lost, release }
    }

    /// Resolves when leadership is lost.
    pub async fn lost(&mut self) {
        while !*self.lost.borrow() {
            if self.lost.changed().await.is_err() {
                return;
            }
        }
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        self.release.abort();
    }
}

async fn try_acquire_or_renew(
    api: &Api<Lease>,
    name: &str,
    identity: &str,
    timing: &LeaseTiming,
) -> kube::Result<bool> {
    let now = jiff::Timestamp::now();
    let seconds = i32::try_from(timing.lease_duration.as_secs()).unwrap_or(i32::MAX);
    match api.get_opt(name).await? {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(name.to_owned()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(identity.to_owned()),
                    lease_duration_seconds: Some(seconds),
                    acquire_time: Some(MicroTime(now)),
                    renew_time: Some(MicroTime(now)),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
                Err(e) => Err(e),
            }
        }
        Some(mut lease) => {
            let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
            if !can_acquire(spec, identity, now) {
                return Ok(false);
            }
            if spec.holder_identity.as_deref() != Some(identity) {
                spec.holder_identity = Some(identity.to_owned());
                spec.acquire_time = Some(MicroTime(now));
                spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            }
            spec.renew_time = Some(MicroTime(now));
            spec.lease_duration_seconds = Some(seconds);
            // The resourceVersion makes this a compare-and-swap: one winner per change.
            match api.replace(name, &PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
                Err(e) => Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_names_follow_flux() {
        assert_eq!(
            lease_name("source-controller", None),
            "source-controller-leader-election"
        );
        let sharded = lease_name("source-controller", Some("sharding.fluxcd.io/key=shard1"));
        assert!(
            sharded.starts_with("source-controller-leader-election-") && sharded.len() == 42,
            "{sharded}"
        );
    }

    #[test]
    fn expired_or_free_leases_can_be_taken() {
        let now = jiff::Timestamp::now();
        let held = |by: &str, renewed_secs_ago: i64| LeaseSpec {
            holder_identity: Some(by.to_owned()),
            lease_duration_seconds: Some(35),
            renew_time: Some(MicroTime(
                now - jiff::SignedDuration::from_secs(renewed_secs_ago),
            )),
            ..LeaseSpec::default()
        };
        assert!(can_acquire(&held("", 0), "me", now));
        assert!(can_acquire(&held("me", 0), "me", now));
        assert!(!can_acquire(&held("other", 10), "me", now));
        assert!(can_acquire(&held("other", 40), "me", now));
    }
}
