//! The helper functions: pure functions of their arguments (no environment, files or network).

use base64::Engine as _;
use serde_json::{Map, Value};
use sha2::Digest as _;

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

/// A scalar as text; maps and arrays need `toYaml`/`toJson` first.
pub(super) fn text(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Null => Ok(String::new()),
        Value::Bool(_) | Value::Number(_) => Ok(v.to_string()),
        Value::Array(_) | Value::Object(_) => {
            Err("expected a string, got a list or map (convert it with toYaml or toJson)".into())
        }
    }
}

pub(super) fn int(v: &Value) -> Result<i64, String> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .ok_or_else(|| format!("expected an integer, got {v}"))
}

pub(super) fn to_yaml(a: &[&Value]) -> Result<Value, String> {
    let s = serde_yaml::to_string(a[0]).map_err(|e| e.to_string())?;
    Ok(Value::String(s.trim_end_matches('\n').to_owned()))
}

pub(super) fn to_json(a: &[&Value]) -> Result<Value, String> {
    serde_json::to_string(a[0])
        .map(Value::String)
        .map_err(|e| e.to_string())
}

pub(super) fn indent_text(n: &Value, s: &Value) -> Result<String, String> {
    let n = usize::try_from(int(n)?).map_err(|_| "the indent must not be negative".to_owned())?;
    let pad = " ".repeat(n);
    Ok(format!(
        "{pad}{}",
        text(s)?.replace('\n', &format!("\n{pad}"))
    ))
}

pub(super) fn indent(a: &[&Value]) -> Result<Value, String> {
    indent_text(a[0], a[1]).map(Value::String)
}

pub(super) fn nindent(a: &[&Value]) -> Result<Value, String> {
    indent_text(a[0], a[1]).map(|s| Value::String(format!("\n{s}")))
}

pub(super) fn default(a: &[&Value]) -> Result<Value, String> {
    Ok(if is_empty(a[1]) { a[0] } else { a[1] }.clone())
}

pub(super) fn quote_each(a: &[&Value], q: fn(&str) -> String) -> Result<Value, String> {
    let parts = a
        .iter()
        .map(|v| text(v).map(|t| q(&t)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Value::String(parts.join(" ")))
}

pub(super) fn quote(a: &[&Value]) -> Result<Value, String> {
    quote_each(a, |t| Value::String(t.to_owned()).to_string())
}

pub(super) fn squote(a: &[&Value]) -> Result<Value, String> {
    quote_each(a, |t| format!("'{}'", t.replace('\'', "''")))
}

pub(super) fn required(a: &[&Value]) -> Result<Value, String> {
    match a[1] {
        Value::Null => Err(text(a[0])?),
        Value::String(s) if s.is_empty() => Err(text(a[0])?),
        v => Ok(v.clone()),
    }
}

pub(super) fn b64enc(a: &[&Value]) -> Result<Value, String> {
    let s = text(a[0])?;
    Ok(Value::String(
        base64::engine::general_purpose::STANDARD.encode(s),
    ))
}

pub(super) fn b64dec(a: &[&Value]) -> Result<Value, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text(a[0])?.trim())
        .map_err(|e| format!("invalid base64: {e}"))?;
    String::from_utf8(bytes)
        .map(Value::String)
        .map_err(|_| "decoded bytes are not UTF-8 text".into())
}

pub(super) fn sha256sum(a: &[&Value]) -> Result<Value, String> {
    Ok(Value::String(hex::encode(sha2::Sha256::digest(
        text(a[0])?.as_bytes(),
    ))))
}

pub(super) fn lower(a: &[&Value]) -> Result<Value, String> {
    Ok(Value::String(text(a[0])?.to_lowercase()))
}

pub(super) fn upper(a: &[&Value]) -> Result<Value, String> {
    Ok(Value::String(text(a[0])?.to_uppercase()))
}

pub(super) fn trim(a: &[&Value]) -> Result<Value, String> {
    Ok(Value::String(text(a[0])?.trim().to_owned()))
}

pub(super) fn trunc(a: &[&Value]) -> Result<Value, String> {
    let n = int(a[0])?;
    let chars: Vec<char> = text(a[1])?.chars().collect();
    let len = i64::try_from(chars.len()).map_err(|e| e.to_string())?;
    let range = if n >= 0 {
        0..usize::try_from(n.min(len)).unwrap_or(0)
    } else {
        usize::try_from((len + n).max(0)).unwrap_or(0)..chars.len()
    };
    Ok(Value::String(chars[range].iter().collect()))
}

pub(super) fn replace(a: &[&Value]) -> Result<Value, String> {
    Ok(Value::String(
        text(a[2])?.replace(&text(a[0])?, &text(a[1])?),
    ))
}

pub(super) fn contains(a: &[&Value]) -> Result<Value, String> {
    Ok(Value::Bool(text(a[1])?.contains(&text(a[0])?)))
}

pub(super) fn has_key(a: &[&Value]) -> Result<Value, String> {
    match a[0] {
        Value::Null => Ok(Value::Bool(false)),
        Value::Object(m) => Ok(Value::Bool(m.contains_key(&text(a[1])?))),
        other => Err(format!("expected a map, got {other}")),
    }
}

pub(super) fn list(a: &[&Value]) -> Result<Value, String> {
    Ok(Value::Array(a.iter().map(|v| (*v).clone()).collect()))
}

pub(super) fn dict(a: &[&Value]) -> Result<Value, String> {
    if !a.len().is_multiple_of(2) {
        return Err("expected key/value pairs, got an odd number of arguments".into());
    }
    let mut m = Map::new();
    for pair in a.chunks(2) {
        let Value::String(k) = pair[0] else {
            return Err(format!("keys must be strings, got {}", pair[0]));
        };
        m.insert(k.clone(), pair[1].clone());
    }
    Ok(Value::Object(m))
}

pub(super) fn join(a: &[&Value]) -> Result<Value, String> {
    let Value::Array(items) = a[1] else {
        return Err(format!("expected a list, got {}", a[1]));
    };
    let parts = items.iter().map(text).collect::<Result<Vec<_>, _>>()?;
    Ok(Value::String(parts.join(&text(a[0])?)))
}

pub(super) fn len(a: &[&Value]) -> Result<Value, String> {
    match a[0] {
        Value::Array(v) => Ok(v.len().into()),
        Value::Object(m) => Ok(m.len().into()),
        Value::String(s) => Ok(s.chars().count().into()),
        other => Err(format!("expected a list, map or string, got {other}")),
    }
}

pub(super) fn equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if a.is_number() && b.is_number() => x == y,
        _ => a == b,
    }
}

pub(super) fn eq(a: &[&Value]) -> Result<Value, String> {
    Ok(Value::Bool(equal(a[0], a[1])))
}

pub(super) fn ne(a: &[&Value]) -> Result<Value, String> {
    Ok(Value::Bool(!equal(a[0], a[1])))
}

pub(super) fn order(a: &[&Value]) -> Result<std::cmp::Ordering, String> {
    match (a[0], a[1]) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .zip(y.as_f64())
            .and_then(|(x, y)| x.partial_cmp(&y))
            .ok_or_else(|| "numbers are not comparable".into()),
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        (x, y) => Err(format!(
            "can only compare two numbers or two strings, got {x} and {y}"
        )),
    }
}

pub(super) fn lt(a: &[&Value]) -> Result<Value, String> {
    Ok(Value::Bool(order(a)?.is_lt()))
}

pub(super) fn le(a: &[&Value]) -> Result<Value, String> {
    Ok(Value::Bool(order(a)?.is_le()))
}

pub(super) fn gt(a: &[&Value]) -> Result<Value, String> {
    Ok(Value::Bool(order(a)?.is_gt()))
}

pub(super) fn ge(a: &[&Value]) -> Result<Value, String> {
    Ok(Value::Bool(order(a)?.is_ge()))
}

pub(super) fn and(a: &[&Value]) -> Result<Value, String> {
    let v = a.iter().find(|v| is_empty(v)).unwrap_or(&a[a.len() - 1]);
    Ok((*v).clone())
}

pub(super) fn or(a: &[&Value]) -> Result<Value, String> {
    let v = a.iter().find(|v| !is_empty(v)).unwrap_or(&a[a.len() - 1]);
    Ok((*v).clone())
}

pub(super) fn not(a: &[&Value]) -> Result<Value, String> {
    Ok(Value::Bool(is_empty(a[0])))
}
