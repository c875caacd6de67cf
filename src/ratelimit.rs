//! In-memory rate limits with a sliding window per key (an account, an
//! address or a client IP), and the client IP as seen behind trusted proxies.
//!
//! The counters live in each instance's memory: with N instances behind a
//! load balancer, a client can make up to N times the configured count.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use ipnet::IpNet;

use crate::app::AppState;
use crate::error::ApiError;

/// The largest count a limit accepts; each counted event takes memory until
/// it leaves the window.
const MAX_COUNT: u32 = 100_000;

/// At most `count` events per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub count: u32,
    pub window: Duration,
}

impl FromStr for Limit {
    type Err = String;

    /// Parses `COUNT/DURATION`, such as `10/15m`; the units are s, m, h and d.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let invalid = || format!("{raw:?} is not COUNT/DURATION (such as 10/15m) or off");
        let (count, duration) = raw.trim().split_once('/').ok_or_else(invalid)?;
        let count: u32 = count.trim().parse().map_err(|_| invalid())?;
        let duration = duration.trim();
        // The unit is the last character, which need not be ASCII in bad input.
        let (unit_at, _) = duration.char_indices().last().ok_or_else(invalid)?;
        let (amount, unit) = duration.split_at(unit_at);
        let amount: u64 = if amount.is_empty() {
            1
        } else {
            amount.parse().map_err(|_| invalid())?
        };
        let seconds = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(invalid()),
        };
        if count == 0 || amount == 0 {
            return Err(invalid());
        }
        // Each counted event is kept until it leaves the window.
        if count > MAX_COUNT {
            return Err(format!("{raw:?} allows more than {MAX_COUNT} events"));
        }
        let window = Duration::from_secs(amount.saturating_mul(seconds));
        if window > crate::config::MAX_DURATION {
            return Err(format!("{raw:?} has a window longer than 365 days"));
        }
        Ok(Self { count, window })
    }
}

/// Parses a limit setting: `off`, or see [`Limit::from_str`].
pub fn parse_setting(raw: &str) -> Result<Option<Limit>, String> {
    if raw.trim().eq_ignore_ascii_case("off") {
        Ok(None)
    } else {
        raw.parse().map(Some)
    }
}

/// Operations between two sweeps of keys whose events all left the window.
const SWEEP_EVERY: u64 = 1024;

/// A sliding-window counter per key. `None` as the limit counts nothing.
pub struct RateLimiter {
    limit: Option<Limit>,
    events: Mutex<HashMap<String, VecDeque<Instant>>>,
    operations: AtomicU64,
}

impl RateLimiter {
    pub fn new(limit: Option<Limit>) -> Self {
        Self {
            limit,
            events: Mutex::default(),
            operations: AtomicU64::new(0),
        }
    }

    /// Fails with the time until the next event is allowed when `key` has
    /// used up its window; counts nothing.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        let now = Instant::now();
        let mut events = self.lock();
        let Some(times) = events.get_mut(key) else {
            return Ok(());
        };
        drop_expired(times, now, limit.window);
        if times.len() < limit.count as usize {
            return Ok(());
        }
        let oldest = times.front().copied().unwrap_or(now);
        Err((oldest + limit.window).saturating_duration_since(now))
    }

    /// Counts one event for `key`.
    pub fn record(&self, key: &str) {
        let Some(limit) = self.limit else {
            return;
        };
        let now = Instant::now();
        let mut events = self.lock();
        let times = events.entry(key.to_owned()).or_default();
        drop_expired(times, now, limit.window);
        times.push_back(now);
        // Only the newest `count` events decide the next check.
        while times.len() > limit.count as usize {
            times.pop_front();
        }
        if self
            .operations
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(SWEEP_EVERY)
        {
            events.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|last| now.duration_since(*last) < limit.window)
            });
        }
    }

    /// Checks and, when allowed, counts one event for `key`.
    pub fn hit(&self, key: &str) -> Result<(), Duration> {
        self.check(key)?;
        self.record(key);
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Instant>>> {
        // A panic while holding the lock cannot leave the map inconsistent
        // (every update is a single push or pop), so a poisoned lock is reused.
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn drop_expired(times: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while times
        .front()
        .is_some_and(|first| now.duration_since(*first) >= window)
    {
        times.pop_front();
    }
}

/// Every rate limit of the server.
pub struct RateLimits {
    /// Failed logins per account.
    pub login_account: RateLimiter,
    /// Login attempts per client IP.
    pub login_ip: RateLimiter,
    /// Registrations per client IP.
    pub register_ip: RateLimiter,
    /// Resend-verification and forgot-password requests per address.
    pub email_address: RateLimiter,
    /// Resend-verification and forgot-password requests per client IP.
    pub email_ip: RateLimiter,
}

/// Converts a limiter's refusal into the documented 429.
pub fn too_many(retry_after: Duration) -> ApiError {
    ApiError::TooManyRequests { retry_after }
}

/// The client's IP address: the socket peer, or, when the peer is a trusted
/// proxy, the last address in `X-Forwarded-For` that is not a trusted proxy.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip())
            .ok_or_else(|| anyhow::anyhow!("the server was started without connection info"))?;
        let trusted = &state.settings.trusted_proxies;
        Ok(ClientIp(client_ip(peer, &parts.headers, trusted)))
    }
}

fn client_ip(peer: IpAddr, headers: &axum::http::HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    // Each proxy appends the address it received the request from, so the
    // rightmost untrusted entry is the first that no trusted proxy vouches for.
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let mut nearest = peer;
    for entry in entries.iter().rev() {
        // The entries to the left of an unparsable one may come from the
        // client, so the nearest trusted hop is the last reliable address.
        let Some(ip) = parse_forwarded_entry(entry) else {
            return nearest;
        };
        if !is_trusted(&ip) {
            return ip;
        }
        nearest = ip;
    }
    nearest
}

/// Parses one `X-Forwarded-For` entry: an IP address, optionally with a port
/// (`203.0.113.9:4711`, `[2001:db8::1]:4711`), as some proxies write it.
fn parse_forwarded_entry(entry: &str) -> Option<IpAddr> {
    entry.parse::<IpAddr>().ok().or_else(|| {
        entry
            .parse::<std::net::SocketAddr>()
            .ok()
            .map(|addr| addr.ip())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_parses_units() {
        assert_eq!(
            "10/15m".parse(),
            Ok(Limit {
                count: 10,
                window: Duration::from_secs(900)
            })
        );
        assert_eq!(
            "20/1h".parse(),
            Ok(Limit {
                count: 20,
                window: Duration::from_secs(3600)
            })
        );
        assert_eq!(
            "5/h".parse(),
            Ok(Limit {
                count: 5,
                window: Duration::from_secs(3600)
            })
        );
        assert_eq!(parse_setting("off"), Ok(None));
    }

    #[test]
    fn limit_rejects_bad_forms() {
        for raw in [
            "", "10", "10/", "/5m", "0/5m", "10/0m", "10/5x", "ten/5m", "-1/5m",
        ] {
            assert!(parse_setting(raw).is_err(), "{raw:?} should be rejected");
        }
    }

    #[test]
    fn limiter_allows_count_then_refuses() {
        let limiter = RateLimiter::new(Some(Limit {
            count: 3,
            window: Duration::from_secs(60),
        }));
        for _ in 0..3 {
            assert!(limiter.hit("a").is_ok());
        }
        let retry = limiter.hit("a").unwrap_err();
        assert!(
            retry > Duration::from_secs(58) && retry <= Duration::from_secs(60),
            "{retry:?}"
        );
        assert!(limiter.hit("b").is_ok(), "keys are separate");
    }

    #[test]
    fn limiter_off_counts_nothing() {
        let limiter = RateLimiter::new(None);
        for _ in 0..1000 {
            assert!(limiter.hit("a").is_ok());
        }
    }

    #[test]
    fn forwarded_for_behind_trusted_proxy() {
        let trusted: Vec<IpNet> = vec![
            "10.0.0.0/8".parse().unwrap(),
            "127.0.0.1/32".parse().unwrap(),
        ];
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "198.51.100.7, 203.0.113.9, 10.1.2.3".parse().unwrap(),
        );
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            client_ip(proxy, &headers, &trusted),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        let direct: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(
            client_ip(direct, &headers, &trusted),
            direct,
            "an untrusted peer's header is ignored"
        );
        assert_eq!(
            client_ip(proxy, &axum::http::HeaderMap::new(), &trusted),
            proxy
        );
    }

    #[test]
    fn forwarded_for_with_ports_and_garbage() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let client = |value: &str| {
            let mut headers = axum::http::HeaderMap::new();
            headers.insert("x-forwarded-for", value.parse().unwrap());
            client_ip(proxy, &headers, &trusted)
        };
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        assert_eq!(
            client("1.1.1.1, 203.0.113.9:4711"),
            ip("203.0.113.9"),
            "a port is dropped"
        );
        assert_eq!(client("1.1.1.1, [2001:db8::1]:4711"), ip("2001:db8::1"));
        assert_eq!(
            client("1.1.1.1, not-an-ip, 10.0.0.2"),
            ip("10.0.0.2"),
            "nothing left of an unparsable entry is believed"
        );
        assert_eq!(client("garbage"), proxy);
    }
}
