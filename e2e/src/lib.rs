//! The end-to-end harness: real servers started as child processes for the duration of a
//! test, and cleaned up even when the test process dies.

pub mod process;
pub mod registry;
