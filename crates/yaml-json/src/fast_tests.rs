//! The fast reader against serde_yaml: wherever it answers, both give the same documents.

use crate::fast::parse_stream;
use crate::parse::serde_stream;
use serde_json::{Value, json};
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
