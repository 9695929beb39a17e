//! The registry of every template helper: name, usage, the Helm/Sprig function it replaces,
//! a tested example and notes. `docs/templates.md` embeds the table generated from it.

use super::format::*;
use super::funcs::*;
use super::sprig::*;
use super::{HelperSpec, imp, imp_any_missing, imp_missing_ok};

macro_rules! spec {
    ($name:literal, $sig:literal, $helm:literal, $ex:literal, $out:literal, $desc:literal, $imp:expr) => {
        HelperSpec {
            name: $name,
            signature: $sig,
            helm: $helm,
            example: $ex,
            output: $out,
            description: $desc,
            implementation: $imp,
        }
    };
}

/// Every helper a template may use, in documentation order.
pub const HELPERS: &[HelperSpec] = &[
    spec!(
        "toYaml",
        "toYaml VALUE",
        "toYaml",
        "{{toYaml Values.labels}}",
        "app: web\ntier: front",
        "YAML of any value, without the trailing newline; use with `indent`/`nindent`. Strings a YAML 1.1 reader (kubectl) would take for a boolean, number or null (`off`, `yes`, `0777`) are quoted.",
        imp(to_yaml, 1, Some(1))
    ),
    spec!(
        "toJson",
        "toJson VALUE",
        "toJson",
        "{{toJson Values.labels}}",
        r#"{"app":"web","tier":"front"}"#,
        "Compact JSON of any value.",
        imp(to_json, 1, Some(1))
    ),
    spec!(
        "indent",
        "indent N STRING",
        "indent",
        r#"{{indent 2 "a: 1"}}"#,
        "  a: 1",
        "Prefixes every line (empty ones too, as Sprig does) with N spaces.",
        imp(indent, 2, Some(2))
    ),
    spec!(
        "nindent",
        "nindent N STRING",
        "nindent",
        "labels:{{nindent 2 (toYaml Values.labels)}}",
        "labels:\n  app: web\n  tier: front",
        "A newline, then `indent N STRING`.",
        imp(nindent, 2, Some(2))
    ),
    spec!(
        "default",
        "default DEFAULT VALUE",
        "default",
        "{{default 1 Values.missing}}",
        "1",
        "VALUE unless it is missing or empty (null, false, 0, \"\", [] or {} — Sprig's rule, so `default 3 0` is 3), else DEFAULT. A missing VALUE is not a strict-mode error; a missing DEFAULT is (a typo in the fallback must not render empty).",
        imp_missing_ok(default, 2, 1)
    ),
    spec!(
        "quote",
        "quote VALUE...",
        "quote",
        "{{quote Values.image.tag}}",
        "\"1.25\"",
        "Each value as a double-quoted YAML/JSON string (escapes `\"`, `\\`, control characters), space-separated; null is `\"\"`.",
        imp(quote, 1, None)
    ),
    spec!(
        "squote",
        "squote VALUE...",
        "squote",
        r#"{{squote "it's"}}"#,
        "'it''s'",
        "Each value single-quoted; unlike Sprig, `'` is doubled so the result is valid YAML.",
        imp(squote, 1, None)
    ),
    spec!(
        "required",
        "required MESSAGE VALUE",
        "required",
        r#"{{required "name is required" Values.name}}"#,
        "web",
        "VALUE, or a render error with MESSAGE (and template, line) when it is missing, null or \"\".",
        imp_missing_ok(required, 2, 1)
    ),
    spec!(
        "b64enc",
        "b64enc STRING",
        "b64enc",
        r#"{{b64enc "admin"}}"#,
        "YWRtaW4=",
        "Standard base64 (with padding), e.g. for Secret `data`.",
        imp(b64enc, 1, Some(1))
    ),
    spec!(
        "b64dec",
        "b64dec STRING",
        "b64dec",
        r#"{{b64dec "YWRtaW4="}}"#,
        "admin",
        "Decodes standard base64; invalid input or non-UTF-8 result is an error (Sprig returns an error string).",
        imp(b64dec, 1, Some(1))
    ),
    spec!(
        "sha256sum",
        "sha256sum STRING",
        "sha256sum",
        r#"{{sha256sum "abc"}}"#,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "Lower-case hex SHA-256, e.g. a checksum annotation that rolls pods on config change.",
        imp(sha256sum, 1, Some(1))
    ),
    spec!(
        "lower",
        "lower STRING",
        "lower",
        r#"{{lower "ABC"}}"#,
        "abc",
        "Lower-case.",
        imp(lower, 1, Some(1))
    ),
    spec!(
        "upper",
        "upper STRING",
        "upper",
        r#"{{upper "abc"}}"#,
        "ABC",
        "Upper-case.",
        imp(upper, 1, Some(1))
    ),
    spec!(
        "trim",
        "trim STRING",
        "trim",
        r#"{{trim "  a  "}}"#,
        "a",
        "Removes leading and trailing whitespace.",
        imp(trim, 1, Some(1))
    ),
    spec!(
        "trunc",
        "trunc N STRING",
        "trunc",
        r#"{{trunc 3 "abcdef"}}"#,
        "abc",
        "First N characters; a negative N keeps the last -N (as Sprig). Counts characters, not bytes.",
        imp(trunc, 2, Some(2))
    ),
    spec!(
        "replace",
        "replace OLD NEW STRING",
        "replace",
        r#"{{replace "." "-" "a.b.c"}}"#,
        "a-b-c",
        "Replaces every OLD with NEW (Sprig's argument order).",
        imp(replace, 3, Some(3))
    ),
    spec!(
        "contains",
        "contains SUBSTRING STRING",
        "contains",
        r#"{{contains "we" Values.name}}"#,
        "true",
        "Whether STRING contains SUBSTRING.",
        imp(contains, 2, Some(2))
    ),
    spec!(
        "hasKey",
        "hasKey MAP KEY",
        "hasKey",
        r#"{{hasKey Values.labels "app"}}"#,
        "true",
        "Whether MAP has KEY; a missing or null MAP gives false (no strict-mode error).",
        imp_missing_ok(has_key, 2, 0)
    ),
    spec!(
        "list",
        "list VALUE...",
        "list",
        r#"{{toJson (list 1 "a")}}"#,
        r#"[1,"a"]"#,
        "An array of the arguments.",
        imp(list, 0, None)
    ),
    spec!(
        "dict",
        "dict KEY VALUE...",
        "dict",
        r#"{{toJson (dict "a" 1 "b" true)}}"#,
        r#"{"a":1,"b":true}"#,
        "A map from key/value pairs; keys must be strings.",
        imp(dict, 0, None)
    ),
    spec!(
        "join",
        "join SEPARATOR LIST",
        "join",
        r#"{{join "," Values.ports}}"#,
        "80,443",
        "Joins the items of LIST (scalars) with SEPARATOR.",
        imp(join, 2, Some(2))
    ),
    spec!(
        "len",
        "len VALUE",
        "len",
        "{{len Values.ports}}",
        "2",
        "Number of items of an array or map, or characters of a string.",
        imp(len, 1, Some(1))
    ),
    spec!(
        "eq",
        "eq A B...",
        "eq",
        "{{eq Values.replicas 2}}",
        "true",
        "Equality (numbers compare by value: `eq 2 2.0`); with more arguments, whether A equals any of them (Go's `eq`). Use as `{{#if (eq a b)}}`.",
        imp(eq, 2, None)
    ),
    spec!(
        "ne",
        "ne A B",
        "ne",
        r#"{{ne Values.name "api"}}"#,
        "true",
        "Inequality.",
        imp(ne, 2, Some(2))
    ),
    spec!(
        "lt",
        "lt A B",
        "lt",
        "{{lt Values.replicas 3}}",
        "true",
        "A < B for two numbers or two strings.",
        imp(lt, 2, Some(2))
    ),
    spec!(
        "le",
        "le A B",
        "le",
        "{{le Values.replicas 2}}",
        "true",
        "A ≤ B.",
        imp(le, 2, Some(2))
    ),
    spec!(
        "gt",
        "gt A B",
        "gt",
        "{{gt Values.replicas 1}}",
        "true",
        "A > B.",
        imp(gt, 2, Some(2))
    ),
    spec!(
        "ge",
        "ge A B",
        "ge",
        "{{ge Values.replicas 3}}",
        "false",
        "A ≥ B.",
        imp(ge, 2, Some(2))
    ),
    spec!(
        "and",
        "and VALUE...",
        "and",
        r#"{{and Values.replicas Values.name}}"#,
        "web",
        "The first empty argument, else the last (Go's `and`); emptiness as in `default`.",
        imp(and, 1, None)
    ),
    spec!(
        "or",
        "or VALUE...",
        "or",
        r#"{{or "" Values.name}}"#,
        "web",
        "The first non-empty argument, else the last (Go's `or`).",
        imp(or, 1, None)
    ),
    spec!(
        "not",
        "not VALUE",
        "not",
        "{{not Values.replicas}}",
        "false",
        "Whether VALUE is empty.",
        imp(not, 1, Some(1))
    ),
    spec!(
        "let",
        "{{#let NAME=VALUE…}}…{{/let}}",
        "{{ $name := VALUE }}",
        "{{#let n=(len Values.ports)}}{{n}} ports{{/let}}",
        "2 ports",
        "Names values for the block (as block parameters); `this` stays the same. `convert-chart` turns Go variables into `let` blocks that end where the Go scope ends.",
        None
    ),
    spec!(
        "include",
        "include NAME CONTEXT",
        "include",
        "",
        "",
        "Renders partial NAME (or template `<module>/templates/<file>`) with CONTEXT as its whole context (`this` and `@root`) and returns the text, e.g. `{{nindent 4 (include \"labels\" this)}}` or `{{sha256sum (include \"web/templates/cm.yaml\" @root)}}`.",
        None
    ),
    spec!(
        "setVar",
        "{{setVar NAME VALUE}}",
        "{{ $name = VALUE }} in a nested block",
        "{{setVar \"n\" 1}}{{#each Values.ports}}{{setVar \"n\" (add (var \"n\") 1)}}{{/each}}{{var \"n\"}}",
        "3",
        "Sets a render variable that `var NAME` reads later in the same render, also after the block that set it (a Go variable changed inside `range` or `if`). Writes nothing.",
        None
    ),
    spec!(
        "var",
        "var NAME",
        "$name",
        "{{setVar \"x\" Values.name}}{{var \"x\"}}",
        "web",
        "The value `setVar` last gave NAME in this render (null before). An `include` has its own variables.",
        None
    ),
    spec!(
        "root",
        "root",
        "$",
        "{{len (root)}}",
        "1",
        "The whole context of the render (what `@root` names), as a value: `{{include \"x\" (root)}}`. Handlebars' `@root` works only as the start of a path (`@root.Values.x`).",
        None
    ),
    spec!(
        "tpl",
        "tpl TEMPLATE CONTEXT",
        "tpl",
        "{{tpl \"{{name}}-{{replicas}}\" Values}}",
        "web-2",
        "Renders the handlebars text TEMPLATE (usually a value) with CONTEXT and the module's partials and helpers. In a converted chart, values that templates pass to `tpl` hold handlebars, not Go templates.",
        None
    ),
    spec!(
        "coalesce",
        "coalesce VALUE...",
        "coalesce",
        "{{coalesce Values.missing \"\" Values.name}}",
        "web",
        "The first non-empty argument (emptiness as in `default`), else null; any argument may be missing.",
        imp_any_missing(coalesce, 1, None)
    ),
    spec!(
        "ternary",
        "ternary IF_TRUE IF_FALSE CONDITION",
        "ternary",
        "{{ternary \"yes\" \"no\" (gt Values.replicas 1)}}",
        "yes",
        "IF_TRUE when CONDITION is non-empty, else IF_FALSE.",
        imp(ternary, 3, Some(3))
    ),
    spec!(
        "empty",
        "empty VALUE",
        "empty",
        "{{empty Values.missing}}",
        "true",
        "Whether VALUE is missing or empty (null, false, 0, \"\", [] or {}).",
        imp_any_missing(empty, 1, Some(1))
    ),
    spec!(
        "fromYaml",
        "fromYaml STRING",
        "fromYaml",
        "{{lookup (fromYaml \"a: 1\") \"a\"}}",
        "1",
        "Parses YAML text into a value (empty text gives {}). Invalid YAML gives `{Error: …}` as in Helm.",
        imp(from_yaml, 1, Some(1))
    ),
    spec!(
        "fromJson",
        "fromJson STRING",
        "fromJson",
        "{{len (fromJson \"[1,2,3]\")}}",
        "3",
        "Parses JSON text. Invalid JSON gives `{Error: …}`.",
        imp(from_json, 1, Some(1))
    ),
    spec!(
        "toPrettyJson",
        "toPrettyJson VALUE",
        "toPrettyJson",
        "{{toPrettyJson Values.image}}",
        "{\n  \"tag\": \"1.25\"\n}",
        "JSON indented by two spaces.",
        imp(to_pretty_json, 1, Some(1))
    ),
    spec!(
        "toString",
        "toString VALUE",
        "toString",
        "{{toString Values.replicas}}",
        "2",
        "VALUE as text, as Go prints it (lists `[a b]`, maps `map[k:v]`, null empty).",
        imp(to_string, 1, Some(1))
    ),
    spec!(
        "int",
        "int VALUE",
        "int, int64, atoi",
        "{{int \"42\"}}",
        "42",
        "An integer: numbers are truncated, strings parsed; anything else is 0 (as Sprig).",
        imp(to_int, 1, Some(1))
    ),
    spec!(
        "float",
        "float VALUE",
        "float64",
        "{{float \"1.5\"}}",
        "1.5",
        "A number: strings parsed; anything else is 0.",
        imp(to_float, 1, Some(1))
    ),
    spec!(
        "print",
        "print VALUE...",
        "print",
        "{{print Values.name \"-\" Values.replicas}}",
        "web-2",
        "The values as text, joined as Go's `fmt.Sprint` does (a space only between two non-strings).",
        imp(print, 0, None)
    ),
    spec!(
        "printf",
        "printf FORMAT VALUE...",
        "printf",
        "{{printf \"%s:%03d\" Values.name Values.replicas}}",
        "web:002",
        "Go's `fmt.Sprintf` for the verbs `%s %v %d %f %q %t %x %X %o %%`, with flags `-0+`, width and precision.",
        imp(printf, 1, None)
    ),
    spec!(
        "title",
        "title STRING",
        "title",
        "{{title \"hello world\"}}",
        "Hello World",
        "Upper-cases the first letter of each word.",
        imp(title, 1, Some(1))
    ),
    spec!(
        "trimPrefix",
        "trimPrefix PREFIX STRING",
        "trimPrefix",
        "{{trimPrefix \"v\" \"v1.2\"}}",
        "1.2",
        "STRING without PREFIX (if it starts with it).",
        imp(trim_prefix, 2, Some(2))
    ),
    spec!(
        "trimSuffix",
        "trimSuffix SUFFIX STRING",
        "trimSuffix",
        "{{trimSuffix \"-\" \"web-\"}}",
        "web",
        "STRING without SUFFIX (if it ends with it).",
        imp(trim_suffix, 2, Some(2))
    ),
    spec!(
        "trimAll",
        "trimAll CHARACTERS STRING",
        "trimAll",
        "{{trimAll \"$\" \"$5.00$\"}}",
        "5.00",
        "STRING without any of CHARACTERS at either end.",
        imp(trim_all, 2, Some(2))
    ),
    spec!(
        "hasPrefix",
        "hasPrefix PREFIX STRING",
        "hasPrefix",
        "{{hasPrefix \"we\" Values.name}}",
        "true",
        "Whether STRING starts with PREFIX.",
        imp(has_prefix, 2, Some(2))
    ),
    spec!(
        "hasSuffix",
        "hasSuffix SUFFIX STRING",
        "hasSuffix",
        "{{hasSuffix \"b\" Values.name}}",
        "true",
        "Whether STRING ends with SUFFIX.",
        imp(has_suffix, 2, Some(2))
    ),
    spec!(
        "cat",
        "cat VALUE...",
        "cat",
        "{{cat Values.name \"x\"}}",
        "web x",
        "The values as text joined by spaces; nulls are left out.",
        imp(cat, 0, None)
    ),
    spec!(
        "splitList",
        "splitList SEPARATOR STRING",
        "splitList",
        "{{toJson (splitList \",\" \"a,b\")}}",
        "[\"a\",\"b\"]",
        "The parts of STRING between SEPARATORs, as a list.",
        imp(split_list, 2, Some(2))
    ),
    spec!(
        "split",
        "split SEPARATOR STRING",
        "split",
        "{{lookup (split \",\" \"a,b\") \"_1\"}}",
        "b",
        "The parts as a map `_0`, `_1`, … (Sprig's `split`).",
        imp(split, 2, Some(2))
    ),
    spec!(
        "regexMatch",
        "regexMatch REGEX STRING",
        "regexMatch",
        "{{regexMatch \"^w.b$\" Values.name}}",
        "true",
        "Whether REGEX (RE2 syntax, as Go's `regexp`) matches STRING.",
        imp(regex_match, 2, Some(2))
    ),
    spec!(
        "regexFind",
        "regexFind REGEX STRING",
        "regexFind",
        "{{regexFind \"[0-9]+\" \"v12b\"}}",
        "12",
        "The first match of REGEX in STRING, or \"\".",
        imp(regex_find, 2, Some(2))
    ),
    spec!(
        "regexReplaceAll",
        "regexReplaceAll REGEX STRING REPLACEMENT",
        "regexReplaceAll",
        "{{regexReplaceAll \"[^a-z]\" \"a.b-c\" \"\"}}",
        "abc",
        "Replaces every match; `$1` or `${name}` in REPLACEMENT insert groups (Sprig's argument order).",
        imp(regex_replace_all, 3, Some(3))
    ),
    spec!(
        "regexSplit",
        "regexSplit REGEX STRING N",
        "regexSplit",
        "{{toJson (regexSplit \"=\" \"a=b=c\" 2)}}",
        "[\"a\",\"b=c\"]",
        "STRING split at matches of REGEX into at most N parts (-1: all).",
        imp(regex_split, 3, Some(3))
    ),
    spec!(
        "semverCompare",
        "semverCompare CONSTRAINT VERSION",
        "semverCompare",
        "{{semverCompare \">=1.19-0\" \"v1.36.0\"}}",
        "true",
        "Whether VERSION satisfies CONSTRAINT (Masterminds syntax: `>=1.19-0`, `<2`, `~1.2`, `^1.2`, `1.2.x`; comparisons joined by spaces or `,`, alternatives by `||`).",
        imp(semver_compare, 2, Some(2))
    ),
    spec!(
        "index",
        "index VALUE KEY...",
        "index",
        "{{index Values \"labels\" \"tier\"}}",
        "front",
        "Go's `index`: one level per KEY, map keys or list positions; a missing map key gives null.",
        imp(index, 1, None)
    ),
    spec!(
        "get",
        "get MAP KEY",
        "get",
        "{{get Values.labels \"app\"}}",
        "web",
        "The item KEY of MAP, or \"\" when absent.",
        imp(get, 2, Some(2))
    ),
    spec!(
        "set",
        "set MAP KEY VALUE",
        "set",
        "{{toJson (set Values.image \"pull\" \"Always\")}}",
        "{\"tag\":\"1.25\",\"pull\":\"Always\"}",
        "A copy of MAP with KEY set. Unlike Sprig it does not change MAP: use the result (`convert-chart` rebinds `$_ := set $d …` to `$d`).",
        imp(set, 3, Some(3))
    ),
    spec!(
        "unset",
        "unset MAP KEY",
        "unset",
        "{{toJson (unset Values.labels \"tier\")}}",
        "{\"app\":\"web\"}",
        "A copy of MAP without KEY.",
        imp(unset, 2, Some(2))
    ),
    spec!(
        "keys",
        "keys MAP...",
        "keys",
        "{{join \",\" (keys Values.labels)}}",
        "app,tier",
        "The keys of the maps, in their order (pipe to `sortAlpha` for Go's sorted order).",
        imp(keys, 1, None)
    ),
    spec!(
        "values",
        "values MAP",
        "values",
        "{{join \",\" (values Values.labels)}}",
        "web,front",
        "The values of MAP, in key order.",
        imp(values, 1, Some(1))
    ),
    spec!(
        "pick",
        "pick MAP KEY...",
        "pick",
        "{{toJson (pick Values.labels \"app\")}}",
        "{\"app\":\"web\"}",
        "A map with only the KEYs of MAP.",
        imp(pick, 1, None)
    ),
    spec!(
        "omit",
        "omit MAP KEY...",
        "omit",
        "{{toJson (omit Values.labels \"app\")}}",
        "{\"tier\":\"front\"}",
        "A map without the KEYs.",
        imp(omit, 1, None)
    ),
    spec!(
        "dig",
        "dig KEY... DEFAULT MAP",
        "dig",
        "{{dig \"image\" \"tag\" \"latest\" Values}}",
        "1.25",
        "The value at the KEY path in nested maps, or DEFAULT.",
        imp(dig, 3, None)
    ),
    spec!(
        "merge",
        "merge DESTINATION SOURCE...",
        "merge",
        "{{toJson (merge (dict \"a\" 1) (dict \"a\" 2 \"b\" 3))}}",
        "{\"a\":1,\"b\":3}",
        "A deep merge in which DESTINATION's keys win; the result is a new map (Sprig changes DESTINATION).",
        imp(merge, 1, None)
    ),
    spec!(
        "mergeOverwrite",
        "mergeOverwrite DESTINATION SOURCE...",
        "mergeOverwrite",
        "{{toJson (mergeOverwrite (dict \"a\" 1) (dict \"a\" 2))}}",
        "{\"a\":2}",
        "A deep merge in which later SOURCEs win.",
        imp(merge_overwrite, 1, None)
    ),
    spec!(
        "deepCopy",
        "deepCopy VALUE",
        "deepCopy",
        "{{toJson (deepCopy Values.ports)}}",
        "[80,443]",
        "VALUE itself (values are never changed in place here).",
        imp(deep_copy, 1, Some(1))
    ),
    spec!(
        "append",
        "append LIST VALUE",
        "append, push",
        "{{toJson (append Values.ports 8080)}}",
        "[80,443,8080]",
        "A new list with VALUE added at the end.",
        imp(append, 2, Some(2))
    ),
    spec!(
        "concat",
        "concat LIST...",
        "concat",
        "{{toJson (concat Values.ports (list 1))}}",
        "[80,443,1]",
        "The lists joined into one.",
        imp(concat, 1, None)
    ),
    spec!(
        "first",
        "first LIST",
        "first",
        "{{first Values.ports}}",
        "80",
        "The first item, or null.",
        imp(first, 1, Some(1))
    ),
    spec!(
        "last",
        "last LIST",
        "last",
        "{{last Values.ports}}",
        "443",
        "The last item, or null.",
        imp(last, 1, Some(1))
    ),
    spec!(
        "uniq",
        "uniq LIST",
        "uniq",
        "{{toJson (uniq (list 1 1 2))}}",
        "[1,2]",
        "The list without repeated items.",
        imp(uniq, 1, Some(1))
    ),
    spec!(
        "compact",
        "compact LIST",
        "compact",
        "{{toJson (compact (list 1 \"\" 0 2))}}",
        "[1,2]",
        "The list without empty items.",
        imp(compact, 1, Some(1))
    ),
    spec!(
        "has",
        "has VALUE LIST",
        "has, .Capabilities.APIVersions.Has",
        "{{has 443 Values.ports}}",
        "true",
        "Whether LIST contains VALUE. `.Capabilities.APIVersions.Has \"x\"` converts to `has \"x\" Capabilities.APIVersions`.",
        imp(has, 2, Some(2))
    ),
    spec!(
        "sortAlpha",
        "sortAlpha LIST",
        "sortAlpha",
        "{{toJson (sortAlpha (list \"b\" \"a\"))}}",
        "[\"a\",\"b\"]",
        "The items as text, sorted.",
        imp(sort_alpha, 1, Some(1))
    ),
    spec!(
        "sortKeys",
        "sortKeys VALUE",
        "range over a map",
        "{{#each (sortKeys (dict \"b\" 1 \"a\" 2)) as |v k|}}{{k}}{{/each}}",
        "ab",
        "A map with its keys sorted (anything else unchanged): Go's `range` visits map keys in sorted order, `each` in their order.",
        None
    ),
    spec!(
        "until",
        "until N",
        "until",
        "{{toJson (until 3)}}",
        "[0,1,2]",
        "The list 0 … N-1.",
        imp(until, 1, Some(1))
    ),
    spec!(
        "slice",
        "slice LIST_OR_STRING START [END]",
        "slice",
        "{{toJson (slice Values.ports 1)}}",
        "[443]",
        "Items (or characters) START … END-1, as Go's `slice`.",
        imp(slice, 2, Some(3))
    ),
    spec!(
        "add",
        "add N...",
        "add",
        "{{add Values.replicas 1}}",
        "3",
        "Integer sum (numbers are truncated to integers, as Sprig).",
        imp(add, 1, None)
    ),
    spec!(
        "add1",
        "add1 N",
        "add1",
        "{{add1 Values.replicas}}",
        "3",
        "N + 1.",
        imp(add1, 1, Some(1))
    ),
    spec!(
        "sub",
        "sub A B",
        "sub",
        "{{sub Values.replicas 1}}",
        "1",
        "Integer A − B.",
        imp(sub, 2, Some(2))
    ),
    spec!(
        "mul",
        "mul N...",
        "mul",
        "{{mul Values.replicas 3}}",
        "6",
        "Integer product.",
        imp(mul, 1, None)
    ),
    spec!(
        "div",
        "div A B",
        "div",
        "{{div 7 Values.replicas}}",
        "3",
        "Integer A ÷ B (division by zero is an error).",
        imp(div, 2, Some(2))
    ),
    spec!(
        "mod",
        "mod A B",
        "mod",
        "{{mod 7 Values.replicas}}",
        "1",
        "Remainder of A ÷ B.",
        imp(modulo, 2, Some(2))
    ),
    spec!(
        "max",
        "max N...",
        "max",
        "{{max 1 Values.replicas}}",
        "2",
        "The largest integer.",
        imp(max, 1, None)
    ),
    spec!(
        "min",
        "min N...",
        "min",
        "{{min 1 Values.replicas}}",
        "1",
        "The smallest integer.",
        imp(min, 1, None)
    ),
    spec!(
        "kindIs",
        "kindIs KIND VALUE",
        "kindIs",
        "{{kindIs \"map\" Values.labels}}",
        "true",
        "Whether VALUE's Go kind is KIND: `map`, `slice`, `string`, `bool`, `float64` (numbers from YAML, as in Helm), `int`/`int64` (an integer also passes as `float64`), `invalid` (null).",
        imp(kind_is, 2, Some(2))
    ),
    spec!(
        "kindOf",
        "kindOf VALUE",
        "kindOf",
        "{{kindOf Values.ports}}",
        "slice",
        "VALUE's Go kind (see `kindIs`).",
        imp(kind_of, 1, Some(1))
    ),
    spec!(
        "typeIs",
        "typeIs TYPE VALUE",
        "typeIs",
        "{{typeIs \"string\" Values.name}}",
        "true",
        "Whether VALUE's Go type is TYPE (`string`, `bool`, `float64`, `int`, `int64`, `[]interface {}`, `map[string]interface {}`; integers pass as all three number types).",
        imp(type_is, 2, Some(2))
    ),
    spec!(
        "fail",
        "fail MESSAGE",
        "fail",
        "",
        "",
        "Stops the render with a render error showing MESSAGE (and the template and line).",
        imp(fail, 1, Some(1))
    ),
    spec!(
        "if",
        "{{#if VALUE}}…{{else}}…{{/if}}",
        "{{if}} … {{else}} … {{end}}",
        "{{#if Values.missing}}yes{{else}}no{{/if}}",
        "no",
        "Block shown when VALUE is non-empty. VALUE may be missing (a guard, not a strict-mode error).",
        None
    ),
    spec!(
        "unless",
        "{{#unless VALUE}}…{{/unless}}",
        "{{if not …}}",
        "{{#unless Values.missing}}no value{{/unless}}",
        "no value",
        "Inverse of `if`; VALUE may be missing.",
        None
    ),
    spec!(
        "with",
        "{{#with VALUE}}…{{else}}…{{/with}}",
        "{{with}} … {{end}}",
        "{{#with Values.image}}tag={{tag}}{{/with}}",
        "tag=1.25",
        "Block with VALUE as context when non-empty; a missing VALUE skips the block (guard).",
        None
    ),
    spec!(
        "each",
        "{{#each LIST}}…{{/each}}",
        "{{range}} … {{end}}",
        "{{#each Values.ports}}[{{@index}}:{{this}}]{{/each}}",
        "[0:80][1:443]",
        "Iterates an array or map (`@index`, `@key`, `this`, `@root`). A missing LIST is an error: guard with `if`.",
        None
    ),
    spec!(
        "lookup",
        "lookup MAP KEY",
        "index",
        r#"{{lookup Values.labels "tier"}}"#,
        "front",
        "Item of a map or array by a computed key. Unlike Helm's `lookup` it never reads the cluster.",
        None
    ),
    spec!(
        "raw",
        "{{{{raw}}}}…{{{{/raw}}}}",
        "{{`…`}}",
        "{{{{raw}}}}{{ $labels.job }}{{{{/raw}}}}",
        "{{ $labels.job }}",
        "Outputs its content unrendered, e.g. Prometheus or Alertmanager templates.",
        None
    ),
    spec!(
        ">",
        "{{> NAME}} or {{> NAME key=VALUE}}",
        "include \"NAME\" .",
        "",
        "",
        "Renders partial `templates/_NAME.hbs` (or `_NAME.tpl`) with the current context plus the given keys. On a line of its own the partial is indented like the `{{>` tag, so no `nindent` is needed.",
        None
    ),
];
