//! Splits a Go template into text and actions, and an action into tokens, the way
//! `text/template/parse`'s lexer does (default delimiters `{{ }}`, trim markers `{{- ` and
//! ` -}}`, comments `{{/* */}}`).

use crate::ast::{Pos, Trim};

/// A syntax error: where, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Where the parser stopped.
    pub pos: Pos,
    /// What is wrong, in words.
    pub message: String,
}

/// One piece of a template source.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Item {
    /// Literal text, with the trims of neighbouring comments already applied.
    Text(String),
    /// An action's tokens.
    Action {
        tokens: Vec<Token>,
        pos: Pos,
        trim: Trim,
    },
}

/// One token of an action.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: Tok,
    pub pos: Pos,
    /// Whether whitespace separates it from the previous token (fields attach only without).
    pub spaced: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// `.name` (a field).
    Field(String),
    /// `.` alone.
    Dot,
    /// `$name` (`$` alone: empty name).
    Var(String),
    /// A name: a keyword or a function.
    Ident(String),
    /// A string, unescaped.
    Str(String),
    /// A number (a character constant is given as its code point).
    Number(String),
    LParen,
    RParen,
    Pipe,
    Declare,
    Assign,
    Comma,
}

/// Line starts of a source, to turn byte offsets into positions.
pub(crate) struct Lines<'a> {
    src: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        Self { src, starts }
    }

    pub(crate) fn pos(&self, offset: usize) -> Pos {
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self.starts[line - 1];
        let column = self.src[start..offset.min(self.src.len())].chars().count() + 1;
        Pos { line, column }
    }
}

/// Splits `src` into text and actions.
///
/// # Errors
/// An unclosed action, comment or string.
pub(crate) fn items(src: &str) -> Result<Vec<Item>, SyntaxError> {
    let lines = Lines::new(src);
    let mut out = Vec::new();
    let mut rest_start = 0;
    // Whether the previous comment asked to trim the text after it.
    let mut trim_next = false;
    while let Some(found) = src[rest_start..].find("{{") {
        let open = rest_start + found;
        let mut text = &src[rest_start..open];
        if trim_next {
            text = trim_start(text);
        }
        let mut inner = open + 2;
        let left = src[inner..].starts_with("- ")
            || src[inner..].starts_with("-\t")
            || src[inner..].starts_with("-\n")
            || src[inner..].starts_with("-\r");
        if left {
            inner += 1;
        }
        let after_space = inner + (src[inner..].len() - src[inner..].trim_start().len());
        if src[after_space..].starts_with("/*") {
            let Some(end) = src[after_space + 2..].find("*/") else {
                return Err(SyntaxError {
                    pos: lines.pos(open),
                    message: "comment is not closed: expected `*/}}`".into(),
                });
            };
            let after = after_space + 2 + end + 2;
            let tail = src[after..].trim_start();
            let (right, close) = if let Some(t) = tail.strip_prefix("-}}") {
                (after < src.len() - tail.len(), src.len() - t.len())
            } else if let Some(t) = tail.strip_prefix("}}") {
                (false, src.len() - t.len())
            } else {
                return Err(SyntaxError {
                    pos: lines.pos(open),
                    message: "comment ends with `*/` but is not followed by `}}`".into(),
                });
            };
            let text = if left { trim_end(text) } else { text };
            push_text(&mut out, text);
            trim_next = right;
            rest_start = close;
            continue;
        }
        push_text(&mut out, text);
        trim_next = false;
        let (tokens, right, close) = tokens(src, open, inner, &lines)?;
        out.push(Item::Action {
            tokens,
            pos: lines.pos(open),
            trim: Trim { left, right },
        });
        rest_start = close;
    }
    let mut text = &src[rest_start..];
    if trim_next {
        text = trim_start(text);
    }
    push_text(&mut out, text);
    Ok(out)
}

fn push_text(out: &mut Vec<Item>, text: &str) {
    if text.is_empty() {
        return;
    }
    if let Some(Item::Text(prev)) = out.last_mut() {
        prev.push_str(text);
    } else {
        out.push(Item::Text(text.to_owned()));
    }
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn trim_start(s: &str) -> &str {
    s.trim_start_matches(is_space)
}

fn trim_end(s: &str) -> &str {
    s.trim_end_matches(is_space)
}

/// Tokens of the action whose content starts at `start`; returns them, the right trim
/// marker and the offset after `}}`.
fn tokens(
    src: &str,
    open: usize,
    start: usize,
    lines: &Lines<'_>,
) -> Result<(Vec<Token>, bool, usize), SyntaxError> {
    let mut toks = Vec::new();
    let bytes = src.as_bytes();
    let mut i = start;
    let mut spaced = true;
    let err = |at: usize, message: &str| SyntaxError {
        pos: lines.pos(at),
        message: message.to_owned(),
    };
    loop {
        let Some(c) = src[i..].chars().next() else {
            return Err(err(open, "action is not closed: expected `}}`"));
        };
        if is_space(c) {
            let ws_end = i + (src[i..].len() - trim_start(&src[i..]).len());
            if src[ws_end..].starts_with("-}}") {
                return Ok((toks, true, ws_end + 3));
            }
            i = ws_end;
            spaced = true;
            continue;
        }
        if src[i..].starts_with("}}") {
            return Ok((toks, false, i + 2));
        }
        let at = i;
        let kind = match c {
            '(' => {
                i += 1;
                Tok::LParen
            }
            ')' => {
                i += 1;
                Tok::RParen
            }
            '|' => {
                i += 1;
                Tok::Pipe
            }
            ',' => {
                i += 1;
                Tok::Comma
            }
            '=' => {
                i += 1;
                Tok::Assign
            }
            ':' if src[i..].starts_with(":=") => {
                i += 2;
                Tok::Declare
            }
            '"' => {
                let (s, end) = quoted(src, i).ok_or_else(|| err(at, "string is not closed"))?;
                i = end;
                Tok::Str(s)
            }
            '`' => {
                let end = src[i + 1..]
                    .find('`')
                    .ok_or_else(|| err(at, "raw string is not closed"))?;
                let s = src[i + 1..i + 1 + end].to_owned();
                i += end + 2;
                Tok::Str(s)
            }
            '\'' => {
                let (s, end) =
                    quoted(src, i).ok_or_else(|| err(at, "character constant is not closed"))?;
                i = end;
                let ch = s
                    .chars()
                    .next()
                    .ok_or_else(|| err(at, "empty character constant"))?;
                Tok::Number((ch as u32).to_string())
            }
            '.' => {
                let name = ident_at(src, i + 1);
                if name.is_empty() {
                    if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
                        let end = number_end(src, i);
                        let n = src[i..end].to_owned();
                        i = end;
                        Tok::Number(n)
                    } else {
                        i += 1;
                        Tok::Dot
                    }
                } else {
                    i += 1 + name.len();
                    Tok::Field(name.to_owned())
                }
            }
            '$' => {
                let name = ident_at(src, i + 1);
                i += 1 + name.len();
                Tok::Var(name.to_owned())
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '+')
                    && bytes
                        .get(i + 1)
                        .is_some_and(|b| b.is_ascii_digit() || *b == b'.')) =>
            {
                let end = number_end(src, i + 1);
                let n = src[i..end].to_owned();
                i = end;
                Tok::Number(n)
            }
            c if c.is_alphabetic() || c == '_' => {
                let name = ident_at(src, i);
                i += name.len();
                Tok::Ident(name.to_owned())
            }
            other => {
                return Err(err(
                    at,
                    &format!("unexpected character `{other}` in action"),
                ));
            }
        };
        toks.push(Token {
            kind,
            pos: lines.pos(at),
            spaced,
        });
        spaced = false;
    }
}

fn ident_at(src: &str, start: usize) -> &str {
    let rest = &src[start..];
    let len = rest
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
        .map_or(rest.len(), |(i, _)| i);
    &rest[..len]
}

fn number_end(src: &str, start: usize) -> usize {
    let rest = &src[start..];
    let mut prev = ' ';
    let len = rest
        .char_indices()
        .find(|&(_, c)| {
            let ok = c.is_ascii_alphanumeric()
                || c == '_'
                || c == '.'
                || ((c == '+' || c == '-') && matches!(prev, 'e' | 'E' | 'p' | 'P'));
            prev = c;
            !ok
        })
        .map_or(rest.len(), |(i, _)| i);
    start + len
}

/// A `"…"` or `'…'` literal at `start`, unescaped as Go does; returns it and the offset after it.
fn quoted(src: &str, start: usize) -> Option<(String, usize)> {
    let quote = src[start..].chars().next()?;
    let mut out = String::new();
    let mut chars = src[start + 1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c == quote => return Some((out, start + 1 + i + 1)),
            '\n' => return None,
            '\\' => {
                let (_, e) = chars.next()?;
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'v' => out.push('\x0b'),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex: String = (0..n)
                            .filter_map(|_| chars.next().map(|(_, c)| c))
                            .collect();
                        out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                    }
                    '0'..='7' => {
                        let mut oct = String::from(e);
                        for _ in 0..2 {
                            oct.push(chars.next()?.1);
                        }
                        out.push(char::from_u32(u32::from_str_radix(&oct, 8).ok()?)?);
                    }
                    other => out.push(other),
                }
            }
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Tok> {
        match &items(src).unwrap()[0] {
            Item::Action { tokens, .. } => tokens.iter().map(|t| t.kind.clone()).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn actions_are_split_into_go_tokens() {
        assert_eq!(
            kinds(r#"{{ $x := .Values.a | default "b\n" 'c' -1 `r\n` }}"#),
            vec![
                Tok::Var("x".into()),
                Tok::Declare,
                Tok::Field("Values".into()),
                Tok::Field("a".into()),
                Tok::Pipe,
                Tok::Ident("default".into()),
                Tok::Str("b\n".into()),
                Tok::Number("99".into()),
                Tok::Number("-1".into()),
                Tok::Str("r\\n".into()),
            ]
        );
    }

    #[test]
    fn comments_apply_their_trim_markers_and_vanish() {
        let got = items("a \n{{- /* c */ -}}\n b{{/* d */}}c").unwrap();
        assert_eq!(got, vec![Item::Text("abc".into())]);
    }

    #[test]
    fn trim_markers_need_a_space() {
        let Item::Action { trim, tokens, .. } = &items("{{-3}}").unwrap()[0] else {
            panic!()
        };
        assert_eq!(
            (trim.left, tokens[0].kind.clone()),
            (false, Tok::Number("-3".into()))
        );
        let Item::Action { trim, .. } = &items("{{- 3 -}}").unwrap()[0] else {
            panic!()
        };
        assert!(trim.left && trim.right);
    }

    #[test]
    fn unclosed_actions_say_where_they_start() {
        let e = items("a\n  {{ .x ").unwrap_err();
        assert_eq!((e.pos.line, e.pos.column), (2, 3));
    }
}
