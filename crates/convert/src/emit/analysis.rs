//! Whole-body analyses: which variables need render variables, and where handlebars would
//! drop a line that Go keeps.

use crate::ast::{Arg, BlockNode, Else, Node, Pipe};
use crate::funcs;

/// Variables that a block nested deeper than their declaration assigns (`$x = …` or
/// `$_ := set $x …` inside an `if`/`range`/`with`).
pub(super) fn mutable_vars(body: &[Node]) -> Vec<String> {
    fn assigned(pipe: &Pipe) -> Option<String> {
        if pipe.assign {
            return pipe.vars.first().cloned();
        }
        match (pipe.vars.first().map(String::as_str), pipe.cmds.as_slice()) {
            (Some("_"), [cmd]) => match (cmd.args.first(), cmd.args.get(1)) {
                (Some(Arg::Ident(f)), Some(Arg::Var(v, _)))
                    if funcs::MUTATORS.contains(&f.as_str()) && !v.is_empty() =>
                {
                    Some(v.clone())
                }
                _ => None,
            },
            _ => None,
        }
    }
    fn walk(nodes: &[Node], depth: usize, decl: &mut Vec<(String, usize)>, out: &mut Vec<String>) {
        for n in nodes {
            match n {
                Node::Action { pipe, .. } => {
                    if let Some(v) = assigned(pipe) {
                        let declared_at = decl.iter().find(|(d, _)| *d == v).map(|(_, at)| *at);
                        if declared_at.is_some_and(|at| at < depth) && !out.contains(&v) {
                            out.push(v);
                        }
                    } else if let Some(v) = pipe.vars.first()
                        && !decl.iter().any(|(d, _)| d == v)
                    {
                        decl.push((v.clone(), depth));
                    }
                }
                Node::Block(b) => walk_block(b, depth + 1, decl, out),
                _ => {}
            }
        }
    }
    fn walk_block(
        b: &BlockNode,
        depth: usize,
        decl: &mut Vec<(String, usize)>,
        out: &mut Vec<String>,
    ) {
        for v in &b.pipe.vars {
            if !decl.iter().any(|(d, _)| d == v) {
                decl.push((v.clone(), depth));
            }
        }
        walk(&b.body, depth, decl, out);
        match &b.otherwise {
            Some((_, Else::Body(body))) => walk(body, depth, decl, out),
            Some((_, Else::Chain(next))) => walk_block(next, depth, decl, out),
            None => {}
        }
    }
    let mut out = Vec::new();
    walk(body, 0, &mut Vec::new(), &mut out);
    out
}

/// Inserts `{{!}}` after each block tag that handlebars would treat as standalone (alone on
/// its line), so that its line is kept exactly as Go keeps it.
pub(super) fn fix_standalone(src: &str, tags: &[(usize, usize)]) -> String {
    let mut out = src.to_owned();
    for &(start, end) in tags.iter().rev() {
        let before = &src[..start];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let leading = before[line_start..].chars().all(|c| c == ' ' || c == '\t');
        let after = &src[end..];
        let rest_of_line = after.split('\n').next().unwrap_or("");
        let trailing = rest_of_line
            .trim_end_matches('\r')
            .chars()
            .all(|c| c == ' ' || c == '\t');
        if leading && trailing {
            out.insert_str(end, "{{!}}");
        }
    }
    out
}
