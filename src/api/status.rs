//! Fleet errors as gRPC statuses. Field errors also travel as `google.rpc.BadRequest` details, one field
//! violation each (field path, description, and the Kubernetes cause type as reason), so clients need not parse
//! the message.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

use crate::fleet::{CloseReason, FleetError};

pub fn to_status(e: FleetError) -> Status {
    let message = e.to_string();
    match e {
        FleetError::Invalid(errors) => {
            let violations: Vec<FieldViolation> = errors
                .iter()
                .map(|e| FieldViolation {
                    reason: e.error_type().reason().to_string(),
                    ..FieldViolation::new(e.field(), e.description())
                })
                .collect();
            let details = ErrorDetails::with_bad_request(violations);
            Status::with_error_details(Code::InvalidArgument, message, details)
        }
        FleetError::Undecodable(e) => Status::with_error_details(
            Code::InvalidArgument,
            message.clone(),
            ErrorDetails::with_bad_request_violation(e.field(), message),
        ),
        FleetError::NotFound(_) => Status::not_found(message),
        FleetError::AlreadyExists(_) => Status::already_exists(message),
        FleetError::Conflict(_) => Status::aborted(message),
        FleetError::BeingDeleted(_) | FleetError::NotPossible(_) => Status::failed_precondition(message),
        FleetError::WrongCluster { .. } => Status::permission_denied(message),
        FleetError::LimitExceeded(_) => Status::resource_exhausted(message),
        FleetError::NotConnected(_) | FleetError::ShuttingDown | FleetError::StoreUnavailable(_) => {
            Status::unavailable(message)
        }
        FleetError::Corrupt(_) => Status::internal(message),
    }
}

/// The status that ends a shim stream the service closes.
pub fn close_status(cluster: &str, reason: CloseReason) -> Status {
    match reason {
        CloseReason::Replaced => Status::aborted(format!("a newer stream for cluster {cluster:?} replaced this one")),
        CloseReason::CredentialsRevoked => {
            Status::unauthenticated(format!("the token of cluster {cluster:?} was rotated or revoked"))
        }
        CloseReason::HeartbeatTimeout => Status::unavailable("no message from the shim within the heartbeat timeout"),
        CloseReason::Protocol(m) => Status::failed_precondition(m),
        CloseReason::LimitExceeded(m) => Status::resource_exhausted(m),
        CloseReason::Unavailable(m) => Status::unavailable(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::field::FieldError;

    #[test]
    fn field_errors_travel_as_bad_request_details() {
        let error = FleetError::Invalid(vec![
            FieldError::invalid_value("labels", "a b", "name part must consist of alphanumeric characters"),
            FieldError::required_value("clusters", "name the clusters"),
        ]);
        let status = to_status(error);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            status.message(),
            "labels: Invalid value: \"a b\": name part must consist of alphanumeric characters; \
             clusters: Required value: name the clusters"
        );
        let bad = status.get_details_bad_request().expect("BadRequest details");
        let fields: Vec<(&str, &str, &str)> = bad
            .field_violations
            .iter()
            .map(|v| (v.field.as_str(), v.description.as_str(), v.reason.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                (
                    "labels",
                    "Invalid value: \"a b\": name part must consist of alphanumeric characters",
                    "FieldValueInvalid"
                ),
                ("clusters", "Required value: name the clusters", "FieldValueRequired"),
            ]
        );
    }

    #[test]
    fn each_domain_error_has_its_code() {
        let cases = [
            (FleetError::NotFound("x".into()), Code::NotFound),
            (FleetError::AlreadyExists("x".into()), Code::AlreadyExists),
            (FleetError::Conflict("x".into()), Code::Aborted),
            (FleetError::BeingDeleted("x".into()), Code::FailedPrecondition),
            (FleetError::NotPossible("x".into()), Code::FailedPrecondition),
            (FleetError::NotConnected("c".into()), Code::Unavailable),
            (FleetError::WrongCluster { credential: "a".into(), requested: "b".into() }, Code::PermissionDenied),
            (FleetError::LimitExceeded("x".into()), Code::ResourceExhausted),
            (FleetError::ShuttingDown, Code::Unavailable),
            (FleetError::StoreUnavailable("x".into()), Code::Unavailable),
            (FleetError::Corrupt("x".into()), Code::Internal),
        ];
        for (error, code) in cases {
            assert_eq!(to_status(error).code(), code);
        }
    }
}
