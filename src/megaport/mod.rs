//! Megaport API client (placeholder).
