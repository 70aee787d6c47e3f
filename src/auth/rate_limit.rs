//! A token bucket per API key (governor's GCRA): `rate_limit_per_sec` sustained, bursts up to
//! `rate_limit_burst`. Over it, a request gets 429 `RATE_LIMITED` with `Retry-After`.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

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
}
