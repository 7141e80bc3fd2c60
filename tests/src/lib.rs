//! Workspace-level tools that drive the real server from the outside: the
//! `dmp-loadgen` load generator (import file for its synthetic users, login,
//! WebSocket traffic, latency and loss accounting) and `dmp-bare-relay`, a
//! WebSocket relay without auth or storage that gives the baseline the
//! server's figures are compared against. The binaries only parse arguments
//! and call into these modules.
#![forbid(unsafe_code)]

pub mod loadgen;
pub mod relay;
pub mod users;
