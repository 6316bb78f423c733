//! When to reconcile again: a jittered interval after success, and an exponential backoff per
//! object after failures.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// `interval` moved by up to ±`percent`% (Flux's `--interval-jitter-percentage`), so that
/// objects created together do not reconcile together forever.
pub fn jittered(interval: Duration, percent: u8) -> Duration {
    let spread = interval.as_secs_f64() * f64::from(percent.min(100)) / 100.0;
    let offset = (fastrand::f64() * 2.0 - 1.0) * spread;
    Duration::from_secs_f64((interval.as_secs_f64() + offset).max(0.0))
}

/// Per-object failure counts giving `min * 2^failures`, capped at `max`.
#[derive(Debug)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    failures: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max,
            failures: Mutex::default(),
        }
    }

    /// The delay before retrying `key` after one more failure.
    pub fn next_delay(&self, key: &str) -> Duration {
        let mut failures = self.failures.lock().expect("backoff lock");
        let count = failures.entry(key.to_owned()).or_insert(0);
        let delay = self
            .min
            .saturating_mul(2u32.saturating_pow(*count))
            .min(self.max);
        *count = count.saturating_add(1);
        delay
    }

    /// Forgets `key`'s failures after a success.
    pub fn reset(&self, key: &str) {
        self.failures.lock().expect("backoff lock").remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_the_percentage() {
        for _ in 0..1000 {
            let d = jittered(Duration::from_secs(100), 5);
            assert!(
                d >= Duration::from_secs(95) && d <= Duration::from_secs(105),
                "{d:?}"
            );
        }
        assert_eq!(
            jittered(Duration::from_secs(10), 0),
            Duration::from_secs(10)
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let b = Backoff::new(Duration::from_millis(750), Duration::from_secs(5));
        let delays: Vec<_> = (0..5).map(|_| b.next_delay("ns/a")).collect();
        assert_eq!(
            delays,
            [750, 1500, 3000, 5000, 5000].map(Duration::from_millis)
        );
        assert_eq!(b.next_delay("ns/b"), Duration::from_millis(750));
        b.reset("ns/a");
        assert_eq!(b.next_delay("ns/a"), Duration::from_millis(750));
    }
}
