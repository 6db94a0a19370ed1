//! One module per table: the row types (serialized as the wire types of API.md) and the queries.
//! Every function returns [`DbResult`]; HTTP mapping happens once, in `error.rs`.

pub mod accounts;
pub mod authenticators;
pub mod sessions;
pub mod users;
pub mod verification_tokens;

pub use crate::db::DbResult;
