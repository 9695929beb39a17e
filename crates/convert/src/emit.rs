//! Writes a parsed Go template as handlebars for the addon-operator renderer in Helm mode
//! (`Values`, `Release`, `Chart`, `Capabilities` at the root, as in Helm).
//!
//! The mapping: `.` → `this`, `.a.b` → `a.b`, `$` → `@root`, `$x` → block parameter `x` of a
//! `{{#let x=…}}` block that lasts to the end of the enclosing Go scope, `range $i, $v := X`
//! → `{{#each (sortKeys X) as |v i|}}` (Go visits map keys in sorted order), pipelines →
//! nested calls with the piped value last, `include`/`template` → the `include` helper.
//! Whitespace is kept exactly: `{{-`/`-}}` become `{{~`/`~}}`, and a block tag that
//! handlebars would treat as standalone (and so remove its line) is followed by `{{!}}`.

use std::collections::BTreeMap;

mod analysis;
mod expr;

use crate::ast::{Arg, BlockKind, BlockNode, Cmd, Else, Node, Pipe, Pos, Trim};
use crate::funcs;
use analysis::{fix_standalone, mutable_vars};
use expr::{json_string, path, var_name};

/// A construct that could not be converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unconverted {
    /// Where it is in the source file.
    pub pos: Pos,
    /// The construct, e.g. ``function `lookup` ``.
    pub construct: String,
    /// Why it is not converted.
    pub reason: String,
}

/// What the emitter needs to know about the chart.
#[derive(Debug, Clone, Default)]
pub struct EmitContext {
    /// Helper names the renderer has.
    pub helpers: Vec<String>,
    /// Go template name → partial name.
    pub partials: BTreeMap<String, String>,
    /// Mark unconverted places with a comment instead of stopping.
    pub allow_partial: bool,
}

/// The result of converting one template body.
#[derive(Debug, Clone, Default)]
pub struct Emitted {
    /// The handlebars text.
    pub text: String,
    /// Everything that could not be converted (empty when `text` is complete).
    pub problems: Vec<Unconverted>,
    /// `.Values` paths (as keys) whose strings reach `tpl`, so must be handlebars too.
    pub tpl_values: Vec<Vec<String>>,
}

/// An expression: a plain operand or a helper call.
enum Expr {
    Operand(String),
    /// A literal string operand (kept unquoted for printing as text).
    Text(String),
    Call(String, Vec<String>),
}

impl Expr {
    fn param(self) -> String {
        match self {
            Expr::Operand(s) => s,
            Expr::Text(s) => json_string(&s),
            Expr::Call(f, args) if args.is_empty() => format!("({f})"),
            Expr::Call(f, args) => format!("({f} {})", args.join(" ")),
        }
    }

    fn helper(&self) -> Option<&str> {
        match self {
            Expr::Call(f, _) => Some(f),
            _ => None,
        }
    }
}

/// One Go scope: the variables declared in it and the blocks (`let`, or `with` for a
/// changed `.`) to close at its end, innermost last.
#[derive(Default)]
struct Scope {
    vars: Vec<String>,
    closers: Vec<&'static str>,
}

/// Converts one template body (a file's text outside `define`, or one `define`).
pub fn emit(body: &[Node], cx: &EmitContext) -> Emitted {
    let mut e = Emitter {
        out: String::new(),
        cx,
        problems: Vec::new(),
        scopes: vec![Scope::default()],
        block_tags: Vec::new(),
        tpl_values: Vec::new(),
        pending_trim: false,
        at: Pos::default(),
        mutable: mutable_vars(body),
    };
    e.nodes(body);
    let scope = e.scopes.pop().unwrap_or_default();
    e.close_scope(&scope.closers, Trim::default());
    let text = fix_standalone(&e.out, &e.block_tags);
    Emitted {
        text,
        problems: e.problems,
        tpl_values: e.tpl_values,
    }
}

struct Emitter<'a> {
    out: String,
    cx: &'a EmitContext,
    problems: Vec<Unconverted>,
    scopes: Vec<Scope>,
    /// Byte ranges in `out` of emitted block tags (candidates for standalone removal).
    block_tags: Vec<(usize, usize)>,
    tpl_values: Vec<Vec<String>>,
    /// A constant printed as text had `-}}`: trim the start of the next text.
    pending_trim: bool,
    /// Position of the command being converted, for problems found in its operands.
    at: Pos,
    /// Variables a nested block assigns: kept with `setVar`/`var` instead of `let`.
    mutable: Vec<String>,
}

impl Emitter<'_> {
    fn nodes(&mut self, nodes: &[Node]) {
        for node in nodes {
            let trim_this = std::mem::take(&mut self.pending_trim);
            match node {
                Node::Text(t) if trim_this => {
                    self.text(t.trim_start_matches([' ', '\t', '\r', '\n']))
                }
                Node::Text(t) => self.text(t),
                Node::Action { pipe, pos, trim } => self.action(pipe, *pos, *trim),
                Node::Block(b) => self.block(b),
                Node::Template {
                    name,
                    pipe,
                    pos,
                    trim,
                } => {
                    let data = match pipe {
                        Some(p) => self.pipe(p).map(Expr::param),
                        None => Some("null".to_owned()),
                    };
                    let name = self.partial_name(name);
                    match data {
                        Some(d) => {
                            self.tag(*trim, &format!("include {} {d}", json_string(&name)), false)
                        }
                        None => self.marker(*pos, *trim),
                    }
                }
                Node::LoopControl { keyword, pos } => {
                    self.problem(
                        *pos,
                        format!("`{{{{{keyword}}}}}`"),
                        "handlebars `each` cannot stop or skip iterations; filter the list first",
                    );
                    self.marker(*pos, Trim::default());
                }
            }
        }
    }

    fn text(&mut self, t: &str) {
        // A backslash right before `{{` would escape the next tag in handlebars.
        let trimmed = t.trim_end_matches('\\');
        self.out.push_str(trimmed);
        if trimmed.len() < t.len() {
            let slashes = &t[trimmed.len()..];
            self.out
                .push_str(&format!("{{{{print {}}}}}", json_string(slashes)));
        }
    }

    fn problem(&mut self, pos: Pos, construct: String, reason: &str) {
        self.problems.push(Unconverted {
            pos,
            construct,
            reason: reason.to_owned(),
        });
    }

    /// The comment that marks an unconverted place (`--allow-partial`).
    fn marker(&mut self, pos: Pos, trim: Trim) {
        let reason = self
            .problems
            .iter()
            .rev()
            .find(|p| p.pos.line == pos.line)
            .map_or_else(String::new, |p| format!(": {} ({})", p.construct, p.reason));
        let text = format!(
            "!-- convert-chart: not converted at line {} column {}{} --",
            pos.line,
            pos.column,
            reason.replace("--", "- -")
        );
        self.tag(trim, &text, false);
    }

    /// Writes `{{inner}}` with trim markers; block tags are remembered for the standalone fix.
    fn tag(&mut self, trim: Trim, inner: &str, block: bool) {
        let start = self.out.len();
        self.out.push_str("{{");
        if trim.left {
            self.out.push('~');
        }
        self.out.push_str(inner);
        if trim.right {
            self.out.push('~');
        }
        self.out.push_str("}}");
        // With both trims the line's whitespace goes anyway, standalone or not.
        if block && !(trim.left && trim.right) {
            self.block_tags.push((start, self.out.len()));
        }
    }

    fn action(&mut self, pipe: &Pipe, pos: Pos, trim: Trim) {
        if !pipe.vars.is_empty() {
            return self.declare(pipe, pos, trim);
        }
        match self.pipe(pipe) {
            Some(Expr::Text(s)) => self.action_text(&s, trim),
            Some(Expr::Operand(o)) if o == "true" || o == "false" || o.parse::<f64>().is_ok() => {
                // a number or boolean constant: its text
                self.action_text(&o, trim);
            }
            Some(Expr::Operand(o)) => {
                let bare = match o.strip_prefix('(').and_then(|o| o.strip_suffix(')')) {
                    Some(inner) => inner.to_owned(),
                    None => o,
                };
                self.tag(trim, &bare, false);
            }
            Some(Expr::Call(f, args)) => {
                let mut inner = f;
                for a in args {
                    inner.push(' ');
                    inner.push_str(&a);
                }
                self.tag(trim, &inner, false);
            }
            None => self.fail(pos, trim),
        }
    }

    /// A constant printed by an action: written as text, its trims applied here.
    fn action_text(&mut self, s: &str, trim: Trim) {
        if trim.left {
            let kept = self.out.trim_end_matches([' ', '\t', '\r', '\n']).len();
            self.out.truncate(kept);
        }
        if s.contains("{{") || s.ends_with('\\') {
            self.out
                .push_str(&format!("{{{{print {}}}}}", json_string(s)));
        } else {
            self.out.push_str(s);
        }
        self.pending_trim = trim.right;
    }

    fn fail(&mut self, pos: Pos, trim: Trim) {
        if self.cx.allow_partial {
            self.marker(pos, trim);
        }
    }

    /// `{{ $x := … }}` / `{{ $x = … }}` → `{{#let x=…}}` until the end of the scope.
    fn declare(&mut self, pipe: &Pipe, pos: Pos, trim: Trim) {
        let [var] = pipe.vars.as_slice() else {
            self.problem(
                pos,
                "two variables".into(),
                "only `range` declares two variables",
            );
            return self.fail(pos, trim);
        };
        // `$_ := set X "k" v` changes X in Go: rebind X (a variable, or `.`) to the result.
        if var == "_"
            && let [cmd] = pipe.cmds.as_slice()
            && let Some(Arg::Ident(f)) = cmd.args.first()
            && funcs::MUTATORS.contains(&f.as_str())
        {
            return self.mutate(pipe, cmd, pos, trim);
        }
        if self.mutable.contains(var) {
            let value = self.pipe(pipe).map(Expr::param);
            self.bind(var);
            return match value {
                Some(v) => self.tag(trim, &format!("setVar {} {v}", json_string(var)), false),
                None => self.fail(pos, trim),
            };
        }
        if pipe.assign && !self.in_this_scope(var) {
            self.bind(var);
            return self.outer_assignment(var, pos, trim);
        }
        let value = self.pipe(pipe).map(Expr::param);
        let name = self.bind(var);
        let Some(value) = value else {
            return self.fail(pos, trim);
        };
        self.open_closer(trim, &format!("#let {name}={value}"), "let");
    }

    /// How a Go variable is read: its block parameter, or `(var "x")` when it is mutable.
    fn var_ref(&self, var: &str) -> String {
        if self.mutable.iter().any(|m| m == var) {
            format!("(var {})", json_string(var))
        } else {
            var_name(var)
        }
    }

    fn in_this_scope(&self, var: &str) -> bool {
        self.scopes
            .last()
            .is_some_and(|s| s.vars.iter().any(|v| v == var))
    }

    fn outer_assignment(&mut self, var: &str, pos: Pos, trim: Trim) {
        self.problem(
            pos,
            format!("assignment to `${var}`"),
            "the variable is declared outside the enclosing block; handlebars variables cannot be changed from a nested block",
        );
        self.fail(pos, trim);
    }

    /// Writes an opening block tag that lasts until the end of the current scope.
    fn open_closer(&mut self, trim: Trim, tag: &str, closer: &'static str) {
        self.tag(trim, tag, true);
        if let Some(scope) = self.scopes.last_mut() {
            scope.closers.push(closer);
        }
    }

    /// `$_ := set X "k" v` (or `unset`, `merge`, `mergeOverwrite`): X is `$x`, `$x.a.b`, `.`
    /// or `.a.b`; the variable (or `.`) is rebound to a copy with the change.
    fn mutate(&mut self, pipe: &Pipe, cmd: &Cmd, pos: Pos, trim: Trim) {
        let (base, fields) = match cmd.args.get(1) {
            Some(Arg::Var(v, f)) if !v.is_empty() => (Some(v.clone()), f.clone()),
            Some(Arg::Dot(f)) => (None, f.clone()),
            _ => {
                self.problem(
                    pos,
                    "a change of `$` in place".into(),
                    "`set`/`merge` on `$` changes the whole context, which handlebars cannot rebind; change a variable or `.` instead",
                );
                return self.fail(pos, trim);
            }
        };
        if let Some(v) = &base
            && !self.in_this_scope(v)
            && !self.mutable.contains(v)
        {
            return self.outer_assignment(v, pos, trim);
        }
        let Some(mut value) = self.pipe(pipe).map(Expr::param) else {
            return self.fail(pos, trim);
        };
        let root = base
            .as_deref()
            .map_or_else(|| "this".to_owned(), |v| self.var_ref(v));
        for i in (0..fields.len()).rev() {
            let parent = path(&root, &fields[..i]);
            value = format!("(set {parent} {} {value})", json_string(&fields[i]));
        }
        match base {
            Some(v) if self.mutable.contains(&v) => {
                self.tag(trim, &format!("setVar {} {value}", json_string(&v)), false);
            }
            Some(v) => {
                let name = self.bind(&v);
                self.open_closer(trim, &format!("#let {name}={value}"), "let");
            }
            None => self.open_closer(trim, &format!("#with {value}"), "with"),
        }
    }

    /// Declares `$var` in the current scope; returns its handlebars name.
    fn bind(&mut self, var: &str) -> String {
        if let Some(scope) = self.scopes.last_mut()
            && !scope.vars.iter().any(|v| v == var)
        {
            scope.vars.push(var.to_owned());
        }
        var_name(var)
    }

    fn declared(&self, var: &str) -> bool {
        self.scopes.iter().any(|s| s.vars.iter().any(|v| v == var))
    }

    fn close_scope(&mut self, closers: &[&'static str], trim: Trim) {
        for (i, helper) in closers.iter().rev().enumerate() {
            let t = Trim {
                left: trim.left && i == 0,
                right: false,
            };
            self.tag(t, &format!("/{helper}"), true);
        }
    }

    fn block(&mut self, b: &BlockNode) {
        self.block_inner(b, false);
    }

    fn block_inner(&mut self, b: &BlockNode, chained: bool) {
        let helper = match b.kind {
            BlockKind::If => "if",
            BlockKind::With => "with",
            BlockKind::Range => "each",
        };
        self.scopes.push(Scope::default());
        let cond = self.condition(b);
        let open = match &cond {
            Some(c) if chained => format!("else {helper} {c}"),
            Some(c) => format!("#{helper} {c}"),
            None => {
                let marker_trim = if chained { Trim::default() } else { b.open };
                if self.cx.allow_partial {
                    self.marker(b.pos, marker_trim);
                }
                if chained {
                    "else if false".to_owned()
                } else {
                    "#if false".to_owned()
                }
            }
        };
        self.tag(b.open, &open, true);
        self.nodes(&b.body);
        let scope = self.scopes.pop().unwrap_or_default();
        match &b.otherwise {
            None => {
                self.close_scope(&scope.closers, b.end);
                self.end(helper, b.end, scope.closers.len());
            }
            Some((else_trim, Else::Body(body))) => {
                self.close_scope(&scope.closers, *else_trim);
                let t = Trim {
                    left: else_trim.left && scope.closers.is_empty(),
                    right: else_trim.right,
                };
                self.tag(t, "else", true);
                self.scopes.push(Scope::default());
                self.nodes(body);
                let scope = self.scopes.pop().unwrap_or_default();
                self.close_scope(&scope.closers, b.end);
                self.end(helper, b.end, scope.closers.len());
            }
            Some((else_trim, Else::Chain(next))) => {
                self.close_scope(&scope.closers, *else_trim);
                if next.kind == b.kind {
                    // `{{else if …}}`: the chained block writes the shared `{{/if}}`.
                    self.block_inner(next, true);
                } else {
                    // `{{if}}…{{else with}}`: the second block nests in a plain `{{else}}`.
                    self.tag(*else_trim, "else", true);
                    self.block_inner(next, false);
                    self.end(helper, Trim::default(), 1);
                }
            }
        }
    }

    fn end(&mut self, helper: &str, trim: Trim, lets_closed: usize) {
        let t = Trim {
            left: trim.left && lets_closed == 0,
            right: trim.right,
        };
        self.tag(t, &format!("/{helper}"), true);
    }

    /// The block's condition as written after `#if`/`#with`/`#each`, with block parameters.
    fn condition(&mut self, b: &BlockNode) -> Option<String> {
        let value = self.pipe(&Pipe {
            vars: Vec::new(),
            ..b.pipe.clone()
        });
        let vars: Vec<String> = b.pipe.vars.iter().map(|v| self.bind(v)).collect();
        if let Some(v) = b.pipe.vars.iter().find(|v| self.mutable.contains(v)) {
            self.problem(
                b.pos,
                format!("assignment to `${v}`"),
                "a variable declared by `range` or `with` cannot be assigned from a nested block",
            );
            return None;
        }
        let value = value?;
        match b.kind {
            BlockKind::Range => {
                let list_result = value
                    .helper()
                    .is_some_and(|f| funcs::LIST_RESULTS.contains(&f));
                let mut c = value.param();
                if !list_result {
                    c = format!("(sortKeys {c})");
                }
                match vars.as_slice() {
                    [] => Some(c),
                    [v] => Some(format!("{c} as |{v}|")),
                    [i, v] => Some(format!("{c} as |{v} {i}|")),
                    _ => None,
                }
            }
            BlockKind::With => match vars.as_slice() {
                [] => Some(value.param()),
                [v] => Some(format!("{} as |{v}|", value.param())),
                _ => None,
            },
            BlockKind::If => match vars.as_slice() {
                [] => Some(value.param()),
                _ => {
                    self.problem(
                        b.pos,
                        "a variable declared in `if`".into(),
                        "declare it in its own action before the `if`",
                    );
                    None
                }
            },
        }
    }
}

#[cfg(test)]
#[path = "emit_tests.rs"]
mod tests;
