pub mod adapter;
pub mod input;
pub mod ops;
pub mod sessions;
