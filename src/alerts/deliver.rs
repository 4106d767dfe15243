//! Webhook delivery from the outbox (the `alerts` table): each due alert is POSTed as JSON with
//!
//! - `X-Verbatim-Timestamp`: seconds since the Unix epoch, when the attempt was signed;
//! - `X-Verbatim-Signature`: `sha256=` and the hex HMAC-SHA256, keyed by the rule's secret, of
//!   the timestamp, a dot and the body: a receiver recomputes it, compares in constant time,
//!   and rejects a timestamp older than a few minutes (a replay);
//! - `Idempotency-Key`: the same on every attempt of one alert, so a receiver drops repeats.
//!
//! A 2xx answer delivers it; anything else (another status, a refused connection, a timeout)
//! schedules another attempt after an exponential backoff with jitter, until the last attempt
//! marks it failed (visible in `GET /v1/alerts`). No redirect is followed: a redirect could
//! point inside the network the target check keeps out.

use std::time::Duration;

use chrono::Utc;
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use sha2::Sha256;

use super::target::TargetPolicy;
use crate::store::{Outgoing, Store};

/// How deliveries are attempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliverySettings {
    pub targets: TargetPolicy,
    /// The longest a receiver may take to answer.
    pub timeout: Duration,
    /// Attempts before an alert is marked failed.
    pub max_attempts: u32,
    /// The wait after the first failed attempt; it doubles after each, up to an hour.
    pub first_retry: Duration,
}

impl Default for DeliverySettings {
    fn default() -> DeliverySettings {
        DeliverySettings {
            targets: TargetPolicy::default(),
            timeout: Duration::from_secs(10),
            max_attempts: 10,
            first_retry: Duration::from_secs(30),
        }
    }
}

/// The longest wait between two attempts.
const MAX_RETRY: Duration = Duration::from_secs(3600);
/// Deliveries read per round.
const BATCH: usize = 50;

/// The `X-Verbatim-Signature` value of `body` signed at `timestamp`.
pub fn signature(secret: &str, timestamp: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let digest = mac.finalize().into_bytes();
    format!("sha256={}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// One attempt: `Ok` when the receiver answered 2xx.
fn attempt(outgoing: &Outgoing, settings: &DeliverySettings) -> Result<(), String> {
    settings.targets.check(&outgoing.webhook.url).map_err(|err| err.to_string())?;
    let timestamp = Utc::now().timestamp().to_string();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(settings.timeout))
        .max_redirects(0)
        .http_status_as_error(false)
        .user_agent(concat!("verbatim/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let response = agent
        .post(&outgoing.webhook.url)
        .header("content-type", "application/json")
        .header("x-verbatim-timestamp", &timestamp)
        .header("x-verbatim-signature", signature(&outgoing.webhook.secret, &timestamp, &outgoing.payload))
        .header("idempotency-key", crate::domain::Alert::idempotency_key(outgoing.alert_id))
        .send(outgoing.payload.as_bytes())
        .map_err(|err| format!("{err}"))?;
    match response.status().as_u16() {
        200..=299 => Ok(()),
        status => Err(format!("the receiver answered HTTP {status}")),
    }
}

/// The wait after `attempts` failed attempts: doubling from `first`, capped, then drawn
/// between half and all of it so that many alerts failing together do not retry together.
fn backoff(first: Duration, attempts: u32) -> Duration {
    let full = first.saturating_mul(2u32.saturating_pow(attempts.saturating_sub(1))).min(MAX_RETRY);
    full.mul_f64(rand::rng().random_range(0.5..=1.0))
}

/// Attempts every delivery due now; returns how many it attempted.
pub fn deliver_due(store: &Store, settings: &DeliverySettings) -> anyhow::Result<usize> {
    let due = store.due_deliveries(Utc::now(), BATCH)?;
    for outgoing in &due {
        let result = attempt(outgoing, settings);
        let attempts = outgoing.attempts + 1;
        match &result {
            Ok(()) => store.record_attempt(outgoing.alert_id, None, None)?,
            Err(error) => {
                let retry_at =
                    (attempts < settings.max_attempts).then(|| Utc::now() + backoff(settings.first_retry, attempts));
                tracing::warn!(alert = outgoing.alert_id, attempts, error = %error, retry = retry_at.is_some(), "webhook delivery failed");
                store.record_attempt(outgoing.alert_id, Some(error), retry_at)?
            }
        }
    }
    Ok(due.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_over_timestamp_and_body() {
        // Python: hmac.new(b"Jefe", b'1700000000.{"alert_id":1}', hashlib.sha256).hexdigest()
        assert_eq!(
            signature("Jefe", "1700000000", r#"{"alert_id":1}"#),
            "sha256=37889b961aeb72816f4f5d69bd105037a240199dc33d9b593f13962e25db63ee"
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let first = Duration::from_secs(10);
        for attempts in 1..6 {
            let wait = backoff(first, attempts);
            let full = first * 2u32.pow(attempts - 1);
            assert!(wait >= full / 2 && wait <= full, "{attempts}: {wait:?}");
        }
        assert!(backoff(first, 40) <= MAX_RETRY);
    }
}
