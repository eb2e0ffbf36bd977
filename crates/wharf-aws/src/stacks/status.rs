//! What a stack's state means to wharf, on the SDK's typed `StackStatus`: whether an
//! operation is under way, whether it ended well, and whether the stack needs `wharf recover`
//! before it can change.

use aws_sdk_cloudformation::types::StackStatus;

/// An operation is under way (a change set's REVIEW_IN_PROGRESS is not one: nothing runs).
pub fn in_progress(status: &StackStatus) -> bool {
    matches!(
        status,
        StackStatus::CreateInProgress
            | StackStatus::DeleteInProgress
            | StackStatus::ImportInProgress
            | StackStatus::ImportRollbackInProgress
            | StackStatus::RollbackInProgress
            | StackStatus::UpdateCompleteCleanupInProgress
            | StackStatus::UpdateInProgress
            | StackStatus::UpdateRollbackCompleteCleanupInProgress
            | StackStatus::UpdateRollbackInProgress
    )
}

/// Still moving: in progress, or a change set under review.
pub fn moving(status: &StackStatus) -> bool {
    in_progress(status) || *status == StackStatus::ReviewInProgress
}

/// An operation that ended as asked (a deletion ends in DELETE_COMPLETE, judged by the caller).
pub fn succeeded(status: &StackStatus) -> bool {
    matches!(
        status,
        StackStatus::CreateComplete | StackStatus::UpdateComplete | StackStatus::ImportComplete
    )
}

/// Whether a stack in `status` must go through `wharf recover` before it can change.
pub fn needs_recovery(status: &StackStatus) -> bool {
    matches!(
        status,
        StackStatus::RollbackComplete
            | StackStatus::RollbackFailed
            | StackStatus::UpdateRollbackFailed
            | StackStatus::DeleteFailed
            | StackStatus::CreateFailed
    )
}

/// Writes a status as AWS spells it.
pub(crate) fn serialize<S: serde::Serializer>(
    status: &StackStatus,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(status.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_read_as_aws_documents_them() {
        let s = |x: &str| StackStatus::from(x);
        assert!(
            in_progress(&s("UPDATE_ROLLBACK_IN_PROGRESS"))
                && !in_progress(&s("REVIEW_IN_PROGRESS"))
        );
        assert!(moving(&s("REVIEW_IN_PROGRESS")) && !moving(&s("UPDATE_COMPLETE")));
        assert!(succeeded(&s("IMPORT_COMPLETE")) && !succeeded(&s("UPDATE_ROLLBACK_COMPLETE")));
        for st in [
            "ROLLBACK_COMPLETE",
            "ROLLBACK_FAILED",
            "UPDATE_ROLLBACK_FAILED",
            "DELETE_FAILED",
            "CREATE_FAILED",
        ] {
            assert!(needs_recovery(&s(st)), "{st}");
        }
        assert!(!needs_recovery(&s("UPDATE_ROLLBACK_COMPLETE")));
    }
}
