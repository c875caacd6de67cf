//! Black-box HTTP tests. Each test starts its own server and database; every
//! test runs once on SQLite and once on PostgreSQL.

mod browser;
mod helpers;

mod accounts;
mod adoption;
mod auth_tokens;
mod conventions;
mod email;
mod flow;
mod hardening;
mod keys;
mod limits;
mod metrics;
mod openapi;
mod outbox;
mod posts;
mod recovery;
mod sessions;
