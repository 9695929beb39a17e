//! Converts a Helm chart (Go templates, Sprig and Helm functions) into an addon-operator
//! module (handlebars templates for the `charts` renderer in Helm mode).
//!
//! It parses Go templates into a syntax tree ([`parse()`]) and writes each template body as
//! handlebars ([`emit()`]); [`convert`] does a whole chart held in memory ([`ChartFiles`]) and
//! returns the module's files ([`Conversion`]) plus every construct it could not convert
//! ([`Problem`], with file, line, column and the construct). It does not write files, render
//! anything or know the renderer: the caller passes the helper names the renderer has
//! ([`Options::helpers`]) and decides what to do with problems (the `addon-operator
//! convert-chart` command refuses to write a module with problems unless `--allow-partial`).
//!
//! What it refuses on purpose: `lookup` (reads the cluster), certificate and random
//! generators (`genCA`, `genSignedCert`, `randAlphaNum`, …: a new value on every render),
//! `.Files`, `break`/`continue`, assignments to a variable of an outer block, and application
//! subcharts (library subcharts' `define`s are converted).
//!
//! ```
//! use convert::{ChartFiles, Options, convert};
//!
//! let mut chart = ChartFiles::default();
//! chart.files.insert("Chart.yaml".into(), b"name: web\nversion: 1.0.0\n".to_vec());
//! chart.files.insert("values.yaml".into(), b"replicas: 2\n".to_vec());
//! chart.files.insert(
//!     "templates/cm.yaml".into(),
//!     b"{{- $n := .Values.replicas -}}\nreplicas: {{ $n | quote }}\n".to_vec(),
//! );
//! let helpers = vec!["quote".to_owned(), "let".to_owned()];
//! let out = convert(&chart, &Options { name: "web".into(), key: "web".into(), helpers, allow_partial: false });
//! assert!(out.problems.is_empty(), "{:?}", out.problems);
//! assert_eq!(
//!     out.files["templates/cm.yaml"],
//!     "{{!-- converted from templates/cm.yaml (addon-operator convert-chart) --}}\n\
//!      {{~#let n=Values.replicas~}}\nreplicas: {{quote n}}\n{{/let}}{{!}}"
//! );
//! assert_eq!(out.files["values.yaml"], "web:\n  replicas: 2\nwebEnabled: true\n");
//! ```

// Tests may unwrap (team rule); library code may not.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod ast;
mod chart;
mod emit;
mod error;
mod funcs;
mod lex;
mod parse;
mod schema;
mod values;

pub use ast::{Arg, BlockKind, BlockNode, Cmd, Else, Node, Pipe, Pos, Trim};
pub use chart::{ChartFiles, Conversion, HELM_COMPAT_ANNOTATION, Options, convert};
pub use emit::{EmitContext, Emitted, Unconverted, emit};
pub use error::{ConvertError, Problem};
pub use lex::SyntaxError;
pub use parse::{Define, Parsed, parse};
pub use schema::openapi_from_json_schema;
pub use values::{template_string, values_to_handlebars};
