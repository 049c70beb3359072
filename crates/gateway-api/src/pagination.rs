//! Page sizes and the `pageInfo` object shared by every list.

use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;

/// Largest page any list returns.
pub const MAX_PAGE_SIZE: u32 = 100;

/// `{"hasNext", "nextCursor"}`.
#[derive(Serialize, ToSchema, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct PageInfo {
    /// Whether another page follows.
    pub has_next: bool,
    /// Pass as `cursor` to get it; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Checks `pageSize` (1–100).
pub fn page_size(requested: Option<u32>, default: u32) -> Result<u32, ApiError> {
    match requested {
        None => Ok(default.clamp(1, MAX_PAGE_SIZE)),
        Some(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_parameter(
            "pageSize",
            format!("must be between 1 and {MAX_PAGE_SIZE}, got {n}"),
        )),
    }
}
