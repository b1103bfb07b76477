//! Logging: a `tracing` subscriber with an env filter (`RUST_LOG`) and plain or JSON output,
//! never carrying an API response body (see [`init`]).

use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, filter, fmt, prelude::*};

/// The module of kube-client whose log lines carry response bodies.
const BODY_LOGGING_TARGET: &str = "kube_client::client";

/// Output format of log lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Plain,
    /// One JSON object per line.
    Json,
}

/// kube-client's request module logs whole response bodies (an object that fails to decode, at
/// WARN; error bodies at DEBUG; any body at TRACE), and a body can be a Secret. This filter keeps
/// those lines from every output, whatever `RUST_LOG` says; nothing else is lost with them.
fn no_bodies() -> filter::FilterFn {
    filter::filter_fn(|meta| meta.target() != BODY_LOGGING_TARGET)
}

/// Installs the global subscriber. `default_filter` applies when `RUST_LOG` is unset.
pub fn init(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(no_bodies());
    let result = match format {
        LogFormat::Plain => registry
            .with(
                fmt::layer()
                    .with_target(true)
                    .with_ansi(std::io::stdout().is_terminal()),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(fmt::layer().json().flatten_event(true))
            .try_init(),
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::Locked;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0.locked().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn kube_client_bodies_never_reach_the_output() {
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::registry()
            .with(EnvFilter::new("trace"))
            .with(no_bodies())
            .with(
                fmt::layer()
                    .with_ansi(false)
                    .with_writer(move || sink.clone()),
            );
        tracing::subscriber::with_default(subscriber, || {
            // What kube-client's request module logs when an object does not decode.
            tracing::warn!(target: "kube_client::client", "{{\"kind\":\"Secret\",\"data\":{{\"serviceKey\":\"c2VjcmV0\"}}}}, invalid type");
            tracing::debug!(target: "kube_client::client::builder", "requesting");
            tracing::info!(target: "megaport_operator::controller", "reconciled");
        });
        let out = String::from_utf8(buffer.0.locked().clone()).unwrap_or_default();
        assert!(!out.contains("serviceKey"), "{out}");
        assert!(
            out.contains("requesting") && out.contains("reconciled"),
            "{out}"
        );
    }
}
