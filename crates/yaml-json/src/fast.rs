//! A fast reader for the plain block YAML that templates and Kubernetes tools write, straight
//! into `serde_json::Value`, with serde_yaml as the authority for everything else.
//!
//! Rendered manifests are nearly always block mappings and sequences of plain, quoted and
//! literal-block scalars with flow `[]`/`{}` on one line. Reading those through serde_yaml's
//! event machinery and its own `Value` costs more than rendering the templates; this reader
//! goes from text to JSON in one pass. It is deliberately partial: whatever it is not sure to
//! read exactly as serde_yaml (anchors, tags, folded or indented blocks, multi-line flow or
//! plain scalars, floats in exponent form, `0x`/`0o` numbers, duplicate keys, tabs, CRLF,
//! directives, errors of any kind…) makes it answer `None`, and the caller parses the whole
//! text with serde_yaml. So it never changes a result, only the time it takes; the tests
//! compare both readers on every YAML file of the repository and on tricky snippets.

use serde_json::{Map, Number, Value};

/// One line of a document: indentation and text after it (no line break).
#[derive(Clone, Copy)]
struct Line<'a> {
    indent: usize,
    text: &'a str,
    /// The raw line, for literal block scalars.
    raw: &'a str,
    /// Whether the line ended with a line break (the last line of a text may not).
    newline: bool,
}

impl Line<'_> {
    /// Blank or comment-only: not part of the structure.
    fn is_empty(&self) -> bool {
        self.text.is_empty() || self.text.starts_with('#')
    }
}

/// Parses a `---`-separated stream; `None` when any part is outside what this reader knows.
pub(crate) fn parse_stream(text: &str) -> Option<Vec<Value>> {
    if text.contains(['\r', '\t', '\u{feff}']) {
        return None;
    }
    let mut docs = Vec::new();
    let mut current: Vec<Line<'_>> = Vec::new();
    // Whether the current document was opened by `---` (an empty one is then `null`).
    let mut explicit = false;
    for (raw, newline) in lines(text) {
        if let Some(rest) = raw.strip_prefix("---") {
            let after = rest.trim_start_matches(' ');
            let marker = rest.is_empty()
                || (rest.starts_with(' ') && (after.is_empty() || after.starts_with('#')));
            if !marker {
                return None;
            }
            finish(&mut docs, &mut current, explicit)?;
            explicit = true;
            continue;
        }
        if raw.starts_with("...") || raw.starts_with('%') {
            return None;
        }
        let trimmed = raw.trim_start_matches(' ');
        current.push(Line {
            indent: raw.len() - trimmed.len(),
            text: trimmed.trim_end_matches(' '),
            raw,
            newline,
        });
    }
    finish(&mut docs, &mut current, explicit)?;
    if docs.is_empty() {
        // serde_yaml reads a text without documents as one `null`.
        docs.push(Value::Null);
    }
    Some(docs)
}

/// Lines with whether each ended with a line break.
fn lines(text: &str) -> impl Iterator<Item = (&str, bool)> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        Some(match rest.find('\n') {
            Some(i) => {
                let line = &rest[..i];
                rest = &rest[i + 1..];
                (line, true)
            }
            None => {
                let line = rest;
                rest = "";
                (line, false)
            }
        })
    })
}

/// Ends a document: parses its lines (or `null` for an explicit empty one).
fn finish(docs: &mut Vec<Value>, lines: &mut Vec<Line<'_>>, explicit: bool) -> Option<()> {
    let taken = std::mem::take(lines);
    if taken.iter().all(Line::is_empty) {
        if explicit {
            docs.push(Value::Null);
        }
        return Some(());
    }
    let mut p = Parser {
        lines: taken,
        pos: 0,
    };
    p.skip_empty();
    let first = p.peek()?;
    let value = p.node(first.indent)?;
    p.skip_empty();
    if p.pos != p.lines.len() {
        return None;
    }
    docs.push(value);
    Some(())
}

struct Parser<'a> {
    lines: Vec<Line<'a>>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn skip_empty(&mut self) {
        while self.lines.get(self.pos).is_some_and(Line::is_empty) {
            self.pos += 1;
        }
    }

    /// The next structural line, if any.
    fn peek(&mut self) -> Option<Line<'a>> {
        self.skip_empty();
        self.lines.get(self.pos).copied()
    }

    /// A block node whose first line is the next one, at `indent`.
    fn node(&mut self, indent: usize) -> Option<Value> {
        let line = self.peek()?;
        if line.indent != indent {
            return None;
        }
        if is_sequence_entry(line.text) {
            self.sequence(indent)
        } else if split_key(line.text).is_some() {
            self.mapping(indent)
        } else {
            // A scalar or flow collection on a line of its own (`resources:\n  {}`); a more
            // indented line after it would continue it.
            self.pos += 1;
            let value = inline(line.text)?;
            match self.peek() {
                Some(next) if next.indent >= indent => None,
                _ => Some(value),
            }
        }
    }

    fn mapping(&mut self, indent: usize) -> Option<Value> {
        let mut map = Map::new();
        while let Some(line) = self.peek() {
            if line.indent < indent {
                break;
            }
            if line.indent > indent || is_sequence_entry(line.text) {
                return None;
            }
            let (key, rest) = split_key(line.text)?;
            self.pos += 1;
            let value = self.value_after(rest, indent, true)?;
            if map.insert(key, value).is_some() {
                return None;
            }
        }
        Some(Value::Object(map))
    }

    fn sequence(&mut self, indent: usize) -> Option<Value> {
        let mut items = Vec::new();
        while let Some(line) = self.peek() {
            if line.indent < indent || (line.indent == indent && !is_sequence_entry(line.text)) {
                break;
            }
            if line.indent > indent {
                return None;
            }
            let after = &line.text[1..];
            let rest = after.trim_start_matches(' ');
            if is_sequence_entry(rest) {
                return None;
            }
            if split_key(rest).is_some() {
                // A compact mapping: its first entry shares the line with `-`.
                let column = indent + 1 + (after.len() - rest.len());
                self.lines[self.pos] = Line {
                    indent: column,
                    text: rest,
                    ..line
                };
                items.push(self.mapping(column)?);
            } else {
                self.pos += 1;
                items.push(self.value_after(rest, indent, false)?);
            }
        }
        Some(Value::Array(items))
    }

    /// The value of an entry whose text after the indicator is `rest`, inside a collection at
    /// `indent`: inline on the line, or a nested block (a mapping's value may be a sequence at
    /// the mapping's own indentation).
    fn value_after(&mut self, rest: &'a str, indent: usize, in_mapping: bool) -> Option<Value> {
        if rest.is_empty() || rest.starts_with('#') {
            return match self.peek() {
                Some(next) if next.indent > indent => self.node(next.indent),
                Some(next)
                    if in_mapping && next.indent == indent && is_sequence_entry(next.text) =>
                {
                    self.sequence(indent)
                }
                _ => Some(Value::Null),
            };
        }
        if rest.starts_with(['|', '>']) {
            return self.block_scalar(rest, indent);
        }
        let value = inline(rest)?;
        // A more indented line after an inline value would continue a plain scalar (or be
        // an error): not ours.
        match self.peek() {
            Some(next) if next.indent > indent => None,
            _ => Some(value),
        }
    }

    /// A literal (`|`, `|-`, `|+`) or folded (`>`, `>-`, `>+`) block scalar under a
    /// collection at `indent`. Folded ones only without more-indented lines (whose line
    /// breaks folding keeps).
    fn block_scalar(&mut self, header: &str, indent: usize) -> Option<Value> {
        let folded = header.starts_with('>');
        let chomp = match header[1..].trim_end_matches(' ') {
            "" => Chomp::Clip,
            "-" => Chomp::Strip,
            "+" => Chomp::Keep,
            other if other.trim_start().starts_with('#') => Chomp::Clip,
            _ => return None,
        };
        let start = self.pos;
        let block_indent = self.lines[start..]
            .iter()
            .find(|l| !l.text.is_empty())
            .map(|l| l.indent)
            .filter(|&n| n > indent)?;
        let mut content: Vec<&str> = Vec::new();
        let mut end = start;
        for line in &self.lines[start..] {
            if line.text.is_empty() {
                if line.raw.len() > block_indent {
                    return None;
                }
                content.push("");
            } else if line.indent >= block_indent {
                if !line.newline || (folded && line.indent > block_indent) {
                    return None;
                }
                content.push(&line.raw[block_indent..]);
            } else {
                break;
            }
            end += 1;
        }
        let trailing = content.iter().rev().take_while(|l| l.is_empty()).count();
        // Trailing empty lines may belong to the structure after the block (they are blank
        // either way): hand them back, as the chomping already saw them.
        let kept = content.len() - trailing;
        if kept == 0 {
            return None;
        }
        self.pos = end;
        let mut text = if folded {
            fold(&content[..kept])
        } else {
            content[..kept].join("\n")
        };
        match chomp {
            Chomp::Strip => {}
            Chomp::Clip => text.push('\n'),
            Chomp::Keep => {
                if end == self.lines.len() && trailing > 0 {
                    // Keeping newlines at the end of a document: let serde_yaml decide.
                    return None;
                }
                text.push('\n');
                text.push_str(&"\n".repeat(trailing));
            }
        }
        Some(Value::String(text))
    }
}

/// Folds lines as a `>` block does: neighbouring non-empty lines join with a space, each
/// empty line between them becomes a line break.
fn fold(lines: &[&str]) -> String {
    let mut out = String::new();
    let mut empties = 0;
    for (i, line) in lines.iter().enumerate() {
        if line.is_empty() {
            empties += 1;
            continue;
        }
        if i > 0 {
            if empties == 0 {
                out.push(' ');
            } else {
                out.push_str(&"\n".repeat(empties));
            }
        }
        empties = 0;
        out.push_str(line);
    }
    out
}

enum Chomp {
    Clip,
    Strip,
    Keep,
}

fn is_sequence_entry(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// Splits `key: rest` (or `key:` at the end); `None` when the line is not a simple entry.
fn split_key(text: &str) -> Option<(String, &str)> {
    let (key, after) = match text.as_bytes().first()? {
        b'"' | b'\'' => {
            let (key, len) = quoted(text)?;
            (key, &text[len..])
        }
        _ => {
            let colon = find_separator(text)?;
            let key = &text[..colon];
            if key.ends_with(' ') || key.contains(" #") || !plain_start(key) {
                return None;
            }
            match resolve(key)? {
                Value::String(s) => (s, &text[colon..]),
                _ => return None,
            }
        }
    };
    let rest = after.strip_prefix(':')?;
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    Some((key, rest.trim_start_matches(' ')))
}

/// Position of the first `:` followed by a space or the end of the line.
fn find_separator(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    (0..bytes.len()).find(|&i| bytes[i] == b':' && (i + 1 == bytes.len() || bytes[i + 1] == b' '))
}

/// Whether a plain scalar may start like `text` in block context.
fn plain_start(text: &str) -> bool {
    let bytes = text.as_bytes();
    match bytes.first() {
        None => false,
        Some(b'-' | b'?' | b':') => bytes.get(1).is_some_and(|b| *b != b' '),
        Some(
            b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\''
            | b'"' | b'%' | b'@' | b'`',
        ) => false,
        Some(_) => true,
    }
}

/// A value written on the rest of a line: quoted, flow or plain scalar, then at most a comment.
fn inline(text: &str) -> Option<Value> {
    match text.as_bytes()[0] {
        b'"' | b'\'' | b'[' | b'{' => {
            let (value, len) = flow_value(text)?;
            let tail = text[len..].trim_start_matches(' ');
            (tail.is_empty()
                || (tail.starts_with('#') && len < text.len() && text.as_bytes()[len] == b' '))
                .then_some(value)
        }
        _ => {
            if !plain_start(text) {
                return None;
            }
            let scalar = match text.find(" #") {
                Some(i) => text[..i].trim_end_matches(' '),
                None => text,
            };
            if scalar.ends_with(':') || scalar.contains(": ") {
                return None;
            }
            resolve(scalar)
        }
    }
}

/// A quoted scalar or a flow collection at the start of `text`, and the bytes it used.
fn flow_value(text: &str) -> Option<(Value, usize)> {
    match text.as_bytes().first()? {
        b'"' | b'\'' => quoted(text).map(|(s, len)| (Value::String(s), len)),
        b'[' => {
            let mut items = Vec::new();
            let mut pos = 1;
            loop {
                pos += skip_spaces(&text[pos..]);
                if text[pos..].starts_with(']') {
                    if !items.is_empty() {
                        return None; // `[a, ]`
                    }
                    return Some((Value::Array(items), pos + 1));
                }
                let (item, len) = flow_item(&text[pos..])?;
                items.push(item);
                pos += len;
                pos += skip_spaces(&text[pos..]);
                match text.as_bytes().get(pos)? {
                    b',' => pos += 1,
                    b']' => return Some((Value::Array(items), pos + 1)),
                    _ => return None,
                }
            }
        }
        b'{' => {
            let mut map = Map::new();
            let mut pos = 1;
            loop {
                pos += skip_spaces(&text[pos..]);
                if text[pos..].starts_with('}') {
                    if !map.is_empty() {
                        return None;
                    }
                    return Some((Value::Object(map), pos + 1));
                }
                let key = match flow_item(&text[pos..])? {
                    (Value::String(k), len) => {
                        pos += len;
                        k
                    }
                    _ => return None,
                };
                if !text[pos..].starts_with(": ") {
                    return None;
                }
                pos += 1 + skip_spaces(&text[pos + 1..]);
                let (value, len) = flow_item(&text[pos..])?;
                pos += len;
                if map.insert(key, value).is_some() {
                    return None;
                }
                pos += skip_spaces(&text[pos..]);
                match text.as_bytes().get(pos)? {
                    b',' => pos += 1,
                    b'}' => return Some((Value::Object(map), pos + 1)),
                    _ => return None,
                }
            }
        }
        _ => None,
    }
}

/// One element inside a flow collection: quoted, nested flow, or a plain scalar that ends at
/// `,`, `]`, `}` or `: `.
fn flow_item(text: &str) -> Option<(Value, usize)> {
    match text.as_bytes().first()? {
        b'"' | b'\'' | b'[' | b'{' => flow_value(text),
        _ => {
            let bytes = text.as_bytes();
            let mut end = 0;
            while end < bytes.len() {
                match bytes[end] {
                    b',' | b']' | b'}' | b'[' | b'{' | b'#' => break,
                    b':' if bytes.get(end + 1).is_none_or(|b| *b == b' ') => break,
                    _ => end += 1,
                }
            }
            if end < bytes.len() && matches!(bytes[end], b'[' | b'{' | b'#') {
                return None;
            }
            let scalar = text[..end].trim_end_matches(' ');
            if !plain_start(scalar) || scalar.contains(':') {
                return None;
            }
            Some((resolve(scalar)?, end))
        }
    }
}

fn skip_spaces(text: &str) -> usize {
    text.len() - text.trim_start_matches(' ').len()
}

/// A single- or double-quoted scalar that ends on the same line, and its length in bytes.
fn quoted(text: &str) -> Option<(String, usize)> {
    let bytes = text.as_bytes();
    let quote = bytes[0];
    let mut out = String::new();
    let mut i = 1;
    let mut start = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' if quote == b'\'' => {
                out.push_str(&text[start..i]);
                if bytes.get(i + 1) == Some(&b'\'') {
                    out.push('\'');
                    i += 2;
                    start = i;
                    continue;
                }
                return Some((out, i + 1));
            }
            b'"' if quote == b'"' => {
                out.push_str(&text[start..i]);
                return Some((out, i + 1));
            }
            b'\\' if quote == b'"' => {
                out.push_str(&text[start..i]);
                let (c, len) = escape(&text[i + 1..])?;
                out.push(c);
                i += 1 + len;
                start = i;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// A double-quoted escape after the backslash: the character and the bytes used.
fn escape(text: &str) -> Option<(char, usize)> {
    let c = match text.as_bytes().first()? {
        b'\\' => '\\',
        b'"' => '"',
        b'/' => '/',
        b'n' => '\n',
        b't' => '\t',
        b'r' => '\r',
        b'0' => '\0',
        b'u' => {
            let code = u32::from_str_radix(text.get(1..5)?, 16).ok()?;
            return Some((char::from_u32(code)?, 5));
        }
        _ => return None,
    };
    Some((c, 1))
}

/// What a plain scalar means (YAML 1.2 core schema, as serde_yaml reads it), or `None` when
/// it is a number form this reader leaves to serde_yaml.
fn resolve(text: &str) -> Option<Value> {
    // Most scalars are words: only these first bytes can start anything but a string.
    let Some(first) = text.bytes().next() else {
        return Some(Value::Null);
    };
    if !matches!(
        first,
        b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'~' | b'0'..=b'9' | b'-' | b'+' | b'.'
    ) {
        return Some(Value::String(text.to_owned()));
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Value::Null),
        "true" | "True" | "TRUE" => return Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Value::Bool(false)),
        _ => {}
    }
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !could_be_number(unsigned) {
        return Some(Value::String(text.to_owned()));
    }
    if text.starts_with('+') {
        return None;
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if digits(unsigned) {
        if unsigned.len() > 1 && unsigned.starts_with('0') {
            // Leading zeros: a string in YAML 1.2.
            return Some(Value::String(text.to_owned()));
        }
        return if text.starts_with('-') {
            text.parse::<i64>().ok().map(Value::from)
        } else {
            text.parse::<u64>().ok().map(Value::from)
        };
    }
    match unsigned.split_once('.') {
        Some((whole, fraction)) if digits(whole) && digits(fraction) => text
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number),
        _ => None,
    }
}

/// Whether `text` (sign removed) has a form serde_yaml may read as a number: `0x`/`0o`/`0b`
/// prefixes, or Rust's float syntax (`1`, `1.`, `.5`, `1.5e-3`). Everything else is a string
/// (`1.2.3`, `10m`, `1:20`, `inf` and `nan`, which serde_yaml refuses as non-finite).
fn could_be_number(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.len() > 1 && bytes[0] == b'0' && matches!(bytes[1], b'x' | b'o' | b'b') {
        return true;
    }
    if text.starts_with(['+', '-']) {
        return false; // a second sign: no number form takes it
    }
    if text.eq_ignore_ascii_case(".inf") || text.eq_ignore_ascii_case(".nan") {
        return true; // `.inf`, `.nan`: serde_yaml's rules, not ours
    }
    let mut i = 0;
    let mut mantissa_digits = 0;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
        mantissa_digits += 1;
    }
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
            mantissa_digits += 1;
        }
    }
    if mantissa_digits == 0 {
        return false;
    }
    if i < bytes.len() && matches!(bytes[i], b'e' | b'E') {
        i += 1;
        if i < bytes.len() && matches!(bytes[i], b'+' | b'-') {
            i += 1;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    i == bytes.len()
}
