//! Query parameters of a request ([`Params`]) and the values every handler reads from them:
//! selectors and boolean flags. A leaf module, so handlers share it without importing each
//! other.

use crate::selectors::{FieldSelector, LabelSelector, Selectors};
use crate::status::ApiResult;
use std::collections::HashMap;

/// Query parameters of one request.
pub type Params = HashMap<String, String>;

/// The value of `k`, if present and not empty.
pub fn get<'a>(params: &'a Params, k: &str) -> Option<&'a str> {
    params.get(k).map(String::as_str).filter(|v| !v.is_empty())
}

/// Whether the boolean parameter `k` is set (`true` or `1`).
pub fn flag(params: &Params, k: &str) -> bool {
    matches!(get(params, k), Some("true" | "1"))
}

/// Parses `labelSelector` and `fieldSelector`.
///
/// # Errors
/// 400 BadRequest when either selector does not parse.
pub fn selectors(params: &Params) -> ApiResult<Selectors> {
    Ok(Selectors {
        labels: LabelSelector::parse(get(params, "labelSelector").unwrap_or_default())?,
        fields: FieldSelector::parse(get(params, "fieldSelector").unwrap_or_default())?,
    })
}
