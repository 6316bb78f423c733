//! flux-rs notification-controller: receives Flux events and forwards them to the Providers
//! of matching Alerts.

mod events;
mod filter;
mod matching;
mod notifiers;
mod receivers;

use std::sync::Arc;

use anyhow::{Context as _, Result};
use api::notification::v1::Receiver;
use api::notification::v1beta3::{Alert, Provider};
use clap::Parser;
use futures::StreamExt;
use kube::api::Api;
use kube::runtime::{Controller, WatchStreamExt, controller, reflector, watcher};
use runtime::events::Recorder;
use runtime::metrics::Metrics;
use runtime::{
    CommonArgs, init_logging, listen_addr, run_until_shutdown, serve_health_with, serve_metrics,
    shutdown_signal,
};

const CONTROLLER: &str = "notification-controller";

#[derive(Parser, Debug)]
#[command(name = CONTROLLER, version, about = "flux-rs notification-controller")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The number of events dispatched at once, and of Receivers reconciled at once.
    #[arg(long, default_value_t = 4)]
    concurrent: u16,
    /// The address the webhook receiver server binds to.
    #[arg(long, default_value = ":9292")]
    receiver_addr: String,
    /// How long an identical event is not forwarded again.
    #[arg(long, default_value = "5m", value_parser = api::duration::parse)]
    rate_limit_interval: std::time::Duration,
}

/// A reflector store of `K`, kept current by a background watch.
async fn watched<K>(api: Api<K>, config: watcher::Config) -> reflector::Store<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(api, config)
        .default_backoff()
        .modify(|o: &mut K| o.meta_mut().managed_fields = None)
        .reflect(writer)
        .for_each(|event| {
            if let Err(error) = event {
                tracing::warn!(error = %error, "watch error");
            }
            std::future::ready(())
        });
    tokio::spawn(stream);
    let _ = reader.wait_until_ready().await;
    reader
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    init_logging(&args.common);
    let (_, client) = runtime::connect(&args.common)
        .await
        .map_err(anyhow::Error::msg)?;
    let durations = events::http_durations();
    let registered = durations.clone();
    let metrics = Metrics::with_extra(move |registry| {
        registry.register(
            "event_http_request_duration_seconds",
            "The duration in seconds of requests to the event endpoint, by response code.",
            registered,
        );
    });
    // Ready only once the event endpoint serves: a standby stays out of the Service.
    let serving_events = Arc::new(std::sync::atomic::AtomicBool::new(false));
    tokio::spawn(serve_health_with(
        listen_addr(&args.common.health_addr).map_err(anyhow::Error::msg)?,
        serving_events.clone(),
    ));
    tokio::spawn(serve_metrics(
        listen_addr(&args.common.metrics_addr).map_err(anyhow::Error::msg)?,
        metrics,
    ));

    let mut leadership = runtime::leadership(client.clone(), &args.common, CONTROLLER).await;

    let alerts_api: Api<Alert> = runtime::watched_api(&client, &args.common);
    let providers_api: Api<Provider> = runtime::watched_api(&client, &args.common);
    let receivers_api: Api<Receiver> = runtime::watched_api(&client, &args.common);
    let alerts = watched(alerts_api, runtime::watch_config(&args.common)).await;
    let providers = watched(providers_api, runtime::watch_config(&args.common)).await;

    // Receivers: a reconciler publishing each webhook path, and the webhook server.
    let receiver_controller = Controller::new(receivers_api, runtime::watch_config(&args.common))
        .with_config(controller::Config::default().concurrency(args.concurrent))
        .graceful_shutdown_on(shutdown_signal());
    let receivers = receiver_controller.store();
    let reconciling = receiver_controller
        .run(
            receivers::reconcile_receiver,
            receivers::receiver_error_policy,
            Arc::new(receivers::ReceiverContext {
                client: client.clone(),
                recorder: Recorder::new(client.clone(), CONTROLLER, None),
                backoff: runtime::requeue::Backoff::new(
                    args.common.min_retry_delay,
                    args.common.max_retry_delay,
                ),
            }),
        )
        .for_each(runtime::log_result);
    let receiver_addr = listen_addr(&args.receiver_addr).map_err(anyhow::Error::msg)?;
    let receiver_listener = tokio::net::TcpListener::bind(receiver_addr)
        .await
        .with_context(|| format!("binding {receiver_addr}"))?;
    let receiver_server = Arc::new(receivers::ReceiverServer {
        client: client.clone(),
        receivers,
    });
    tokio::spawn(async move {
        axum::serve(receiver_listener, receivers::router(receiver_server)).await
    });

    // In this controller `--events-addr` is where events are received (Flux's meaning).
    let events_addr = if args.common.events_addr.is_empty() {
        ":9090"
    } else {
        &args.common.events_addr
    };
    let events_addr = listen_addr(events_addr).map_err(anyhow::Error::msg)?;
    let server = Arc::new(events::EventServer::new(
        client.clone(),
        alerts,
        providers,
        Recorder::new(client, CONTROLLER, None),
        args.rate_limit_interval,
        durations,
        usize::from(args.concurrent.max(1)),
    ));
    let listener = tokio::net::TcpListener::bind(events_addr)
        .await
        .with_context(|| format!("binding {events_addr}"))?;
    serving_events.store(true, std::sync::atomic::Ordering::Relaxed);
    tracing::info!(controller = CONTROLLER, events = %events_addr, receivers = %receiver_addr, "serving");
    let serving = async move {
        tokio::join!(
            axum::serve(listener, events::router(server)).with_graceful_shutdown(shutdown_signal()),
            reconciling
        )
        .0
    };
    let running = async {
        match leadership.as_mut() {
            Some(leadership) => tokio::select! {
                result = serving => result.map_err(anyhow::Error::from),
                () = leadership.lost() => Err(anyhow::anyhow!("leader election lost")),
            },
            None => serving.await.map_err(anyhow::Error::from),
        }
    };
    if let Some(result) = run_until_shutdown(running).await {
        result?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn flags_are_consistent() {
        super::Args::command().debug_assert();
    }
}
