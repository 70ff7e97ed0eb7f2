//! Route tables, one module per area.

pub mod admin;
pub mod ops;
pub mod runs;
pub mod secrets;
