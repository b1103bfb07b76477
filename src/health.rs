//! What the probes report: liveness (the runtime still runs its tasks) and readiness as named
//! checks — the CRDs installed, the watches listed, Megaport accepting the credentials — each
//! passing or failing with a reason. A standby replica is ready too: it keeps the same watches
//! and snapshots warm, it only does not write.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::sync::Locked;

/// One readiness check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Check {
    /// The CustomResourceDefinitions the controllers watch are installed.
    Crds,
    /// Every watch has listed its objects once (the stores are complete).
    Watches,
    /// Megaport accepted the credentials (the last authenticated call did not fail auth).
    Megaport,
}

impl Check {
    /// The check's name in `/readyz`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Crds => "crds",
            Self::Watches => "watches",
            Self::Megaport => "megaport",
        }
    }

    const ALL: [Self; 3] = [Self::Crds, Self::Watches, Self::Megaport];
}

/// How long the runtime may go without running the heartbeat before `/livez` fails.
pub const LIVENESS_LIMIT: Duration = Duration::from_secs(30);
/// How often the heartbeat runs.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// The probes' state. Cheap to clone; clones share it.
#[derive(Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

struct Inner {
    checks: Mutex<BTreeMap<Check, Result<(), String>>>,
    beat: Mutex<Instant>,
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl Health {
    /// Every check failing with "not yet".
    pub fn new() -> Self {
        let checks = Check::ALL
            .into_iter()
            .map(|c| (c, Err("not checked yet".to_owned())))
            .collect();
        Self {
            inner: Arc::new(Inner {
                checks: Mutex::new(checks),
                beat: Mutex::new(Instant::now()),
            }),
        }
    }

    /// `check` passes.
    pub fn pass(&self, check: Check) {
        self.set(check, Ok(()));
    }

    /// `check` fails because of `why` (no secrets: shown to anyone who can reach the port).
    pub fn fail(&self, check: Check, why: impl Into<String>) {
        self.set(check, Err(why.into()));
    }

    /// `check` fails because of `why`, unless it has passed before: a failure that says nothing
    /// about what the check is about (Megaport unreachable, not refusing the credentials)
    /// replaces only "not checked yet".
    pub fn fail_unless_passed(&self, check: Check, why: impl Into<String>) {
        let passed = self
            .inner
            .checks
            .locked()
            .get(&check)
            .is_some_and(Result::is_ok);
        if !passed {
            self.fail(check, why);
        }
    }

    fn set(&self, check: Check, result: Result<(), String>) {
        let mut checks = self.inner.checks.locked();
        let before = checks.insert(check, result.clone());
        if before.as_ref() != Some(&result) {
            match &result {
                Ok(()) => tracing::info!(check = check.name(), "readiness check passes"),
                Err(why) => tracing::warn!(check = check.name(), %why, "readiness check fails"),
            }
        }
    }

    /// Whether every check passes, and the report (one `[+]name ok` / `[-]name: why` line each,
    /// as kube-apiserver's `/readyz?verbose` writes them).
    pub fn readiness(&self) -> (bool, String) {
        let checks = self.inner.checks.locked();
        let mut report = String::new();
        for (check, result) in checks.iter() {
            let _ = match result {
                Ok(()) => writeln!(report, "[+]{} ok", check.name()),
                Err(why) => writeln!(report, "[-]{}: {why}", check.name()),
            };
        }
        let ready = checks.values().all(Result::is_ok);
        report.push_str(if ready {
            "readyz check passed\n"
        } else {
            "readyz check failed\n"
        });
        (ready, report)
    }

    /// Whether the runtime ran the heartbeat within [`LIVENESS_LIMIT`], and the report.
    pub fn liveness(&self) -> (bool, String) {
        let since = self.inner.beat.locked().elapsed();
        if since <= LIVENESS_LIMIT {
            (true, "[+]runtime ok\nlivez check passed\n".to_owned())
        } else {
            let report = format!(
                "[-]runtime: no heartbeat for {} s\nlivez check failed\n",
                since.as_secs()
            );
            (false, report)
        }
    }

    /// Beats every second until dropped: proof that the runtime still schedules tasks.
    pub async fn heartbeat(self) {
        loop {
            *self.inner.beat.locked() = Instant::now();
            tokio::time::sleep(HEARTBEAT).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_check_passes_and_the_report_names_each() {
        let health = Health::new();
        let (ready, report) = health.readiness();
        assert!(!ready);
        assert!(report.contains("[-]crds: not checked yet"), "{report}");
        health.pass(Check::Crds);
        health.pass(Check::Watches);
        health.fail(Check::Megaport, "Megaport refused the credentials (401)");
        let (ready, report) = health.readiness();
        assert!(!ready);
        assert!(
            report.contains("[+]crds ok") && report.contains("[+]watches ok"),
            "{report}"
        );
        assert!(
            report.contains("[-]megaport: Megaport refused the credentials (401)"),
            "{report}"
        );
        health.pass(Check::Megaport);
        assert!(health.readiness().0);
        health.fail_unless_passed(Check::Megaport, "no answer from Megaport yet");
        assert!(
            health.readiness().0,
            "an unrelated failure keeps a passed check"
        );
        let fresh = Health::new();
        fresh.fail_unless_passed(Check::Megaport, "no answer from Megaport yet: timeout");
        assert!(
            fresh
                .readiness()
                .1
                .contains("[-]megaport: no answer from Megaport yet: timeout")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn liveness_fails_when_the_heartbeat_stops() {
        let health = Health::new();
        assert!(health.liveness().0);
        let beating = tokio::spawn(health.clone().heartbeat());
        tokio::time::sleep(LIVENESS_LIMIT * 2).await;
        assert!(health.liveness().0, "the heartbeat kept it alive");
        beating.abort();
        tokio::time::sleep(LIVENESS_LIMIT + Duration::from_secs(2)).await;
        let (live, report) = health.liveness();
        assert!(!live && report.contains("no heartbeat"), "{report}");
    }
}
