//! ironcliw-mem: the Rust core of a memory-pressure layer for screen-vision agents.
//!
//! Plain Rust modules hold the logic; `py` is the only place that knows about Python and is
//! compiled only with the `python` feature, so `cargo test` runs the core without an interpreter.

pub mod cache;
pub mod clock;
pub mod imaging;
pub mod imaging_buffers;
pub mod pressure;

#[cfg(feature = "python")]
mod py;
