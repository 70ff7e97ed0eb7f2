//! Lockbox's vocabulary: the domain types every layer speaks (`SecretName`, `Scope`,
//! `Visibility`, `Role`, `SecretValue`), the error enum with its stable codes, the role
//! matrix as one pure function, and the injectable clock.
//!
//! This crate does no I/O. Untrusted input becomes one of these types at the edge
//! ("parse, don't validate"); past the edge, functions take the types.

pub mod clock;
pub mod dotenv;
pub mod error;
pub mod names;
pub mod policy;
pub mod reference;
pub mod sensitive;
pub mod value;
pub mod versions;

pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use error::{Error, ErrorCode, Result};
pub use names::{SecretName, TokenName, UserName, WorkspaceName};
pub use policy::{
    account_allowed, allowed, can_assign_role, AccountAction, Action, Actor, CallerKind, Role,
};
pub use reference::{find_references, EgressAttempt, Resolved, UsedSecret, REFERENCE_PREFIX};
pub use sensitive::{Sensitive, Wipe};
pub use value::{Scope, SecretValue, Visibility};
