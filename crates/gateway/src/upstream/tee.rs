//! The streaming tee: upstream SSE bytes go to the client (through answer governance, when on)
//! while a bounded look at them finds the run id and any mid-stream error; the request's
//! context rides along, so the stream's outcome closes the trace when it ends, times out, or
//! the client goes away.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use serde_json::json;

use super::answer::Governor;
use crate::governance::context::RequestContext;
use crate::governance::records;

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
    /// The usage the stream reported (seen here when no governor reads the events).
    usage: Option<serde_json::Value>,
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
            return;
        }
        // Most chunks need no parse: once the id is known, only errors, Responses' events that
        // end or fail the answer, and a chunk reporting usage (not the `"usage":null` some
        // upstreams put in every chunk) are looked at.
        let has = |needle: &[u8]| data.windows(needle.len()).any(|w| w == needle);
        let reports_usage = has(b"\"usage\"") && !has(b"\"usage\":null");
        if self.response_id.is_some() && !has(b"\"error\"") && !has(b"\"response.") && !reports_usage {
            return;
        }
        #[derive(serde::Deserialize)]
        struct Peek {
            id: Option<String>,
            #[serde(rename = "type")]
            kind: Option<String>,
            error: Option<serde_json::Value>,
            response: Option<PeekResponse>,
            usage: Option<serde_json::Value>,
        }
        #[derive(serde::Deserialize)]
        struct PeekResponse {
            id: Option<String>,
            usage: Option<serde_json::Value>,
        }
        let Ok(mut peek) = serde_json::from_slice::<Peek>(data) else {
            return;
        };
        // A chat chunk's `usage`, or a Responses answer's (in `response.completed`).
        if let Some(usage) = peek
            .usage
            .take()
            .or_else(|| peek.response.as_mut().and_then(|r| r.usage.take()))
            .filter(serde_json::Value::is_object)
        {
            self.usage = Some(usage);
        }
        if let Some(error) = &peek.error
            && !error.is_null()
        {
            let message = error
                .get("message")
                .and_then(|m| m.as_str())
                .unwrap_or("error event in stream");
            self.error = Some(message.to_string());
        }
        match peek.kind.as_deref() {
            Some("response.completed" | "response.incomplete") => self.done = true,
            Some("response.failed") => {
                self.error
                    .get_or_insert_with(|| "the upstream's response failed".into());
            }
            _ => {}
        }
        if self.response_id.is_none() {
            self.response_id = peek.response.and_then(|r| r.id).or(peek.id);
        }
    }
}

type Upstream = Pin<Box<dyn Stream<Item = Result<Bytes, reqwest::Error>> + Send>>;

/// The body of a governed streaming response.
pub struct Tee {
    upstream: Upstream,
    idle: Duration,
    idle_timer: Pin<Box<tokio::time::Sleep>>,
    /// Set while the governor holds text that might still become a secret: when the upstream
    /// pauses this long, the text goes as it stands.
    hold_timer: Option<Pin<Box<tokio::time::Sleep>>>,
    inspection: Inspection,
    /// Frames Warden itself appends (an error and `[DONE]`) when the upstream breaks off.
    tail: Option<Bytes>,
    ended: bool,
    /// The request's context, until the stream's outcome has closed its trace.
    ctx: Option<RequestContext>,
    /// Answer governance (tool calls, DLP) when enabled; otherwise bytes pass untouched.
    governor: Option<Governor>,
    /// The session's memory being written: done before the client has the last bytes.
    remembering: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl Tee {
    pub fn new(upstream: Upstream, idle: Duration, ctx: RequestContext, governor: Option<Governor>) -> Tee {
        Tee {
            upstream,
            idle,
            idle_timer: Box::pin(tokio::time::sleep(idle)),
            hold_timer: None,
            inspection: Inspection::default(),
            tail: None,
            ended: false,
            ctx: Some(ctx),
            governor,
            remembering: None,
        }
    }

    /// Closes the trace with the stream's outcome, once.
    fn finish(&mut self, outcome: &str, failure: Option<String>) {
        let Some(mut ctx) = self.ctx.take() else {
            return;
        };
        let i = &self.inspection;
        let failure = failure
            .or_else(|| self.governor.as_ref().and_then(|g| g.failed.clone()))
            .or_else(|| i.error.clone());
        let status = match (&failure, outcome) {
            (Some(_), _) => "upstream_error",
            (None, "client_disconnected") => "client_disconnected",
            (None, _) => "executed",
        };
        let facts = json!({
            "status": status,
            "stream": true,
            "outcome": outcome,
            "response_id": i.response_id,
            "done": i.done,
            "bytes": i.bytes,
            "chunks": i.chunks,
            "duration_ms": ctx.elapsed_ms(),
            "usage": self.governor.as_ref().and_then(|g| g.report.usage.clone()).or_else(|| i.usage.clone()),
            "error": failure,
            "principal": ctx.principal.actor(),
            "response_governance": self.governor.as_ref().map(|g| g.report.to_json()),
        });
        let record = if failure.is_some() {
            records::upstream_error(
                &ctx.trace_id,
                "stream",
                failure.as_deref().unwrap_or(""),
                None,
                ctx.elapsed_ms(),
            )
            .with("outcome", json!(outcome))
            .with("stream", json!(true))
            .with("response_id", json!(i.response_id))
            .with("bytes", json!(i.bytes))
        } else {
            records::executed(&ctx.trace_id, facts)
        };
        if ctx.memory.is_none() {
            ctx.close_detached(record);
            return;
        }
        // The agent took the request once its stream began, however the stream ended: the
        // session holds it, and the end of the answer waits until that is written.
        let said = self
            .governor
            .as_ref()
            .map(|g| ctx.policy.mask_sensitive(g.said()));
        self.remembering = Some(Box::pin(async move {
            ctx.close_remembering(record, said.as_deref()).await;
        }));
    }

    fn error_tail(message: &str) -> Bytes {
        let event = json!({"error": {"message": message, "type": "upstream_error"}});
        Bytes::from(format!("data: {event}\n\ndata: [DONE]\n\n"))
    }

    /// What the governor still holds, judged and released.
    fn release_governed(&mut self) -> Vec<u8> {
        self.governor.as_mut().map(|g| g.finish()).unwrap_or_default()
    }

    /// Starts (or restarts, on new data) the wait after which held text goes as it stands.
    fn arm_hold_timer(&mut self) {
        let hold = match &self.governor {
            Some(g) if g.holds_text() && !g.hold().is_zero() => g.hold(),
            _ => {
                self.hold_timer = None;
                return;
            }
        };
        let deadline = tokio::time::Instant::now() + hold;
        match self.hold_timer.as_mut() {
            Some(timer) => timer.as_mut().reset(deadline),
            None => self.hold_timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
        }
    }

    fn governor_failed(&self) -> Option<String> {
        self.governor.as_ref().and_then(|g| g.failed.clone())
    }
}

impl Stream for Tee {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(write) = this.remembering.as_mut() {
                if write.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.remembering = None;
            }
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
                    let out = match &mut this.governor {
                        None => return Poll::Ready(Some(Ok(chunk))),
                        Some(governor) => governor.feed(&chunk),
                    };
                    if let Some(failure) = this.governor_failed() {
                        this.finish("ungovernable", Some(failure));
                        this.ended = true;
                        let mut out = out;
                        out.extend_from_slice(&Tee::error_tail(
                            "The upstream agent's stream could not be governed and was cut off.",
                        ));
                        return Poll::Ready(Some(Ok(Bytes::from(out))));
                    }
                    this.arm_hold_timer();
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Bytes::from(out))));
                    }
                    // Everything held back for now: read on.
                }
                Poll::Ready(Some(Err(e))) => {
                    let message = format!("upstream stream broke off: {}", super::describe(&e));
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
                    if !held.is_empty() {
                        this.tail = Some(Bytes::from(held));
                    }
                    // The held end of the answer goes out once the session's memory is written.
                }
                Poll::Pending => {
                    if let Some(timer) = this.hold_timer.as_mut()
                        && timer.as_mut().poll(cx).is_ready()
                    {
                        this.hold_timer = None;
                        let out = this
                            .governor
                            .as_mut()
                            .map(Governor::release_held_text)
                            .unwrap_or_default();
                        if !out.is_empty() {
                            return Poll::Ready(Some(Ok(Bytes::from(out))));
                        }
                    }
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

impl Drop for Tee {
    fn drop(&mut self) {
        // Still open here means the client went away before the end.
        self.finish("client_disconnected", None);
        if let Some(write) = self.remembering.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(write);
        }
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

    #[test]
    fn finds_a_responses_stream_id_and_end() {
        let stream = b"event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\"}}\n\nevent: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\"}}\n\n";
        let mut i = Inspection::default();
        i.feed(stream);
        assert_eq!(i.response_id.as_deref(), Some("resp_1"));
        assert!(i.done);
        assert!(i.error.is_none());
    }

    #[test]
    fn finds_the_usage_a_stream_reports_and_not_the_nulls() {
        let chat = b"data: {\"id\":\"c1\",\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n\
                     data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":9}}\n\n\
                     data: {\"id\":\"c1\",\"choices\":[],\"usage\":null}\n\ndata: [DONE]\n\n";
        let mut i = Inspection::default();
        i.feed(chat);
        assert_eq!(
            i.usage,
            Some(serde_json::json!({"prompt_tokens": 12, "completion_tokens": 9}))
        );
        let responses = b"data: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"usage\":{\"input_tokens\":3,\"output_tokens\":4}}}\n\n";
        let mut i = Inspection::default();
        i.feed(responses);
        assert_eq!(
            i.usage,
            Some(serde_json::json!({"input_tokens": 3, "output_tokens": 4}))
        );
    }
}
