//! Module discovery and chart rendering for the addon-operator.
//!
//! This crate finds the modules of a module set (`NNN-name/` directories with `Chart.yaml`,
//! `values.yaml`, `templates/`, `crds/`, `openapi/`, `hooks/`, `enabled`) and turns a
//! module's handlebars templates plus its values into checked Kubernetes objects, the way
//! `helm template` does for one chart. It does **not** compute values (layering, schema
//! validation and the ConfigMap live in the `values` crate), talk to a cluster, or order
//! objects for apply.
//!
//! - [`discover`] → [`ModuleSet`] of [`Module`]s (sorted by order, then name), plus
//!   [`load_openapi_dir`] for `global-hooks/openapi`.
//! - [`ChartRenderer`] compiles a module once (vetted [`HELPERS`], no HTML escaping, strict
//!   mode) and [`ChartRenderer::render`]s it many times into [`RenderedObject`]s;
//!   [`ResourceScopes`] says which kinds are cluster-scoped.
//! - Errors report every problem: [`DiscoveryError`], [`RenderErrors`]. Each names the file and,
//!   for templates, the line and column; syntax errors say the expected form
//!   ([`SyntaxProblem`]) and helper errors the helper, argument and usage
//!   ([`HelperCallError`]). No message quotes a value.
//!
//! ```
//! use charts::{discover, ChartRenderer, ResourceScopes};
//! use serde_json::json;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let templates = dir.path().join("010-echo-server/templates");
//! std::fs::create_dir_all(&templates).unwrap();
//! std::fs::write(templates.join("cm.yaml"), "apiVersion: v1\nkind: ConfigMap\n\
//!     metadata:\n  name: {{Release.Name}}\ndata:\n  replicas: {{quote Values.echoServer.replicas}}\n").unwrap();
//!
//! let set = discover(&[dir.path().to_path_buf()]).unwrap();
//! let module = &set.modules()[0];
//! assert_eq!((module.name.as_str(), module.key.as_str(), module.order), ("echo-server", "echoServer", 10));
//!
//! let renderer = ChartRenderer::new(module).unwrap();
//! let objects = renderer
//!     .render(&json!({"global": {}, "echoServer": {"replicas": 2}}), "ops", &ResourceScopes::builtin())
//!     .unwrap();
//! assert_eq!(objects[0].source, "echo-server/templates/cm.yaml");
//! assert_eq!(objects[0].object["metadata"]["namespace"], "ops");
//! assert_eq!(objects[0].object["data"]["replicas"], "2");
//! ```

// Tests may unwrap (team rule); library code may not.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod capabilities;
mod chart;
mod discovery;
mod error;
mod helpers;
mod names;
mod objects;
mod partials;
mod renderer;
mod syntax;

pub use capabilities::{API_VERSIONS, KUBE_VERSION};
pub use chart::{ALLOW_EMPTY_RENDER_ANNOTATION, ChartMeta, HELM_COMPAT_ANNOTATION};
pub use discovery::{
    CommonValuesFile, Module, ModuleSet, OpenApiSchemas, TemplateFile, discover, load_openapi_dir,
    parse_modules_dirs,
};
pub use error::{DiscoveryError, DiscoveryProblem, RenderError, RenderErrors};
pub use helpers::{
    ArgumentProblem, EXAMPLE_VALUES, HELPERS, HelperCallError, HelperError, HelperSpec,
    helpers_markdown_table,
};
pub use names::{NameError, UNNUMBERED_ORDER, kebab_case, validate_name, values_key};
pub use objects::{RenderedObject, ResourceScopes, api_group};
pub use renderer::{ChartRenderer, render};
pub use syntax::SyntaxProblem;
pub use yaml_json::YamlError;
