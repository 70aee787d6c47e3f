//! Chromium through chromedriver: the supervised driver process (or a remote WebDriver), the
//! capabilities each session's browser gets, orphan sweeping, and the injected bridge.

pub mod bidi;
pub mod bridge;
pub mod capabilities;
pub mod driver;
pub mod procs;
pub mod protocol;

pub use bridge::{BridgeError, Install, Page};
pub use driver::WebDriver;
