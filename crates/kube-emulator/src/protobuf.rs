//! A decoder for the Kubernetes protobuf envelope, for the few kinds whose typed clients
//! send protobuf bodies: kubectl's `create <kind>` generators, `run`, `expose` and `auth can-i` post
//! protobuf, not JSON.
//!
//! The envelope is the magic `k8s\0` followed by a `runtime.Unknown` message (type meta,
//! raw object bytes). Objects are decoded by small field tables copied from the Kubernetes
//! `generated.proto` files; unknown fields are skipped. Other kinds are refused with 415.

use crate::status::{ApiError, ApiResult, ErrorKind};
use base64::Engine;
use serde_json::{Map, Value, json};

/// How one protobuf field maps to JSON.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Str,
    Bytes,
    /// A pointer integer (`*int32`): kept even when zero (`replicas: 0` means zero).
    Int,
    /// A plain integer: Go's JSON omits it when zero, so the emulator does too.
    IntNz,
    Bool,
    Time,
    Msg(&'static [Field]),
    MapStr,
    MapBytes,
    RepStr,
    RepMsg(&'static [Field]),
    /// `map<string, Quantity>` (resource requirements): values rendered as strings.
    MapQuantity,
    /// `IntOrString`: `{type, intVal, strVal}` rendered as a number or a string.
    IntOrString,
}

type Field = (u32, &'static str, Kind);

const OWNER_REF: &[Field] = &[
    (1, "kind", Kind::Str),
    (3, "name", Kind::Str),
    (4, "uid", Kind::Str),
    (5, "apiVersion", Kind::Str),
    (6, "controller", Kind::Bool),
    (7, "blockOwnerDeletion", Kind::Bool),
];

const OBJECT_META: &[Field] = &[
    (1, "name", Kind::Str),
    (2, "generateName", Kind::Str),
    (3, "namespace", Kind::Str),
    (5, "uid", Kind::Str),
    (6, "resourceVersion", Kind::Str),
    (7, "generation", Kind::IntNz),
    (8, "creationTimestamp", Kind::Time),
    (11, "labels", Kind::MapStr),
    (12, "annotations", Kind::MapStr),
    (13, "ownerReferences", Kind::RepMsg(OWNER_REF)),
    (14, "finalizers", Kind::RepStr),
];

const NAMESPACE: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (2, "spec", Kind::Msg(&[(1, "finalizers", Kind::RepStr)])),
];

const CONFIG_MAP: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (2, "data", Kind::MapStr),
    (3, "binaryData", Kind::MapBytes),
    (4, "immutable", Kind::Bool),
];

const SECRET: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (2, "data", Kind::MapBytes),
    (3, "type", Kind::Str),
    (4, "stringData", Kind::MapStr),
    (5, "immutable", Kind::Bool),
];

const LOCAL_REF: &[Field] = &[(1, "name", Kind::Str)];

const SERVICE_ACCOUNT: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (
        2,
        "secrets",
        Kind::RepMsg(&[
            (1, "kind", Kind::Str),
            (2, "namespace", Kind::Str),
            (3, "name", Kind::Str),
        ]),
    ),
    (3, "imagePullSecrets", Kind::RepMsg(LOCAL_REF)),
    (4, "automountServiceAccountToken", Kind::Bool),
];

const LABEL_SELECTOR: &[Field] = &[(1, "matchLabels", Kind::MapStr)];

const CONTAINER_PORT: &[Field] = &[
    (1, "name", Kind::Str),
    (2, "hostPort", Kind::IntNz),
    (3, "containerPort", Kind::IntNz),
    (4, "protocol", Kind::Str),
];

const ENV_VAR: &[Field] = &[(1, "name", Kind::Str), (2, "value", Kind::Str)];

const CONTAINER: &[Field] = &[
    (1, "name", Kind::Str),
    (2, "image", Kind::Str),
    (3, "command", Kind::RepStr),
    (4, "args", Kind::RepStr),
    (5, "workingDir", Kind::Str),
    (6, "ports", Kind::RepMsg(CONTAINER_PORT)),
    (7, "env", Kind::RepMsg(ENV_VAR)),
    (
        8,
        "resources",
        Kind::Msg(&[
            (1, "limits", Kind::MapQuantity),
            (2, "requests", Kind::MapQuantity),
        ]),
    ),
    (13, "terminationMessagePath", Kind::Str),
    (14, "imagePullPolicy", Kind::Str),
];

const POD_SPEC: &[Field] = &[
    (2, "containers", Kind::RepMsg(CONTAINER)),
    (3, "restartPolicy", Kind::Str),
    (6, "dnsPolicy", Kind::Str),
    (7, "nodeSelector", Kind::MapStr),
    (8, "serviceAccountName", Kind::Str),
];

const POD_TEMPLATE: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (2, "spec", Kind::Msg(POD_SPEC)),
];

const DEPLOYMENT: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (
        2,
        "spec",
        Kind::Msg(&[
            (1, "replicas", Kind::Int),
            (2, "selector", Kind::Msg(LABEL_SELECTOR)),
            (3, "template", Kind::Msg(POD_TEMPLATE)),
            (4, "strategy", Kind::Msg(&[(1, "type", Kind::Str)])),
        ]),
    ),
];

const SERVICE_PORT: &[Field] = &[
    (1, "name", Kind::Str),
    (2, "protocol", Kind::Str),
    (3, "port", Kind::IntNz),
    (4, "targetPort", Kind::IntOrString),
    (5, "nodePort", Kind::IntNz),
];

const SERVICE: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (
        2,
        "spec",
        Kind::Msg(&[
            (1, "ports", Kind::RepMsg(SERVICE_PORT)),
            (2, "selector", Kind::MapStr),
            (3, "clusterIP", Kind::Str),
            (4, "type", Kind::Str),
            (5, "externalIPs", Kind::RepStr),
            (11, "externalName", Kind::Str),
        ]),
    ),
];

const POLICY_RULE: &[Field] = &[
    (1, "verbs", Kind::RepStr),
    (2, "apiGroups", Kind::RepStr),
    (3, "resources", Kind::RepStr),
    (4, "resourceNames", Kind::RepStr),
    (5, "nonResourceURLs", Kind::RepStr),
];

const ROLE: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (2, "rules", Kind::RepMsg(POLICY_RULE)),
];

const SUBJECT: &[Field] = &[
    (1, "kind", Kind::Str),
    (2, "apiGroup", Kind::Str),
    (3, "name", Kind::Str),
    (4, "namespace", Kind::Str),
];

const ROLE_BINDING: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (2, "subjects", Kind::RepMsg(SUBJECT)),
    (
        3,
        "roleRef",
        Kind::Msg(&[
            (1, "apiGroup", Kind::Str),
            (2, "kind", Kind::Str),
            (3, "name", Kind::Str),
        ]),
    ),
];

const ACCESS_REVIEW: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (
        2,
        "spec",
        Kind::Msg(&[
            (
                1,
                "resourceAttributes",
                Kind::Msg(&[
                    (1, "namespace", Kind::Str),
                    (2, "verb", Kind::Str),
                    (3, "group", Kind::Str),
                    (4, "version", Kind::Str),
                    (5, "resource", Kind::Str),
                    (6, "subresource", Kind::Str),
                    (7, "name", Kind::Str),
                ]),
            ),
            (
                2,
                "nonResourceAttributes",
                Kind::Msg(&[(1, "path", Kind::Str), (2, "verb", Kind::Str)]),
            ),
        ]),
    ),
];

const MAGIC: &[u8] = b"k8s\0";

/// Decodes a protobuf request body into the JSON object it encodes.
pub fn decode(body: &[u8]) -> ApiResult<Value> {
    let unknown = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| bad("the body does not start with the k8s protobuf magic"))?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    for (num, val) in fields(unknown)? {
        match (num, val) {
            (1, Wire::Len(tm)) => {
                for (n, v) in fields(tm)? {
                    match (n, v) {
                        (1, Wire::Len(b)) => api_version = utf8(b)?,
                        (2, Wire::Len(b)) => kind = utf8(b)?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Len(b)) => raw = b,
            _ => {}
        }
    }
    let schema = match kind.as_str() {
        "Namespace" => NAMESPACE,
        "ConfigMap" => CONFIG_MAP,
        "Secret" => SECRET,
        "ServiceAccount" => SERVICE_ACCOUNT,
        "Deployment" => DEPLOYMENT,
        "Service" => SERVICE,
        "Pod" => POD_TEMPLATE,
        "SelfSubjectAccessReview" => ACCESS_REVIEW,
        "Role" | "ClusterRole" => ROLE,
        "RoleBinding" | "ClusterRoleBinding" => ROLE_BINDING,
        other => {
            return Err(ApiError::new(
                ErrorKind::UnsupportedMediaType,
                format!(
                    "protobuf bodies are supported only for Namespace, ConfigMap, Secret and ServiceAccount, not {other:?}; send application/json or application/yaml"
                ),
            ));
        }
    };
    let mut obj = message(raw, schema)?;
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    Ok(Value::Object(obj))
}

fn bad(why: &str) -> ApiError {
    ApiError::bad_request(format!("failed to decode the protobuf request body: {why}"))
}

fn utf8(b: &[u8]) -> ApiResult<String> {
    String::from_utf8(b.to_vec()).map_err(|_| bad("a string field is not UTF-8"))
}

/// A decoded wire value.
#[derive(Debug, Clone, Copy)]
enum Wire<'a> {
    Varint(u64),
    Len(&'a [u8]),
    Fixed,
}

fn varint(buf: &[u8], pos: &mut usize) -> ApiResult<u64> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or_else(|| bad("truncated varint"))?;
        *pos += 1;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(out);
        }
    }
    Err(bad("varint too long"))
}

fn fields(buf: &[u8]) -> ApiResult<Vec<(u32, Wire<'_>)>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let tag = varint(buf, &mut pos)?;
        let num = (tag >> 3) as u32;
        let wire = match tag & 7 {
            0 => Wire::Varint(varint(buf, &mut pos)?),
            2 => {
                let len = varint(buf, &mut pos)? as usize;
                let end = pos
                    .checked_add(len)
                    .filter(|e| *e <= buf.len())
                    .ok_or_else(|| bad("truncated field"))?;
                let slice = &buf[pos..end];
                pos = end;
                Wire::Len(slice)
            }
            1 => {
                pos += 8;
                Wire::Fixed
            }
            5 => {
                pos += 4;
                Wire::Fixed
            }
            other => return Err(bad(&format!("unsupported wire type {other}"))),
        };
        out.push((num, wire));
    }
    Ok(out)
}

fn message(buf: &[u8], schema: &[Field]) -> ApiResult<Map<String, Value>> {
    let mut obj = Map::new();
    for (num, wire) in fields(buf)? {
        let Some(&(_, name, kind)) = schema.iter().find(|(n, _, _)| *n == num) else {
            continue;
        };
        match (kind, wire) {
            (Kind::Str, Wire::Len(b)) => {
                // Go's proto2 encoding writes empty optional strings; JSON omits them.
                if !b.is_empty() {
                    obj.insert(name.into(), json!(utf8(b)?));
                }
            }
            (Kind::Bytes, Wire::Len(b)) => {
                obj.insert(
                    name.into(),
                    json!(base64::engine::general_purpose::STANDARD.encode(b)),
                );
            }
            (Kind::Int, Wire::Varint(v)) => {
                obj.insert(name.into(), json!(v as i64));
            }
            (Kind::IntNz, Wire::Varint(v)) => {
                if v != 0 {
                    obj.insert(name.into(), json!(v as i64));
                }
            }
            (Kind::Bool, Wire::Varint(v)) => {
                obj.insert(name.into(), json!(v != 0));
            }
            (Kind::Time, Wire::Len(b)) => {
                let secs = fields(b)?.iter().find_map(|(n, w)| match (n, w) {
                    (1, Wire::Varint(s)) => Some(*s as i64),
                    _ => None,
                });
                // The zero time is Go's "unset".
                if let Some(secs) = secs.filter(|s| *s != 0) {
                    obj.insert(name.into(), json!(crate::meta::format_rfc3339(secs)));
                }
            }
            (Kind::Msg(inner), Wire::Len(b)) => {
                obj.insert(name.into(), Value::Object(message(b, inner)?));
            }
            (Kind::MapStr | Kind::MapBytes, Wire::Len(b)) => {
                let value_kind = if matches!(kind, Kind::MapStr) {
                    Kind::Str
                } else {
                    Kind::Bytes
                };
                let entry = message(b, &[(1, "k", Kind::Str), (2, "v", value_kind)])?;
                let key = entry
                    .get("k")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let value = entry.get("v").cloned().unwrap_or(json!(""));
                let map = obj.entry(name).or_insert_with(|| json!({}));
                if let Some(m) = map.as_object_mut() {
                    m.insert(key, value);
                }
            }
            (Kind::MapQuantity, Wire::Len(b)) => {
                let entry = message(
                    b,
                    &[
                        (1, "k", Kind::Str),
                        (2, "v", Kind::Msg(&[(1, "q", Kind::Str)])),
                    ],
                )?;
                let key = entry
                    .get("k")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let value = entry
                    .get("v")
                    .and_then(|v| v.get("q"))
                    .cloned()
                    .unwrap_or(json!("0"));
                let map = obj.entry(name).or_insert_with(|| json!({}));
                if let Some(m) = map.as_object_mut() {
                    m.insert(key, value);
                }
            }
            (Kind::IntOrString, Wire::Len(b)) => {
                let ios = message(
                    b,
                    &[
                        (1, "type", Kind::Int),
                        (2, "int", Kind::Int),
                        (3, "str", Kind::Str),
                    ],
                )?;
                let value = match ios.get("type").and_then(Value::as_i64) {
                    Some(1) => ios.get("str").cloned().unwrap_or(json!("")),
                    _ => ios.get("int").cloned().unwrap_or(json!(0)),
                };
                obj.insert(name.into(), value);
            }
            (Kind::RepStr, Wire::Len(b)) => push(&mut obj, name, json!(utf8(b)?)),
            (Kind::RepMsg(inner), Wire::Len(b)) => {
                push(&mut obj, name, Value::Object(message(b, inner)?))
            }
            _ => return Err(bad(&format!("field {name} has an unexpected wire type"))),
        }
    }
    Ok(obj)
}

fn push(obj: &mut Map<String, Value>, name: &str, v: Value) {
    let list = obj.entry(name).or_insert_with(|| json!([]));
    if let Some(a) = list.as_array_mut() {
        a.push(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn len_field(num: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![((num << 3) | 2) as u8, payload.len() as u8];
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn configmap_envelope_should_decode_to_json() {
        let type_meta = [len_field(1, b"v1"), len_field(2, b"ConfigMap")].concat();
        let labels = [len_field(1, b"app"), len_field(2, b"web")].concat();
        let meta = [len_field(1, b"cm"), len_field(11, &labels)].concat();
        let data = [len_field(1, b"k"), len_field(2, b"v")].concat();
        let raw = [len_field(1, &meta), len_field(2, &data)].concat();
        let body = [MAGIC.to_vec(), len_field(1, &type_meta), len_field(2, &raw)].concat();
        let obj = decode(&body).unwrap();
        assert_eq!(
            obj,
            json!({"metadata": {"name": "cm", "labels": {"app": "web"}}, "data": {"k": "v"}, "apiVersion": "v1", "kind": "ConfigMap"})
        );
    }

    #[test]
    fn unsupported_kinds_should_be_refused_with_415() {
        let type_meta = [len_field(1, b"batch/v1"), len_field(2, b"Job")].concat();
        let body = [MAGIC.to_vec(), len_field(1, &type_meta)].concat();
        assert_eq!(decode(&body).unwrap_err().kind.code(), 415);
        assert!(decode(b"nope").is_err());
    }
}
