//! The signals the gateway acts on: SIGTERM and Ctrl-C to drain and stop, SIGHUP to reload
//! the policy. Handlers are installed when asked for, before the gateway serves.

use std::future::Future;

/// Resolves on SIGTERM or Ctrl-C. The SIGTERM handler is installed when this is called, not
/// when the future is first polled, so a SIGTERM that arrives before the server starts polling
/// still drains rather than ending the process at once.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let terminate = next_signal(terminate.as_mut());
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            () = ctrl_c => {},
            () = terminate => {},
        }
    }
}

/// The next delivery of `signal`, or never when its handler could not be installed.
#[cfg(unix)]
pub async fn next_signal(signal: Option<&mut tokio::signal::unix::Signal>) {
    match signal {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}
