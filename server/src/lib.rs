//! DMP companion server: the axum REST + WebSocket server that patients'
//! and doctors' desktop apps talk to, its SQLite store, audit trail,
//! metrics, and the admin operations behind the `dmp-server` CLI.
#![forbid(unsafe_code)]

pub mod admin;
pub mod app;
pub mod auth;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod directory;
pub mod error;
pub mod files;
pub mod hours;
pub mod http;
pub mod hub;
pub mod mail;
pub mod messaging;
pub mod metrics;
pub mod openapi;
pub mod ratelimit;
pub mod serve;
pub mod state;
pub mod store;
pub mod tls;
pub mod ws;

pub use app::{start, RunningServer};
pub use config::Config;
