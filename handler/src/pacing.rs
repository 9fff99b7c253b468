//! Client-side accounting of the API calls a pass makes: counted per
//! operation for the report and the benchmarks, and paced to the account's
//! quotas.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Client-side accounting of API calls: counts them per operation for the
/// report and the benchmark, and paces them with one token bucket per
/// operation so that a large sweep stays within the account's API quotas
/// instead of throttling itself (and the event path) into retries.
///
/// Time is `tokio::time`, so a benchmark with a paused clock simulates it.
#[derive(Debug, Clone, Default)]
pub struct ApiCalls(Arc<Mutex<Accounting>>);

#[derive(Debug, Default)]
struct Accounting {
    counts: BTreeMap<&'static str, u64>,
    buckets: BTreeMap<&'static str, TokenBucket>,
}

/// Calls per second allowed for each operation; operations not listed are not paced.
pub type RateLimits = BTreeMap<&'static str, f64>;

/// CloudWatch's default quotas (per account and Region) for the calls we make.
/// AWS publishes no default for the two tag calls: [`TAG_CALLS_TPS`] is a
/// cautious guess (configurable), since only the opt-in re-tag pass makes them in bulk.
pub fn default_rate_limits() -> RateLimits {
    [
        ("PutMetricAlarm", 3.0),
        ("DeleteAlarms", 3.0),
        ("DescribeAlarms", 9.0),
        ("ListMetrics", 25.0),
        ("ListTagsForResource", TAG_CALLS_TPS),
        ("TagResource", TAG_CALLS_TPS),
    ]
    .into()
}

/// The default pace of `ListTagsForResource` and `TagResource`, calls per second.
pub const TAG_CALLS_TPS: f64 = 5.0;

#[derive(Debug)]
struct TokenBucket {
    rate: f64,
    tokens: f64,
    updated: tokio::time::Instant,
}

impl TokenBucket {
    /// Starts full: AWS's own buckets allow a second's burst to a caller that
    /// has been quiet, so a fresh process (every cold start, every `alarmctl`
    /// run) need not wait before its second call.
    fn new(rate: f64) -> Self {
        Self { rate, tokens: Self::burst(rate), updated: tokio::time::Instant::now() }
    }

    /// One second's worth of calls, and at least one.
    fn burst(rate: f64) -> f64 {
        rate.max(1.0)
    }

    /// Takes a token, or says how long until one is available.
    fn take(&mut self) -> Option<std::time::Duration> {
        let now = tokio::time::Instant::now();
        let elapsed = now.duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(Self::burst(self.rate));
        self.updated = now;
        // Floating-point refills can stop a hair short of a whole token; a wait
        // rounded to zero would never let a paused clock advance.
        if self.tokens >= 1.0 - 1e-9 {
            self.tokens = (self.tokens - 1.0).max(0.0);
            None
        } else {
            let wait = std::time::Duration::from_secs_f64((1.0 - self.tokens) / self.rate);
            Some(wait.max(std::time::Duration::from_millis(1)))
        }
    }
}

impl ApiCalls {
    pub fn with_limits(limits: &RateLimits) -> Self {
        let buckets = limits
            .iter()
            .filter(|(_, rate)| **rate > 0.0)
            .map(|(op, rate)| (*op, TokenBucket::new(*rate)))
            .collect();
        Self(Arc::new(Mutex::new(Accounting { counts: BTreeMap::new(), buckets })))
    }

    /// Waits for the operation's rate limit, then counts the call. Call it
    /// once per request actually sent (each page of a paginated call).
    pub async fn begin(&self, operation: &'static str) {
        loop {
            let wait = {
                let mut accounting = self.0.lock().expect("counter lock");
                match accounting.buckets.get_mut(operation).and_then(TokenBucket::take) {
                    None => {
                        *accounting.counts.entry(operation).or_default() += 1;
                        return;
                    }
                    Some(wait) => wait,
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Counts the call if the operation's bucket has a token; otherwise says
    /// how long until it will. This is how the in-memory account models
    /// AWS's own quotas, which answer with a throttling error instead of waiting.
    pub fn try_begin(&self, operation: &'static str) -> Result<(), std::time::Duration> {
        let mut accounting = self.0.lock().expect("counter lock");
        if let Some(wait) = accounting.buckets.get_mut(operation).and_then(TokenBucket::take) {
            return Err(wait);
        }
        *accounting.counts.entry(operation).or_default() += 1;
        Ok(())
    }

    /// Starts a new count; the Lambda runtime reuses the process across invocations.
    pub fn reset(&self) {
        self.0.lock().expect("counter lock").counts.clear();
    }

    pub fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        self.0.lock().expect("counter lock").counts.clone()
    }

    pub fn get(&self, operation: &str) -> u64 {
        self.0.lock().expect("counter lock").counts.get(operation).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn calls_are_paced_to_the_rate_limit() {
        let calls = ApiCalls::with_limits(&default_rate_limits());
        let start = tokio::time::Instant::now();
        for _ in 0..3 {
            calls.begin("PutMetricAlarm").await;
        }
        // A fresh bucket holds a second's burst: the first three calls do not wait.
        assert_eq!(start.elapsed(), std::time::Duration::ZERO);
        for _ in 0..30 {
            calls.begin("PutMetricAlarm").await;
        }
        // Then 3 per second: 30 more take 10 s.
        let elapsed = start.elapsed().as_secs_f64();
        assert!((9.9..10.1).contains(&elapsed), "{elapsed}");
        assert_eq!(calls.get("PutMetricAlarm"), 33);
        // Operations without a limit are only counted.
        calls.begin("DescribeInstances").await;
        assert!((start.elapsed().as_secs_f64() - elapsed).abs() < 0.001);
    }

    /// A refill can leave the bucket a rounding error short of a whole token
    /// (0.99999999999999922 was seen); the wait for the rest then rounded to
    /// zero nanoseconds, and a paused clock never advanced past it.
    #[tokio::test(start_paused = true)]
    async fn a_bucket_a_rounding_error_short_of_a_token_still_makes_progress() {
        for short in [1e-15, 7.8e-16, 1e-12] {
            let mut bucket = TokenBucket::new(25.0);
            bucket.tokens = 1.0 - short;
            match bucket.take() {
                None => assert!(bucket.tokens >= 0.0),
                Some(wait) => assert!(wait >= std::time::Duration::from_millis(1), "{wait:?}"),
            }
        }
        let mut bucket = TokenBucket::new(25.0);
        bucket.tokens = 0.5;
        let wait = bucket.take().expect("half a token is not a token");
        assert_eq!(wait, std::time::Duration::from_millis(20));
    }
}
