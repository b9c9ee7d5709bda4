//! SSE streaming: bytes reach the client unchanged and as they come, mid-stream failures are
//! passed on and recorded, and a client that hangs up still leaves a record.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::routing::post;
use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::Notify;
use warden_standin::{Failure, StandIn};

use crate::support::{gateway, green, serve};

/// An upstream that sends `chunks` as separate writes, pausing after the first until released.
async fn gated_upstream(chunks: Vec<Vec<u8>>, gate: Arc<Notify>) -> String {
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move || {
            let chunks = chunks.clone();
            let gate = gate.clone();
            async move {
                let stream =
                    futures_util::stream::iter(chunks.into_iter().enumerate()).then(move |(i, chunk)| {
                        let gate = gate.clone();
                        async move {
                            if i == 1 {
                                gate.notified().await;
                            }
                            Ok::<Bytes, std::io::Error>(Bytes::from(chunk))
                        }
                    });
                axum::response::Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(Body::from_stream(stream))
                    .unwrap()
            }
        }),
    );
    serve(app).await
}

#[tokio::test]
async fn sse_passes_through_byte_for_byte_without_buffering() {
    // Awkward splits on purpose: inside a line, inside a multi-byte character, inside `[DONE]`.
    let full = "data: {\"id\":\"chatcmpl_run-7\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"},\"finish_reason\":null}]}\n\n\
data: {\"id\":\"chatcmpl_run-7\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Grüße – ✓\"},\"finish_reason\":null}]}\n\n\
: a comment line the client should still see\n\n\
data: {\"id\":\"chatcmpl_run-7\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n\
data: [DONE]\n\n"
        .as_bytes()
        .to_vec();
    let cut1 = 40;
    let umlaut = full.windows(2).position(|w| w == "ü".as_bytes()).unwrap() + 1;
    let done = full.len() - 5;
    let chunks = vec![
        full[..cut1].to_vec(),
        full[cut1..umlaut].to_vec(),
        full[umlaut..done].to_vec(),
        full[done..].to_vec(),
    ];
    let gate = Arc::new(Notify::new());
    let upstream = gated_upstream(chunks, gate.clone()).await;
    // Raw pass-through: with no look-behind window, bytes are not even framed into events.
    let g = gateway(&upstream)
        .config("[responses]\ndlp_window_chars = 0")
        .start();

    let mut body = green("Stream me a greeting");
    body["stream"] = json!(true);
    let response = g.open_chat(&body, &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["x-warden-status"], "executed");
    let trace_id = response.headers()["x-warden-trace-id"]
        .to_str()
        .unwrap()
        .to_string();
    let mut stream = response.bytes_stream();
    // The first chunk arrives while the upstream is still holding back the rest: no buffering.
    let first = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("first chunk in time")
        .unwrap()
        .unwrap();
    let mut received = first.to_vec();
    assert_eq!(received, full[..cut1]);
    gate.notify_one();
    while let Some(chunk) = stream.next().await {
        received.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(received, full, "bytes must pass through unchanged");

    // The stream's end is recorded with the run id found in the tee.
    let record = g.wait_for_record(&trace_id, "executed").await;
    assert_eq!(record["payload"]["response_id"], "chatcmpl_run-7");
    assert_eq!(record["payload"]["outcome"], "completed");
    assert_eq!(record["payload"]["bytes"], full.len());
}

#[tokio::test]
async fn standin_stream_with_usage_arrives_whole() {
    let agent = StandIn::new()
        .chunk_delay(Duration::from_millis(5))
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let g = gateway(&agent.url()).start();
    let mut body = green("Summarize our AI governance policy for internal use.");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let reply = g.chat(&body).await;
    assert_eq!(reply.status, 200);
    let text = String::from_utf8(reply.bytes.clone()).unwrap();
    let events: Vec<_> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert!(events.len() >= 5, "{text}");
    assert_eq!(*events.last().unwrap(), "data: [DONE]");
    assert!(text.contains("\"usage\""), "usage chunk passed on");
    assert!(text.contains("\"finish_reason\":\"stop\""));
    assert_eq!(agent.received()[0].body["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn mid_stream_failure_is_passed_on_and_recorded() {
    let agent = StandIn::new()
        .failure(Failure::MidStreamError)
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let g = gateway(&agent.url()).start();
    let mut body =
        green("a long answer please, with many words in it so that it spans several chunks of output text");
    body["stream"] = json!(true);
    let reply = g.chat(&body).await;
    assert_eq!(reply.status, 200);
    let text = String::from_utf8(reply.bytes.clone()).unwrap();
    assert!(text.contains("\"error\""), "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"));
    let trace_id = reply.trace_id();
    g.wait_for_record(&trace_id, "upstream_error").await;
    assert_eq!(g.stages(&trace_id), ["classification", "upstream_error"]);
}

#[tokio::test]
async fn client_hanging_up_mid_stream_is_recorded() {
    // The upstream keeps talking after the client has gone, so Warden's next write fails.
    let gate = Arc::new(Notify::new());
    let mut chunks = vec![b"data: {\"id\":\"chatcmpl_gone\"}\n\n".to_vec()];
    chunks.extend(
        (0..2000).map(|i| format!("data: {{\"n\":{i},\"pad\":\"{}\"}}\n\n", "x".repeat(512)).into_bytes()),
    );
    let upstream = gated_upstream(chunks, gate.clone()).await;
    let g = gateway(&upstream).start();
    let mut body = green("hello");
    body["stream"] = json!(true);
    let response = g.open_chat(&body, &[]).await;
    let trace_id = response.headers()["x-warden-trace-id"]
        .to_str()
        .unwrap()
        .to_string();
    let mut stream = response.bytes_stream();
    let _first = stream.next().await;
    drop(stream);
    gate.notify_one();
    let record = g.wait_for_record(&trace_id, "executed").await;
    assert_eq!(record["payload"]["outcome"], "client_disconnected");
    assert_eq!(record["payload"]["response_id"], "chatcmpl_gone");
}
