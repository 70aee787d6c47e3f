//! What the public API (`http/`) and the admin page (`admin/`) share: the error envelope, JSON
//! bodies, the session selector, the client's address, the JSON views of rows, webhook
//! settings and new API keys. Both layers use this one; neither imports the other's handlers.

pub mod body;
pub mod client;
pub mod error;
pub mod new_key;
pub mod selector;
pub mod views;
pub mod webhook_config;
