//! Accepting and holding connections: HTTP/1.1 over TCP with the limits a public listener needs.
//! A connection must send its first request's headers within `header_timeout` (an idle socket
//! costs only a small task until then: no HTTP state is built for it), may sit idle between
//! requests for `idle_timeout`, and at most `max_connections` are served at once (past it,
//! new ones wait in the kernel's backlog). Request bodies have their own timeout, applied
//! where they are read. On shutdown, connections are asked to finish and drained.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

use crate::config::ConnectionLimits;

/// What a connection is doing, as its watchdog sees it.
#[derive(Debug)]
struct Activity {
    opened: Instant,
    /// Requests whose responses are not finished.
    in_flight: AtomicUsize,
    /// Bytes arrived while no request was in flight: a request's head is being sent.
    partial: AtomicBool,
    /// When `partial` began, or the connection last became idle (ms since `opened`).
    since_ms: AtomicU64,
}

impl Activity {
    fn new() -> Arc<Activity> {
        Arc::new(Activity {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            partial: AtomicBool::new(true),
            since_ms: AtomicU64::new(0),
        })
    }

    fn now_ms(&self) -> u64 {
        self.opened.elapsed().as_millis() as u64
    }

    fn read_some(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0 && !self.partial.swap(true, Ordering::AcqRel) {
            self.since_ms.store(self.now_ms(), Ordering::Release);
        }
    }

    fn begin(self: &Arc<Self>) -> RequestGuard {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.partial.store(false, Ordering::Release);
        RequestGuard(self.clone())
    }

    /// When the connection is due to be closed, if nothing happens before.
    fn deadline_ms(&self, limits: &ConnectionLimits) -> Option<u64> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let since = self.since_ms.load(Ordering::Acquire);
        let allowed = if self.partial.load(Ordering::Acquire) {
            limits.header_timeout
        } else {
            limits.idle_timeout
        };
        Some(since + allowed.as_millis() as u64)
    }
}

/// Held while a request's response is being sent.
struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let activity = &self.0;
        activity.since_ms.store(activity.now_ms(), Ordering::Release);
        activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The socket, noting when bytes arrive.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.read_some();
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A response body that ends its request when it is done or dropped.
struct Tracked {
    body: Body,
    _guard: RequestGuard,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then asks every connection to
/// finish and waits up to `grace` for them. Returns whether every connection finished.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl std::future::Future<Output = ()> + Send,
    grace: Duration,
) -> bool {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (closing_tx, closing_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: back off rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Without TCP_NODELAY the kernel holds each small SSE write until the client's delayed
        // ACK (40 ms) on kept-alive connections.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set on an accepted connection");
        }
        let app = app.clone();
        let closing = closing_rx.clone();
        tokio::spawn(async move {
            connection(tcp, app, limits, closing).await;
            drop(permit);
        });
    }
    tracing::info!("shutting down: draining in-flight requests");
    let _ = closing_tx.send(true);
    let all = limits.max_connections.min(u32::MAX as usize) as u32;
    tokio::time::timeout(grace, slots.acquire_many(all)).await.is_ok()
}

/// One connection, start to end.
async fn connection(
    tcp: TcpStream,
    app: Router,
    limits: ConnectionLimits,
    mut closing: watch::Receiver<bool>,
) {
    // Until its first byte, an idle socket holds no HTTP state at all.
    match tokio::time::timeout(limits.header_timeout, tcp.readable()).await {
        Ok(Ok(())) => {}
        _ => return,
    }
    let activity = Activity::new();
    let io = TokioIo::new(Watched {
        inner: tcp,
        activity: activity.clone(),
    });
    let tracking = activity.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let guard = tracking.begin();
        let app = app.clone();
        async move {
            let response = app.oneshot(request.map(Body::new)).await;
            response.map(|r| r.map(|body| Tracked { body, _guard: guard }))
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .serve_connection(io, service)
        .with_upgrades();
    tokio::pin!(conn);
    let mut asked_to_close = false;
    loop {
        let wake = match activity.deadline_ms(&limits) {
            Some(deadline) => Duration::from_millis(deadline.saturating_sub(activity.now_ms())),
            None => limits.idle_timeout,
        };
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = tokio::time::sleep(wake) => {
                if activity
                    .deadline_ms(&limits)
                    .is_some_and(|deadline| activity.now_ms() >= deadline)
                {
                    // Idle too long, or too slow to send a request: closed without more ado.
                    return;
                }
            }
            changed = closing.changed(), if !asked_to_close => {
                asked_to_close = true;
                if changed.is_ok() {
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}
