//! The one TLS provider of the process: rustls with ring (the provider kube uses too).
//!
//! reqwest is built with `rustls-no-provider`, so a provider must be installed before the first
//! HTTPS client is built; [`install_default_provider`] is idempotent and cheap.

/// Installs rustls' ring provider as the process default if none is installed yet.
pub fn install_default_provider() {
    // `install_default` fails only when a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
