//! Admission: a per-service limit on calls in flight and a per-tenant rate limit, checked by
//! the auth layer once it knows the caller's tenant. Over either, a call is refused at once with its retry
//! information (`google.rpc.RetryInfo`) instead of queueing: one tenant's burst, or a flood of
//! slow calls, cannot stall the service for every other tenant.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use uuid::Uuid;

use crate::config::GrpcSettings;

/// How many tenants' buckets are kept before idle ones are dropped.
const BUCKETS_KEPT: usize = 10_000;

#[derive(Clone)]
pub struct Admission {
    in_flight: Arc<Semaphore>,
    limit: usize,
    rate: Option<Arc<TenantRate>>,
}

impl Admission {
    pub fn new(settings: &GrpcSettings) -> Self {
        let rate = (settings.tenant_rate_per_second > 0).then(|| {
            Arc::new(TenantRate {
                per_second: f64::from(settings.tenant_rate_per_second),
                burst: f64::from(settings.tenant_burst.max(1)),
                buckets: Mutex::new(HashMap::new()),
            })
        });
        let limit = settings.max_in_flight.max(1) as usize;
        Self {
            in_flight: Arc::new(Semaphore::new(limit)),
            limit,
            rate,
        }
    }

    /// Calls admitted and not yet answered.
    fn in_flight(&self) -> usize {
        self.limit - self.in_flight.available_permits()
    }

    /// Returns once no admitted call is in flight, or after `grace`; `false` when calls were
    /// still under way then.
    pub async fn idle_within(&self, grace: Duration) -> bool {
        let deadline = Instant::now() + grace;
        while self.in_flight() > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// Admits a call of `tenant`: the permit is held until the call ends. Refused at once,
    /// with the delay to retry after, when the tenant is over its rate or the service at its
    /// limit of calls in flight.
    pub fn admit(&self, tenant: Uuid) -> Result<OwnedSemaphorePermit, Status> {
        if let Some(rate) = &self.rate
            && let Err(wait) = rate.take(tenant)
        {
            tracing::debug!(%tenant, "call refused: tenant over its rate");
            return Err(refusal(
                Code::ResourceExhausted,
                "this tenant's call rate is over its limit, retry after the delay given",
                wait,
            ));
        }
        self.in_flight.clone().try_acquire_owned().map_err(|_| {
            tracing::debug!("call refused: service at its limit of calls in flight");
            refusal(
                Code::Unavailable,
                "the service is at its limit of calls in flight, retry shortly",
                Duration::from_millis(100),
            )
        })
    }
}

/// A token bucket per tenant: `burst` calls at once, refilled at `per_second`.
struct TenantRate {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<Uuid, (f64, Instant)>>,
}

impl TenantRate {
    /// Takes a token for `tenant`, or says how long until one is there.
    fn take(&self, tenant: Uuid) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("rate buckets");
        if buckets.len() >= BUCKETS_KEPT {
            let full_after = Duration::from_secs_f64(self.burst / self.per_second);
            buckets.retain(|_, (_, at)| now.duration_since(*at) < full_after);
        }
        let (tokens, at) = buckets.entry(tenant).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / self.per_second))
        }
    }
}

/// A refusal a client can retry after `wait`, said in `google.rpc.RetryInfo`.
fn refusal(code: Code, message: &str, wait: Duration) -> Status {
    let mut details = ErrorDetails::new();
    details.set_retry_info(Some(wait.max(Duration::from_millis(1))));
    Status::with_error_details(code, message, details)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_gets_its_burst_then_waits_for_its_rate() {
        let rate = TenantRate {
            per_second: 10.0,
            burst: 3.0,
            buckets: Mutex::new(HashMap::new()),
        };
        let (busy, quiet) = (Uuid::now_v7(), Uuid::now_v7());
        for _ in 0..3 {
            rate.take(busy).unwrap();
        }
        let wait = rate.take(busy).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        rate.take(quiet).expect("another tenant is not held back");
        std::thread::sleep(wait + Duration::from_millis(5));
        rate.take(busy).expect("a token came back");
    }
}
