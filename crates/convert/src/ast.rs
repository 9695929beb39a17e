//! The syntax tree of a Go template, as `text/template/parse` defines it, reduced to what the
//! converter needs. Every node keeps the 1-based line and column of its action.

/// A position in a chart file: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

/// Whitespace trimming of one action: `{{-` (left) and `-}}` (right).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Trim {
    /// `{{-`: trailing whitespace of the text before is removed.
    pub left: bool,
    /// `-}}`: leading whitespace of the text after is removed.
    pub right: bool,
}

/// One node of a template body.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// Literal text.
    Text(String),
    /// `{{ pipeline }}`: prints the value, or declares/assigns variables.
    Action {
        /// The pipeline.
        pipe: Pipe,
        /// Where the action starts.
        pos: Pos,
        /// Its trim markers.
        trim: Trim,
    },
    /// `{{if}}`, `{{with}}` and `{{range}}`: a condition, a body, an optional else.
    Block(Box<BlockNode>),
    /// `{{template "name" pipeline}}`.
    Template {
        /// The template name.
        name: String,
        /// The data passed (`None`: nil).
        pipe: Option<Pipe>,
        /// Where the action starts.
        pos: Pos,
        /// Its trim markers.
        trim: Trim,
    },
    /// `{{break}}` or `{{continue}}` inside `range`.
    LoopControl {
        /// `break` or `continue`.
        keyword: &'static str,
        /// Where the action starts.
        pos: Pos,
    },
}

/// The kind of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// `if`.
    If,
    /// `with`.
    With,
    /// `range`.
    Range,
}

/// An `if`/`with`/`range` block.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockNode {
    /// Which block.
    pub kind: BlockKind,
    /// The condition (for `range`, the declaration and the collection).
    pub pipe: Pipe,
    /// Where the opening action starts.
    pub pos: Pos,
    /// Trim markers of the opening action.
    pub open: Trim,
    /// The body.
    pub body: Vec<Node>,
    /// `{{else}}` (its trim markers and body), or an `{{else if …}}` chain as a nested block.
    pub otherwise: Option<(Trim, Else)>,
    /// Trim markers of `{{end}}`.
    pub end: Trim,
}

/// What follows `{{else …}}`.
#[derive(Debug, Clone, PartialEq)]
pub enum Else {
    /// A plain `{{else}}` body.
    Body(Vec<Node>),
    /// `{{else if …}}` / `{{else with …}}`: a block that shares the outer `{{end}}`.
    Chain(Box<BlockNode>),
}

/// A pipeline: optional variable declarations, then commands joined by `|`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipe {
    /// Declared or assigned variables, without `$` (`$` alone is never declared).
    pub vars: Vec<String>,
    /// `=` (assignment) rather than `:=` (declaration).
    pub assign: bool,
    /// The commands; the value of each is passed as the last argument of the next.
    pub cmds: Vec<Cmd>,
    /// Where the pipeline starts.
    pub pos: Pos,
}

/// One command: a function and its arguments, or a single operand.
#[derive(Debug, Clone, PartialEq)]
pub struct Cmd {
    /// The operands; the first one is the function when it is an [`Arg::Ident`].
    pub args: Vec<Arg>,
    /// Where the command starts.
    pub pos: Pos,
}

/// An operand.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// `.` followed by zero or more fields: `.`, `.Values.x`.
    Dot(Vec<String>),
    /// `$name` followed by fields; `$` itself has an empty name.
    Var(String, Vec<String>),
    /// A function name.
    Ident(String),
    /// A string (double-quoted or raw), unescaped.
    Str(String),
    /// A number as written (decimal, hex, float).
    Number(String),
    /// `true` or `false`.
    Bool(bool),
    /// `nil`.
    Nil,
    /// `( pipeline )` followed by zero or more fields.
    Paren(Box<Pipe>, Vec<String>),
}
