//! Outbound webhooks: each committed change is POSTed as JSON to every configured URL, signed
//! with HMAC-SHA256 (`X-Veil-Signature: sha256=<hex>`), retried with backoff by a background
//! task so the decision path never waits on them.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::mpsc;
use veil_proto::v1::ChangeEvent;

pub struct Webhooks {
    queue: Option<mpsc::Sender<ChangeEvent>>,
}

const ATTEMPTS: u32 = 6;

impl Webhooks {
    pub fn none() -> Webhooks {
        Webhooks { queue: None }
    }

    pub fn start(urls: Vec<String>, secret: String) -> Webhooks {
        if urls.is_empty() {
            return Webhooks::none();
        }
        let (queue, mut events) = mpsc::channel::<ChangeEvent>(1024);
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                let body = serde_json::json!({
                    "policy_version": event.policy_version,
                    "data_sources": event.data_sources,
                    "users": event.users,
                    "everything": event.everything,
                })
                .to_string();
                let signature = sign(&secret, body.as_bytes());
                for url in &urls {
                    deliver(url.clone(), body.clone(), signature.clone()).await;
                }
            }
        });
        Webhooks { queue: Some(queue) }
    }

    pub fn send(&self, event: ChangeEvent) {
        if let Some(queue) = &self.queue
            && queue.try_send(event).is_err()
        {
            tracing::error!("webhook queue full: a change notification was not sent");
        }
    }
}

/// `sha256=<lowercase hex of HMAC-SHA256(secret, body)>`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("sha256={hex}")
}

async fn deliver(url: String, body: String, signature: String) {
    let mut delay = Duration::from_millis(200);
    for attempt in 1..=ATTEMPTS {
        let request = {
            let (url, body, signature) = (url.clone(), body.clone(), signature.clone());
            tokio::task::spawn_blocking(move || {
                ureq::post(&url)
                    .timeout(Duration::from_secs(5))
                    .set("Content-Type", "application/json")
                    .set("X-Veil-Signature", &signature)
                    .send_string(&body)
                    .map(|_| ())
                    .map_err(|error| error.to_string())
            })
        };
        match request.await {
            Ok(Ok(())) => return,
            Ok(Err(error)) => tracing::warn!(%url, attempt, %error, "webhook delivery failed"),
            Err(error) => tracing::warn!(%url, attempt, %error, "webhook task failed"),
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
    }
    tracing::error!(%url, "webhook delivery abandoned after {ATTEMPTS} attempts");
}
