//! The request id of docs/architecture.md, carried from the API layer to every provider call without
//! threading it through each adapter method.

use std::future::Future;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Runs `fut` with `id` as the current request id; every [`crate::Transport::send`] inside
/// it sends `x-request-id: id`.
pub async fn with_request_id<F: Future>(id: String, fut: F) -> F::Output {
    REQUEST_ID.scope(id, fut).await
}

/// The request id of the current task, if one was set.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn scoped_and_absent() {
        assert_eq!(current_request_id(), None);
        let seen = with_request_id("req-1".into(), async { current_request_id() }).await;
        assert_eq!(seen.as_deref(), Some("req-1"));
        assert_eq!(current_request_id(), None);
    }
}
