//! The active policy and how it changes while the gateway runs: reloaded on SIGHUP and when its
//! file changes; a bundle that does not load is refused with file, line and rule, and the
//! policy in force stays in force. Every change is on the audit trail.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use warden_policy::Policy;
use warden_store::AuditLog;

use super::records;

/// The policy in force. Cheap to read: one uncontended lock and an `Arc` clone per request.
#[derive(Debug)]
pub struct ActivePolicy {
    current: RwLock<Arc<Policy>>,
    file: Option<PathBuf>,
    /// A candidate judged beside the policy in force, recorded and never enforced.
    shadow: RwLock<Option<Arc<Policy>>>,
    shadow_file: Option<PathBuf>,
}

impl ActivePolicy {
    pub fn new(policy: Policy, file: Option<PathBuf>) -> ActivePolicy {
        ActivePolicy {
            current: RwLock::new(Arc::new(policy)),
            file,
            shadow: RwLock::new(None),
            shadow_file: None,
        }
    }

    /// Adds a shadow policy, reloaded with the one in force.
    pub fn with_shadow(mut self, shadow: Option<Policy>, file: Option<PathBuf>) -> ActivePolicy {
        self.shadow = RwLock::new(shadow.map(Arc::new));
        self.shadow_file = file;
        self
    }

    /// The shadow policy, if one is set.
    pub fn shadow(&self) -> Option<Arc<Policy>> {
        match self.shadow.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The policy for one request.
    pub fn get(&self) -> Arc<Policy> {
        match self.current.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reloads from the file. `Ok(true)` when the version changed.
    pub fn reload(&self) -> Result<bool, String> {
        // The shadow follows its file too; one that no longer loads keeps the last good one.
        if let Some(path) = &self.shadow_file
            && let Ok(source) = std::fs::read_to_string(path)
        {
            match Policy::from_toml(&source, &path.display().to_string()) {
                Ok(shadow) => {
                    let mut slot = match self.shadow.write() {
                        Ok(guard) => guard,
                        Err(poisoned) => poisoned.into_inner(),
                    };
                    *slot = Some(Arc::new(shadow));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the shadow policy does not load; the last good one stays")
                }
            }
        }
        let Some(path) = &self.file else {
            return Ok(false);
        };
        let source =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let policy = Policy::from_toml(&source, &path.display().to_string()).map_err(|e| e.to_string())?;
        let mut current = match self.current.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if current.version() == policy.version() {
            return Ok(false);
        }
        *current = Arc::new(policy);
        Ok(true)
    }
}

fn modified(path: &PathBuf) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Watches for SIGHUP and for changes to the policy file (polled: it works on every file
/// system, network mounts and config-map symlinks included), reloading on either.
pub fn spawn_watcher(active: Arc<ActivePolicy>, audit: AuditLog, interval: Duration) {
    // The handler is installed here, before the gateway serves, not in the task: SIGHUP's
    // default action ends the process, so a signal in between would take the gateway down.
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let Some(path) = active.file.clone() else {
        #[cfg(unix)]
        tokio::spawn(async move {
            if let Some(hangup) = hangup.as_mut() {
                while hangup.recv().await.is_some() {
                    tracing::info!(
                        "SIGHUP: no policy file is configured (the built-in pack is in force); nothing to reload"
                    );
                }
            }
        });
        return;
    };
    tokio::spawn(async move {
        let mut last_seen = modified(&path);
        // A change is acted on once the file has stayed the same for one interval, so a file
        // still being written is not read half-way.
        let mut settling: Option<Option<(SystemTime, u64)>> = None;
        // The first tick is a full interval away: an interval's immediate first tick would race
        // with changes made right after start-up and report them as file changes.
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            #[cfg(unix)]
            let hup = crate::signals::next_signal(hangup.as_mut());
            #[cfg(not(unix))]
            let hup = std::future::pending::<()>();
            let trigger = tokio::select! {
                () = hup => "sighup",
                _ = tick.tick() => {
                    let now = modified(&path);
                    if now == last_seen {
                        settling = None;
                        continue;
                    }
                    if settling.as_ref() != Some(&now) {
                        settling = Some(now);
                        continue;
                    }
                    settling = None;
                    "file_changed"
                }
            };
            let before = active.get().version().to_string();
            // Whatever the trigger, the file as now read is the one seen.
            last_seen = modified(&path);
            match active.reload() {
                Ok(true) => {
                    let after = active.get();
                    tracing::info!(trigger, from = %before, to = %after.version(), "policy reloaded");
                    let file = path.display().to_string();
                    let record = records::policy_reloaded(
                        trigger,
                        &file,
                        &before,
                        after.version(),
                        after.rules().len(),
                    );
                    let _ = records::write(&audit, vec![record]).await;
                }
                Ok(false) => tracing::debug!(trigger, "policy unchanged"),
                Err(error) => {
                    tracing::error!(trigger, %error, version = %before, "policy reload refused; the policy in force stays");
                    let file = path.display().to_string();
                    let record = records::policy_reload_failed(trigger, &file, &error, &before);
                    let _ = records::write(&audit, vec![record]).await;
                }
            }
        }
    });
}
