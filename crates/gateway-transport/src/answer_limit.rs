//! How many bytes of a provider's answer a call may read, in proportion to what it asked for:
//! one contact's call reads at most [`SINGLE_RECORD_BYTES`], a listing page
//! [`for_page`]`(page_size)`, never more than [`crate::MAX_BODY_BYTES`]. Scoped around the call
//! (like the request id) rather than threaded through every adapter method.

use std::future::Future;

tokio::task_local! {
    static ANSWER_LIMIT: usize;
}

/// The answer of a call about one record (read, create, update, delete, health check).
pub const SINGLE_RECORD_BYTES: usize = 1024 * 1024;
/// Allowed per contact a listing asked for, above [`SINGLE_RECORD_BYTES`] for the envelope.
pub const PER_LISTED_CONTACT_BYTES: usize = 64 * 1024;

/// The bytes a listing page of `page_size` contacts may take.
pub fn for_page(page_size: u32) -> usize {
    let items = usize::try_from(page_size).unwrap_or(usize::MAX);
    SINGLE_RECORD_BYTES
        .saturating_add(items.saturating_mul(PER_LISTED_CONTACT_BYTES))
        .min(crate::MAX_BODY_BYTES)
}

/// Runs `fut` with answers limited to `bytes` (capped at [`crate::MAX_BODY_BYTES`]).
pub async fn with_answer_limit<F: Future>(bytes: usize, fut: F) -> F::Output {
    ANSWER_LIMIT
        .scope(bytes.min(crate::MAX_BODY_BYTES), fut)
        .await
}

/// The limit in force for the current task.
pub fn answer_limit() -> usize {
    ANSWER_LIMIT
        .try_with(|l| *l)
        .unwrap_or(crate::MAX_BODY_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn scoped_bounded_and_proportional() {
        assert_eq!(answer_limit(), crate::MAX_BODY_BYTES);
        let inner = with_answer_limit(10, async { answer_limit() }).await;
        assert_eq!(inner, 10);
        let huge = with_answer_limit(usize::MAX, async { answer_limit() }).await;
        assert_eq!(huge, crate::MAX_BODY_BYTES);
        assert!(for_page(1) < for_page(100));
        assert_eq!(for_page(u32::MAX), crate::MAX_BODY_BYTES);
    }
}
