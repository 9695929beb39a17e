//! Builds the syntax tree ([`crate::ast`]) from the lexer's items: blocks, `else` chains,
//! `define`/`block`/`template`, pipelines with declarations and parentheses.

use crate::ast::{Arg, BlockKind, BlockNode, Cmd, Else, Node, Pipe, Pos, Trim};
use crate::lex::{Item, SyntaxError, Tok, Token, items};

/// A parsed template file: its body and the templates it defines.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// What the file renders (text outside `define`).
    pub body: Vec<Node>,
    /// `{{define}}` and `{{block}}` templates, in file order.
    pub defines: Vec<Define>,
}

/// A named template (`{{define "name"}}…{{end}}`).
#[derive(Debug, Clone, PartialEq)]
pub struct Define {
    /// Its name.
    pub name: String,
    /// Its body.
    pub body: Vec<Node>,
    /// Where the `define` action starts.
    pub pos: Pos,
}

/// Parses a Go template.
///
/// # Errors
/// The first syntax error, with its position.
pub fn parse(src: &str) -> Result<Parsed, SyntaxError> {
    let items = items(src)?;
    let mut p = Parser {
        items,
        at: 0,
        defines: Vec::new(),
    };
    let (body, stop) = p.list(true)?;
    match stop {
        Stop::Eof => Ok(Parsed {
            body,
            defines: p.defines,
        }),
        Stop::End(_, pos) | Stop::Else(_, pos, _) => Err(SyntaxError {
            pos,
            message: "unexpected `end` or `else` outside a block".into(),
        }),
    }
}

/// Why a list of nodes ended.
enum Stop {
    Eof,
    End(Trim, Pos),
    /// `{{else …}}` with the tokens after `else`.
    Else(Trim, Pos, Vec<Token>),
}

struct Parser {
    items: Vec<Item>,
    at: usize,
    defines: Vec<Define>,
}

impl Parser {
    fn list(&mut self, top: bool) -> Result<(Vec<Node>, Stop), SyntaxError> {
        let mut nodes = Vec::new();
        while self.at < self.items.len() {
            let item = self.items[self.at].clone();
            self.at += 1;
            let (tokens, pos, trim) = match item {
                Item::Text(t) => {
                    nodes.push(Node::Text(t));
                    continue;
                }
                Item::Action { tokens, pos, trim } => (tokens, pos, trim),
            };
            let keyword = match tokens.first().map(|t| &t.kind) {
                Some(Tok::Ident(k)) => k.as_str(),
                None => return Err(err(pos, "empty action")),
                _ => "",
            };
            let rest = tokens[1.min(tokens.len())..].to_vec();
            match keyword {
                "end" => return Ok((nodes, Stop::End(trim, pos))),
                "else" => return Ok((nodes, Stop::Else(trim, pos, rest))),
                "if" | "with" | "range" => {
                    let block = self.block(kind_of(keyword), rest, pos, trim)?;
                    nodes.push(Node::Block(Box::new(block)));
                }
                "define" | "block" => {
                    if !top && keyword == "define" {
                        return Err(err(pos, "`define` is only allowed at the top level"));
                    }
                    let mut ts = TokenStream::new(rest, pos);
                    let name = ts.string("a template name")?;
                    let pipe = if keyword == "block" {
                        Some(ts.pipeline(false)?)
                    } else {
                        None
                    };
                    ts.finish()?;
                    if trim.right {
                        self.trim_next_text();
                    }
                    let (mut body, stop) = self.list(false)?;
                    let Stop::End(end_trim, _) = stop else {
                        return Err(err(pos, &format!("`{keyword}` is not closed by `end`")));
                    };
                    trim_around_define(&mut body, end_trim.left);
                    self.defines.push(Define {
                        name: name.clone(),
                        body,
                        pos,
                    });
                    if keyword == "block" {
                        nodes.push(Node::Template {
                            name,
                            pipe,
                            pos,
                            trim: Trim {
                                left: trim.left,
                                right: end_trim.right,
                            },
                        });
                    } else {
                        trim_around_define(&mut nodes, trim.left);
                        if end_trim.right {
                            self.trim_next_text();
                        }
                    }
                }
                "template" => {
                    let mut ts = TokenStream::new(rest, pos);
                    let name = ts.string("a template name")?;
                    let pipe = if ts.done() {
                        None
                    } else {
                        Some(ts.pipeline(false)?)
                    };
                    ts.finish()?;
                    nodes.push(Node::Template {
                        name,
                        pipe,
                        pos,
                        trim,
                    });
                }
                "break" | "continue" => nodes.push(Node::LoopControl {
                    keyword: if keyword == "break" {
                        "break"
                    } else {
                        "continue"
                    },
                    pos,
                }),
                _ => {
                    let mut ts = TokenStream::new(tokens, pos);
                    let pipe = ts.pipeline(true)?;
                    ts.finish()?;
                    nodes.push(Node::Action { pipe, pos, trim });
                }
            }
        }
        Ok((nodes, Stop::Eof))
    }

    fn block(
        &mut self,
        kind: BlockKind,
        tokens: Vec<Token>,
        pos: Pos,
        open: Trim,
    ) -> Result<BlockNode, SyntaxError> {
        let mut ts = TokenStream::new(tokens, pos);
        let pipe = ts.pipeline(true)?;
        ts.finish()?;
        let (body, stop) = self.list(false)?;
        let (otherwise, end) = match stop {
            Stop::Eof => {
                return Err(err(
                    pos,
                    &format!("`{}` is not closed by `end`", name_of(kind)),
                ));
            }
            Stop::End(end, _) => (None, end),
            Stop::Else(else_trim, else_pos, rest) => {
                let chained = match rest.first().map(|t| &t.kind) {
                    Some(Tok::Ident(k)) if k == "if" || k == "with" => Some(kind_of(k)),
                    _ => None,
                };
                if let Some(chain_kind) = chained {
                    let nested = self.block(chain_kind, rest[1..].to_vec(), else_pos, else_trim)?;
                    let end = nested.end;
                    (Some((else_trim, Else::Chain(Box::new(nested)))), end)
                } else {
                    if !rest.is_empty() {
                        return Err(err(else_pos, "expected `else`, `else if` or `else with`"));
                    }
                    let (body, stop) = self.list(false)?;
                    let Stop::End(end, _) = stop else {
                        return Err(err(else_pos, "`else` is not closed by `end`"));
                    };
                    (Some((else_trim, Else::Body(body))), end)
                }
            }
        };
        Ok(BlockNode {
            kind,
            pipe,
            pos,
            open,
            body,
            otherwise,
            end,
        })
    }

    /// Applies a `-}}` on a `define`'s `end` to the text after it.
    fn trim_next_text(&mut self) {
        if let Some(Item::Text(t)) = self.items.get_mut(self.at) {
            *t = t.trim_start_matches([' ', '\t', '\r', '\n']).to_owned();
        }
    }
}

/// Applies a `{{-` on a `define` to the text before it (a define outputs nothing).
fn trim_around_define(nodes: &mut Vec<Node>, left: bool) {
    if left && let Some(Node::Text(t)) = nodes.last_mut() {
        *t = t.trim_end_matches([' ', '\t', '\r', '\n']).to_owned();
        if t.is_empty() {
            nodes.pop();
        }
    }
}

fn kind_of(keyword: &str) -> BlockKind {
    match keyword {
        "if" => BlockKind::If,
        "with" => BlockKind::With,
        _ => BlockKind::Range,
    }
}

fn name_of(kind: BlockKind) -> &'static str {
    match kind {
        BlockKind::If => "if",
        BlockKind::With => "with",
        BlockKind::Range => "range",
    }
}

fn err(pos: Pos, message: &str) -> SyntaxError {
    SyntaxError {
        pos,
        message: message.to_owned(),
    }
}

/// The tokens of one action, consumed left to right.
struct TokenStream {
    tokens: Vec<Token>,
    at: usize,
    pos: Pos,
}

impl TokenStream {
    fn new(tokens: Vec<Token>, pos: Pos) -> Self {
        Self { tokens, at: 0, pos }
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn done(&self) -> bool {
        self.at >= self.tokens.len()
    }

    fn here(&self) -> Pos {
        self.peek().map_or(self.pos, |t| t.pos)
    }

    fn finish(&self) -> Result<(), SyntaxError> {
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(err(t.pos, "unexpected token after the pipeline")),
        }
    }

    fn string(&mut self, what: &str) -> Result<String, SyntaxError> {
        match self.peek().map(|t| t.kind.clone()) {
            Some(Tok::Str(s)) => {
                self.at += 1;
                Ok(s)
            }
            _ => Err(err(self.here(), &format!("expected {what} (a string)"))),
        }
    }

    /// `[$x [, $y] (:= | =)] command { | command }`.
    fn pipeline(&mut self, allow_decl: bool) -> Result<Pipe, SyntaxError> {
        let pos = self.here();
        let mut vars = Vec::new();
        let mut assign = false;
        if allow_decl {
            let save = self.at;
            let mut names = Vec::new();
            while let Some(Tok::Var(name)) = self.peek().map(|t| t.kind.clone()) {
                self.at += 1;
                names.push(name);
                match self.peek().map(|t| &t.kind) {
                    Some(Tok::Comma) if names.len() < 2 => self.at += 1,
                    Some(Tok::Declare) => {
                        self.at += 1;
                        vars = names;
                        break;
                    }
                    Some(Tok::Assign) => {
                        self.at += 1;
                        vars = names;
                        assign = true;
                        break;
                    }
                    _ => {
                        self.at = save;
                        break;
                    }
                }
            }
        }
        let mut cmds = vec![self.command()?];
        while let Some(Tok::Pipe) = self.peek().map(|t| &t.kind) {
            self.at += 1;
            cmds.push(self.command()?);
        }
        Ok(Pipe {
            vars,
            assign,
            cmds,
            pos,
        })
    }

    fn command(&mut self) -> Result<Cmd, SyntaxError> {
        let pos = self.here();
        let mut args = Vec::new();
        while let Some(t) = self.peek() {
            if matches!(t.kind, Tok::Pipe | Tok::RParen) {
                break;
            }
            args.push(self.operand()?);
        }
        if args.is_empty() {
            return Err(err(pos, "missing value in the pipeline"));
        }
        Ok(Cmd { args, pos })
    }

    fn operand(&mut self) -> Result<Arg, SyntaxError> {
        let Some(t) = self.peek().cloned() else {
            return Err(err(self.pos, "missing value"));
        };
        self.at += 1;
        let arg = match t.kind {
            Tok::Field(f) => {
                let mut fields = vec![f];
                fields.extend(self.fields());
                Arg::Dot(fields)
            }
            Tok::Dot => Arg::Dot(Vec::new()),
            Tok::Var(name) => Arg::Var(name, self.fields()),
            Tok::Ident(name) => match name.as_str() {
                "true" => Arg::Bool(true),
                "false" => Arg::Bool(false),
                "nil" => Arg::Nil,
                _ => Arg::Ident(name),
            },
            Tok::Str(s) => Arg::Str(s),
            Tok::Number(n) => Arg::Number(n),
            Tok::LParen => {
                let pipe = self.pipeline(true)?;
                match self.peek().map(|t| &t.kind) {
                    Some(Tok::RParen) => self.at += 1,
                    _ => return Err(err(t.pos, "`(` is not closed: expected `)`")),
                }
                Arg::Paren(Box::new(pipe), self.fields())
            }
            Tok::RParen | Tok::Pipe | Tok::Declare | Tok::Assign | Tok::Comma => {
                return Err(err(t.pos, "unexpected punctuation: expected a value"));
            }
        };
        Ok(arg)
    }

    /// Fields written right after an operand (`$x.a.b`, `(…).a`).
    fn fields(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(Token {
            kind: Tok::Field(f),
            spaced: false,
            ..
        }) = self.peek()
        {
            out.push(f.clone());
            self.at += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defines_are_collected_and_blocks_nest() {
        let p = parse(
            "{{- define \"x\" -}}\nA{{ end }}\n{{ if .a }}1{{ else if .b }}2{{ else }}3{{ end }}",
        )
        .unwrap();
        assert_eq!(p.defines.len(), 1);
        assert_eq!(p.defines[0].body, vec![Node::Text("A".into())]);
        let Node::Block(b) = &p.body[1] else {
            panic!("{:?}", p.body)
        };
        let Some((_, Else::Chain(chain))) = &b.otherwise else {
            panic!()
        };
        assert!(matches!(chain.otherwise, Some((_, Else::Body(_)))));
    }

    #[test]
    fn pipelines_keep_declarations_and_parentheses() {
        let p = parse("{{ range $i, $v := (list 1 2).x | sortAlpha }}{{ end }}").unwrap();
        let Node::Block(b) = &p.body[0] else { panic!() };
        assert_eq!(b.pipe.vars, vec!["i".to_owned(), "v".to_owned()]);
        assert_eq!(b.pipe.cmds.len(), 2);
        assert!(matches!(&b.pipe.cmds[0].args[0], Arg::Paren(_, f) if f == &["x".to_owned()]));
    }

    #[test]
    fn unclosed_blocks_name_the_opening_action() {
        let e = parse("a\n{{ if .x }}b").unwrap_err();
        assert_eq!(
            (e.pos.line, e.pos.column, e.message.as_str()),
            (2, 1, "`if` is not closed by `end`")
        );
    }
}
