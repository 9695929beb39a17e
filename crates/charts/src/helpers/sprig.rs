//! Helpers ported from Sprig and Go's `text/template` built-ins for charts converted from Helm
//! (`addon-operator convert-chart`): strings, lists, maps, numbers, conversions. Pure
//! functions of their arguments, like the rest; errors name the argument, never its value.

use serde_json::{Map, Value};

use super::error::{ArgumentProblem as P, HelperError};
use super::funcs::{equal, int, is_empty, text, type_name};

type Out = Result<Value, HelperError>;

fn s(v: String) -> Out {
    Ok(Value::String(v))
}

fn map_arg<'a>(a: &[&'a Value], i: usize) -> Result<&'a Map<String, Value>, HelperError> {
    match a[i] {
        Value::Object(m) => Ok(m),
        other => Err(HelperError::arg(
            i,
            P::NotAMap {
                found: type_name(other),
            },
        )),
    }
}

/// A list argument; null is the empty list (a missing value in Helm mode).
fn list_arg<'a>(a: &[&'a Value], i: usize) -> Result<&'a [Value], HelperError> {
    match a[i] {
        Value::Array(v) => Ok(v),
        Value::Null => Ok(&[]),
        other => Err(HelperError::arg(
            i,
            P::NotAList {
                found: type_name(other),
            },
        )),
    }
}

pub(super) fn coalesce(a: &[&Value]) -> Out {
    Ok(a.iter()
        .find(|v| !is_empty(v))
        .map_or(Value::Null, |v| (*v).clone()))
}

pub(super) fn ternary(a: &[&Value]) -> Out {
    Ok(if is_empty(a[2]) { a[1] } else { a[0] }.clone())
}

pub(super) fn empty(a: &[&Value]) -> Out {
    Ok(Value::Bool(is_empty(a[0])))
}

pub(super) fn from_yaml(a: &[&Value]) -> Out {
    let t = text(a, 0)?;
    Ok(match yaml_json::parse_one(&t) {
        Ok(Value::Null) => Value::Object(Map::new()),
        Ok(v) => v,
        // Helm returns {"Error": …}; the message could quote the value, so say only that.
        Err(_) => serde_json::json!({"Error": "fromYaml: the text is not valid YAML"}),
    })
}

pub(super) fn from_json(a: &[&Value]) -> Out {
    let t = text(a, 0)?;
    Ok(serde_json::from_str(&t)
        .unwrap_or_else(|_| serde_json::json!({"Error": "fromJson: the text is not valid JSON"})))
}

pub(super) fn to_pretty_json(a: &[&Value]) -> Out {
    serde_json::to_string_pretty(a[0])
        .map(Value::String)
        .map_err(|_| HelperError::Serialize { format: "JSON" })
}

/// Go's `fmt.Sprint` of one value: scalars as text, null as `<nil>`... except that Helm
/// prints missing values as empty, so null is empty here.
pub(super) fn go_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Number(n) => go_number(n),
        Value::Bool(b) => b.to_string(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(go_text).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", go_text(&m[*k])))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

fn go_number(n: &serde_json::Number) -> String {
    match (n.as_i64(), n.as_f64()) {
        (Some(i), _) => i.to_string(),
        (None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
        _ => n.to_string(),
    }
}

pub(super) fn to_string(a: &[&Value]) -> Out {
    s(go_text(a[0]))
}

pub(super) fn print(a: &[&Value]) -> Out {
    // Go's Sprint: a space between operands when neither is a string.
    let mut out = String::new();
    for (i, v) in a.iter().enumerate() {
        if i > 0 && !v.is_string() && !a[i - 1].is_string() {
            out.push(' ');
        }
        out.push_str(&go_text(v));
    }
    s(out)
}

pub(super) fn to_int(a: &[&Value]) -> Out {
    let v = match a[0] {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.trunc() as i64)),
        Value::String(t) => t
            .trim()
            .parse::<i64>()
            .ok()
            .or_else(|| t.trim().parse::<f64>().ok().map(|f| f.trunc() as i64)),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    };
    Ok(Value::from(v.unwrap_or(0)))
}

pub(super) fn to_float(a: &[&Value]) -> Out {
    let v = match a[0] {
        Value::Number(n) => n.as_f64(),
        Value::String(t) => t.trim().parse::<f64>().ok(),
        _ => None,
    };
    Ok(serde_json::Number::from_f64(v.unwrap_or(0.0)).map_or(Value::from(0), Value::Number))
}

pub(super) fn title(a: &[&Value]) -> Out {
    let t = text(a, 0)?;
    let mut out = String::with_capacity(t.len());
    let mut start = true;
    for c in t.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = c.is_whitespace();
    }
    s(out)
}

pub(super) fn trim_prefix(a: &[&Value]) -> Out {
    let (p, t) = (text(a, 0)?, text(a, 1)?);
    s(t.strip_prefix(p.as_str()).unwrap_or(&t).to_owned())
}

pub(super) fn trim_suffix(a: &[&Value]) -> Out {
    let (p, t) = (text(a, 0)?, text(a, 1)?);
    s(t.strip_suffix(p.as_str()).unwrap_or(&t).to_owned())
}

pub(super) fn trim_all(a: &[&Value]) -> Out {
    let (cut, t) = (text(a, 0)?, text(a, 1)?);
    s(t.trim_matches(|c| cut.contains(c)).to_owned())
}

pub(super) fn has_prefix(a: &[&Value]) -> Out {
    Ok(Value::Bool(text(a, 1)?.starts_with(&text(a, 0)?)))
}

pub(super) fn has_suffix(a: &[&Value]) -> Out {
    Ok(Value::Bool(text(a, 1)?.ends_with(&text(a, 0)?)))
}

pub(super) fn cat(a: &[&Value]) -> Out {
    let parts: Vec<String> = a
        .iter()
        .filter(|v| !v.is_null())
        .map(|v| go_text(v))
        .collect();
    s(parts.join(" "))
}

pub(super) fn split_list(a: &[&Value]) -> Out {
    let (sep, t) = (text(a, 0)?, text(a, 1)?);
    Ok(Value::Array(
        t.split(sep.as_str())
            .map(|p| Value::String(p.to_owned()))
            .collect(),
    ))
}

pub(super) fn split(a: &[&Value]) -> Out {
    let (sep, t) = (text(a, 0)?, text(a, 1)?);
    Ok(Value::Object(
        t.split(sep.as_str())
            .enumerate()
            .map(|(i, p)| (format!("_{i}"), Value::String(p.to_owned())))
            .collect(),
    ))
}

pub(super) fn append(a: &[&Value]) -> Out {
    let mut items = list_arg(a, 0)?.to_vec();
    items.push(a[1].clone());
    Ok(Value::Array(items))
}

pub(super) fn concat(a: &[&Value]) -> Out {
    let mut items = Vec::new();
    for i in 0..a.len() {
        items.extend(list_arg(a, i)?.iter().cloned());
    }
    Ok(Value::Array(items))
}

pub(super) fn first(a: &[&Value]) -> Out {
    Ok(list_arg(a, 0)?.first().cloned().unwrap_or(Value::Null))
}

pub(super) fn last(a: &[&Value]) -> Out {
    Ok(list_arg(a, 0)?.last().cloned().unwrap_or(Value::Null))
}

pub(super) fn uniq(a: &[&Value]) -> Out {
    let mut out: Vec<Value> = Vec::new();
    for v in list_arg(a, 0)? {
        if !out.iter().any(|o| equal(o, v)) {
            out.push(v.clone());
        }
    }
    Ok(Value::Array(out))
}

pub(super) fn compact(a: &[&Value]) -> Out {
    Ok(Value::Array(
        list_arg(a, 0)?
            .iter()
            .filter(|v| !is_empty(v))
            .cloned()
            .collect(),
    ))
}

pub(super) fn has(a: &[&Value]) -> Out {
    Ok(Value::Bool(list_arg(a, 1)?.iter().any(|v| equal(v, a[0]))))
}

pub(super) fn sort_alpha(a: &[&Value]) -> Out {
    let mut items: Vec<String> = list_arg(a, 0)?.iter().map(go_text).collect();
    items.sort();
    Ok(Value::Array(items.into_iter().map(Value::String).collect()))
}

pub(super) fn until(a: &[&Value]) -> Out {
    let n = int(a, 0)?;
    Ok(Value::Array((0..n.max(0)).map(Value::from).collect()))
}

pub(super) fn slice(a: &[&Value]) -> Out {
    let bound = |i: usize, len: usize| -> Result<usize, HelperError> {
        let v = int(a, i)?;
        usize::try_from(v)
            .ok()
            .filter(|v| *v <= len)
            .ok_or(HelperError::arg(i, P::Negative))
    };
    match a[0] {
        Value::Array(items) => {
            let start = bound(1, items.len())?;
            let end = if a.len() > 2 {
                bound(2, items.len())?
            } else {
                items.len()
            };
            Ok(Value::Array(items[start..end.max(start)].to_vec()))
        }
        Value::String(t) => {
            let chars: Vec<char> = t.chars().collect();
            let start = bound(1, chars.len())?;
            let end = if a.len() > 2 {
                bound(2, chars.len())?
            } else {
                chars.len()
            };
            s(chars[start..end.max(start)].iter().collect())
        }
        other => Err(HelperError::arg(
            0,
            P::NotAList {
                found: type_name(other),
            },
        )),
    }
}

/// Deep merge of `src` into `dst`: keys missing in `dst` are added; with `overwrite`,
/// `src` wins for keys present in both (maps merge recursively either way).
fn merge_into(dst: &mut Map<String, Value>, src: &Map<String, Value>, overwrite: bool) {
    for (k, v) in src {
        match (dst.get_mut(k), v) {
            (Some(Value::Object(d)), Value::Object(s)) => merge_into(d, s, overwrite),
            (Some(existing), _) if !overwrite || v.is_null() => {
                let _ = existing;
            }
            (Some(existing), _) => *existing = v.clone(),
            (None, _) => {
                dst.insert(k.clone(), v.clone());
            }
        }
    }
}

fn merge_all(a: &[&Value], overwrite: bool) -> Out {
    let mut out = map_arg(a, 0)?.clone();
    for i in 1..a.len() {
        if a[i].is_null() {
            continue;
        }
        merge_into(&mut out, map_arg(a, i)?, overwrite);
    }
    Ok(Value::Object(out))
}

pub(super) fn merge(a: &[&Value]) -> Out {
    merge_all(a, false)
}

pub(super) fn merge_overwrite(a: &[&Value]) -> Out {
    merge_all(a, true)
}

pub(super) fn deep_copy(a: &[&Value]) -> Out {
    Ok(a[0].clone())
}

pub(super) fn get(a: &[&Value]) -> Out {
    Ok(map_arg(a, 0)?
        .get(&text(a, 1)?)
        .cloned()
        .unwrap_or(Value::String(String::new())))
}

pub(super) fn set(a: &[&Value]) -> Out {
    let mut m = if a[0].is_null() {
        Map::new()
    } else {
        map_arg(a, 0)?.clone()
    };
    m.insert(text(a, 1)?, a[2].clone());
    Ok(Value::Object(m))
}

pub(super) fn unset(a: &[&Value]) -> Out {
    let mut m = map_arg(a, 0)?.clone();
    m.shift_remove(&text(a, 1)?);
    Ok(Value::Object(m))
}

pub(super) fn keys(a: &[&Value]) -> Out {
    let mut out = Vec::new();
    for i in 0..a.len() {
        out.extend(map_arg(a, i)?.keys().map(|k| Value::String(k.clone())));
    }
    Ok(Value::Array(out))
}

pub(super) fn values(a: &[&Value]) -> Out {
    Ok(Value::Array(map_arg(a, 0)?.values().cloned().collect()))
}

pub(super) fn pick(a: &[&Value]) -> Out {
    let m = map_arg(a, 0)?;
    let mut out = Map::new();
    for i in 1..a.len() {
        let k = text(a, i)?;
        if let Some(v) = m.get(&k) {
            out.insert(k, v.clone());
        }
    }
    Ok(Value::Object(out))
}

pub(super) fn omit(a: &[&Value]) -> Out {
    let mut out = map_arg(a, 0)?.clone();
    for i in 1..a.len() {
        out.shift_remove(&text(a, i)?);
    }
    Ok(Value::Object(out))
}

pub(super) fn dig(a: &[&Value]) -> Out {
    let n = a.len();
    let mut node = a[n - 1];
    for i in 0..n - 2 {
        match node.get(text(a, i)?) {
            Some(next) => node = next,
            None => return Ok(a[n - 2].clone()),
        }
    }
    Ok(node.clone())
}

/// Go's `index`: items of maps (by key) and lists (by position), one level per key; a
/// missing map key gives null, as Go gives the zero value.
pub(super) fn index(a: &[&Value]) -> Out {
    let mut node = a[0].clone();
    for i in 1..a.len() {
        node = match &node {
            Value::Object(m) => m.get(&text(a, i)?).cloned().unwrap_or(Value::Null),
            Value::Array(items) => {
                let at =
                    usize::try_from(int(a, i)?).map_err(|_| HelperError::arg(i, P::Negative))?;
                items
                    .get(at)
                    .cloned()
                    .ok_or(HelperError::arg(i, P::OutOfRange))?
            }
            Value::Null => Value::Null,
            other => {
                return Err(HelperError::arg(
                    0,
                    P::NotAMap {
                        found: type_name(other),
                    },
                ));
            }
        };
    }
    Ok(node)
}

pub(super) fn fail(a: &[&Value]) -> Out {
    Err(HelperError::Required {
        message: text(a, 0)?,
    })
}

fn regex(a: &[&Value], i: usize) -> Result<regex::Regex, HelperError> {
    regex::Regex::new(&text(a, i)?).map_err(|_| HelperError::arg(i, P::NotARegex))
}

pub(super) fn regex_match(a: &[&Value]) -> Out {
    Ok(Value::Bool(regex(a, 0)?.is_match(&text(a, 1)?)))
}

pub(super) fn regex_find(a: &[&Value]) -> Out {
    let t = text(a, 1)?;
    s(regex(a, 0)?
        .find(&t)
        .map_or(String::new(), |m| m.as_str().to_owned()))
}

pub(super) fn regex_replace_all(a: &[&Value]) -> Out {
    s(regex(a, 0)?
        .replace_all(&text(a, 1)?, text(a, 2)?.as_str())
        .into_owned())
}

pub(super) fn regex_split(a: &[&Value]) -> Out {
    let t = text(a, 1)?;
    let n = int(a, 2)?;
    let re = regex(a, 0)?;
    let parts: Vec<Value> = match usize::try_from(n) {
        Ok(limit) => re
            .splitn(&t, limit)
            .map(|p| Value::String(p.to_owned()))
            .collect(),
        Err(_) => re.split(&t).map(|p| Value::String(p.to_owned())).collect(),
    };
    Ok(Value::Array(parts))
}

fn num(a: &[&Value], i: usize) -> Result<i64, HelperError> {
    match a[i] {
        Value::Number(n) => Ok(n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .unwrap_or(0)),
        _ => int(a, i),
    }
}

fn arith(a: &[&Value], f: fn(i64, i64) -> Option<i64>) -> Out {
    let mut acc = num(a, 0)?;
    for i in 1..a.len() {
        acc = f(acc, num(a, i)?).ok_or(HelperError::arg(i, P::OutOfRange))?;
    }
    Ok(Value::from(acc))
}

pub(super) fn add(a: &[&Value]) -> Out {
    arith(a, i64::checked_add)
}

pub(super) fn sub(a: &[&Value]) -> Out {
    arith(a, i64::checked_sub)
}

pub(super) fn mul(a: &[&Value]) -> Out {
    arith(a, i64::checked_mul)
}

pub(super) fn div(a: &[&Value]) -> Out {
    arith(a, i64::checked_div)
}

pub(super) fn modulo(a: &[&Value]) -> Out {
    arith(a, i64::checked_rem)
}

pub(super) fn add1(a: &[&Value]) -> Out {
    Ok(Value::from(num(a, 0)?.saturating_add(1)))
}

pub(super) fn max(a: &[&Value]) -> Out {
    arith(a, |x, y| Some(x.max(y)))
}

pub(super) fn min(a: &[&Value]) -> Out {
    arith(a, |x, y| Some(x.min(y)))
}

/// Go's kind names of a value as Helm sees values (numbers from YAML are `float64`).
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "invalid",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => "slice",
        Value::Object(_) => "map",
    }
}

/// Whether `v` is of Go kind or type `name`. Integers also pass as `int`/`int64` and
/// `float64`: Helm reads numbers from YAML as `float64`, while `range` indexes are `int`, and a
/// JSON value cannot tell them apart.
fn is_kind(name: &str, v: &Value) -> bool {
    match v {
        Value::Number(n) if !n.is_f64() => matches!(name, "int" | "int64" | "float64"),
        other => name == kind(other),
    }
}

pub(super) fn kind_is(a: &[&Value]) -> Out {
    Ok(Value::Bool(is_kind(&text(a, 0)?, a[1])))
}

pub(super) fn kind_of(a: &[&Value]) -> Out {
    s(kind(a[0]).to_owned())
}

pub(super) fn type_is(a: &[&Value]) -> Out {
    let name = text(a, 0)?;
    Ok(Value::Bool(match a[1] {
        Value::Array(_) => name == "[]interface {}",
        Value::Object(_) => name == "map[string]interface {}",
        Value::Null => name == "<nil>",
        other => is_kind(&name, other),
    }))
}
