//! Change notifications to webhooks: signed with the shared secret, and retried after a failed
//! delivery with the same body.

use std::time::Duration;

use veil_server::Webhooks;
use veil_server::auth::Caller;

use crate::harness::{EXAMPLE, open_store, sqlite_url};

/// A loopback HTTP endpoint that answers 500 to the first request and 200 afterwards, and hands
/// over each request's signature header and body.
async fn webhook_receiver() -> (String, tokio::sync::mpsc::Receiver<(String, String)>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (sender, receiver) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        let mut served = 0;
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buffer = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head, body) = loop {
                let read = socket.read(&mut chunk).await.unwrap();
                buffer.extend_from_slice(&chunk[..read]);
                let text = String::from_utf8_lossy(&buffer).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length: usize = head
                        .lines()
                        .find_map(|line| {
                            line.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        break (head.to_owned(), body.to_owned());
                    }
                }
                if read == 0 {
                    break (text, String::new());
                }
            };
            served += 1;
            let status = if served == 1 {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            socket
                .write_all(
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .await
                .unwrap();
            let signature = head
                .lines()
                .find_map(|line| {
                    line.to_ascii_lowercase()
                        .starts_with("x-veil-signature:")
                        .then(|| line.split_once(':').unwrap().1.trim().to_owned())
                })
                .unwrap_or_default();
            sender.send((signature, body)).await.unwrap();
        }
    });
    (url, receiver)
}

#[tokio::test]
async fn changes_reach_webhooks_signed_and_retried() {
    let (url, mut received) = webhook_receiver().await;
    let webhooks = Webhooks::start(vec![url], "hook-secret".into());
    let state = open_store(&sqlite_url("webhooks"), webhooks).await;
    let outcome = state
        .change(&Caller::operator("test".into()), false, |file| {
            *file = veil_policy::Bundle::from_yaml(EXAMPLE).unwrap();
            Ok(())
        })
        .await
        .unwrap();
    let wait = Duration::from_secs(10);
    let (_, first_body) = tokio::time::timeout(wait, received.recv())
        .await
        .unwrap()
        .unwrap();
    let (signature, body) = tokio::time::timeout(wait, received.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        first_body, body,
        "the failed delivery is retried with the same body"
    );
    assert_eq!(signature, veil_server::sign("hook-secret", body.as_bytes()));
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["policy_version"], outcome.version);
    assert!(
        json["data_sources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|name| name == "sales.customers")
    );
}
