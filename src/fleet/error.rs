//! What can go wrong in a fleet operation, in the fleet's own terms. The api layer decides which gRPC code each
//! one is.

use crate::apiserver::field::FieldError;
use crate::apiserver::manifest::ManifestError;
use crate::apiserver::strategy::Rejection;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FleetError {
    /// The request is invalid; every error names its field (`spec.template.spec.containers[0].image`, `labels`).
    #[error("{}", join(.0))]
    Invalid(Vec<FieldError>),
    /// The manifest does not decode into one apps/v1 DaemonSet.
    #[error(transparent)]
    Undecodable(ManifestError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// Someone else changed the object first; the same request may succeed when retried.
    #[error("{0}; retry")]
    Conflict(String),
    /// The DaemonSet is being deleted.
    #[error("{0}")]
    BeingDeleted(String),
    /// The request cannot be carried out in the object's present state (e.g. no revision to roll back to).
    #[error("{0}")]
    NotPossible(String),
    /// The cluster has no connected, synced shim to answer from.
    #[error("cluster {0:?} has no connected, synced shim; nothing to explain")]
    NotConnected(String),
    /// A stream asked to act for a cluster its credential does not prove.
    #[error("this credential belongs to cluster {credential:?}; it cannot act for cluster {requested:?}")]
    WrongCluster { credential: String, requested: String },
    /// A configured limit would be exceeded.
    #[error("{0}")]
    LimitExceeded(String),
    #[error("daemonplane is shutting down; reconnect")]
    ShuttingDown,
    /// The database could not be reached or failed; retrying later may succeed.
    #[error("database error: {0}")]
    StoreUnavailable(String),
    /// Stored data cannot be read back.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

fn join(errors: &[FieldError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

impl FleetError {
    /// One field error.
    pub fn invalid(error: FieldError) -> Self {
        FleetError::Invalid(vec![error])
    }

    /// Field errors, when there are any.
    pub fn check(errors: Vec<FieldError>) -> Result<(), Self> {
        if errors.is_empty() { Ok(()) } else { Err(FleetError::Invalid(errors)) }
    }
}

impl From<Rejection> for FleetError {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::Undecodable(e) => FleetError::Undecodable(e),
            Rejection::Invalid(errors) => FleetError::Invalid(errors),
        }
    }
}

impl From<StoreError> for FleetError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::AlreadyExists(what) => FleetError::AlreadyExists(format!("{what} already exists")),
            StoreError::NotFound(what) => FleetError::NotFound(format!("{what} not found")),
            StoreError::Conflict(what) => FleetError::Conflict(what),
            StoreError::Database(e) => FleetError::StoreUnavailable(e.to_string()),
            StoreError::Corrupt(what) => FleetError::Corrupt(what),
        }
    }
}
