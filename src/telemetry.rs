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

/// Installs the global subscriber. `default_filter` applies when `RUST_LOG` is unset.
pub fn init(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    // kube-client's request module logs whole response bodies (an object that fails to decode,
    // at WARN; error bodies at DEBUG; any body at TRACE), and a body can be a Secret. Those
    // lines never reach the output, whatever RUST_LOG says; nothing else is lost with them.
    let no_bodies = filter::filter_fn(|meta| meta.target() != BODY_LOGGING_TARGET);
    let registry = tracing_subscriber::registry().with(filter).with(no_bodies);
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
