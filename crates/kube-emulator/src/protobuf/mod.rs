//! Protobuf request bodies (`application/vnd.kubernetes.protobuf`), which client-go and
//! kubectl send for built-in kinds and `DeleteOptions`.
//!
//! A body is the magic `k8s\0` followed by a `runtime.Unknown` envelope: type meta
//! (apiVersion, kind) and the raw message. The message is decoded generically, field by
//! field, from a table of every built-in kind the emulator serves ([`schema`], generated from
//! the k8s-pb crate's field numbers and k8s-openapi's JSON names), into the JSON the same
//! object has: `Time` → RFC 3339, `MicroTime` → RFC 3339 with microseconds, `Quantity` →
//! its string, `IntOrString` → a number or a string, `bytes` → base64, `RawExtension`,
//! `FieldsV1` and the CRD schema's `JSON` → the JSON they carry, the `JSONSchemaPropsOr*`
//! unions → their one set member, embedded Go structs (`ProbeHandler` in `Probe`) → merged
//! into their parent. Unknown field numbers are skipped, as protobuf readers do.
//!
//! Go writes every non-pointer field, zero or not, so the wire cannot tell an unset `0` or
//! `false` from a set one: numbers and booleans are kept as sent (a `replicas: 0` must
//! survive), while empty strings, empty bytes and zero times, which Go's JSON omits, are
//! dropped. (The store sets `metadata.generation` itself, so a zero sent there is harmless.)

mod schema;
mod wire;

use crate::status::{ApiError, ApiResult, ErrorKind};
use base64::Engine;
use schema::{Field, Label, Schema, Type};
use serde_json::{Map, Value, json};
use wire::Wire;

const MAGIC: &[u8] = b"k8s\0";

/// Nesting deeper than this is refused (CRD schemas nest, but not this deep), so a hostile
/// body cannot exhaust the stack.
const MAX_DEPTH: usize = 100;

/// Why a protobuf body does not decode.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    /// The input ended inside a value.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// A varint longer than ten bytes.
    #[error("varint too long")]
    VarintTooLong,
    /// A field key whose number does not fit.
    #[error("invalid field key {0}")]
    BadTag(u64),
    /// Wire types 3 and 4 (groups) or 6 and 7.
    #[error("unsupported wire type {0}")]
    WireType(u64),
    /// A known field arrived with a wire type its type cannot have.
    #[error("field {message}.{field} has an unexpected wire type")]
    Mismatch {
        /// The message type.
        message: String,
        /// The field's JSON name.
        field: String,
    },
    /// A string field is not UTF-8.
    #[error("field {0} is not UTF-8")]
    NotUtf8(String),
    /// A `RawExtension`, `FieldsV1` or `JSON` field does not hold JSON.
    #[error("field {field} does not hold JSON")]
    NotJson {
        /// The message type holding it.
        field: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// Messages nested deeper than [`MAX_DEPTH`].
    #[error("messages are nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// The body does not start with `k8s\0`.
    #[error("the body does not start with the k8s protobuf magic")]
    NoMagic,
    /// A value's wire type does not fit its field's type; [`Decoder::message`] turns it into
    /// [`ProtoError::Mismatch`], which names the field.
    #[error("a value has an unexpected wire type")]
    WrongWire,
}

/// Result of the wire-level decoding.
pub type ProtoResult<T> = Result<T, ProtoError>;

/// Decodes a protobuf request body into the JSON object it encodes, `apiVersion` and `kind`
/// included.
///
/// # Errors
/// 400 BadRequest when the body is not a well-formed envelope and message; 415
/// UnsupportedMediaType for a kind the emulator does not serve as a built-in (custom
/// resources have no protobuf form).
pub fn decode(body: &[u8]) -> ApiResult<Value> {
    let bad = |e: ProtoError| {
        // The cause (a JSON decoder's message) is the error's source, not part of its text.
        let cause = std::error::Error::source(&e)
            .map(|c| format!(": {c}"))
            .unwrap_or_default();
        ApiError::bad_request(format!(
            "failed to decode the protobuf request body: {e}{cause}"
        ))
    };
    let schema = schema::get().map_err(|e| {
        ApiError::new(
            ErrorKind::InternalError,
            format!("kube-emulator protobuf table: {e}"),
        )
    })?;
    let (api_version, kind, raw) = envelope(body).map_err(bad)?;
    let Some(message) = schema.kind(&api_version, &kind) else {
        return Err(ApiError::new(
            ErrorKind::UnsupportedMediaType,
            format!(
                "protobuf bodies are decoded only for the built-in kinds the emulator serves and DeleteOptions, not {api_version} {kind:?}; send application/json or application/yaml"
            ),
        ));
    };
    let mut obj = Decoder { schema }.message(message, raw, 0).map_err(bad)?;
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    Ok(Value::Object(obj))
}

/// The apiVersion, kind and raw message of a `k8s\0` + `runtime.Unknown` body.
fn envelope(body: &[u8]) -> ProtoResult<(String, String, &[u8])> {
    let unknown = body.strip_prefix(MAGIC).ok_or(ProtoError::NoMagic)?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for (num, val) in wire::fields(unknown)? {
        match (num, val) {
            (1, Wire::Len(type_meta)) => {
                for (n, v) in wire::fields(type_meta)? {
                    match (n, v) {
                        (1, Wire::Len(b)) => api_version = utf8(b, "TypeMeta.apiVersion")?,
                        (2, Wire::Len(b)) => kind = utf8(b, "TypeMeta.kind")?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Len(b)) => raw = b,
            _ => {}
        }
    }
    Ok((api_version, kind, raw))
}

fn utf8(b: &[u8], field: &str) -> ProtoResult<String> {
    String::from_utf8(b.to_vec()).map_err(|_| ProtoError::NotUtf8(field.to_string()))
}

fn base64(b: &[u8]) -> Value {
    json!(base64::engine::general_purpose::STANDARD.encode(b))
}

/// Types converted by their wire fields rather than field by field.
const TIME: &str = "apimachinery.pkg.apis.meta.v1.Time";
const MICRO_TIME: &str = "apimachinery.pkg.apis.meta.v1.MicroTime";
const FIELDS_V1: &str = "apimachinery.pkg.apis.meta.v1.FieldsV1";
const RAW_EXTENSION: &str = "apimachinery.pkg.runtime.RawExtension";
const QUANTITY: &str = "apimachinery.pkg.api.resource.Quantity";
const INT_OR_STRING: &str = "apimachinery.pkg.util.intstr.IntOrString";
const CRD_V1: &str = "apiextensions_apiserver.pkg.apis.apiextensions.v1.";

struct Decoder {
    schema: &'static Schema,
}

impl Decoder {
    /// A message as a JSON object (its inline members merged in).
    fn message(&self, index: usize, buf: &[u8], depth: usize) -> ProtoResult<Map<String, Value>> {
        if depth > MAX_DEPTH {
            return Err(ProtoError::TooDeep);
        }
        let msg = &self.schema.messages[index];
        let mut obj = Map::new();
        for (num, wire) in wire::fields(buf)? {
            let Some(field) = msg.field(num) else {
                continue;
            };
            let mismatch = || ProtoError::Mismatch {
                message: msg.name.clone(),
                field: field.json.clone(),
            };
            match field.label {
                Label::One => {
                    if let Some(v) = self
                        .single(field, wire, depth)
                        .map_err(|e| or(e, mismatch))?
                    {
                        obj.insert(field.json.clone(), v);
                    }
                }
                Label::Many => {
                    let items = self
                        .repeated(field, wire, depth)
                        .map_err(|e| or(e, mismatch))?;
                    let list = obj.entry(field.json.clone()).or_insert_with(|| json!([]));
                    if let Some(a) = list.as_array_mut() {
                        a.extend(items);
                    }
                }
                Label::Map => {
                    let Wire::Len(entry) = wire else {
                        return Err(mismatch());
                    };
                    let (k, v) = self
                        .map_entry(field, entry, depth)
                        .map_err(|e| or(e, mismatch))?;
                    let map = obj.entry(field.json.clone()).or_insert_with(|| json!({}));
                    if let Some(m) = map.as_object_mut() {
                        m.insert(k, v);
                    }
                }
                Label::Inline => {
                    let (Wire::Len(b), Type::Message(inner)) = (wire, field.ty) else {
                        return Err(mismatch());
                    };
                    obj.extend(self.message(inner, b, depth + 1)?);
                }
            }
        }
        Ok(obj)
    }

    /// A singular field's JSON value; `None` for Go's "unset" (empty string, zero time).
    fn single(&self, field: &Field, wire: Wire<'_>, depth: usize) -> ProtoResult<Option<Value>> {
        Ok(match (field.ty, wire) {
            (Type::String, Wire::Len(b)) => (!b.is_empty())
                .then(|| utf8(b, &field.json))
                .transpose()?
                .map(Value::String),
            (Type::Bytes, Wire::Len(b)) => (!b.is_empty()).then(|| base64(b)),
            (Type::Message(m), Wire::Len(b)) => self.value(m, b, depth + 1)?,
            _ => Some(scalar(field.ty, wire).ok_or(ProtoError::WrongWire)?),
        })
    }

    /// The items one occurrence of a repeated field adds (several when packed).
    fn repeated(&self, field: &Field, wire: Wire<'_>, depth: usize) -> ProtoResult<Vec<Value>> {
        Ok(match (field.ty, wire) {
            (Type::String, Wire::Len(b)) => vec![Value::String(utf8(b, &field.json)?)],
            (Type::Bytes, Wire::Len(b)) => vec![base64(b)],
            (Type::Message(m), Wire::Len(b)) => {
                vec![self.value(m, b, depth + 1)?.unwrap_or(Value::Null)]
            }
            (Type::Int32 | Type::Int64 | Type::Bool, Wire::Len(b)) => wire::packed(b)?
                .into_iter()
                .filter_map(|v| scalar(field.ty, Wire::Varint(v)))
                .collect(),
            _ => vec![scalar(field.ty, wire).ok_or(ProtoError::WrongWire)?],
        })
    }

    /// A `map<string, T>` entry: key 1, value 2 (a missing value is the type's zero).
    fn map_entry(&self, field: &Field, entry: &[u8], depth: usize) -> ProtoResult<(String, Value)> {
        let (mut key, mut value) = (String::new(), None);
        for (n, w) in wire::fields(entry)? {
            match (n, w) {
                (1, Wire::Len(b)) => key = utf8(b, &field.json)?,
                (2, w) => {
                    value = match (field.ty, w) {
                        (Type::String, Wire::Len(b)) => Some(Value::String(utf8(b, &field.json)?)),
                        (Type::Bytes, Wire::Len(b)) => Some(base64(b)),
                        (Type::Message(m), Wire::Len(b)) => self.value(m, b, depth + 1)?,
                        (ty, w) => scalar(ty, w),
                    }
                }
                _ => {}
            }
        }
        let zero = match field.ty {
            Type::String | Type::Bytes => json!(""),
            Type::Message(m) if self.schema.messages[m].name == QUANTITY => json!("0"),
            Type::Message(_) => json!({}),
            Type::Int32 | Type::Int64 | Type::Double => json!(0),
            Type::Bool => json!(false),
        };
        Ok((key, value.unwrap_or(zero)))
    }

    /// A message value: the special types' JSON forms, else the object.
    fn value(&self, index: usize, buf: &[u8], depth: usize) -> ProtoResult<Option<Value>> {
        let name = self.schema.messages[index].name.as_str();
        let tags = || wire::fields(buf);
        Ok(match name {
            TIME | MICRO_TIME => {
                let (mut secs, mut nanos) = (0i64, 0i64);
                for (n, w) in tags()? {
                    match (n, w) {
                        (1, Wire::Varint(v)) => secs = v as i64,
                        (2, Wire::Varint(v)) => nanos = i64::from(v as i64 as i32),
                        _ => {}
                    }
                }
                // The zero time is Go's "unset".
                (secs != 0 || nanos != 0)
                    .then(|| json!(format_time(secs, nanos, name == MICRO_TIME)))
            }
            QUANTITY => Some(json!(first_string(buf, 1)?.unwrap_or_default())),
            INT_OR_STRING => {
                let (mut kind, mut int, mut string) = (0u64, 0i64, String::new());
                for (n, w) in tags()? {
                    match (n, w) {
                        (1, Wire::Varint(v)) => kind = v,
                        (2, Wire::Varint(v)) => int = i64::from(v as i64 as i32),
                        (3, Wire::Len(b)) => string = utf8(b, "IntOrString.strVal")?,
                        _ => {}
                    }
                }
                Some(if kind == 1 { json!(string) } else { json!(int) })
            }
            FIELDS_V1 | RAW_EXTENSION => raw_json(buf, name)?,
            _ => match name.strip_prefix(CRD_V1) {
                Some("Json") => raw_json(buf, name)?,
                Some(
                    union @ ("JsonSchemaPropsOrArray"
                    | "JsonSchemaPropsOrBool"
                    | "JsonSchemaPropsOrStringArray"),
                ) => self.schema_union(index, union, buf, depth)?,
                _ => Some(Value::Object(self.message(index, buf, depth)?)),
            },
        })
    }

    /// `JSONSchemaPropsOrArray` (schema 1 | schemas 2), `OrBool` (allows 1 | schema 2) and
    /// `OrStringArray` (schema 1 | property 2): the member that is set.
    fn schema_union(
        &self,
        index: usize,
        union: &str,
        buf: &[u8],
        depth: usize,
    ) -> ProtoResult<Option<Value>> {
        let obj = self.message(index, buf, depth)?;
        let by_tag = |tag: u32| {
            self.schema.messages[index]
                .field(tag)
                .and_then(|f| obj.get(&f.json))
                .cloned()
        };
        let (one, many) = match union {
            "JsonSchemaPropsOrBool" => (by_tag(2), by_tag(1)),
            _ => (by_tag(1), by_tag(2)),
        };
        let many = many.filter(|v| v.as_array().is_none_or(|a| !a.is_empty()));
        Ok(match union {
            "JsonSchemaPropsOrBool" => one.or(many).or(Some(json!(false))),
            _ => many.or(one),
        })
    }
}

/// A varint, fixed64 or fixed32 value of a scalar type; `None` on a wire-type mismatch.
fn scalar(ty: Type, wire: Wire<'_>) -> Option<Value> {
    match (ty, wire) {
        (Type::Int32, Wire::Varint(v)) => Some(json!(v as i64 as i32)),
        (Type::Int64, Wire::Varint(v)) => Some(json!(v as i64)),
        (Type::Bool, Wire::Varint(v)) => Some(json!(v != 0)),
        (Type::Double, Wire::Fixed64(v)) => Some(json!(f64::from_bits(v))),
        _ => None,
    }
}

/// Keeps the specific error of a nested decode; names the field of a wire-type mismatch.
fn or(e: ProtoError, mismatch: impl Fn() -> ProtoError) -> ProtoError {
    match e {
        ProtoError::WrongWire => mismatch(),
        other => other,
    }
}

/// The first string at field `tag` of a message.
fn first_string(buf: &[u8], tag: u32) -> ProtoResult<Option<String>> {
    for (n, w) in wire::fields(buf)? {
        if let (true, Wire::Len(b)) = (n == tag, w) {
            return utf8(b, "Quantity.string").map(Some);
        }
    }
    Ok(None)
}

/// The JSON held in field 1 (`raw`) of a `RawExtension`, `FieldsV1` or CRD `JSON`.
fn raw_json(buf: &[u8], name: &str) -> ProtoResult<Option<Value>> {
    for (n, w) in wire::fields(buf)? {
        if let (1, Wire::Len(b)) = (n, w) {
            if b.is_empty() {
                return Ok(None);
            }
            return serde_json::from_slice(b)
                .map(Some)
                .map_err(|source| ProtoError::NotJson {
                    field: name.to_string(),
                    source,
                });
        }
    }
    Ok(None)
}

/// RFC 3339 in UTC, with microseconds for a `MicroTime`.
fn format_time(secs: i64, nanos: i64, micro: bool) -> String {
    let whole = crate::meta::format_rfc3339(secs);
    if !micro {
        return whole;
    }
    let base = whole.trim_end_matches('Z');
    format!("{base}.{:06}Z", nanos / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn len_field(num: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![((num << 3) | 2) as u8, payload.len() as u8];
        out.extend_from_slice(payload);
        out
    }

    fn varint_field(num: u32, v: u8) -> Vec<u8> {
        vec![(num << 3) as u8, v]
    }

    fn envelope_of(api_version: &[u8], kind: &[u8], raw: &[u8]) -> Vec<u8> {
        let type_meta = [len_field(1, api_version), len_field(2, kind)].concat();
        [MAGIC.to_vec(), len_field(1, &type_meta), len_field(2, raw)].concat()
    }

    #[test]
    fn configmap_envelope_should_decode_to_json() {
        let labels = [len_field(1, b"app"), len_field(2, b"web")].concat();
        let meta = [
            len_field(1, b"cm"),
            len_field(3, b""),
            len_field(11, &labels),
        ]
        .concat();
        let data = [len_field(1, b"k"), len_field(2, b"v")].concat();
        let raw = [len_field(1, &meta), len_field(2, &data), varint_field(4, 0)].concat();
        let obj = decode(&envelope_of(b"v1", b"ConfigMap", &raw)).unwrap();
        assert_eq!(
            obj,
            json!({"metadata": {"name": "cm", "labels": {"app": "web"}}, "data": {"k": "v"},
                   "immutable": false, "apiVersion": "v1", "kind": "ConfigMap"})
        );
    }

    #[test]
    fn int_or_string_and_times_should_take_their_json_forms() {
        // A Service port: targetPort as a string, then as a number.
        let named = [varint_field(1, 1), len_field(3, b"http")].concat();
        let port = [varint_field(3, 80), len_field(4, &named)].concat();
        let numbered = [varint_field(1, 0), varint_field(2, 90)].concat();
        let port2 = [varint_field(3, 81), len_field(4, &numbered)].concat();
        let spec = [len_field(1, &port), len_field(1, &port2)].concat();
        let time = [varint_field(1, 1)].concat();
        let meta = [len_field(1, b"svc"), len_field(8, &time)].concat();
        let raw = [len_field(1, &meta), len_field(2, &spec)].concat();
        let obj = decode(&envelope_of(b"v1", b"Service", &raw)).unwrap();
        assert_eq!(obj["spec"]["ports"][0]["targetPort"], json!("http"));
        assert_eq!(obj["spec"]["ports"][1]["targetPort"], json!(90));
        assert_eq!(
            obj["metadata"]["creationTimestamp"],
            json!("1970-01-01T00:00:01Z")
        );
        assert_eq!(
            format_time(0, 1_500_000, true),
            "1970-01-01T00:00:00.001500Z"
        );
    }

    #[test]
    fn unknown_kinds_and_malformed_bodies_should_be_refused() {
        let custom = envelope_of(b"example.com/v1", b"Widget", b"");
        assert_eq!(decode(&custom).unwrap_err().kind.code(), 415);
        assert_eq!(decode(b"nope").unwrap_err().kind.code(), 400);
        let truncated = envelope_of(b"v1", b"ConfigMap", &[0x0a, 0x05, b'a']);
        assert_eq!(decode(&truncated).unwrap_err().kind.code(), 400);
        let mismatch = envelope_of(b"v1", b"ConfigMap", &varint_field(1, 3));
        let err = decode(&mismatch).unwrap_err();
        assert!(
            err.message.contains("ConfigMap.metadata"),
            "{}",
            err.message
        );
    }

    #[test]
    fn delete_options_should_decode_under_any_api_version() {
        let pre = [len_field(1, b"uid-1")].concat();
        let raw = [
            len_field(2, &pre),
            len_field(4, b"Orphan"),
            len_field(5, b"All"),
        ]
        .concat();
        let obj = decode(&envelope_of(b"apps/v1", b"DeleteOptions", &raw)).unwrap();
        assert_eq!(obj["preconditions"]["uid"], "uid-1");
        assert_eq!(obj["propagationPolicy"], "Orphan");
        assert_eq!(obj["dryRun"], json!(["All"]));
    }
}
