//! Route tables, one module per area.

pub mod admin;
pub mod flows;
pub mod gate;
pub mod ops;
pub mod runs;
pub mod scripts;
pub mod secrets;
