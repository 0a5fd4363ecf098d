//! Parsed input: once a value has one of these types it is known to be valid.

mod email;
mod password;
mod profile;
mod text;

pub use email::UserEmail;
pub use password::{NewPassword, MAX_PASSWORD_BYTES};
pub use profile::{PersonName, Phone, Username};
