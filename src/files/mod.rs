//! The files ssofresh reads and writes, and nothing about logins or time: where they are, the
//! INI dialect, the config file, the credentials editor and the one atomic writer.

pub mod config;
pub mod credfile;
pub mod fsio;
pub mod guard;
pub mod ini;
pub mod paths;
pub mod scratch;
