//! One decoded resource request ([`Req`]): its target, headers, query parameters and body,
//! and what handlers read from them (write options, delete options, the body as JSON).
//!
//! Bodies are JSON, YAML (through the workspace's `yaml-json`, so non-string keys such as
//! `1: a` read as kubectl reads them) or the Kubernetes protobuf envelope ([`crate::protobuf`]).

use crate::lifecycle::{DeleteOpts, Propagation};
use crate::objects::WriteOpts;
use crate::params::{self, Params};
use crate::rbac::Requester;
use crate::route::Target;
use crate::state::AppState;
use crate::status::{ApiError, ApiResult};
use http::{HeaderMap, Method};
use serde_json::{Value, json};

/// One decoded resource request.
pub struct Req {
    /// The shared state.
    pub st: AppState,
    /// What the path addresses.
    pub target: Target,
    /// The HTTP method.
    pub method: Method,
    /// The request headers.
    pub headers: HeaderMap,
    /// The query parameters.
    pub params: Params,
    /// The whole body.
    pub body: Vec<u8>,
    /// Who sent it, when authorization is on.
    pub requester: Option<Requester>,
}

impl Req {
    /// The query parameter `k`, if present and not empty.
    pub fn param(&self, k: &str) -> Option<&str> {
        params::get(&self.params, k)
    }

    /// The header `k` as text (empty when absent or not text).
    pub fn header(&self, k: &str) -> &str {
        self.headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// Whether `dryRun=All` was asked for.
    ///
    /// # Errors
    /// 400 for any other `dryRun` value.
    pub fn dry_run(&self) -> ApiResult<bool> {
        match self.param("dryRun") {
            None => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "invalid dryRun value {other:?}: only \"All\" is supported"
            ))),
        }
    }

    /// The options of a create, update or patch: dry run, field manager (the
    /// `fieldManager` parameter, else the user agent's product name), force, subresource.
    ///
    /// # Errors
    /// 400 for an invalid `dryRun`.
    pub fn write_opts(&self) -> ApiResult<WriteOpts> {
        let given = self.param("fieldManager").map(str::to_string);
        let manager = given.clone().unwrap_or_else(|| {
            let ua = self.header("user-agent");
            ua.split('/').next().unwrap_or_default().to_string()
        });
        Ok(WriteOpts {
            dry_run: self.dry_run()?,
            manager,
            manager_given: given.is_some(),
            force: params::flag(&self.params, "force"),
            subresource: self.target.subresource.clone().unwrap_or_default(),
            requester: self.requester.clone(),
        })
    }

    /// Decodes the body as JSON, as YAML when `yaml` is set or the content type says so,
    /// or as protobuf when the content type is `application/vnd.kubernetes.protobuf`.
    ///
    /// # Errors
    /// 400 when the body does not decode; 415 for a protobuf kind the emulator does not know.
    pub fn body_value(&self, yaml: bool) -> ApiResult<Value> {
        let ct = self.header("content-type");
        if ct.contains("protobuf") {
            return crate::protobuf::decode(&self.body);
        }
        if yaml || ct.contains("yaml") {
            yaml_json::from_slice(&self.body).map_err(|e| {
                ApiError::bad_request(format!("failed to decode the request body as YAML: {e}"))
            })
        } else {
            serde_json::from_slice(&self.body).map_err(|e| {
                ApiError::bad_request(format!("failed to decode the request body as JSON: {e}"))
            })
        }
    }

    /// The options of a delete, from the query and the `DeleteOptions` body (JSON, YAML or
    /// protobuf): dry run, propagation, uid and resourceVersion preconditions.
    ///
    /// # Errors
    /// 400 for a body that does not decode, an invalid `dryRun` or propagation policy.
    pub fn delete_opts(&self) -> ApiResult<DeleteOpts> {
        let body = if self.body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            self.body_value(false)?
        };
        let policy = self
            .param("propagationPolicy")
            .map(str::to_string)
            .or_else(|| body["propagationPolicy"].as_str().map(str::to_string));
        let propagation = match policy {
            Some(p) => Propagation::parse(&p)?,
            None if body["orphanDependents"].as_bool() == Some(true) => Propagation::Orphan,
            None => Propagation::Background,
        };
        let dry_body = body["dryRun"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == "All"));
        Ok(DeleteOpts {
            dry_run: self.dry_run()? || dry_body,
            propagation,
            uid: body["preconditions"]["uid"].as_str().map(str::to_string),
            resource_version: body["preconditions"]["resourceVersion"]
                .as_str()
                .map(str::to_string),
        })
    }
}
