//! A Helm chart read into memory, and its conversion into the files of a module.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use crate::emit::{EmitContext, emit};
use crate::error::{ConvertError, Problem};
use crate::parse::{Define, parse};
use crate::schema::openapi_from_json_schema;

/// Annotation the converter writes into the module's `Chart.yaml`: the renderer then gives the
/// templates Helm's root (`Values` = the module's own values, `Capabilities`, `Template`) and
/// renders a missing value as empty, as Helm does.
pub const HELM_COMPAT_ANNOTATION: &str = "addon-operator.io/helm-compatible";

/// A chart's files, by `/`-separated path relative to the chart directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChartFiles {
    /// Path → content.
    pub files: BTreeMap<String, Vec<u8>>,
}

impl ChartFiles {
    /// Reads every file under `dir` (no symlinks followed out of it).
    ///
    /// # Errors
    /// [`ConvertError::Read`] naming the path that could not be read.
    pub fn read(dir: &Path) -> Result<Self, ConvertError> {
        let mut files = BTreeMap::new();
        read_into(dir, dir, &mut files)?;
        Ok(Self { files })
    }

    fn text(&self, path: &str) -> Option<Result<&str, Problem>> {
        self.files
            .get(path)
            .map(|b| std::str::from_utf8(b).map_err(|_| Problem::file(path, "is not UTF-8 text")))
    }
}

fn read_into(
    root: &Path,
    dir: &Path,
    out: &mut BTreeMap<String, Vec<u8>>,
) -> Result<(), ConvertError> {
    let read_err = |path: &Path, source| ConvertError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| read_err(dir, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| read_err(dir, e))?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| read_err(&path, e))?;
        if kind.is_dir() {
            read_into(root, &path, out)?;
        } else if kind.is_file() {
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            out.insert(rel, std::fs::read(&path).map_err(|e| read_err(&path, e))?);
        }
    }
    Ok(())
}

/// What to convert the chart into.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The module name (kebab-case); `Chart.yaml`'s `name` in the module.
    pub name: String,
    /// The module's values key (lowerCamel of the name).
    pub key: String,
    /// Names of the helpers the renderer has (the converter maps functions onto them).
    pub helpers: Vec<String>,
    /// Write what converts and mark the rest with comments instead of failing.
    pub allow_partial: bool,
}

/// A converted module: its files, and what was not converted or left out.
#[derive(Debug, Clone, Default)]
pub struct Conversion {
    /// Module-relative path → content.
    pub files: BTreeMap<String, String>,
    /// Constructs that could not be converted (the conversion failed unless
    /// `allow_partial`, in which case each is marked in the output).
    pub problems: Vec<Problem>,
    /// Chart files deliberately not carried over, with the reason.
    pub skipped: Vec<(String, &'static str)>,
}

/// Converts `chart` into a module.
///
/// # Guarantees
/// Every problem of every file is listed (not only the first). Each output template starts
/// with a comment naming its source template.
pub fn convert(chart: &ChartFiles, opts: &Options) -> Conversion {
    let mut c = Conversion::default();
    let chart_yaml = match yaml(chart, "Chart.yaml") {
        Ok(Some(v)) => v,
        Ok(None) => {
            c.problems
                .push(Problem::file("Chart.yaml", "is missing: not a Helm chart"));
            return c;
        }
        Err(p) => {
            c.problems.push(p);
            return c;
        }
    };
    // Templates of this chart and `define`s of library subcharts.
    let mut sources: Vec<(String, &str)> = Vec::new();
    let mut subcharts: BTreeMap<String, bool> = BTreeMap::new();
    for (path, bytes) in &chart.files {
        if let Some(rest) = path.strip_prefix("charts/") {
            library_subchart(
                chart,
                path,
                rest,
                bytes,
                &mut subcharts,
                &mut sources,
                &mut c,
            );
            continue;
        }
        let Some(rel) = path.strip_prefix("templates/") else {
            continue;
        };
        if rel.starts_with("tests/") {
            c.skipped.push((
                path.clone(),
                "Helm test hook (`helm test`), not part of the release",
            ));
            continue;
        }
        if rel == "NOTES.txt" || !is_template(rel) {
            c.skipped.push((path.clone(), "not a template"));
            continue;
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => sources.push((path.clone(), text)),
            Err(_) => c.problems.push(Problem::file(path, "is not UTF-8 text")),
        }
    }
    // Parse everything first: partial names must be known before emitting.
    let mut parsed = Vec::new();
    let mut defines: Vec<(String, Define)> = Vec::new();
    for (path, text) in &sources {
        match parse(text) {
            Ok(p) => {
                defines.extend(p.defines.iter().cloned().map(|d| (path.clone(), d)));
                parsed.push((path.clone(), p.body));
            }
            Err(e) => c.problems.push(Problem::syntax(path, e)),
        }
    }
    let partials = partial_names(defines.iter().map(|(_, d)| d.name.as_str()));
    let cx = EmitContext {
        helpers: opts.helpers.clone(),
        partials: partials.clone(),
        allow_partial: opts.allow_partial,
    };
    let mut tpl_values = Vec::new();
    // A later define of the same name wins, as in Go (subcharts come first).
    let mut last_define: BTreeMap<&str, (&String, &Define)> = BTreeMap::new();
    for (path, d) in &defines {
        last_define.insert(&d.name, (path, d));
    }
    for (name, (path, d)) in last_define {
        let out = emit(&d.body, &cx);
        c.problems.extend(
            out.problems
                .into_iter()
                .map(|u| Problem::construct(path, u)),
        );
        tpl_values.extend(out.tpl_values);
        let file = format!("templates/_{}.hbs", partials[name]);
        let header = format!(
            "{{{{!-- define {} from {path}:{} (addon-operator convert-chart) --}}}}\n",
            serde_json::Value::String(name.to_owned()),
            d.pos.line
        );
        c.files.insert(file, header + &out.text);
    }
    for (path, body) in &parsed {
        if path.starts_with("charts/") || is_only_whitespace(body) {
            continue;
        }
        let out = emit(body, &cx);
        c.problems.extend(
            out.problems
                .into_iter()
                .map(|u| Problem::construct(path, u)),
        );
        tpl_values.extend(out.tpl_values);
        let target = output_template_path(path);
        let header =
            format!("{{{{!-- converted from {path} (addon-operator convert-chart) --}}}}\n");
        c.files.insert(target, header + &out.text);
    }
    for (path, is_library) in &subcharts {
        if !is_library {
            c.problems.push(Problem::file(
                path,
                "application subchart: only library subcharts (`type: library`) are converted; convert this one as a module of its own",
            ));
        }
    }
    module_files(chart, opts, &chart_yaml, &tpl_values, &mut c);
    c.problems
        .sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    c
}

/// Collects a library subchart's templates (for their `define`s); records each subchart.
fn library_subchart<'a>(
    chart: &'a ChartFiles,
    path: &str,
    rest: &str,
    bytes: &'a [u8],
    subcharts: &mut BTreeMap<String, bool>,
    sources: &mut Vec<(String, &'a str)>,
    c: &mut Conversion,
) {
    let Some((sub, inner)) = rest.split_once('/') else {
        if rest.ends_with(".tgz") {
            c.problems.push(Problem::file(
                path,
                "packaged subchart: unpack it into charts/<name>/ first (`tar xzf`)",
            ));
        }
        return;
    };
    let dir = format!("charts/{sub}");
    if inner == "Chart.yaml" {
        let library = matches!(yaml(chart, path), Ok(Some(v)) if v["type"] == "library");
        subcharts.insert(dir, library);
        return;
    }
    if let Some(t) = inner.strip_prefix("templates/")
        && is_template(t)
        && !t.contains('/')
    {
        match std::str::from_utf8(bytes) {
            Ok(text) => sources.push((path.to_owned(), text)),
            Err(_) => c.problems.push(Problem::file(path, "is not UTF-8 text")),
        }
    }
}

fn is_template(rel: &str) -> bool {
    [".yaml", ".yml", ".tpl", ".json"]
        .iter()
        .any(|ext| rel.ends_with(ext))
}

fn is_only_whitespace(body: &[crate::ast::Node]) -> bool {
    body.iter()
        .all(|n| matches!(n, crate::ast::Node::Text(t) if t.trim().is_empty()))
}

/// `templates/x.json` → `templates/x.yaml` (JSON is YAML; discovery renders `.yaml`).
fn output_template_path(path: &str) -> String {
    match path.strip_suffix(".json") {
        Some(stem) => format!("{stem}.yaml"),
        None => path.to_owned(),
    }
}

/// A file-name-safe, unique partial name for each Go template name.
fn partial_names<'a>(names: impl Iterator<Item = &'a str>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut taken: Vec<String> = Vec::new();
    for name in names {
        if out.contains_key(name) {
            continue;
        }
        let base: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let mut candidate = base.clone();
        let mut n = 2;
        while taken.contains(&candidate) {
            candidate = format!("{base}-{n}");
            n += 1;
        }
        taken.push(candidate.clone());
        out.insert(name.to_owned(), candidate);
    }
    out
}

fn yaml(chart: &ChartFiles, path: &str) -> Result<Option<Value>, Problem> {
    let Some(text) = chart.text(path) else {
        return Ok(None);
    };
    let text = text?;
    yaml_json::parse_one(text)
        .map(Some)
        .map_err(|e| Problem::file(path, &format!("is not valid YAML: {e}")))
}

/// `Chart.yaml`, `values.yaml`, `openapi/config-values.yaml` and `crds/`.
fn module_files(
    chart: &ChartFiles,
    opts: &Options,
    chart_yaml: &Value,
    tpl_values: &[Vec<String>],
    c: &mut Conversion,
) {
    // The chart's own name stays (templates print `.Chart.Name`); the module's name is its
    // directory's.
    let mut meta = Map::new();
    for key in [
        "name",
        "version",
        "appVersion",
        "description",
        "kubeVersion",
        "home",
        "keywords",
    ] {
        if let Some(v) = chart_yaml.get(key) {
            meta.insert(key.into(), v.clone());
        }
    }
    let mut annotations = chart_yaml
        .get("annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    annotations.insert(HELM_COMPAT_ANNOTATION.into(), Value::String("true".into()));
    annotations.insert(
        "addon-operator.io/converted-from".into(),
        Value::String(format!(
            "{} {}",
            chart_yaml["name"].as_str().unwrap_or_default(),
            chart_yaml["version"].as_str().unwrap_or_default()
        )),
    );
    meta.insert("annotations".into(), Value::Object(annotations));
    let text = to_yaml(&Value::Object(meta), "Chart.yaml", c);
    c.files.insert("Chart.yaml".into(), text);

    let mut values = match yaml(chart, "values.yaml") {
        Ok(v) => v.unwrap_or(Value::Null),
        Err(p) => {
            c.problems.push(p);
            Value::Null
        }
    };
    if values.is_null() {
        values = Value::Object(Map::new());
    }
    let cx = EmitContext {
        helpers: opts.helpers.clone(),
        partials: BTreeMap::new(),
        allow_partial: false,
    };
    let mut problems = Vec::new();
    crate::values::convert_tpl_strings(&mut values, tpl_values, &cx, &mut problems);
    c.problems.extend(
        problems
            .into_iter()
            .map(|(p, e)| Problem::value("values.yaml", &p, e)),
    );
    let mut doc = Map::new();
    doc.insert(opts.key.clone(), values);
    doc.insert(format!("{}Enabled", opts.key), Value::Bool(true));
    let text = to_yaml(&Value::Object(doc), "values.yaml", c);
    c.files.insert("values.yaml".into(), text);

    if let Some(text) = chart.text("values.schema.json") {
        match text.map(serde_json::from_str::<Value>) {
            Ok(Ok(schema)) => {
                let openapi = openapi_from_json_schema(&schema);
                let text = to_yaml(&openapi, "values.schema.json", c);
                c.files.insert("openapi/config-values.yaml".into(), text);
            }
            Ok(Err(e)) => c.problems.push(Problem::file(
                "values.schema.json",
                &format!("is not valid JSON: {e}"),
            )),
            Err(p) => c.problems.push(p),
        }
    }
    for (path, bytes) in &chart.files {
        if path.starts_with("crds/") {
            match std::str::from_utf8(bytes) {
                Ok(t) => {
                    c.files.insert(path.clone(), t.to_owned());
                }
                Err(_) => c.problems.push(Problem::file(path, "is not UTF-8 text")),
            }
        }
    }
}

/// `v` as YAML; a value YAML cannot hold (not expected from JSON) is a problem of `file`.
fn to_yaml(v: &Value, file: &str, c: &mut Conversion) -> String {
    yaml_json::to_string(v).unwrap_or_else(|e| {
        c.problems.push(Problem::file(
            file,
            &format!("cannot be written as YAML: {e}"),
        ));
        String::new()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(files: &[(&str, &str)]) -> ChartFiles {
        ChartFiles {
            files: files
                .iter()
                .map(|(p, t)| ((*p).to_owned(), t.as_bytes().to_vec()))
                .collect(),
        }
    }

    fn opts() -> Options {
        Options {
            name: "web-app".into(),
            key: "webApp".into(),
            helpers: vec!["include".into(), "quote".into()],
            allow_partial: false,
        }
    }

    #[test]
    fn a_chart_becomes_module_files() {
        let c = chart(&[
            (
                "Chart.yaml",
                "apiVersion: v2\nname: web\nversion: 1.2.3\nappVersion: \"4\"\n",
            ),
            ("values.yaml", "# comment\nport: 80\n"),
            (
                "values.schema.json",
                r#"{"type": "object", "properties": {"port": {"type": "integer"}}}"#,
            ),
            ("crds/widget.yaml", "kind: CustomResourceDefinition\n"),
            (
                "templates/_helpers.tpl",
                "{{- define \"web.name\" -}}{{ .Chart.Name }}{{- end -}}\n",
            ),
            (
                "templates/svc.yaml",
                "name: {{ include \"web.name\" . | quote }}\n",
            ),
            ("templates/NOTES.txt", "hello"),
            ("templates/tests/test.yaml", "kind: Pod"),
        ]);
        let out = convert(&c, &opts());
        assert!(out.problems.is_empty(), "{:?}", out.problems);
        let names: Vec<&str> = out.files.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "Chart.yaml",
                "crds/widget.yaml",
                "openapi/config-values.yaml",
                "templates/_web.name.hbs",
                "templates/svc.yaml",
                "values.yaml"
            ]
        );
        assert_eq!(
            out.files["values.yaml"],
            "webApp:\n  port: 80\nwebAppEnabled: true\n"
        );
        assert_eq!(
            out.files["Chart.yaml"],
            "name: web\nversion: 1.2.3\nappVersion: \"4\"\nannotations:\n  addon-operator.io/helm-compatible: \"true\"\n  addon-operator.io/converted-from: web 1.2.3\n"
        );
        assert!(out.files["openapi/config-values.yaml"].contains("additionalProperties: true"));
        assert!(
            out.files["templates/svc.yaml"]
                .ends_with("name: {{quote (include \"web.name\" this)}}\n")
        );
        assert!(
            out.files["templates/_web.name.hbs"]
                .starts_with("{{!-- define \"web.name\" from templates/_helpers.tpl:1")
        );
        assert_eq!(out.skipped.len(), 2);
    }

    #[test]
    fn subcharts_other_than_libraries_are_problems() {
        let c = chart(&[
            ("Chart.yaml", "name: web\nversion: 1.0.0\n"),
            ("charts/redis-1.0.0.tgz", "binary"),
            ("charts/db/Chart.yaml", "name: db\nversion: 1.0.0\n"),
            ("charts/db/templates/sts.yaml", "kind: StatefulSet\n"),
            (
                "charts/lib/Chart.yaml",
                "name: lib\ntype: library\nversion: 1.0.0\n",
            ),
            (
                "charts/lib/templates/_x.tpl",
                "{{ define \"lib.x\" }}x{{ end }}",
            ),
        ]);
        let out = convert(&c, &opts());
        let problems: Vec<String> = out.problems.iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].starts_with("charts/db: application subchart"),
            "{problems:?}"
        );
        assert!(
            problems[1].starts_with("charts/redis-1.0.0.tgz: packaged subchart"),
            "{problems:?}"
        );
        assert!(out.files.contains_key("templates/_lib.x.hbs"));
    }
}
