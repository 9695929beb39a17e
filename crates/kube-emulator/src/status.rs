//! Kubernetes `Status` errors: every error kind the API answers with, declared in one place.
//!
//! Like axum's `define_rejection!` blocks, [`define_status_errors!`] ties each
//! [`ApiError`] variant to exactly one HTTP code and `Status.reason`, so a handler never
//! picks a code by hand.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Value, json};

/// One `Status.details.causes` entry: which field is wrong and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// Machine-readable reason, e.g. `FieldValueInvalid` or `FieldManagerConflict`.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
    /// The field path, e.g. `metadata.name` or `.data.key`.
    pub field: String,
}

impl Cause {
    /// A cause for `field` with `reason` and `message`.
    pub fn new(reason: &str, field: &str, message: impl Into<String>) -> Cause {
        Cause {
            reason: reason.to_string(),
            message: message.into(),
            field: field.to_string(),
        }
    }
}

macro_rules! define_status_errors {
    ($( $(#[$doc:meta])* $variant:ident => ($code:expr, $reason:literal) ),+ $(,)?) => {
        /// Kind of API failure; each maps to one HTTP code and one `Status.reason`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorKind {
            $( $(#[$doc])* $variant, )+
        }

        impl ErrorKind {
            /// The HTTP status code Kubernetes answers with for this kind.
            pub fn code(self) -> u16 {
                match self { $( ErrorKind::$variant => $code, )+ }
            }
            /// The `Status.reason` Kubernetes answers with for this kind.
            pub fn reason(self) -> &'static str {
                match self { $( ErrorKind::$variant => $reason, )+ }
            }
        }
    };
}

define_status_errors! {
    /// The object or resource does not exist.
    NotFound => (404, "NotFound"),
    /// An object with this name already exists.
    AlreadyExists => (409, "AlreadyExists"),
    /// Stale resourceVersion, injected conflict, or a server-side apply field conflict.
    Conflict => (409, "Conflict"),
    /// The object fails validation.
    Invalid => (422, "Invalid"),
    /// The request is malformed (body, query or patch).
    BadRequest => (400, "BadRequest"),
    /// The request is refused: RBAC denies it, or e.g. it creates content in a terminating
    /// namespace.
    Forbidden => (403, "Forbidden"),
    /// The bearer token is unknown (authorization mode only).
    Unauthorized => (401, "Unauthorized"),
    /// The requested resourceVersion is older than the retained history.
    Gone => (410, "Expired"),
    /// The verb is not supported on this resource.
    MethodNotAllowed => (405, "MethodNotAllowed"),
    /// The request body's content type is not supported for this verb.
    UnsupportedMediaType => (415, "UnsupportedMediaType"),
    /// A requested resourceVersion is newer than the server's.
    Timeout => (504, "Timeout"),
    /// Injected (or real) internal failure.
    InternalError => (500, "InternalError"),
    /// Injected throttling.
    TooManyRequests => (429, "TooManyRequests"),
    /// A plain error kube-apiserver did not classify (a failed conversion webhook): 500 with
    /// no reason, which kubectl prints as `Error from server: <message>`.
    Unknown => (500, ""),
    /// Refused by an admission webhook: the code and reason come from the webhook's answer
    /// (403 and no reason unless it said otherwise, see [`ApiError::denied`]).
    Denied => (403, ""),
}

/// An API failure rendered as a Kubernetes `Status` object.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// What kind of failure (fixes code and reason).
    pub kind: ErrorKind,
    /// Human-readable message, as kube-apiserver would phrase it.
    pub message: String,
    /// `details.group`/`details.kind`/`details.name` when about one object.
    pub details: Option<Box<(String, String, String)>>,
    /// `details.causes`.
    pub causes: Vec<Cause>,
    /// Code and reason replacing the kind's, for a webhook's denial (its own `status`).
    pub answered: Option<Box<(u16, String)>>,
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: message.into(),
            details: None,
            causes: Vec::new(),
            answered: None,
        }
    }

    /// A denial by the admission webhook `webhook`, worded as kube-apiserver's `ToStatusErr`:
    /// the webhook's code (below 400 becomes 400), its reason, and the message
    /// `admission webhook "<name>" denied the request: <message>`.
    pub fn denied(webhook: &str, code: u16, reason: &str, message: &str) -> ApiError {
        let denied = format!("admission webhook \"{webhook}\" denied the request");
        let message = if !message.is_empty() {
            format!("{denied}: {message}")
        } else if !reason.is_empty() {
            format!("{denied}: {reason}")
        } else {
            format!("{denied} without explanation")
        };
        let mut err = ApiError::new(ErrorKind::Denied, message);
        let code = if code < 400 { 400 } else { code };
        err.answered = Some(Box::new((code, reason.to_string())));
        err
    }

    /// The HTTP code answered.
    pub fn code(&self) -> u16 {
        self.answered.as_ref().map_or(self.kind.code(), |a| a.0)
    }

    /// The `Status.reason` answered (may be empty).
    pub fn reason(&self) -> &str {
        self.answered
            .as_ref()
            .map_or(self.kind.reason(), |a| a.1.as_str())
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::BadRequest, message)
    }

    /// 404 for an object `name` of `resource` (plural) in `group`.
    pub fn not_found(group: &str, resource: &str, name: &str) -> ApiError {
        let gr = group_resource(group, resource);
        ApiError::new(ErrorKind::NotFound, format!("{gr} \"{name}\" not found"))
            .with_details(group, resource, name)
    }

    /// 404 for a path that names no served resource.
    pub fn no_resource() -> ApiError {
        ApiError::new(
            ErrorKind::NotFound,
            "the server could not find the requested resource",
        )
    }

    /// 409 AlreadyExists.
    pub fn already_exists(group: &str, resource: &str, name: &str) -> ApiError {
        let gr = group_resource(group, resource);
        ApiError::new(
            ErrorKind::AlreadyExists,
            format!("{gr} \"{name}\" already exists"),
        )
        .with_details(group, resource, name)
    }

    /// 409 Conflict for a stale resourceVersion.
    pub fn conflict(group: &str, resource: &str, name: &str) -> ApiError {
        let gr = group_resource(group, resource);
        ApiError::new(
            ErrorKind::Conflict,
            format!(
                "Operation cannot be fulfilled on {gr} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
            ),
        )
        .with_details(group, resource, name)
    }

    /// 422 Invalid listing every cause.
    pub fn invalid(kind: &str, group: &str, name: &str, causes: Vec<Cause>) -> ApiError {
        let list: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        let mut err = ApiError::new(
            ErrorKind::Invalid,
            format!("{kind} \"{name}\" is invalid: [{}]", list.join(", ")),
        )
        .with_details(group, kind, name);
        err.causes = causes;
        err
    }

    /// 410 Gone for a too-old resourceVersion.
    pub fn gone(rv: u64, oldest: u64) -> ApiError {
        ApiError::new(
            ErrorKind::Gone,
            format!("too old resource version: {rv} ({oldest})"),
        )
    }

    /// Sets `details` (group, kind-or-resource, name).
    pub fn with_details(mut self, group: &str, kind: &str, name: &str) -> ApiError {
        self.details = Some(Box::new((
            group.to_string(),
            kind.to_string(),
            name.to_string(),
        )));
        self
    }

    /// The `Status` object as JSON.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason(),
            "code": self.code(),
        });
        if self.reason().is_empty()
            && let Some(m) = status.as_object_mut()
        {
            m.remove("reason");
        }
        let mut details = serde_json::Map::new();
        if let Some(d) = &self.details {
            let (group, kind, name) = d.as_ref();
            details.insert("name".into(), json!(name));
            if !group.is_empty() {
                details.insert("group".into(), json!(group));
            }
            details.insert("kind".into(), json!(kind));
        }
        if !self.causes.is_empty() {
            let causes: Vec<Value> = self
                .causes
                .iter()
                .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                .collect();
            details.insert("causes".into(), Value::Array(causes));
        }
        if !details.is_empty() {
            status["details"] = Value::Object(details);
        }
        status
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.reason(), self.code(), self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        json_response(code, &self.to_status())
    }
}

/// A JSON response with `code` and `application/json` content type.
pub fn json_response(code: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (
        code,
        [(http::header::CONTENT_TYPE, "application/json")],
        bytes,
    )
        .into_response()
}

fn group_resource(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_should_map_to_kubernetes_code_and_reason() {
        assert_eq!(ErrorKind::Gone.code(), 410);
        assert_eq!(ErrorKind::Gone.reason(), "Expired");
        let st = ApiError::not_found("apps", "deployments", "web").to_status();
        assert_eq!(st["code"], 404);
        assert_eq!(st["reason"], "NotFound");
        assert_eq!(st["message"], "deployments.apps \"web\" not found");
        assert_eq!(st["details"]["group"], "apps");
    }
}
