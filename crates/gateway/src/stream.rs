//! The streaming tee: upstream SSE bytes go to the client unchanged while a bounded look at
//! them finds the run id and any mid-stream error; the stream's outcome is audited when it
//! ends, times out, or the client goes away.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::Stream;
use serde_json::json;
use warden_store::{AuditLog, NewEvent};

/// Longest SSE line inspected; longer lines pass through uninspected.
const MAX_LINE: usize = 64 * 1024;

/// What the inspection saw.
#[derive(Debug, Default)]
struct Inspection {
    line: Vec<u8>,
    skipping_long_line: bool,
    response_id: Option<String>,
    done: bool,
    error: Option<String>,
    bytes: u64,
    chunks: u64,
}

impl Inspection {
    fn feed(&mut self, chunk: &[u8]) {
        self.bytes += chunk.len() as u64;
        self.chunks += 1;
        for piece in chunk.split_inclusive(|&b| b == b'\n') {
            let complete = piece.last() == Some(&b'\n');
            if !self.skipping_long_line {
                if self.line.len() + piece.len() > MAX_LINE {
                    self.skipping_long_line = true;
                    self.line.clear();
                } else {
                    self.line.extend_from_slice(piece);
                }
            }
            if complete {
                if !self.skipping_long_line {
                    let line = std::mem::take(&mut self.line);
                    self.inspect_line(&line);
                }
                self.skipping_long_line = false;
            }
        }
    }

    fn inspect_line(&mut self, line: &[u8]) {
        let Some(data) = line.strip_prefix(b"data:") else {
            return;
        };
        let data = data.trim_ascii();
        if data == b"[DONE]" {
            self.done = true;
        } else if data.starts_with(b"{\"error\"") {
            let message = serde_json::from_slice::<serde_json::Value>(data)
                .ok()
                .and_then(|v| {
                    v.pointer("/error/message")
                        .and_then(|m| m.as_str())
                        .map(str::to_string)
                })
                .unwrap_or_else(|| "error event in stream".into());
            self.error = Some(message);
        } else if self.response_id.is_none() {
            #[derive(serde::Deserialize)]
            struct IdOnly {
                id: Option<String>,
            }
            if let Ok(IdOnly { id: Some(id) }) = serde_json::from_slice::<IdOnly>(data) {
                self.response_id = Some(id);
            }
        }
    }
}

/// Who to tell when the stream is over.
pub struct StreamRecord {
    pub audit: AuditLog,
    pub trace_id: String,
    pub actor: String,
    pub started: Instant,
    pub policy_version: String,
}

type Upstream = Pin<Box<dyn Stream<Item = Result<Bytes, reqwest::Error>> + Send>>;

/// The body of a governed streaming response.
pub struct Tee {
    upstream: Upstream,
    idle: Duration,
    idle_timer: Pin<Box<tokio::time::Sleep>>,
    inspection: Inspection,
    /// Frames Warden itself appends (an error and `[DONE]`) when the upstream breaks off.
    tail: Option<Bytes>,
    ended: bool,
    record: Option<StreamRecord>,
    /// Response governance (tool calls, DLP) when enabled; otherwise bytes pass untouched.
    governor: Option<crate::response::Governor>,
}

impl Tee {
    pub fn new(upstream: Upstream, idle: Duration, record: StreamRecord) -> Tee {
        Tee {
            upstream,
            idle,
            idle_timer: Box::pin(tokio::time::sleep(idle)),
            inspection: Inspection::default(),
            tail: None,
            ended: false,
            record: Some(record),
            governor: None,
        }
    }

    /// Governs the stream's events (tool calls, DLP) instead of passing bytes untouched.
    pub fn governed(mut self, governor: crate::response::Governor) -> Tee {
        self.governor = Some(governor);
        self
    }

    /// Appends the outcome to the trail, once.
    fn finish(&mut self, outcome: &str, failure: Option<String>) {
        let Some(record) = self.record.take() else {
            return;
        };
        let i = &self.inspection;
        let failure = failure.or_else(|| i.error.clone());
        let (stage, status) = match (&failure, outcome) {
            (Some(_), _) => ("upstream_error", "upstream_error"),
            (None, "client_disconnected") => ("executed", "client_disconnected"),
            (None, _) => ("executed", "executed"),
        };
        let payload = json!({
            "status": status,
            "stream": true,
            "outcome": outcome,
            "response_id": i.response_id,
            "done": i.done,
            "bytes": i.bytes,
            "chunks": i.chunks,
            "duration_ms": record.started.elapsed().as_millis() as u64,
            "error": failure,
            "principal": record.actor,
            "policy_version": record.policy_version,
            "response_governance": self.governor.as_ref().map(|g| g.report.to_json()),
        });
        record.audit.append_detached(vec![NewEvent::now(
            &record.trace_id,
            stage,
            &record.actor,
            payload,
        )]);
    }

    fn error_tail(message: &str) -> Bytes {
        let event = json!({"error": {"message": message, "type": "upstream_error"}});
        Bytes::from(format!("data: {event}\n\ndata: [DONE]\n\n"))
    }
}

impl Stream for Tee {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(tail) = this.tail.take() {
                return Poll::Ready(Some(Ok(tail)));
            }
            if this.ended {
                return Poll::Ready(None);
            }
            match this.upstream.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    this.inspection.feed(&chunk);
                    let deadline = tokio::time::Instant::now() + this.idle;
                    this.idle_timer.as_mut().reset(deadline);
                    match &mut this.governor {
                        None => return Poll::Ready(Some(Ok(chunk))),
                        Some(governor) => {
                            let out = governor.feed(&chunk);
                            if !out.is_empty() {
                                return Poll::Ready(Some(Ok(Bytes::from(out))));
                            }
                            // Everything held back for now: read on.
                        }
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    let message = format!("upstream stream broke off: {}", crate::upstream::describe(&e));
                    let held = this.release_governed();
                    this.finish("upstream_broke_off", Some(message));
                    this.ended = true;
                    let mut out = held;
                    if !this.inspection.done {
                        out.extend_from_slice(&Tee::error_tail("The upstream agent's stream broke off."));
                    }
                    if out.is_empty() {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Ok(Bytes::from(out))));
                }
                Poll::Ready(None) => {
                    let held = this.release_governed();
                    this.ended = true;
                    let outcome = if this.inspection.done {
                        "completed"
                    } else {
                        "ended_without_done"
                    };
                    this.finish(outcome, None);
                    if held.is_empty() {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Ok(Bytes::from(held))));
                }
                Poll::Pending => {
                    if this.idle_timer.as_mut().poll(cx).is_ready() {
                        let message = format!("upstream idle for more than {} ms", this.idle.as_millis());
                        let mut out = this.release_governed();
                        this.finish("idle_timeout", Some(message));
                        this.ended = true;
                        out.extend_from_slice(&Tee::error_tail(
                            "The upstream agent stopped sending (idle timeout).",
                        ));
                        return Poll::Ready(Some(Ok(Bytes::from(out))));
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl Tee {
    /// What the governor still holds, judged and released.
    fn release_governed(&mut self) -> Vec<u8> {
        self.governor.as_mut().map(|g| g.finish()).unwrap_or_default()
    }
}

impl Drop for Tee {
    fn drop(&mut self) {
        // Still unrecorded here means the client went away before the end.
        self.finish("client_disconnected", None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_id_done_and_errors_across_any_split() {
        let stream = b"data: {\"id\":\"chatcmpl_1\",\"choices\":[]}\n\ndata: {\"error\":{\"message\":\"boom\"}}\n\ndata: [DONE]\n\n";
        for split in 0..stream.len() {
            let mut i = Inspection::default();
            i.feed(&stream[..split]);
            i.feed(&stream[split..]);
            assert_eq!(i.response_id.as_deref(), Some("chatcmpl_1"), "split at {split}");
            assert_eq!(i.error.as_deref(), Some("boom"));
            assert!(i.done);
            assert_eq!(i.bytes, stream.len() as u64);
        }
    }
}
