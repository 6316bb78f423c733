//! Load generator for the notification-controller benchmark (`just bench-notifications`):
//! posts Flux events (half of them duplicates) as fast as it can, then measures the dispatch
//! latency of single events to a webhook it serves itself. Prints one JSON object.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use futures::StreamExt;

fn event(namespace: &str, message: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "involvedObject": {"kind": "Kustomization", "namespace": namespace, "name": "bench",
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1"},
        "severity": "info", "timestamp": "2026-11-28T00:00:00Z", "message": message,
        "reason": "ReconciliationSucceeded", "reportingController": "kustomize-controller"
    }))
    .expect("events serialise")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (events_url, namespace, hook_port, count, concurrency) = (
        args.next().expect("events URL"),
        args.next().expect("namespace"),
        args.next().expect("webhook port").parse::<u16>()?,
        args.next().map_or(Ok(20_000), |c| c.parse::<usize>())?,
        args.next().map_or(Ok(32), |c| c.parse::<usize>())?,
    );

    // The webhook the Provider points at: records when each latency probe arrives.
    let arrivals: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let recorded = arrivals.clone();
    let app = axum::Router::new().fallback(axum::routing::post(move |body: Bytes| {
        let recorded = recorded.clone();
        async move {
            let now = Instant::now();
            if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body)
                && let Some(message) = value["message"].as_str()
            {
                recorded.lock().unwrap().push((message.to_owned(), now));
            }
            "ok"
        }
    }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", hook_port)).await?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    // Throughput: pairs of identical events, so half are new and half duplicates.
    let started = Instant::now();
    let statuses: Vec<u16> = futures::stream::iter(0..count)
        .map(|i| {
            let http = http.clone();
            let body = event(&namespace, &format!("throughput event {}", i / 2));
            let url = events_url.clone();
            async move {
                http.post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let accepted = statuses.iter().filter(|s| **s == 202).count();
    let duplicates = statuses.iter().filter(|s| **s == 429).count();
    let failed = statuses.len() - accepted - duplicates;

    // Let the dispatches of the throughput phase drain before measuring latency.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut latencies = Vec::new();
    for i in 0..200 {
        let message = format!("latency probe {i}");
        let sent = Instant::now();
        http.post(&events_url)
            .header("content-type", "application/json")
            .body(event(&namespace, &message))
            .send()
            .await?;
        let deadline = sent + Duration::from_secs(5);
        loop {
            let arrived = arrivals
                .lock()
                .unwrap()
                .iter()
                .find(|(m, _)| *m == message)
                .map(|(_, at)| *at);
            if let Some(at) = arrived {
                latencies.push(at.duration_since(sent).as_secs_f64() * 1000.0);
                break;
            }
            if Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    latencies.sort_by(f64::total_cmp);
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "{}",
        serde_json::json!({
            "requests": count, "seconds": elapsed.as_secs_f64(),
            "requests_per_second": count as f64 / elapsed.as_secs_f64(),
            "accepted": accepted, "duplicates": duplicates, "failed": failed,
            "latency_samples": latencies.len(), "p50_ms": percentile(0.5), "p99_ms": percentile(0.99)
        })
    );
    Ok(())
}
