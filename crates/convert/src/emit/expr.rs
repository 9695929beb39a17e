//! Expressions: pipelines, commands, operands and literals of Go templates as handlebars
//! parameters (`.a | f b` → `(f b a)`).

use super::{Emitter, Expr};
use crate::ast::{Arg, Cmd, Pipe, Pos};
use crate::funcs::{self, Mapped};

impl Emitter<'_> {
    pub(super) fn pipe(&mut self, p: &Pipe) -> Option<Expr> {
        let mut acc: Option<Expr> = None;
        let mut ok = true;
        for cmd in &p.cmds {
            let piped = acc.take().map(Expr::param);
            match self.command(cmd, piped) {
                Some(e) => acc = Some(e),
                None => ok = false,
            }
        }
        if ok { acc } else { None }
    }

    pub(super) fn command(&mut self, cmd: &Cmd, piped: Option<String>) -> Option<Expr> {
        if cmd.pos != Pos::default() {
            self.at = cmd.pos;
        }
        let first = cmd.args.first()?;
        // `.Capabilities.APIVersions.Has "x"`
        if let Some(fields) = root_fields(first)
            && fields.len() >= 3
            && fields[fields.len() - 2..] == ["APIVersions", "Has"]
        {
            let mut args: Vec<String> = self.args(&cmd.args[1..])?;
            args.extend(piped);
            let base = self.operand(&strip_last(first))?;
            args.push(base);
            return Some(Expr::Call("has".into(), args));
        }
        let Arg::Ident(name) = first else {
            if let Some(["Files", method, ..]) = root_fields(first)
                .map(|f| f.iter().map(String::as_str).collect::<Vec<_>>())
                .as_deref()
            {
                self.problem(
                    cmd.pos,
                    format!("`.Files.{method}`"),
                    "chart files other than templates are not part of a module; put their content in values or a template",
                );
                return None;
            }
            if cmd.args.len() > 1 || piped.is_some() {
                self.problem(
                    cmd.pos,
                    "a method call".into(),
                    "only functions take arguments in a converted template",
                );
                return None;
            }
            return match first {
                Arg::Str(s) => Some(Expr::Text(s.clone())),
                other => self.operand(other).map(Expr::Operand),
            };
        };
        let helper = match funcs::map(name, &self.cx.helpers) {
            Mapped::Helper(h) => h.to_owned(),
            Mapped::Refused(why) => {
                self.problem(cmd.pos, format!("function `{name}`"), why);
                return None;
            }
            Mapped::Unknown => {
                self.problem(
                    cmd.pos,
                    format!("function `{name}`"),
                    "has no handlebars helper (see docs/templates.md for the helpers)",
                );
                return None;
            }
        };
        let rest = &cmd.args[1..];
        if helper == "tpl"
            && let Some(arg) = rest.first()
        {
            collect_values_paths(arg, &mut self.tpl_values);
        }
        let mut args = Vec::with_capacity(rest.len() + 1);
        for (i, a) in rest.iter().enumerate() {
            match (helper.as_str(), i, a) {
                ("include", 0, Arg::Str(n)) => args.push(json_string(&self.partial_name(n))),
                _ => args.push(self.operand(a)?),
            }
        }
        args.extend(piped);
        Some(Expr::Call(helper, args))
    }

    fn args(&mut self, args: &[Arg]) -> Option<Vec<String>> {
        let mut out = Vec::new();
        for a in args {
            out.push(self.operand(a)?);
        }
        Some(out)
    }

    pub(super) fn operand(&mut self, a: &Arg) -> Option<String> {
        match a {
            Arg::Dot(fields) => {
                if fields.first().is_some_and(|f| f == "Files") {
                    self.problem(
                        self.at,
                        "`.Files`".into(),
                        "chart files other than templates are not part of a module; put their content in values or a template",
                    );
                    return None;
                }
                if fields.first().is_some_and(|f| f == "Template")
                    && fields.get(1).is_some_and(|f| f != "BasePath")
                {
                    self.problem(
                        self.at,
                        "`.Template.Name`".into(),
                        "the template's own name is not available; write it out",
                    );
                    return None;
                }
                Some(self.dot_path(fields))
            }
            // `@root` alone cannot be an argument; the `root` helper gives the same value.
            Arg::Var(name, fields) if name.is_empty() && fields.is_empty() => Some("(root)".into()),
            Arg::Var(name, fields) if name.is_empty() => Some(path("@root", fields)),
            Arg::Var(name, fields) => {
                if !self.declared(name) {
                    self.problem(
                        self.at,
                        format!("variable `${name}`"),
                        "is not declared in this template (a `define` does not see its caller's variables)",
                    );
                    return None;
                }
                if self.mutable.contains(name) {
                    let base = self.var_ref(name);
                    return Some(if fields.is_empty() {
                        base
                    } else {
                        let keys: Vec<String> = fields.iter().map(|f| json_string(f)).collect();
                        format!("(index {base} {})", keys.join(" "))
                    });
                }
                Some(path(&var_name(name), fields))
            }
            Arg::Ident(_) => {
                let call = Cmd {
                    args: vec![a.clone()],
                    pos: Pos::default(),
                };
                self.command(&call, None).map(Expr::param)
            }
            Arg::Str(s) => Some(json_string(s)),
            Arg::Number(n) => number(n).or_else(|| {
                self.problem(
                    self.at,
                    format!("number `{n}`"),
                    "is not a number handlebars can read",
                );
                None
            }),
            Arg::Bool(b) => Some(b.to_string()),
            Arg::Nil => Some("null".into()),
            Arg::Paren(pipe, fields) => {
                let inner = self.pipe(pipe)?.param();
                if fields.is_empty() {
                    Some(inner)
                } else {
                    let keys: Vec<String> = fields.iter().map(|f| json_string(f)).collect();
                    Some(format!("(index {inner} {})", keys.join(" ")))
                }
            }
        }
    }

    /// `.a.b` as a handlebars path; `this.` first when the name could be read as a helper or
    /// a block parameter.
    fn dot_path(&self, fields: &[String]) -> String {
        match fields.first() {
            None => "this".into(),
            Some(first)
                if self.cx.helpers.iter().any(|h| h == first)
                    || KEYWORDS.contains(&first.as_str())
                    || self.declared(first) =>
            {
                path("this", fields)
            }
            Some(_) => fields.join("."),
        }
    }

    pub(super) fn partial_name(&self, name: &str) -> String {
        self.cx
            .partials
            .get(name)
            .cloned()
            .unwrap_or_else(|| name.to_owned())
    }
}

/// Names handlebars reads as something else than a path.
const KEYWORDS: &[&str] = &["this", "else", "as", "true", "false", "null"];

pub(super) fn path(base: &str, fields: &[String]) -> String {
    let mut s = base.to_owned();
    for f in fields {
        s.push('.');
        s.push_str(f);
    }
    s
}

/// Go variable `$name` as a handlebars block parameter.
pub(super) fn var_name(name: &str) -> String {
    if name == "_" {
        "_discard".into()
    } else {
        name.to_owned()
    }
}

/// The fields of `.a.b` or `$.a.b`, if `arg` is one of them.
pub(super) fn root_fields(arg: &Arg) -> Option<&[String]> {
    match arg {
        Arg::Dot(f) => Some(f),
        Arg::Var(n, f) if n.is_empty() => Some(f),
        _ => None,
    }
}

fn strip_last(arg: &Arg) -> Arg {
    match arg {
        Arg::Dot(f) => Arg::Dot(f[..f.len() - 1].to_vec()),
        Arg::Var(n, f) => Arg::Var(n.clone(), f[..f.len() - 1].to_vec()),
        other => other.clone(),
    }
}

/// Every `.Values…` path inside `arg` (what `tpl` will render).
fn collect_values_paths(arg: &Arg, out: &mut Vec<Vec<String>>) {
    match arg {
        Arg::Dot(f) | Arg::Var(_, f) if f.first().is_some_and(|x| x == "Values") => {
            out.push(f[1..].to_vec());
        }
        Arg::Paren(p, _) => {
            for c in &p.cmds {
                for a in &c.args {
                    collect_values_paths(a, out);
                }
            }
        }
        _ => {}
    }
}

/// A string as a handlebars literal (JSON syntax).
pub(super) fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// A Go number literal in handlebars' syntax (`-?digits[.digits][E-?digits]`).
pub(super) fn number(n: &str) -> Option<String> {
    let clean: String = n.trim_start_matches('+').replace('_', "");
    let (neg, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, clean.as_str()),
    };
    let sign = if neg { "-" } else { "" };
    let lower = body.to_ascii_lowercase();
    let radix = [("0x", 16), ("0o", 8), ("0b", 2)]
        .into_iter()
        .find(|(p, _)| lower.starts_with(p));
    if let Some((p, radix)) = radix {
        return i64::from_str_radix(&lower[p.len()..], radix)
            .ok()
            .map(|v| format!("{sign}{v}"));
    }
    if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|b| b.is_ascii_digit()) {
        return i64::from_str_radix(&lower[1..], 8)
            .ok()
            .map(|v| format!("{sign}{v}"));
    }
    let v: f64 = lower.parse().ok()?;
    if lower.contains(['.', 'e']) {
        let mut s = format!("{v:?}");
        if s.contains('e') {
            s = s.replace("e", "E");
        }
        Some(format!("{sign}{s}"))
    } else {
        Some(format!("{sign}{lower}"))
    }
}
