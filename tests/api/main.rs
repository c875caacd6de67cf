//! Black-box HTTP tests. Each test starts its own server and database; every
//! test runs once on SQLite and once on PostgreSQL.

mod helpers;

mod auth_tokens;
mod conventions;
mod flow;
mod posts;
