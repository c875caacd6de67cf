//! postgate: a REST API server for a small publishing app, with accounts,
//! JWT sessions and posts over PostgreSQL or SQLite.

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod config_check;
pub mod db;
pub mod docs;
pub mod email;
pub mod error;
pub mod metrics;
pub mod posts;
pub mod ratelimit;
pub mod server;
pub mod telemetry;
pub mod users;
pub mod validation;

pub use app::{AppState, Application};
pub use config::Settings;
