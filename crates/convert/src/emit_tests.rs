use super::*;
use crate::parse::parse;

fn helpers() -> Vec<String> {
    [
        "let",
        "include",
        "tpl",
        "quote",
        "default",
        "toYaml",
        "nindent",
        "indent",
        "eq",
        "and",
        "or",
        "not",
        "printf",
        "print",
        "index",
        "has",
        "set",
        "sortKeys",
        "list",
        "dict",
        "trunc",
        "trimSuffix",
        "upper",
        "required",
        "merge",
        "root",
        "setVar",
        "var",
        "append",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

fn cx() -> EmitContext {
    EmitContext {
        helpers: helpers(),
        partials: [("chart.fullname".to_owned(), "chart.fullname".to_owned())].into(),
        allow_partial: false,
    }
}

/// Converts `src`; panics on problems.
fn hbs(src: &str) -> String {
    let out = emit(&parse(src).unwrap().body, &cx());
    assert!(out.problems.is_empty(), "{src}: {:?}", out.problems);
    out.text
}

fn problems(src: &str) -> Vec<String> {
    emit(&parse(src).unwrap().body, &cx())
        .problems
        .iter()
        .map(|p| {
            format!(
                "{}:{}: {}: {}",
                p.pos.line, p.pos.column, p.construct, p.reason
            )
        })
        .collect()
}

#[test]
fn values_paths_and_pipelines_become_nested_calls() {
    assert_eq!(hbs("{{ .Values.a.b }}"), "{{Values.a.b}}");
    assert_eq!(
        hbs("{{ .Values.x | default \"a\" | quote }}"),
        "{{quote (default \"a\" Values.x)}}"
    );
    assert_eq!(
        hbs("{{- toYaml .Values.r | nindent 12 }}"),
        "{{~nindent 12 (toYaml Values.r)}}"
    );
    assert_eq!(hbs("{{ $.Release.Name }}"), "{{@root.Release.Name}}");
    assert_eq!(hbs("{{ (.Values.a).b }}"), "{{index Values.a \"b\"}}");
    assert_eq!(hbs("{{ \"x\" }}-{{ 3 }}"), "x-3");
    assert_eq!(
        hbs("{{ printf \"%s-%d\" .a 0x10 }}"),
        "{{printf \"%s-%d\" a 16}}"
    );
}

#[test]
fn include_and_template_render_partials_with_the_given_context() {
    assert_eq!(
        hbs("{{ include \"chart.fullname\" . | trunc 63 }}"),
        "{{trunc 63 (include \"chart.fullname\" this)}}"
    );
    assert_eq!(
        hbs("{{ template \"chart.fullname\" $ }}"),
        "{{include \"chart.fullname\" (root)}}"
    );
}

#[test]
fn variables_become_let_blocks_closed_at_the_end_of_their_scope() {
    assert_eq!(
        hbs("{{ if .a }}{{ $x := 1 }}{{ $x }}{{ else }}n{{ end }}"),
        "{{#if a}}{{#let x=1}}{{x}}{{/let}}{{else}}n{{/if}}"
    );
    assert_eq!(
        hbs("{{ $d := dict }}{{ $_ := set $d \"k\" 1 }}{{ $d.k }}"),
        "{{#let d=(dict)}}{{#let d=(set d \"k\" 1)}}{{d.k}}{{/let}}{{/let}}"
    );
}

#[test]
fn range_sorts_map_keys_like_go_and_binds_key_and_value() {
    assert_eq!(
        hbs("{{ range $k, $v := .Values.m }}{{ $k }}={{ $v }}{{ end }}"),
        "{{#each (sortKeys Values.m) as |v k|}}{{k}}={{v}}{{/each}}"
    );
    assert_eq!(
        hbs("{{ range list 1 2 }}{{ . }}{{ else }}none{{ end }}"),
        "{{#each (list 1 2)}}{{this}}{{else}}none{{/each}}"
    );
}

#[test]
fn else_if_chains_and_with_keep_their_shape() {
    assert_eq!(
        hbs("{{ if .a }}1{{ else if .b }}2{{ else }}3{{ end }}"),
        "{{#if a}}1{{else if b}}2{{else}}3{{/if}}"
    );
    assert_eq!(
        hbs("{{ with .Values.x }}{{ .y }}{{ end }}"),
        "{{#with Values.x}}{{y}}{{/with}}"
    );
}

#[test]
fn whitespace_is_kept_exactly_as_go_keeps_it() {
    // a block tag alone on its line: handlebars would drop the line, Go keeps it
    assert_eq!(
        hbs("a:\n  {{ if .x }}\n  b: 1\n  {{ end }}\n"),
        "a:\n  {{#if x}}{{!}}\n  b: 1\n  {{/if}}{{!}}\n"
    );
    assert_eq!(
        hbs("a:\n  {{- if .x }}\n  b: 1\n  {{- end }}\n"),
        "a:\n  {{~#if x}}{{!}}\n  b: 1\n  {{~/if}}{{!}}\n"
    );
}

#[test]
fn capabilities_api_versions_has_becomes_has() {
    assert_eq!(
        hbs("{{ if .Capabilities.APIVersions.Has \"policy/v1\" }}x{{ end }}"),
        "{{#if (has \"policy/v1\" Capabilities.APIVersions)}}x{{/if}}"
    );
}

#[test]
fn refused_and_unknown_constructs_are_reported_with_position() {
    assert_eq!(
        problems("a\n  {{ lookup \"v1\" \"Secret\" .ns \"x\" }}{{ genCA \"x\" 365 }}"),
        vec![
            "2:6: function `lookup`: reads the cluster at render time; a module's render is a pure function of its values (read cluster state with a hook instead)".to_owned(),
            "2:40: function `genCA`: generates a new certificate on every render".to_owned(),
        ]
    );
    assert_eq!(
        problems("{{ range .a }}{{ break }}{{ end }}{{ nope 1 }}"),
        vec![
            "1:15: `{{break}}`: handlebars `each` cannot stop or skip iterations; filter the list first".to_owned(),
            "1:38: function `nope`: has no handlebars helper (see docs/templates.md for the helpers)".to_owned(),
        ]
    );
}

#[test]
fn variables_assigned_in_nested_blocks_become_render_variables() {
    assert_eq!(
        hbs(
            "{{ $l := list }}{{ range .a }}{{ if .x }}{{ $l = append $l .x }}{{ end }}{{ end }}{{ $l }}"
        ),
        "{{setVar \"l\" (list)}}{{#each (sortKeys a)}}{{#if x}}{{setVar \"l\" (append (var \"l\") x)}}{{/if}}{{/each}}{{var \"l\"}}"
    );
    assert_eq!(
        problems("{{ range $i, $v := .a }}{{ if $v }}{{ $v = 1 }}{{ end }}{{ end }}"),
        vec!["1:1: assignment to `$v`: a variable declared by `range` or `with` cannot be assigned from a nested block".to_owned()]
    );
}

#[test]
fn allow_partial_marks_each_unconverted_place() {
    let cx = EmitContext {
        allow_partial: true,
        ..cx()
    };
    let out = emit(&parse("a: {{ randAlphaNum 8 }}\n").unwrap().body, &cx);
    assert_eq!(out.problems.len(), 1);
    assert_eq!(
        out.text,
        "a: {{!-- convert-chart: not converted at line 1 column 4: function `randAlphaNum` (gives a different value on every render) --}}\n"
    );
}

#[test]
fn set_on_a_dot_path_rebinds_dot_for_the_rest_of_the_block() {
    assert_eq!(
        hbs("{{ $_ := set .Values.a \"k\" 1 }}{{ .Values.a.k }}"),
        "{{#with (set this \"Values\" (set this.Values \"a\" (set Values.a \"k\" 1)))}}{{Values.a.k}}{{/with}}"
    );
    assert_eq!(
        problems("{{ $_ := set $ \"k\" 1 }}"),
        vec!["1:1: a change of `$` in place: `set`/`merge` on `$` changes the whole context, which handlebars cannot rebind; change a variable or `.` instead".to_owned()]
    );
}
