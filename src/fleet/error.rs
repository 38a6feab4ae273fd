//! Errors of fleet operations, by the gRPC code they map to.

use crate::store::StoreError;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FleetError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    ResourceExhausted(String),
    #[error("{0}")]
    Aborted(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for FleetError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::AlreadyExists(what) => FleetError::AlreadyExists(format!("{what} already exists")),
            StoreError::NotFound(what) => FleetError::NotFound(format!("{what} not found")),
            StoreError::Conflict(what) => FleetError::Aborted(format!("{what}; retry")),
            StoreError::Database(e) => FleetError::Unavailable(format!("database error: {e}")),
            StoreError::Corrupt(what) => FleetError::Internal(format!("stored data is corrupt: {what}")),
        }
    }
}
