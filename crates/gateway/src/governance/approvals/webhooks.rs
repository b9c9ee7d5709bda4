//! Webhook notifications of approval events: a Slack-compatible message or a generic JSON
//! event, signed with HMAC-SHA256, delivered from the store's outbox by a background worker
//! with exponential backoff; every failed attempt is on the audit trail.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use warden_store::{Approval, AuditLog, Store};

use crate::clock::Clock;
use crate::config::{WebhookConfig, WebhookFormat};
use crate::governance::records;

/// The body for one event in one hook's format.
pub fn payload(format: WebhookFormat, event: &str, a: &Approval) -> String {
    let summary = super::summary(a);
    if format == WebhookFormat::Slack {
        let verb = match event {
            "requested" => "needs approval",
            "decided" => "was decided",
            "expired" => "expired",
            "escalated" => "was escalated",
            _ => "is still waiting",
        };
        let text = format!(
            "Warden: {} request {} {verb} ({} of {} approvals; rule {}; status {}). Requested by {}. Decide with `warden approvals approve {}` or `warden approvals reject {}`.",
            a.risk,
            a.id,
            a.approvals(),
            a.required,
            a.rule,
            a.status.as_str(),
            a.requester,
            a.id,
            a.id
        );
        json!({"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]})
            .to_string()
    } else {
        json!({"event": format!("approval.{event}"), "approval": summary}).to_string()
    }
}

/// `sha256=<hex>` of HMAC-SHA256 over `<timestamp>.<body>`: binding the time stops replays.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Delay before attempt `attempts + 1`: 1 s, 2 s, 4 s ... at most five minutes.
fn backoff(attempts: i64) -> i64 {
    let exp = attempts.clamp(0, 20) as u32;
    (1_000i64 << exp).min(300_000)
}

/// Delivers due webhooks until the process ends.
pub fn spawn_delivery(store: Store, audit: AuditLog, clock: Clock, hooks: Arc<Vec<WebhookConfig>>) {
    if hooks.is_empty() {
        return;
    }
    tokio::spawn(async move {
        let client = match reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "webhook client not built; webhooks disabled");
                return;
            }
        };
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let now = clock.now_ms();
            // Longer than a delivery can take (the client's timeout), so a live sender keeps
            // its claim; a dead one's deliveries go to another replica after it.
            let due = match store.claim_due_webhooks(now, 50, now + 60_000).await {
                Ok(due) => due,
                Err(e) => {
                    tracing::error!(error = %e, "webhook outbox unreadable");
                    continue;
                }
            };
            for d in due {
                let Some(hook) = hooks.iter().find(|h| h.name == d.hook) else {
                    let _ = store
                        .webhook_failed(d.id, "no such webhook configured", None, now)
                        .await;
                    continue;
                };
                let timestamp = now / 1000;
                let mut request = client
                    .post(&hook.url)
                    .header("content-type", "application/json")
                    .header("x-warden-event", format!("approval.{}", d.event))
                    .header("x-warden-delivery", d.id.to_string())
                    .header("x-warden-timestamp", timestamp.to_string())
                    .body(d.payload.clone());
                if let Some(secret) = &hook.secret {
                    request = request.header(
                        "x-warden-signature",
                        signature(secret.expose(), timestamp, &d.payload),
                    );
                }
                let result = match request.send().await {
                    Ok(r) if r.status().is_success() => Ok(()),
                    Ok(r) => Err(format!("answered {}", r.status().as_u16())),
                    Err(e) => Err(crate::error::describe(&e)),
                };
                let now = clock.now_ms();
                match result {
                    Ok(()) => {
                        let _ = store.webhook_delivered(d.id, now).await;
                    }
                    Err(error) => {
                        let attempt = d.attempts + 1;
                        let gave_up = attempt >= hook.max_attempts as i64;
                        let retry = (!gave_up).then(|| now + backoff(d.attempts));
                        let _ = store.webhook_failed(d.id, &error, retry, now).await;
                        tracing::warn!(hook = %hook.name, attempt, gave_up, %error, "webhook delivery failed");
                        let record =
                            records::webhook_failed(&hook.name, &d.event, d.id, attempt, &error, gave_up);
                        let _ = records::write(&audit, vec![record]).await;
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_over_timestamp_and_body() {
        // RFC 4231 test case 2, with the message split as `<timestamp>.<body>` would be.
        let sig = signature("Jefe", 0, "what do ya want for nothing?");
        assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64);
        assert_ne!(sig, signature("Jefe", 1, "what do ya want for nothing?"));
        assert_ne!(sig, signature("jefe", 0, "what do ya want for nothing?"));
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(0), 1_000);
        assert_eq!(backoff(3), 8_000);
        assert_eq!(backoff(40), 300_000);
    }
}
