use handlebars::no_escape;
use serde_json::json;

use super::*;

fn hb() -> Handlebars<'static> {
    let mut hb = Handlebars::new();
    hb.register_escape_fn(no_escape);
    hb.set_strict_mode(true);
    register_all(&mut hb);
    hb
}

fn values() -> Value {
    serde_json::from_str(EXAMPLE_VALUES).unwrap()
}

/// Renders `tpl` with `Values` = [`EXAMPLE_VALUES`].
fn r(tpl: &str) -> String {
    try_r(tpl).unwrap_or_else(|e| panic!("{tpl}: {e}"))
}

fn try_r(tpl: &str) -> Result<String, String> {
    hb().render_template(tpl, &json!({"Values": values()}))
        .map_err(|e| format!("{e}"))
}

/// Asserts that rendering `tpl` fails with an error containing `needle`.
#[track_caller]
fn fails_with(tpl: &str, needle: &str) {
    match try_r(tpl) {
        Ok(out) => panic!("{tpl}: rendered {out:?}, expected an error containing {needle:?}"),
        Err(e) => assert!(e.contains(needle), "{tpl}: {e}"),
    }
}

#[test]
fn every_documented_example_renders_to_its_documented_output() {
    for s in HELPERS.iter().filter(|s| !s.example.is_empty()) {
        assert_eq!(r(s.example), s.output, "helper `{}`", s.name);
    }
}

#[test]
fn helper_names_are_unique_and_unvetted_builtins_are_gone() {
    let mut names: Vec<_> = HELPERS.iter().map(|s| s.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), HELPERS.len());
    for gone in ["log", "lte", "gte"] {
        fails_with(&format!("{{{{{gone} 1 2}}}}"), gone);
    }
}

#[test]
fn docs_templates_md_embeds_the_generated_helper_table() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/templates.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let (begin, end) = ("<!-- helpers:begin -->\n", "<!-- helpers:end -->");
    let start = doc
        .find(begin)
        .expect("docs/templates.md lacks <!-- helpers:begin -->")
        + begin.len();
    let stop = doc
        .find(end)
        .expect("docs/templates.md lacks <!-- helpers:end -->");
    let table = helpers_markdown_table();
    if std::env::var_os("GOLDEN_OVERWRITE").is_some() {
        std::fs::write(path, format!("{}{table}{}", &doc[..start], &doc[stop..])).unwrap();
        return;
    }
    assert_eq!(
        &doc[start..stop],
        table,
        "run `GOLDEN_OVERWRITE=1 cargo test -p charts docs_templates` to regenerate"
    );
}

#[test]
fn to_yaml_renders_nested_values_without_trailing_newline() {
    assert_eq!(r("{{toYaml Values.ports}}"), "- 80\n- 443");
    assert_eq!(
        r("{{toYaml (dict \"a\" (dict \"b\" \"1\"))}}"),
        "a:\n  b: \"1\""
    );
    assert_eq!(r("{{toYaml Values.name}}"), "web");
}

#[test]
fn to_yaml_quotes_strings_kubectl_would_read_as_booleans() {
    assert_eq!(
        r("{{toYaml (dict \"proxy-buffering\" \"off\" \"use-gzip\" \"yes\" \"y\" \"n\")}}"),
        "proxy-buffering: \"off\"\nuse-gzip: \"yes\"\n\"y\": \"n\""
    );
}

#[test]
fn helper_errors_never_quote_a_value() {
    const MARKER: &str = "SECRET-MARKER-9f3a";
    let values = json!({"Values": {"secret": MARKER, "list": [MARKER, {"k": MARKER}]}});
    for tpl in [
        "{{indent Values.secret \"x\"}}",
        "{{trunc Values.secret \"x\"}}",
        "{{lt Values.secret 1}}",
        "{{b64dec Values.secret}}",
        "{{hasKey Values.secret \"a\"}}",
        "{{join \",\" Values.secret}}",
        "{{join \",\" Values.list}}",
        "{{len (eq Values.secret 1)}}",
        "{{dict Values.list 1}}",
        "{{quote Values.list}}",
        "{{regexMatch (print \"(\" Values.secret) \"x\"}}",
        "{{index Values.list 5}}",
        "{{semverCompare Values.secret \"1.0.0\"}}",
        "{{semverCompare \">1\" Values.secret}}",
        "{{set Values.secret \"k\" 1}}",
        "{{slice Values.list 9}}",
    ] {
        let error = hb()
            .render_template(tpl, &values)
            .map(|out| panic!("{tpl}: rendered {out:?}"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("(usage: `"), "{tpl}: {error}");
        assert!(!error.contains(MARKER), "{tpl}: {error}");
    }
}

#[test]
fn to_json_is_compact() {
    assert_eq!(r("{{toJson Values.ports}}"), "[80,443]");
    assert_eq!(r("{{toJson \"a\\\"b\"}}"), r#""a\"b""#);
}

#[test]
fn indent_and_nindent_pad_every_line() {
    assert_eq!(
        r("{{indent 4 (toYaml Values.labels)}}"),
        "    app: web\n    tier: front"
    );
    assert_eq!(r("{{nindent 0 \"a\"}}"), "\na");
    fails_with(
        "{{indent -1 \"a\"}}",
        "`indent` argument 1 (N): must not be negative (usage: `indent N STRING`)",
    );
    fails_with(
        "{{indent 2 Values.labels}}",
        "`indent` argument 2 (STRING): expected text, got a map (print a list or map with toYaml",
    );
}

#[test]
fn default_follows_sprig_emptiness_and_tolerates_missing_values() {
    assert_eq!(r("{{default 3 Values.replicas}}"), "2");
    assert_eq!(r("{{default 3 Values.nothing.deeper}}"), "3");
    assert_eq!(r("{{default 3 0}}"), "3");
    assert_eq!(r("{{default \"x\" \"\"}}"), "x");
    assert_eq!(r("{{toJson (default (list 1) (list))}}"), "[1]");
}

#[test]
fn quote_escapes_for_yaml() {
    assert_eq!(r("{{quote \"a\\\"b\"}}"), r#""a\"b""#);
    assert_eq!(r("{{quote Values.replicas Values.name}}"), r#""2" "web""#);
    assert_eq!(r("{{quote null}}"), r#""""#);
}

#[test]
fn squote_doubles_single_quotes() {
    assert_eq!(r("{{squote Values.name}}"), "'web'");
    assert_eq!(r("{{squote \"a'b'\"}}"), "'a''b'''");
}

#[test]
fn required_fails_with_the_message_when_value_is_absent() {
    assert_eq!(r("{{required \"need it\" Values.replicas}}"), "2");
    for tpl in [
        "{{required \"need it\" Values.nope}}",
        "{{required \"need it\" \"\"}}",
    ] {
        fails_with(tpl, "`required`: need it");
    }
}

#[test]
fn b64enc_and_b64dec_round_trip_and_reject_garbage() {
    assert_eq!(r("{{b64dec (b64enc \"héllo\")}}"), "héllo");
    fails_with(
        "{{b64dec \"!!!\"}}",
        "`b64dec` argument 1 (STRING): is not valid base64",
    );
    fails_with(
        "{{b64dec \"/w==\"}}",
        "`b64dec` argument 1 (STRING): decodes to bytes that are not UTF-8 text",
    );
}

#[test]
fn sha256sum_of_empty_string() {
    assert_eq!(
        r("{{sha256sum \"\"}}"),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(r("{{sha256sum (toJson Values.labels)}}").len(), 64);
}

#[test]
fn lower_upper_trim_convert_scalars() {
    assert_eq!(r("{{lower \"ÀB\"}}"), "àb");
    assert_eq!(r("{{upper Values.name}}"), "WEB");
    assert_eq!(r("{{trim \"  x  \"}}"), "x");
    assert_eq!(r("{{upper true}}"), "TRUE");
}

#[test]
fn trunc_counts_characters_and_accepts_negative_counts() {
    assert_eq!(r("{{trunc 2 \"héllo\"}}"), "hé");
    assert_eq!(r("{{trunc -2 \"hello\"}}"), "lo");
    assert_eq!(r("{{trunc 10 \"hi\"}}"), "hi");
    assert_eq!(r("{{trunc -10 \"hi\"}}"), "hi");
}

#[test]
fn replace_uses_sprig_argument_order() {
    assert_eq!(r("{{replace \"a\" \"o\" \"banana\"}}"), "bonono");
}

#[test]
fn contains_checks_substrings() {
    assert_eq!(r("{{contains \"x\" Values.name}}"), "false");
    assert_eq!(r("{{#if (contains \"e\" Values.name)}}y{{/if}}"), "y");
}

#[test]
fn has_key_tolerates_a_missing_map_but_not_a_non_map() {
    assert_eq!(r("{{hasKey Values.labels \"nope\"}}"), "false");
    assert_eq!(r("{{hasKey Values.missing \"app\"}}"), "false");
    fails_with(
        "{{hasKey Values.ports \"a\"}}",
        "`hasKey` argument 1 (MAP): expected a map, got a list",
    );
}

#[test]
fn list_builds_arrays() {
    assert_eq!(r("{{len (list)}}"), "0");
    assert_eq!(
        r("{{toJson (list Values.name Values.replicas)}}"),
        r#"["web",2]"#
    );
}

#[test]
fn dict_builds_maps_and_rejects_odd_or_non_string_keys() {
    assert_eq!(r("{{toJson (dict \"n\" Values.name)}}"), r#"{"n":"web"}"#);
    fails_with(
        "{{dict \"a\"}}",
        "`dict`: expected key/value pairs, got 1 argument(s) (usage: `dict KEY VALUE...`)",
    );
    fails_with(
        "{{dict \"a\" 1 2 3}}",
        "`dict` argument 3 (VALUE): a key must be a string, got a number",
    );
}

#[test]
fn join_requires_a_list() {
    assert_eq!(r("{{join \"-\" (list \"a\" 1 true)}}"), "a-1-true");
    fails_with(
        "{{join \",\" Values.name}}",
        "`join` argument 2 (LIST): expected a list, got a string",
    );
}

#[test]
fn len_counts_items_and_characters() {
    assert_eq!(r("{{len Values.labels}}"), "2");
    assert_eq!(r("{{len \"héllo\"}}"), "5");
    assert!(try_r("{{len 3}}").is_err());
}

#[test]
fn eq_and_ne_compare_numbers_by_value() {
    assert_eq!(r("{{eq 2 2.0}}"), "true");
    assert_eq!(r("{{eq Values.name \"web\"}}"), "true");
    assert_eq!(r("{{ne Values.replicas 2}}"), "false");
}

#[test]
fn ordering_helpers_compare_numbers_or_strings_only() {
    assert_eq!(
        r("{{lt 1 1.5}} {{le 2 2}} {{gt \"b\" \"a\"}} {{ge 1 2}}"),
        "true true true false"
    );
    fails_with(
        "{{lt 1 \"2\"}}",
        "`lt`: can only compare two numbers or two strings, got a number and a string",
    );
}

#[test]
fn and_or_not_use_go_semantics() {
    assert_eq!(r("{{and 1 0 2}}"), "0");
    assert_eq!(r("{{or 0 \"\" Values.name}}"), "web");
    assert_eq!(r("{{or 0 \"\"}}"), "");
    assert_eq!(r("{{not (list)}}"), "true");
    assert_eq!(
        r("{{#if (and (eq Values.replicas 2) (not false))}}ok{{/if}}"),
        "ok"
    );
}

#[test]
fn if_unless_with_guard_missing_values_but_each_does_not() {
    assert_eq!(r("{{#if Values.a.b}}x{{else}}none{{/if}}"), "none");
    assert_eq!(r("{{#unless Values.a}}none{{/unless}}"), "none");
    assert_eq!(r("{{#with Values.a.b}}x{{else}}none{{/with}}"), "none");
    assert_eq!(r("{{#with Values.a.b}}x{{/with}}"), "");
    assert_eq!(
        r("{{#with Values.labels as |l|}}{{l.app}}-{{tier}}{{/with}}"),
        "web-front"
    );
    assert!(try_r("{{#each Values.a}}x{{/each}}").is_err());
}

#[test]
fn lookup_and_raw_builtins_work() {
    assert_eq!(r("{{lookup Values.ports 1}}"), "443");
    assert_eq!(r("{{{{raw}}}}{{x}}{{{{/raw}}}}"), "{{x}}");
}

#[test]
fn strict_mode_errors_name_the_missing_path() {
    for tpl in [
        "{{Values.nope}}",
        "{{upper Values.nope}}",
        "{{eq Values.nope 1}}",
    ] {
        fails_with(tpl, "Values.nope");
    }
}

#[test]
fn only_the_questioned_argument_may_be_missing() {
    assert_eq!(r("{{default Values.name Values.nope}}"), "web");
    assert_eq!(r("{{hasKey Values.nope \"app\"}}"), "false");
    for (tpl, path) in [
        ("{{default Values.nope \"\"}}", "Values.nope"),
        ("{{default Values.nope Values.name}}", "Values.nope"),
        ("{{required Values.msg Values.name}}", "Values.msg"),
        ("{{hasKey Values.labels Values.key}}", "Values.key"),
        ("{{#each Values.nope}}x{{/each}}", "Values.nope"),
        ("{{#unless (eq Values.nope 1)}}x{{/unless}}", "Values.nope"),
    ] {
        fails_with(tpl, path);
    }
}

#[test]
fn wrong_argument_counts_show_the_signature() {
    fails_with(
        "{{indent 2}}",
        "`indent`: got 1 argument(s) (usage: `indent N STRING`)",
    );
}

#[test]
fn long_comments_may_contain_closing_braces() {
    assert_eq!(r("a{{!-- {{#each}} x }} --}}b{{! short }}c"), "abc");
}

#[test]
fn go_collection_helpers_follow_sprig() {
    assert_eq!(r("{{toJson (index (dict \"a\" (list 1 2)) \"a\" 1)}}"), "2");
    assert_eq!(r("{{toJson (index Values.labels \"nope\")}}"), "null");
    assert_eq!(
        r(
            "{{toJson (mergeOverwrite (dict \"a\" (dict \"x\" 1 \"y\" 1)) (dict \"a\" (dict \"y\" 2)))}}"
        ),
        r#"{"a":{"x":1,"y":2}}"#
    );
    assert_eq!(
        r("{{toJson (merge (dict \"a\" (dict \"y\" 1)) (dict \"a\" (dict \"y\" 2 \"z\" 3)))}}"),
        r#"{"a":{"y":1,"z":3}}"#
    );
    assert_eq!(r("{{toJson (set null \"k\" 1)}}"), r#"{"k":1}"#);
    assert_eq!(r("{{ternary 1 2 (list)}}"), "2");
    assert_eq!(
        r("{{toString (list 1 \"a\")}} {{toString (dict \"b\" 1 \"a\" true)}}"),
        "[1 a] map[a:true b:1]"
    );
    assert_eq!(r("{{print 1 2 \"x\" 3}}"), "1 2x3");
    assert_eq!(r("{{int 3.9}} {{int \"x\"}}"), "3 0");
    assert_eq!(
        r("{{typeIs \"int\" 3}} {{typeIs \"float64\" 3}} {{typeIs \"int\" 3.5}}"),
        "true true false"
    );
    assert_eq!(r("{{eq Values.name \"api\" \"web\"}}"), "true");
    fails_with("{{div 1 0}}", "`div` argument 2 (B): is out of range");
    fails_with("{{fail \"stop here\"}}", "`fail`: stop here");
}
