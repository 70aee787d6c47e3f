//! Rate limits. [`KeyRateLimit`]: a token bucket per API key (governor's GCRA):
//! `rate_limit_per_sec` sustained, bursts up to `rate_limit_burst`. [`FailureLimit`]: failed
//! authentications per client address. Over either, a request gets 429 `RATE_LIMITED` with
//! `Retry-After`.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

#[derive(Clone)]
pub struct KeyRateLimit {
    limiter: Option<Arc<DefaultKeyedRateLimiter<String>>>,
}

impl KeyRateLimit {
    /// `per_sec` 0 disables the limit.
    pub fn new(per_sec: u32, burst: u32) -> Self {
        let limiter = NonZeroU32::new(per_sec).map(|rate| {
            let burst = NonZeroU32::new(burst.max(per_sec)).unwrap_or(rate);
            Arc::new(RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)))
        });
        KeyRateLimit { limiter }
    }

    /// `per_minute` attempts sustained, bursts up to `burst` (login attempts).
    pub fn per_minute(per_minute: u32, burst: u32) -> Self {
        let limiter = NonZeroU32::new(per_minute).map(|rate| {
            let burst = NonZeroU32::new(burst.max(1)).unwrap_or(rate);
            Arc::new(RateLimiter::keyed(Quota::per_minute(rate).allow_burst(burst)))
        });
        KeyRateLimit { limiter }
    }

    /// Ok, or how long to wait before the next request would pass.
    pub fn check(&self, key_id: &str) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        let result = limiter.check_key(&key_id.to_string());
        if limiter.len() > 100_000 {
            // Forget keys whose buckets are full again, so the map cannot grow without bound.
            limiter.retain_recent();
        }
        result.map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// Failed authentications per client address: `burst` failures at once, then `per_minute`
/// (refilled continuously). Unlike a governor bucket it can be asked before the work
/// ([`FailureLimit::check`] costs nothing) and only failures are charged
/// ([`FailureLimit::failed`]), so successful requests never use up a client's allowance.
#[derive(Clone)]
pub struct FailureLimit {
    inner: Option<Arc<Failures>>,
}

struct Failures {
    per_sec: f64,
    burst: f64,
    /// Address → failures not yet paid back. An entry idle long enough to be fully paid back is
    /// the same as no entry, so eviction (idle or capacity) never forgives anything that matters.
    debts: moka::sync::Cache<String, Arc<Mutex<Debt>>>,
}

struct Debt {
    owed: f64,
    at: Instant,
}

impl Debt {
    fn settle(&mut self, per_sec: f64, now: Instant) {
        self.owed = (self.owed - now.duration_since(self.at).as_secs_f64() * per_sec).max(0.0);
        self.at = now;
    }
}

impl FailureLimit {
    /// `per_minute` 0 disables the limit; `burst` is raised to at least 1.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        let inner = (per_minute > 0).then(|| {
            let per_sec = f64::from(per_minute) / 60.0;
            let burst = f64::from(burst.max(1));
            Arc::new(Failures {
                per_sec,
                burst,
                debts: moka::sync::Cache::builder()
                    .max_capacity(100_000)
                    .time_to_idle(Duration::from_secs_f64(burst / per_sec + 1.0))
                    .build(),
            })
        });
        FailureLimit { inner }
    }

    /// Ok while `client` may try again, else how long until it may.
    pub fn check(&self, client: &str) -> Result<(), Duration> {
        let Some(f) = &self.inner else { return Ok(()) };
        let Some(debt) = f.debts.get(client) else { return Ok(()) };
        let mut d = debt.lock().unwrap_or_else(|e| e.into_inner());
        d.settle(f.per_sec, Instant::now());
        let over = d.owed + 1.0 - f.burst;
        if over <= 0.0 {
            Ok(())
        } else {
            Err(Duration::from_secs_f64(over / f.per_sec))
        }
    }

    /// Charges one failed authentication to `client`.
    pub fn failed(&self, client: &str) {
        let Some(f) = &self.inner else { return };
        let debt = f.debts.get_with(client.to_string(), || {
            Arc::new(Mutex::new(Debt {
                owed: 0.0,
                at: Instant::now(),
            }))
        });
        let mut d = debt.lock().unwrap_or_else(|e| e.into_inner());
        d.settle(f.per_sec, Instant::now());
        d.owed = (d.owed + 1.0).min(f.burst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_refusals_per_key() {
        let limit = KeyRateLimit::new(1, 3);
        for _ in 0..3 {
            assert!(limit.check("a").is_ok());
        }
        let wait = limit.check("a").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1), "{wait:?}");
        assert!(limit.check("b").is_ok(), "keys have buckets of their own");
        let off = KeyRateLimit::new(0, 0);
        assert!((0..1000).all(|_| off.check("a").is_ok()));
    }

    #[test]
    fn failures_are_limited_per_client_and_paid_back_over_time() {
        // 600 per minute = one every 100 ms, so the test can watch a refill.
        let limit = FailureLimit::new(600, 3);
        assert!(limit.check("a").is_ok(), "asking costs nothing");
        for _ in 0..2 {
            limit.failed("a");
            assert!(limit.check("a").is_ok());
        }
        limit.failed("a");
        let wait = limit.check("a").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(100), "{wait:?}");
        // Failures while over the limit do not push the wait out further than one refill.
        (0..50).for_each(|_| limit.failed("a"));
        assert!(limit.check("a").unwrap_err() <= Duration::from_millis(100));
        assert!(limit.check("b").is_ok(), "clients have allowances of their own");
        std::thread::sleep(Duration::from_millis(150));
        assert!(limit.check("a").is_ok(), "paid back");
        let off = FailureLimit::new(0, 0);
        (0..1000).for_each(|_| off.failed("a"));
        assert!(off.check("a").is_ok());
    }
}
