//! The benchmark chart of issue 14, written twice: as a module (handlebars templates) and as
//! the equivalent Helm chart (Go templates), so that both renderers get the same job.
//!
//! 50 template files, each rendering a Deployment, a Service, a ConfigMap and a ServiceAccount
//! (200 objects) through a shared labels partial / named template with parameters,
//! `toYaml`/`nindent`, `quote`, `join`, `default`, `sha256sum` and an `if`. The values put map
//! keys in sorted order, so `toJson`/`toYaml` give the same text in both (Go sorts map keys).
#![allow(dead_code)] // each bench uses part of it

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// Template files (4 objects each).
pub const FILES: usize = 50;
/// The module's name, which is also the Helm release name.
pub const NAME: &str = "bench";

const MODULE_LABELS: &str = "app.kubernetes.io/name: {{name}}\napp.kubernetes.io/instance: {{@root.Release.Name}}\napp.kubernetes.io/version: {{quote @root.Values.bench.image.tag}}\n";

const HELM_LABELS: &str = r#"{{- define "labels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .root.Values.bench.image.tag | quote }}
{{- end }}
"#;

/// The values both renderers get (`Values` of the module, `.Values` of the chart).
pub fn values() -> Value {
    json!({
        "global": {"clusterName": "bench"},
        "bench": {
            "config": {"FEATURE_X": "true", "LOG_LEVEL": "info", "TIMEOUT": "30s"},
            "image": {"repository": "registry.example.com/app", "tag": "1.2.3"},
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "replicas": 3,
            "resources": {"limits": {"memory": "128Mi"}, "requests": {"cpu": "100m", "memory": "64Mi"}}
        }
    })
}

fn module_template(i: usize) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i}
  labels:
    {{{{> labels name="app-{i}"}}}}
spec:
  replicas: {{{{default 1 Values.bench.replicas}}}}
  selector:
    matchLabels:
      app.kubernetes.io/name: app-{i}
  template:
    metadata:
      labels:
        {{{{> labels name="app-{i}"}}}}
      annotations:
        checksum/config: {{{{sha256sum (toJson Values.bench.config)}}}}
    spec:
      serviceAccountName: app-{i}
      {{{{#if Values.bench.nodeSelector}}}}
      nodeSelector:{{{{nindent 8 (toYaml Values.bench.nodeSelector)}}}}
      {{{{/if}}}}
      containers:
        - name: app
          image: {{{{quote (join ":" (list Values.bench.image.repository Values.bench.image.tag))}}}}
          args: [--port=8080, --name=app-{i}]
          ports:
            - name: http
              containerPort: 8080
          resources:{{{{nindent 12 (toYaml Values.bench.resources)}}}}
---
apiVersion: v1
kind: Service
metadata:
  name: app-{i}
  labels:
    {{{{> labels name="app-{i}"}}}}
spec:
  type: {{{{default "ClusterIP" Values.bench.serviceType}}}}
  selector:
    app.kubernetes.io/name: app-{i}
  ports:
    - name: http
      port: 80
      targetPort: http
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-{i}
  labels:
    {{{{> labels name="app-{i}"}}}}
data:{{{{nindent 2 (toYaml Values.bench.config)}}}}
  cluster: {{{{quote Values.global.clusterName}}}}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: app-{i}
  labels:
    {{{{> labels name="app-{i}"}}}}
"#
    )
}

fn helm_template(i: usize) -> String {
    let labels = |n: usize| {
        format!(r#"{{{{- include "labels" (dict "name" "app-{i}" "root" $) | nindent {n} }}}}"#)
    };
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i}
  labels:
    {l4}
spec:
  replicas: {{{{ default 1 .Values.bench.replicas }}}}
  selector:
    matchLabels:
      app.kubernetes.io/name: app-{i}
  template:
    metadata:
      labels:
        {l8}
      annotations:
        checksum/config: {{{{ toJson .Values.bench.config | sha256sum }}}}
    spec:
      serviceAccountName: app-{i}
      {{{{- if .Values.bench.nodeSelector }}}}
      nodeSelector:
        {{{{- toYaml .Values.bench.nodeSelector | nindent 8 }}}}
      {{{{- end }}}}
      containers:
        - name: app
          image: {{{{ list .Values.bench.image.repository .Values.bench.image.tag | join ":" | quote }}}}
          args: [--port=8080, --name=app-{i}]
          ports:
            - name: http
              containerPort: 8080
          resources:
            {{{{- toYaml .Values.bench.resources | nindent 12 }}}}
---
apiVersion: v1
kind: Service
metadata:
  name: app-{i}
  labels:
    {l4}
spec:
  type: {{{{ default "ClusterIP" .Values.bench.serviceType }}}}
  selector:
    app.kubernetes.io/name: app-{i}
  ports:
    - name: http
      port: 80
      targetPort: http
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-{i}
  labels:
    {l4}
data:
  {{{{- toYaml .Values.bench.config | nindent 2 }}}}
  cluster: {{{{ .Values.global.clusterName | quote }}}}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: app-{i}
  labels:
    {l4}
"#,
        l4 = labels(4),
        l8 = labels(8),
    )
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("creating the bench chart directory");
    }
    std::fs::write(path, text).expect("writing the bench chart");
}

/// Writes the module set (`<dir>/010-bench/…`, enabled, with the values above) and returns
/// the modules directory.
pub fn write_module(dir: &Path) -> PathBuf {
    let modules = dir.join("modules");
    let module = modules.join(format!("010-{NAME}"));
    let values = values();
    let yaml = |v: &Value| yaml_json::to_string(v).expect("values as YAML");
    write(
        &modules.join("values.yaml"),
        &format!(
            "{NAME}Enabled: true\nglobal:\n{}",
            indent(&yaml(&values["global"]))
        ),
    );
    write(
        &module.join("Chart.yaml"),
        &format!("name: {NAME}\nversion: 0.1.0\n"),
    );
    write(
        &module.join("values.yaml"),
        &format!("{NAME}:\n{}", indent(&yaml(&values[NAME]))),
    );
    write(&module.join("templates/_labels.hbs"), MODULE_LABELS);
    for i in 0..FILES {
        write(
            &module.join(format!("templates/app-{i:03}.yaml")),
            &module_template(i),
        );
    }
    modules
}

/// Writes the equivalent Helm chart (`<dir>/chart`, values in its `values.yaml`) and returns
/// its directory.
pub fn write_helm_chart(dir: &Path) -> PathBuf {
    let chart = dir.join("chart");
    write(
        &chart.join("Chart.yaml"),
        &format!("apiVersion: v2\nname: {NAME}\nversion: 0.1.0\n"),
    );
    write(
        &chart.join("values.yaml"),
        &yaml_json::to_string(&values()).expect("values as YAML"),
    );
    write(&chart.join("templates/_labels.tpl"), HELM_LABELS);
    for i in 0..FILES {
        write(
            &chart.join(format!("templates/app-{i:03}.yaml")),
            &helm_template(i),
        );
    }
    chart
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}
