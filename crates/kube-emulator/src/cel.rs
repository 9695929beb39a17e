//! A small subset of CEL for webhook `matchConditions`: enough for the usual conditions on the
//! request, the object and the old object, without a CEL engine.
//!
//! Supported: the variables `object`, `oldObject` and `request`; field access (`a.b`,
//! `a["b"]`); `has(a.b)`; string, number, list, `true`/`false`/`null` literals; `==`, `!=`, `in`
//! (list membership, map key); `!`, `&&`, `||` and parentheses. Anything else (functions,
//! macros, arithmetic, `authorizer`) is an evaluation error, which kube-apiserver answers by the
//! webhook's failure policy; `docs/kube-emulator.md` says so.

use serde_json::Value;

/// Why a `matchConditions` expression cannot be evaluated; kube-apiserver answers any of these
/// by the webhook's failure policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CelError {
    /// A token the subset does not parse, at its 1-based position when known.
    #[error("unsupported syntax{}", .0.map(|n| format!(" near token {n}")).unwrap_or_default())]
    Syntax(Option<usize>),
    /// A character outside the subset's alphabet.
    #[error("unsupported character {0:?}")]
    Character(char),
    /// A string literal without its closing quote.
    #[error("unterminated string literal")]
    UnterminatedString,
    /// A number literal that does not parse.
    #[error("invalid number")]
    Number,
    /// A punctuation token that must come next.
    #[error("expected {0:?}")]
    Expected(&'static str),
    /// `in` with something other than a list or a map on its right.
    #[error("'in' needs a list or a map on its right")]
    InOperand,
    /// `!`, `&&` or `||` on a non-bool.
    #[error("a logical operator needs bool operands")]
    LogicalOperand,
    /// The whole expression is not a bool.
    #[error("the expression does not evaluate to a bool")]
    NotBool,
    /// Something other than a variable where a variable must stand.
    #[error("expected a variable")]
    Variable,
    /// A variable or function the subset does not have.
    #[error("unsupported variable or function {0:?}")]
    UnknownVariable(String),
    /// `.` without a field name.
    #[error("expected a field name after '.'")]
    FieldName,
    /// `[...]` with a non-string key.
    #[error("only string keys are supported in [...]")]
    Key,
    /// A method call such as `.startsWith(...)`.
    #[error("unsupported function {0:?}")]
    Function(String),
    /// A field selection on a missing key (CEL's `no such key`).
    #[error("no such key: {0}")]
    NoSuchKey(String),
}

/// Evaluates `expression` with the variables in `vars` (`object`, `oldObject`, `request`).
///
/// # Errors
/// What is unsupported or missing.
pub(crate) fn eval_bool(expression: &str, vars: &Value) -> Result<bool, CelError> {
    let tokens = tokenize(expression)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        vars,
    };
    let v = p.or()?;
    if p.pos != p.tokens.len() {
        return Err(CelError::Syntax(Some(p.pos + 1)));
    }
    v.as_bool().ok_or(CelError::NotBool)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Op(&'static str),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, CelError> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        if let Some(op) = ["==", "!=", "&&", "||"].into_iter().find(|o| *o == two) {
            out.push(Tok::Op(op));
            i += 2;
            continue;
        }
        if let Some(op) = ["(", ")", "[", "]", ".", "!", ","]
            .into_iter()
            .find(|o| o.starts_with(c))
        {
            out.push(Tok::Op(op));
            i += 1;
            continue;
        }
        if c == '"' || c == '\'' {
            let end = chars[i + 1..]
                .iter()
                .position(|&d| d == c)
                .ok_or(CelError::UnterminatedString)?;
            out.push(Tok::Str(chars[i + 1..i + 1 + end].iter().collect()));
            i += end + 2;
            continue;
        }
        if c.is_ascii_digit() {
            let end = chars[i..]
                .iter()
                .position(|d| !(d.is_ascii_digit() || *d == '.'))
                .unwrap_or(chars.len() - i);
            let text: String = chars[i..i + end].iter().collect();
            out.push(Tok::Num(text.parse().map_err(|_| CelError::Number)?));
            i += end;
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let end = chars[i..]
                .iter()
                .position(|d| !(d.is_alphanumeric() || *d == '_'))
                .unwrap_or(chars.len() - i);
            out.push(Tok::Ident(chars[i..i + end].iter().collect()));
            i += end;
            continue;
        }
        return Err(CelError::Character(c));
    }
    Ok(out)
}

struct Parser<'a> {
    tokens: Vec<Tok>,
    pos: usize,
    vars: &'a Value,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos)
    }

    fn eat(&mut self, op: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Op(o)) if *o == op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, op: &'static str) -> Result<(), CelError> {
        self.eat(op).then_some(()).ok_or(CelError::Expected(op))
    }

    fn or(&mut self) -> Result<Value, CelError> {
        let mut v = self.and()?;
        while self.eat("||") {
            let r = self.and()?;
            v = Value::Bool(truth(&v)? || truth(&r)?);
        }
        Ok(v)
    }

    fn and(&mut self) -> Result<Value, CelError> {
        let mut v = self.unary()?;
        while self.eat("&&") {
            let r = self.unary()?;
            v = Value::Bool(truth(&v)? && truth(&r)?);
        }
        Ok(v)
    }

    fn unary(&mut self) -> Result<Value, CelError> {
        if self.eat("!") {
            return Ok(Value::Bool(!truth(&self.unary()?)?));
        }
        let left = self.primary()?;
        if self.eat("==") {
            return Ok(Value::Bool(equal(&left, &self.primary()?)));
        }
        if self.eat("!=") {
            return Ok(Value::Bool(!equal(&left, &self.primary()?)));
        }
        if matches!(self.peek(), Some(Tok::Ident(i)) if i == "in") {
            self.pos += 1;
            let right = self.primary()?;
            return match &right {
                Value::Array(a) => Ok(Value::Bool(a.iter().any(|x| equal(x, &left)))),
                Value::Object(m) => Ok(Value::Bool(
                    left.as_str().is_some_and(|k| m.contains_key(k)),
                )),
                _ => Err(CelError::InOperand),
            };
        }
        Ok(left)
    }

    fn primary(&mut self) -> Result<Value, CelError> {
        match self.tokens.get(self.pos).cloned() {
            Some(Tok::Op("(")) => {
                self.pos += 1;
                let v = self.or()?;
                self.expect(")")?;
                Ok(v)
            }
            Some(Tok::Op("[")) => {
                self.pos += 1;
                let mut items = Vec::new();
                while !self.eat("]") {
                    if !items.is_empty() {
                        self.expect(",")?;
                    }
                    items.push(self.primary()?);
                }
                Ok(Value::Array(items))
            }
            Some(Tok::Str(s)) => {
                self.pos += 1;
                Ok(Value::String(s))
            }
            Some(Tok::Num(n)) => {
                self.pos += 1;
                Ok(serde_json::json!(n))
            }
            Some(Tok::Ident(id)) => {
                self.pos += 1;
                match id.as_str() {
                    "true" => Ok(Value::Bool(true)),
                    "false" => Ok(Value::Bool(false)),
                    "null" => Ok(Value::Null),
                    "has" => {
                        self.expect("(")?;
                        let present = self.path(true)?.is_some();
                        self.expect(")")?;
                        Ok(Value::Bool(present))
                    }
                    _ => {
                        self.pos -= 1;
                        self.path(false)?.ok_or(CelError::NoSuchKey(id))
                    }
                }
            }
            _ => Err(CelError::Syntax(None)),
        }
    }

    /// A variable and its field selections; `None` when a field is missing (and `lenient`,
    /// for `has`; otherwise missing fields are errors as in CEL).
    fn path(&mut self, lenient: bool) -> Result<Option<Value>, CelError> {
        let Some(Tok::Ident(var)) = self.tokens.get(self.pos).cloned() else {
            return Err(CelError::Variable);
        };
        self.pos += 1;
        if !matches!(var.as_str(), "object" | "oldObject" | "request") {
            return Err(CelError::UnknownVariable(var));
        }
        let mut cur = Some(self.vars[var.as_str()].clone());
        loop {
            let key = if self.eat(".") {
                match self.tokens.get(self.pos).cloned() {
                    Some(Tok::Ident(k)) => k,
                    _ => return Err(CelError::FieldName),
                }
            } else if self.eat("[") {
                match self.tokens.get(self.pos).cloned() {
                    Some(Tok::Str(k)) => {
                        self.pos += 1;
                        self.expect("]")?;
                        self.pos -= 1;
                        k
                    }
                    _ => return Err(CelError::Key),
                }
            } else {
                return Ok(cur);
            };
            self.pos += 1;
            if matches!(self.peek(), Some(Tok::Op("("))) {
                return Err(CelError::Function(key));
            }
            cur = match cur.and_then(|v| v.get(&key).cloned()) {
                Some(v) => Some(v),
                None if lenient => None,
                None => return Err(CelError::NoSuchKey(key)),
            };
        }
    }
}

fn truth(v: &Value) -> Result<bool, CelError> {
    v.as_bool().ok_or(CelError::LogicalOperand)
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_usual_match_conditions_evaluate() {
        let vars = json!({"request": {"userInfo": {"username": "admin"}, "operation": "CREATE"},
            "object": {"metadata": {"name": "web", "labels": {"tier": "db"}}, "spec": {"replicas": 2}},
            "oldObject": null});
        for (expr, want) in [
            (r#"("system:apiserver" != request.userInfo.username)"#, true),
            (
                "request.operation == 'CREATE' && object.spec.replicas == 2",
                true,
            ),
            ("'tier' in object.metadata.labels", true),
            (
                "has(object.metadata.annotations) || !has(object.metadata.labels)",
                false,
            ),
            ("object.metadata['name'] in ['web', 'api']", true),
            ("oldObject == null", true),
        ] {
            assert_eq!(eval_bool(expr, &vars), Ok(want), "{expr}");
        }
        for (expr, want) in [
            (
                "object.metadata.name.startsWith('w')",
                CelError::Function("startsWith".into()),
            ),
            (
                "authorizer.group('apps')",
                CelError::UnknownVariable("authorizer".into()),
            ),
            ("object.spec.replicas + 1 == 3", CelError::Character('+')),
            (
                "object.metadata.missing == 'x'",
                CelError::NoSuchKey("missing".into()),
            ),
            ("object.metadata.name", CelError::NotBool),
            ("object.metadata.name == 'web' )", CelError::Syntax(Some(8))),
        ] {
            assert_eq!(eval_bool(expr, &vars), Err(want), "{expr} is unsupported");
        }
    }
}
