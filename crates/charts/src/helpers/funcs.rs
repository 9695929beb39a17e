//! The helper functions: pure functions of their arguments (no environment, files or network).
//! Errors name the argument and its JSON type, never its value.

use base64::Engine as _;
use serde_json::{Map, Value};
use sha2::Digest as _;

use super::error::{ArgumentProblem as P, HelperError};

/// What a helper returns.
type Out = Result<Value, HelperError>;

/// Name of a JSON value's type, for errors.
pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// Sprig's emptiness: null, false, 0, "", [] and {} are empty.
pub(super) fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// Argument `i` as text; lists and maps need `toYaml`/`toJson` first.
pub(super) fn text(a: &[&Value], i: usize) -> Result<String, HelperError> {
    scalar_text(a[i]).ok_or(HelperError::arg(
        i,
        P::NotText {
            found: type_name(a[i]),
        },
    ))
}

/// A scalar as text (`null` is empty); `None` for lists and maps.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => Some(String::new()),
        Value::Bool(_) | Value::Number(_) => Some(v.to_string()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// Argument `i` as an integer (a number or a string holding one).
pub(super) fn int(a: &[&Value], i: usize) -> Result<i64, HelperError> {
    let v = a[i];
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .ok_or(HelperError::arg(
            i,
            P::NotInteger {
                found: type_name(v),
            },
        ))
}

pub(super) fn to_yaml(a: &[&Value]) -> Out {
    let s = yaml_json::to_string(a[0]).map_err(|_| HelperError::Serialize { format: "YAML" })?;
    Ok(Value::String(s.trim_end_matches('\n').to_owned()))
}

pub(super) fn to_json(a: &[&Value]) -> Out {
    serde_json::to_string(a[0])
        .map(Value::String)
        .map_err(|_| HelperError::Serialize { format: "JSON" })
}

/// `indent`'s text: argument 1 with every line prefixed by argument 0 spaces.
pub(super) fn indent_text(a: &[&Value]) -> Result<String, HelperError> {
    let n = usize::try_from(int(a, 0)?).map_err(|_| HelperError::arg(0, P::Negative))?;
    let pad = " ".repeat(n);
    Ok(format!(
        "{pad}{}",
        text(a, 1)?.replace('\n', &format!("\n{pad}"))
    ))
}

pub(super) fn indent(a: &[&Value]) -> Out {
    indent_text(a).map(Value::String)
}

pub(super) fn nindent(a: &[&Value]) -> Out {
    indent_text(a).map(|s| Value::String(format!("\n{s}")))
}

pub(super) fn default(a: &[&Value]) -> Out {
    Ok(if is_empty(a[1]) { a[0] } else { a[1] }.clone())
}

/// Every argument as text, quoted by `q`, space-separated.
pub(super) fn quote_each(a: &[&Value], q: fn(&str) -> String) -> Out {
    let parts = (0..a.len())
        .map(|i| text(a, i).map(|t| q(&t)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Value::String(parts.join(" ")))
}

pub(super) fn quote(a: &[&Value]) -> Out {
    quote_each(a, |t| Value::String(t.to_owned()).to_string())
}

pub(super) fn squote(a: &[&Value]) -> Out {
    quote_each(a, |t| format!("'{}'", t.replace('\'', "''")))
}

pub(super) fn required(a: &[&Value]) -> Out {
    match a[1] {
        Value::Null => Err(HelperError::Required {
            message: text(a, 0)?,
        }),
        Value::String(s) if s.is_empty() => Err(HelperError::Required {
            message: text(a, 0)?,
        }),
        v => Ok(v.clone()),
    }
}

pub(super) fn b64enc(a: &[&Value]) -> Out {
    let s = text(a, 0)?;
    Ok(Value::String(
        base64::engine::general_purpose::STANDARD.encode(s),
    ))
}

pub(super) fn b64dec(a: &[&Value]) -> Out {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text(a, 0)?.trim())
        .map_err(|_| HelperError::arg(0, P::NotBase64))?;
    String::from_utf8(bytes)
        .map(Value::String)
        .map_err(|_| HelperError::arg(0, P::NotUtf8))
}

pub(super) fn sha256sum(a: &[&Value]) -> Out {
    Ok(Value::String(hex::encode(sha2::Sha256::digest(
        text(a, 0)?.as_bytes(),
    ))))
}

pub(super) fn lower(a: &[&Value]) -> Out {
    Ok(Value::String(text(a, 0)?.to_lowercase()))
}

pub(super) fn upper(a: &[&Value]) -> Out {
    Ok(Value::String(text(a, 0)?.to_uppercase()))
}

pub(super) fn trim(a: &[&Value]) -> Out {
    Ok(Value::String(text(a, 0)?.trim().to_owned()))
}

pub(super) fn trunc(a: &[&Value]) -> Out {
    let n = int(a, 0)?;
    let chars: Vec<char> = text(a, 1)?.chars().collect();
    let len = i64::try_from(chars.len()).unwrap_or(i64::MAX);
    let range = if n >= 0 {
        0..usize::try_from(n.min(len)).unwrap_or(0)
    } else {
        usize::try_from(len.saturating_add(n).max(0)).unwrap_or(0)..chars.len()
    };
    Ok(Value::String(chars[range].iter().collect()))
}

pub(super) fn replace(a: &[&Value]) -> Out {
    Ok(Value::String(
        text(a, 2)?.replace(&text(a, 0)?, &text(a, 1)?),
    ))
}

pub(super) fn contains(a: &[&Value]) -> Out {
    Ok(Value::Bool(text(a, 1)?.contains(&text(a, 0)?)))
}

pub(super) fn has_key(a: &[&Value]) -> Out {
    match a[0] {
        Value::Null => Ok(Value::Bool(false)),
        Value::Object(m) => Ok(Value::Bool(m.contains_key(&text(a, 1)?))),
        other => Err(HelperError::arg(
            0,
            P::NotAMap {
                found: type_name(other),
            },
        )),
    }
}

pub(super) fn list(a: &[&Value]) -> Out {
    Ok(Value::Array(a.iter().map(|v| (*v).clone()).collect()))
}

pub(super) fn dict(a: &[&Value]) -> Out {
    if !a.len().is_multiple_of(2) {
        return Err(HelperError::OddPairs { got: a.len() });
    }
    let mut m = Map::new();
    for (i, pair) in a.chunks(2).enumerate() {
        let Value::String(k) = pair[0] else {
            let found = type_name(pair[0]);
            return Err(HelperError::arg(2 * i, P::KeyNotText { found }));
        };
        m.insert(k.clone(), pair[1].clone());
    }
    Ok(Value::Object(m))
}

pub(super) fn join(a: &[&Value]) -> Out {
    let Value::Array(items) = a[1] else {
        let found = type_name(a[1]);
        return Err(HelperError::arg(1, P::NotAList { found }));
    };
    let parts = items
        .iter()
        .map(|item| {
            scalar_text(item).ok_or(HelperError::arg(
                1,
                P::NotText {
                    found: type_name(item),
                },
            ))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Value::String(parts.join(&text(a, 0)?)))
}

pub(super) fn len(a: &[&Value]) -> Out {
    match a[0] {
        Value::Array(v) => Ok(v.len().into()),
        Value::Object(m) => Ok(m.len().into()),
        Value::String(s) => Ok(s.chars().count().into()),
        other => Err(HelperError::arg(
            0,
            P::NoLength {
                found: type_name(other),
            },
        )),
    }
}

pub(super) fn equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if a.is_number() && b.is_number() => x == y,
        _ => a == b,
    }
}

pub(super) fn eq(a: &[&Value]) -> Out {
    Ok(Value::Bool(a[1..].iter().any(|b| equal(a[0], b))))
}

pub(super) fn ne(a: &[&Value]) -> Out {
    Ok(Value::Bool(!equal(a[0], a[1])))
}

pub(super) fn order(a: &[&Value]) -> Result<std::cmp::Ordering, HelperError> {
    let not_comparable = || HelperError::NotComparable {
        left: type_name(a[0]),
        right: type_name(a[1]),
    };
    match (a[0], a[1]) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .zip(y.as_f64())
            .and_then(|(x, y)| x.partial_cmp(&y))
            .ok_or_else(not_comparable),
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        _ => Err(not_comparable()),
    }
}

pub(super) fn lt(a: &[&Value]) -> Out {
    Ok(Value::Bool(order(a)?.is_lt()))
}

pub(super) fn le(a: &[&Value]) -> Out {
    Ok(Value::Bool(order(a)?.is_le()))
}

pub(super) fn gt(a: &[&Value]) -> Out {
    Ok(Value::Bool(order(a)?.is_gt()))
}

pub(super) fn ge(a: &[&Value]) -> Out {
    Ok(Value::Bool(order(a)?.is_ge()))
}

pub(super) fn and(a: &[&Value]) -> Out {
    let v = a.iter().find(|v| is_empty(v)).unwrap_or(&a[a.len() - 1]);
    Ok((*v).clone())
}

pub(super) fn or(a: &[&Value]) -> Out {
    let v = a.iter().find(|v| !is_empty(v)).unwrap_or(&a[a.len() - 1]);
    Ok((*v).clone())
}

pub(super) fn not(a: &[&Value]) -> Out {
    Ok(Value::Bool(is_empty(a[0])))
}
