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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::serde_stream;
    use serde_json::json;
    use std::path::Path;

    /// Whenever the fast reader answers, serde_yaml gives the same documents.
    fn agrees(text: &str) -> bool {
        let Some(fast) = parse_stream(text) else {
            return false;
        };
        let (slow, err) = serde_stream(text);
        assert!(
            err.is_none(),
            "the fast reader accepted YAML serde_yaml refuses ({err:?}):\n{text}"
        );
        assert_eq!(fast, slow, "readers differ on:\n{text}");
        // Numbers too: 1 and 1.0 are equal as JSON values but not as numbers.
        assert_eq!(
            serde_json::to_string(&fast).unwrap(),
            serde_json::to_string(&slow).unwrap(),
            "{text}"
        );
        true
    }

    fn yaml_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy();
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" {
                    yaml_files(&path, out);
                }
            } else if name.ends_with(".yaml") || name.ends_with(".yml") {
                out.push(path);
            }
        }
    }

    #[test]
    fn every_yaml_file_of_the_repository_reads_as_serde_yaml_reads_it() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut files = Vec::new();
        yaml_files(&root, &mut files);
        assert!(files.len() > 100, "found only {} YAML files", files.len());
        let (mut plain, mut fast) = (0, 0);
        for file in &files {
            let Ok(text) = std::fs::read_to_string(file) else {
                continue;
            };
            // Templates are YAML only once rendered; they count when read, not when missed.
            let template = file.components().any(|c| c.as_os_str() == "templates");
            plain += usize::from(!template);
            if agrees(&text) {
                fast += usize::from(!template);
            } else if std::env::var_os("YAML_FAST_MISSES").is_some() {
                eprintln!("not read fast: {}", file.display());
            }
        }
        // Nearly all of them are plain block YAML: the fast reader must take them, or it buys
        // nothing.
        assert!(
            fast * 10 >= plain * 9,
            "the fast reader took only {fast} of {plain} YAML files (YAML_FAST_MISSES=1 lists the others)"
        );
    }

    #[test]
    fn rendered_manifest_forms_are_read_fast() {
        let text = "# Source: x\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-1\n  labels:\n    app.kubernetes.io/version: \"1.2.3\"\n    tier: 'it''s'\nspec:\n  replicas: 3\n  template:\n    spec:\n      containers:\n        - name: app\n          image: \"registry.example.com/app:1.2.3\"\n          args: [--port=8080, \"--name=a b\", 7]\n          env:\n          - name: A\n            value: \"x\\ty\\u00e9\"\n          resources: {}\n          ports: []\n      nodeSelector: {kubernetes.io/os: linux}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  script: |\n    #!/bin/sh\n    echo \"a: b\" # not a comment\n\n    exit 0\n  strip: |-\n    one\n  keep: |+\n    two\n\n  folded: >-\n    a\n    b\n\n\n    c\n  version: 1.2.3\n  octal: 0777\n  ratio: 0.5\n  neg: -3\n  empty:\n  nothing: ~\n  flag: true\n  colon: a:b\n---\n---\n";
        let docs = parse_stream(text).expect("read by the fast reader");
        assert!(agrees(text));
        assert_eq!(docs.len(), 4);
        assert_eq!((&docs[2], &docs[3]), (&Value::Null, &Value::Null));
        assert_eq!(
            docs[1]["data"],
            json!({"script": "#!/bin/sh\necho \"a: b\" # not a comment\n\nexit 0\n",
                "strip": "one", "keep": "two\n\n", "folded": "a b\n\nc", "version": "1.2.3", "octal": "0777",
                "ratio": 0.5, "neg": -3, "empty": null, "nothing": null, "flag": true, "colon": "a:b"})
        );
        assert_eq!(
            docs[0]["spec"]["template"]["spec"]["containers"][0]["args"],
            json!(["--port=8080", "--name=a b", 7])
        );
    }

    #[test]
    fn forms_it_does_not_know_go_to_serde_yaml() {
        for text in [
            "a: &x 1\nb: *x\n",
            "a: !tag 1\n",
            "a: >\n  folded\n    more indented\n",
            "a: |2\n   x\n",
            "a: 1e3\n",
            "a: 0x1F\n",
            "a: +1\n",
            "a: .inf\n",
            "a: 1\na: 2\n",
            "a: [1,\n  2]\n",
            "a: multi\n  line\n",
            "a:\tb\n",
            "a: 1\r\n",
            "? a\n: b\n",
            "1: a\n",
            "- - a\n",
            "a:\n  two\n  lines\n",
            "%YAML 1.2\n---\na: 1\n",
            "a: 1\n...\n",
            "--- a\n",
            "a: \"x\\qy\"\n",
            "a: b: c\n",
            "a: [b, ]\n",
            "a: |\n  no final newline",
        ] {
            assert!(parse_stream(text).is_none(), "{text:?}");
            // And the public functions still read them (or refuse them) as serde_yaml does.
            let _ = crate::parse_stream(text);
        }
    }

    #[test]
    fn document_markers_give_the_same_documents_as_serde_yaml() {
        for text in [
            "",
            "\n",
            "# only a comment\n",
            "---\n",
            "---\n---\n",
            "a: 1\n---\n",
            "---\na: 1\n",
            "# c\n---\na: 1\n--- # c\nb: 2\n",
            "a: 1\n---\n---\n# only a comment\n---\nb: [x]\n",
            "  a: 1\n  b: 2\n",
            "a:\n- 1\n- 2\nb:\n  - x: 1\n    y: 2\n  -\n    z: 3\n  - \n",
            "just a scalar\n",
            "resources:\n  {}\nlist:\n  [a, b]\nq:\n  \"x\"\n",
        ] {
            let fast = parse_stream(text).unwrap_or_else(|| panic!("fast: {text:?}"));
            assert_eq!(fast, serde_stream(text).0, "{text:?}");
        }
    }

    /// xorshift: deterministic pseudo-random texts without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.next(items.len())]
        }
    }

    /// Random line soups made of the forms above (and broken ones): whenever the fast reader
    /// answers, serde_yaml agrees.
    #[test]
    fn random_yaml_like_texts_never_read_differently() {
        let keys = [
            "a", "b", "key", "\"q\"", "'s'", "x.y/z", "-k", "1", "on", "a b",
        ];
        let scalars = [
            "1",
            "-2",
            "007",
            "1.5",
            "1.2.3",
            "x",
            "\"d q\"",
            "'s q'",
            "~",
            "null",
            "true",
            "False",
            "yes",
            "[]",
            "{}",
            "[a, 1, \"b\"]",
            "{k: v, n: 1}",
            "|",
            "|-",
            "|+",
            "",
            "# c",
            "a # c",
            "-",
            "--x",
            ".5",
            "1e2",
            "0o7",
            "\"\\u00e9\"",
            "a:b",
            "[a:b]",
            ">",
            ">-",
        ];
        let mut rng = Rng(0x9e3779b97f4a7c15);
        let mut answered = 0;
        for _ in 0..20_000 {
            let mut text = String::new();
            for _ in 0..rng.next(8) + 1 {
                let indent = " ".repeat(rng.next(4) * 2);
                let line = match rng.next(7) {
                    0 => format!("{indent}- {}", rng.pick(&scalars)),
                    1 => format!("{indent}- {}: {}", rng.pick(&keys), rng.pick(&scalars)),
                    2 => format!(
                        "{indent}{}",
                        rng.pick(&["---", "# c", "", "  text", "-", "text"])
                    ),
                    _ => format!("{indent}{}: {}", rng.pick(&keys), rng.pick(&scalars)),
                };
                text.push_str(line.trim_end());
                text.push('\n');
            }
            if agrees(&text) {
                answered += 1;
            }
        }
        assert!(
            answered > 2_000,
            "the fast reader answered only {answered} texts"
        );
    }
}
