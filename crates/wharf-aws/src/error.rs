//! One error type for every AWS call: what wharf was doing ("failed to …"), the class of the
//! failure, the service's error code and message, and what the user can do about it.

use std::fmt;

use aws_sdk_cloudformation::error::{ProvideErrorMetadata, SdkError};
use serde::Serialize;

/// The class of an AWS failure: what decides whether to retry, stop or tell the user to act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// Throttled even after the SDK's retries with backoff.
    Throttled,
    /// The caller lacks a permission.
    AccessDenied,
    /// No credentials, or expired or invalid ones.
    Credentials,
    /// The resource does not exist.
    NotFound,
    /// It exists already, or another change is in progress.
    Conflict,
    /// A service quota is reached.
    Limit,
    /// The request was refused as invalid.
    Invalid,
    /// The endpoint could not be reached or did not answer in time.
    Unreachable,
    /// A server-side or transport failure that may pass.
    Transient,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// Worth trying again later, unchanged.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorKind::Throttled | ErrorKind::Unreachable | ErrorKind::Transient
        )
    }

    /// Classifies a service error code (the `Code` AWS returns, not its message).
    pub fn from_code(code: &str) -> ErrorKind {
        match code {
            "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "TooManyRequestsException"
            | "RequestLimitExceeded"
            | "RequestThrottled"
            | "RequestThrottledException"
            | "ProvisionedThroughputExceededException"
            | "SlowDown" => ErrorKind::Throttled,
            "AccessDenied"
            | "AccessDeniedException"
            | "UnauthorizedOperation"
            | "AuthorizationError" => ErrorKind::AccessDenied,
            "ExpiredToken"
            | "ExpiredTokenException"
            | "InvalidClientTokenId"
            | "UnrecognizedClientException"
            | "SignatureDoesNotMatch"
            | "InvalidSignatureException"
            | "MissingAuthenticationToken" => ErrorKind::Credentials,
            "LimitExceeded" | "LimitExceededException" | "ServiceQuotaExceededException" => {
                ErrorKind::Limit
            }
            "AlreadyExistsException"
            | "ResourceInUse"
            | "ResourceInUseException"
            | "ConditionalCheckFailedException"
            | "OperationInProgressException"
            | "PriorityInUse"
            | "DuplicateTargetGroupName"
            | "DuplicateListener" => ErrorKind::Conflict,
            "ServiceNotActiveException" => ErrorKind::NotFound,
            "InternalFailure"
            | "InternalError"
            | "ServiceUnavailable"
            | "ServiceUnavailableException"
            | "InternalServerError"
            | "ServerException" => ErrorKind::Transient,
            c if c.ends_with("NotFound")
                || c.ends_with("NotFoundException")
                || c.ends_with("NotFoundFault") =>
            {
                ErrorKind::NotFound
            }
            "ValidationError"
            | "ValidationException"
            | "InvalidParameterException"
            | "InvalidParameterValue"
            | "InvalidParameterCombination" => ErrorKind::Invalid,
            _ => ErrorKind::Other,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Throttled => "throttled",
            ErrorKind::AccessDenied => "access denied",
            ErrorKind::Credentials => "credentials",
            ErrorKind::NotFound => "not found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Limit => "limit reached",
            ErrorKind::Invalid => "invalid request",
            ErrorKind::Unreachable => "unreachable",
            ErrorKind::Transient => "transient",
            ErrorKind::Other => "error",
        })
    }
}

/// A failed AWS call, with what wharf was doing.
#[derive(Debug, Clone, Serialize, thiserror::Error)]
#[error("failed to {action}: {message}")]
pub struct AwsError {
    /// What wharf was doing, e.g. "describe stack pulse-prod-baseline".
    pub action: String,
    pub kind: ErrorKind,
    /// The service's error code, when it sent one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub message: String,
}

impl AwsError {
    /// Wraps an SDK error, classifying it by its variant and the service's error code.
    pub fn from_sdk<E, R>(action: impl Into<String>, err: SdkError<E, R>) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: fmt::Debug + Send + Sync + 'static,
    {
        let action = action.into();
        let (kind, code, message) = match &err {
            SdkError::ServiceError(e) => {
                let code = e.err().code().map(str::to_owned);
                let kind = code
                    .as_deref()
                    .map_or(ErrorKind::Other, ErrorKind::from_code);
                let message = e
                    .err()
                    .message()
                    .map(str::to_owned)
                    .unwrap_or_else(|| code.clone().unwrap_or_else(|| "no message".into()));
                (kind, code, message)
            }
            SdkError::TimeoutError(_) => (
                ErrorKind::Unreachable,
                None,
                "the request timed out".to_owned(),
            ),
            SdkError::DispatchFailure(d) => {
                let kind = if d.is_io() || d.is_timeout() {
                    ErrorKind::Unreachable
                } else if d.is_user() {
                    ErrorKind::Credentials
                } else {
                    ErrorKind::Transient
                };
                (kind, None, chain(&err))
            }
            SdkError::ResponseError(_) => (ErrorKind::Transient, None, chain(&err)),
            SdkError::ConstructionFailure(_) => (ErrorKind::Credentials, None, chain(&err)),
            _ => (ErrorKind::Other, None, chain(&err)),
        };
        AwsError {
            action,
            kind,
            code,
            message,
        }
    }

    /// A failure wharf found itself (a stack in a state it cannot act on, say).
    pub fn new(action: impl Into<String>, kind: ErrorKind, message: impl Into<String>) -> Self {
        AwsError {
            action: action.into(),
            kind,
            code: None,
            message: message.into(),
        }
    }

    /// What the user can do, by class.
    pub fn advice(&self) -> &'static str {
        match self.kind {
            ErrorKind::Throttled => "AWS kept throttling after retries with backoff: wait a minute and run the command again",
            ErrorKind::AccessDenied => "the credentials lack this permission: use a role that has it (--profile), or ask your account's administrator",
            ErrorKind::Credentials => "no valid credentials: run `aws sso login --profile P` or set AWS_PROFILE / AWS_ACCESS_KEY_ID, then pass --profile or --region if needed",
            ErrorKind::NotFound => "it does not exist (yet): check the environment's region and account, or run `wharf up --env E` first",
            ErrorKind::Conflict => "another change is in progress or it exists already: wait for it, then run the command again",
            ErrorKind::Limit => "a service quota is reached: remove unused resources or request a quota increase in the Service Quotas console",
            ErrorKind::Invalid => "AWS refused the request as invalid: the message says which parameter; `wharf validate --strict` may catch it earlier",
            ErrorKind::Unreachable => "the AWS endpoint did not answer: check the network, the region and --endpoint-url / AWS_ENDPOINT_URL",
            ErrorKind::Transient => "AWS had a transient failure: run the command again",
            ErrorKind::Other => "see the message above; run with -v for the request details",
        }
    }
}

impl miette::Diagnostic for AwsError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(format!("wharf::aws::{}", self.kind)))
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.advice()))
    }
}

/// The engine's view of an AWS failure: transient ones stop a deploy resumably, the others
/// fail the step (and roll the deployment back).
impl From<AwsError> for wharf_engine::TargetError {
    fn from(e: AwsError) -> Self {
        wharf_engine::TargetError {
            message: e.to_string(),
            help: Some(e.advice().to_owned()),
            transient: e.kind.is_transient(),
            cloud: true,
        }
    }
}

/// The error and its sources on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_classify_without_reading_messages() {
        assert_eq!(ErrorKind::from_code("Throttling"), ErrorKind::Throttled);
        assert_eq!(
            ErrorKind::from_code("ThrottlingException"),
            ErrorKind::Throttled
        );
        assert_eq!(ErrorKind::from_code("ExpiredToken"), ErrorKind::Credentials);
        assert_eq!(
            ErrorKind::from_code("ClusterNotFoundException"),
            ErrorKind::NotFound
        );
        assert_eq!(
            ErrorKind::from_code("TargetGroupNotFound"),
            ErrorKind::NotFound
        );
        assert_eq!(ErrorKind::from_code("PriorityInUse"), ErrorKind::Conflict);
        assert_eq!(ErrorKind::from_code("ValidationError"), ErrorKind::Invalid);
        assert!(ErrorKind::Throttled.is_transient());
        assert!(!ErrorKind::AccessDenied.is_transient());
    }
}
