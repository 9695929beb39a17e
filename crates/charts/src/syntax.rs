//! Handlebars syntax errors in words a template author can act on.
//!
//! The handlebars parser reports pest rule names (`expected trailing_tilde_to_omit_whitespace`
//! for a missing `}`) at the position where it gave up, which is often after the mistake (the
//! next line, or the end of the file for an unclosed block). This module finds the tag or block
//! at fault in the template text and says what was expected there.

use handlebars::{TemplateError, TemplateErrorReason};

/// What is wrong with a template's syntax, and the form that was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxProblem {
    /// A tag opened with `{{` (or `{{{`) has no closing braces.
    #[error("tag `{tag}` is not closed: expected `{close}`")]
    UnclosedTag {
        /// The start of the tag as written (its first line, shortened).
        tag: String,
        /// The closing braces it needs.
        close: &'static str,
    },
    /// A string argument has no closing quote.
    #[error("string is not closed: expected a closing {quote} before `}}}}`")]
    UnclosedString {
        /// The quote character that opened it.
        quote: char,
    },
    /// A comment `{{! …` or `{{!-- …` has no end.
    #[error("comment is not closed: expected `}}}}` (or `--}}}}` after `{{{{!--`)")]
    UnclosedComment,
    /// A block `{{#name …}}` reaches the end of the file.
    #[error("block `{{{{#{name}}}}}` is never closed: expected `{{{{/{name}}}}}`")]
    UnclosedBlock {
        /// The block helper's name (`if`, `each`, …).
        name: String,
    },
    /// A block is closed with another block's name.
    #[error(
        "block `{{{{#{opened}}}}}` is closed by `{{{{/{closed}}}}}`: expected `{{{{/{opened}}}}}`"
    )]
    MismatchedClose {
        /// The name the block was opened with.
        opened: String,
        /// The name it was closed with.
        closed: String,
    },
    /// `{{/name}}` with no open block.
    #[error("`{{{{/{name}}}}}` closes no open block: expected a `{{{{#{name} …}}}}` before it")]
    StrayClose {
        /// The name after `/`.
        name: String,
    },
    /// `{{else}}` outside a block, or a second one in the same block.
    #[error(
        "`{{{{else}}}}` outside a block or twice in one: expected it once, between \
         `{{{{#if …}}}}` and `{{{{/if}}}}`"
    )]
    StrayElse,
    /// Anything else the parser expected at that position.
    #[error("expected {expected}")]
    Expected {
        /// The expected forms, in words.
        expected: String,
    },
    /// A parameter handlebars refuses.
    #[error("invalid argument `{argument}`")]
    InvalidArgument {
        /// The argument as written.
        argument: String,
    },
    /// Any other compile error of handlebars (its own message).
    #[error("{message}")]
    Other {
        /// Handlebars' message.
        message: String,
    },
}

/// A syntax problem and where it is (1-based line and column, when known).
pub(crate) struct Located {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub problem: SyntaxProblem,
}

/// Describes a compile error of `source`.
pub(crate) fn describe(source: &str, error: &TemplateError) -> Located {
    let (line, column) = error
        .pos()
        .map_or((None, None), |(l, c)| (Some(l), Some(c)));
    let at = |problem| Located {
        line,
        column,
        problem,
    };
    match error.reason() {
        TemplateErrorReason::InvalidSyntax(message) => match error.pos() {
            Some((l, c)) => invalid_syntax(source, offset_of(source, l, c), message),
            None => at(expected(message)),
        },
        TemplateErrorReason::MismatchingClosedHelper(opened, closed)
        | TemplateErrorReason::MismatchingClosedDecorator(opened, closed) => {
            at(SyntaxProblem::MismatchedClose {
                opened: opened.clone(),
                closed: closed.clone(),
            })
        }
        TemplateErrorReason::InvalidParam(argument) => at(SyntaxProblem::InvalidArgument {
            argument: argument.clone(),
        }),
        other => at(SyntaxProblem::Other {
            message: other.to_string(),
        }),
    }
}

/// Finds what a pest "expected …" at byte `offset` is about.
fn invalid_syntax(source: &str, offset: usize, message: &str) -> Located {
    let located = |offset: usize, problem| {
        let (line, column) = line_col(source, offset);
        Located {
            line: Some(line),
            column: Some(column),
            problem,
        }
    };
    let rest = &source[offset..];
    // The last `{{` before the error, widened to a `{{{` or `{{{{` it is part of.
    let tag_start = source[..offset]
        .rfind("{{")
        .map(|start| source[..start].trim_end_matches('{').len());
    let after_open = tag_start.map(|start| source[start..offset].trim_start_matches(['{', '~']));
    if let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'')
        && message.contains("helper_parameter")
    {
        return located(offset, SyntaxProblem::UnclosedString { quote });
    }
    if let (Some(start), Some("")) = (tag_start, after_open) {
        if rest.starts_with('!') {
            return located(start, SyntaxProblem::UnclosedComment);
        }
        if let Some(closing) = rest.strip_prefix('/') {
            let name = closing
                .split(|c: char| c.is_whitespace() || c == '}' || c == '~')
                .next()
                .unwrap_or_default();
            return located(start, SyntaxProblem::StrayClose { name: name.into() });
        }
    }
    if message.contains("unexpected invert_tag_item") {
        return located(tag_start.unwrap_or(offset), SyntaxProblem::StrayElse);
    }
    if message.contains("trailing_tilde_to_omit_whitespace")
        && let Some(start) = tag_start
    {
        let tag = source[start..]
            .lines()
            .next()
            .unwrap_or_default()
            .trim_end();
        let close = if tag.starts_with("{{{") { "}}}" } else { "}}" };
        let tag = shorten(tag);
        return located(start, SyntaxProblem::UnclosedTag { tag, close });
    }
    if message.contains("helper_block_end")
        && offset >= source.len()
        && let Some((start, name)) = open_blocks(source).pop()
    {
        return located(start, SyntaxProblem::UnclosedBlock { name });
    }
    located(offset, expected(message))
}

/// The blocks still open at the end of `source`, outermost first: `(offset, name)`.
/// Comments and raw blocks are skipped, so tags inside them do not count.
fn open_blocks(source: &str) -> Vec<(usize, String)> {
    let mut open = Vec::new();
    let mut at = 0;
    while let Some(found) = source[at..].find("{{") {
        let start = at + found;
        let inner = &source[start + 2..];
        let skip_to = |end: &str| inner.find(end).map_or(source.len(), |e| start + 2 + e);
        at = if inner.starts_with("!--") {
            skip_to("--}}")
        } else if inner.starts_with('!') {
            skip_to("}}")
        } else if let Some(raw) = inner.strip_prefix("{{") {
            let name = raw.split(|c: char| c == '}' || c.is_whitespace()).next();
            skip_to(&format!("{{{{{{{{/{}", name.unwrap_or_default()))
        } else {
            let tag = inner.trim_start_matches('~');
            let word = |t: &str| {
                t.trim_start()
                    .split(|c: char| c.is_whitespace() || c == '}' || c == '~')
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            };
            if let Some(block) = tag.strip_prefix('#') {
                open.push((start, word(block.trim_start_matches(['>', '*']))));
            } else if tag.starts_with('/') {
                open.pop();
            }
            start + 2
        };
    }
    open
}

/// `expected a, b, or c` in words, without the parser's rule names.
fn expected(message: &str) -> SyntaxProblem {
    let list = message
        .rsplit("expected ")
        .next()
        .unwrap_or(message)
        .replace(", or ", ", ")
        .replace(" or ", ", ");
    let mut words: Vec<&str> = Vec::new();
    for rule in list.split(", ").map(str::trim) {
        let word = match rule {
            "leading_tilde_to_omit_whitespace" => continue,
            "trailing_tilde_to_omit_whitespace" => "`}}`",
            "identifier" | "path_inline" | "path_id" | "partial_identifier" | "reference" => {
                "a name (a value such as `Values.x`, or a helper)"
            }
            "subexpression" => "a `(subexpression)`",
            "helper_parameter" | "hash" => "an argument",
            "literal" | "string_literal" | "number_literal" => "a value",
            _ => "a template tag",
        };
        if !words.contains(&word) {
            words.push(word);
        }
    }
    let expected = match words.as_slice() {
        [] => "a template tag".to_owned(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    };
    SyntaxProblem::Expected { expected }
}

/// At most 40 characters of a tag, for messages.
fn shorten(tag: &str) -> String {
    const MAX: usize = 40;
    if tag.chars().count() <= MAX {
        tag.to_owned()
    } else {
        format!("{}…", tag.chars().take(MAX).collect::<String>())
    }
}

/// Byte offset of a 1-based (line, column in characters) position; clamped to the text.
fn offset_of(source: &str, line: usize, column: usize) -> usize {
    let line_start: usize = source
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let line_text = &source[line_start.min(source.len())..];
    let within = line_text
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(line_text.len(), |(i, _)| i);
    (line_start + within).min(source.len())
}

/// 1-based (line, column in characters) of a byte offset.
fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(source: &str) -> String {
        let error = handlebars::Template::compile(source).unwrap_err();
        let located = describe(source, &error);
        format!(
            "{}:{}: {}",
            located.line.unwrap_or(0),
            located.column.unwrap_or(0),
            located.problem
        )
    }

    #[test]
    fn each_common_mistake_names_its_position_and_the_expected_form() {
        let cases = [
            (
                "a: {{ Values.x }\nb: 1\n",
                "1:4: tag `{{ Values.x }` is not closed: expected `}}`",
            ),
            (
                "a: {{ Values.x\nb: 1\n",
                "1:4: tag `{{ Values.x` is not closed: expected `}}`",
            ),
            (
                "x: {{{Values.x}}\n",
                "1:4: tag `{{{Values.x}}` is not closed: expected `}}}`",
            ),
            (
                "{{#if a}}\n{{#each b}}x{{/each}}\ny\n",
                "1:1: block `{{#if}}` is never closed: expected `{{/if}}`",
            ),
            (
                "{{#if x}}a{{/each}}",
                "1:11: block `{{#if}}` is closed by `{{/each}}`: expected `{{/if}}`",
            ),
            (
                "a\n{{/if}}",
                "2:1: `{{/if}}` closes no open block: expected a `{{#if …}}` before it",
            ),
            (
                "{{else}}",
                "1:1: `{{else}}` outside a block or twice in one: expected it once, between `{{#if …}}` and `{{/if}}`",
            ),
            (
                "a: {{quote \"x}}\n",
                "1:12: string is not closed: expected a closing \" before `}}`",
            ),
            (
                "{{! unclosed",
                "1:1: comment is not closed: expected `}}` (or `--}}` after `{{!--`)",
            ),
            (
                "{{ }}",
                "1:4: expected a name (a value such as `Values.x`, or a helper) or a `(subexpression)`",
            ),
            ("{{x y=}}", "1:7: expected an argument"),
        ];
        for (source, expected) in cases {
            assert_eq!(problem(source), expected, "{source:?}");
        }
    }

    #[test]
    fn blocks_inside_comments_and_raw_blocks_do_not_count_as_open() {
        let source = "{{#with a}}{{!-- {{#if x}} --}}{{{{raw}}}}{{#each y}}{{{{/raw}}}}\n";
        assert_eq!(open_blocks(source), vec![(0, "with".to_owned())]);
    }

    #[test]
    fn positions_round_trip_through_offsets() {
        let source = "ab\ncdé\nf";
        for offset in [0, 1, 3, 5, 8] {
            let (line, column) = line_col(source, offset);
            assert_eq!(offset_of(source, line, column), offset);
        }
    }
}
