//! The wire contract of DMP secure messaging, shared by the server and every
//! client so they cannot drift: typed ids, the domain objects as they travel
//! (camelCase JSON, as in the seed), REST request/response bodies, the
//! WebSocket frame enums, the stable error codes and the configurable limits.
//! This crate does no I/O.
#![forbid(unsafe_code)]

pub mod api;
pub mod error;
pub mod ids;
pub mod limits;
pub mod model;
pub mod ws;

pub use error::{ApiError, ErrorBody, ErrorCode};
pub use ids::*;
pub use limits::Limits;
pub use model::*;
