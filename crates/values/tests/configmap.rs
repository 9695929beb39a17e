//! ConfigMap codec, `--config-values` documents and `--set` arguments.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use pretty_assertions::assert_eq;
use serde_json::{Map, Value, json};
use values::{ConfigValues, Maintenance, is_camel_key};

fn known() -> BTreeSet<String> {
    ["echoServer", "certManager", "ingressNginx"]
        .into_iter()
        .map(String::from)
        .collect()
}

fn data(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn decode_reads_every_kind_of_key() {
    let config = ConfigValues::decode(
        &data(&[
            ("global", "clusterName: prod\nmodules:\n  https: true\n"),
            ("echoServer", "replicas: 3\n"),
            ("echoServerEnabled", "false"),
            ("certManagerEnabled", "true"),
            ("certManagerMaintenance", "NoResourceReconciliation"),
            ("ingressNginx", ""),
            ("ingressNginxMaintenance", ""),
        ]),
        &known(),
    )
    .unwrap();
    assert_eq!(
        config.global,
        Some(json!({"clusterName": "prod", "modules": {"https": true}}))
    );
    assert_eq!(
        config.modules,
        BTreeMap::from([("echoServer".into(), json!({"replicas": 3}))])
    );
    assert_eq!(
        config.enabled,
        BTreeMap::from([("echoServer".into(), false), ("certManager".into(), true)])
    );
    assert_eq!(
        config.maintenance,
        BTreeMap::from([("certManager".into(), Maintenance::NoResourceReconciliation)])
    );
}

#[test]
fn decode_collects_every_problem_and_rejects_the_whole_configmap() {
    let errors = ConfigValues::decode(
        &data(&[
            ("global", "a: [unclosed"),
            ("echoServer", "- a list"),
            ("echoServerEnabled", "True"),
            ("certManagerMaintenance", "Sometimes"),
            ("unknownModule", "a: 1"),
            ("Bad-Key", "x"),
            ("ingressNginx", "replicas: 2"),
        ]),
        &known(),
    )
    .unwrap_err();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(text.len(), 6, "{text:#?}");
    let expect = [
        ("\"global\"", "invalid yaml"),
        ("\"echoServer\"", "expected a yaml map, got an array"),
        (
            "\"echoServerEnabled\"",
            "expected \"true\" or \"false\" (lower-case)",
        ),
        ("\"certManagerMaintenance\"", "NoResourceReconciliation"),
        ("\"unknownModule\"", "unknown key"),
        ("\"Bad-Key\"", "not a lowerCamel key"),
    ];
    for (key, message) in expect {
        assert!(
            text.iter().any(|t| t.contains(key) && t.contains(message)),
            "missing {key} {message} in {text:#?}"
        );
    }
    assert!(errors.to_string().starts_with("6 problem(s):"));
}

#[test]
fn camel_keys_are_lower_camel_ascii() {
    for good in ["a", "echoServer", "certManager2", "x9Y"] {
        assert!(is_camel_key(good), "{good}");
    }
    for bad in [
        "",
        "EchoServer",
        "echo-server",
        "echo_server",
        "9lives",
        "échoServer",
        "echo server",
    ] {
        assert!(!is_camel_key(bad), "{bad}");
    }
}

#[test]
fn encode_is_stable_and_sorted_regardless_of_insertion_order() {
    let first: Value = serde_json::from_str(r#"{"b": 1, "a": {"z": 1, "y": [2, 1]}}"#).unwrap();
    let second: Value = serde_json::from_str(r#"{"a": {"y": [2, 1], "z": 1}, "b": 1}"#).unwrap();
    let encode = |section: Value| {
        ConfigValues {
            modules: BTreeMap::from([("echoServer".into(), section)]),
            ..Default::default()
        }
        .encode()
        .unwrap()
    };
    let encoded = encode(first);
    assert_eq!(encoded, encode(second));
    assert_eq!(
        encoded["echoServer"],
        "a:\n  \"y\":\n    - 2\n    - 1\n  z: 1\nb: 1\n"
    );
}

/// A small deterministic generator (xorshift), so the property tests need no extra crate and
/// every failure is reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn string(&mut self) -> String {
        const PIECES: &[&str] = &[
            "a", "Z", "0", "7", " ", ":", "-", "#", "'", "\"", "\n", "true", "null", "{}", "[",
            "é", "~", "yes", "1e3", "0x1",
        ];
        (0..self.below(5))
            .map(|_| PIECES[self.below(PIECES.len() as u64) as usize])
            .collect()
    }

    fn value(&mut self, depth: u32) -> Value {
        match self.below(if depth > 2 { 5 } else { 7 }) {
            0 => Value::Null,
            1 => Value::Bool(self.below(2) == 1),
            2 => json!(self.next() as i64 >> self.below(60)),
            3 => json!((self.below(1000) as f64) / 8.0),
            4 => Value::String(self.string()),
            5 => Value::Array((0..self.below(4)).map(|_| self.value(depth + 1)).collect()),
            _ => self.map(depth + 1),
        }
    }

    fn map(&mut self, depth: u32) -> Value {
        let mut map = Map::new();
        for _ in 0..self.below(5) {
            let key = self.string();
            let value = self.value(depth);
            map.insert(key, value);
        }
        Value::Object(map)
    }

    fn config(&mut self) -> ConfigValues {
        let mut config = ConfigValues::default();
        if self.below(2) == 1 {
            config.global = Some(self.map(0));
        }
        for key in known() {
            match self.below(4) {
                0 => {}
                1 => {
                    config.modules.insert(key.clone(), self.map(0));
                }
                2 => {
                    config.enabled.insert(key.clone(), self.below(2) == 1);
                }
                _ => {
                    config.modules.insert(key.clone(), self.map(0));
                    config.enabled.insert(key.clone(), self.below(2) == 1);
                    config
                        .maintenance
                        .insert(key.clone(), Maintenance::NoResourceReconciliation);
                }
            }
        }
        config
    }
}

#[test]
fn decode_of_encode_is_identity_for_varied_config_values() {
    for seed in 1..=500u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let config = rng.config();
        let encoded = config.encode().unwrap();
        let decoded = ConfigValues::decode(&encoded, &known())
            .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{encoded:#?}"));
        assert_eq!(decoded, config, "seed {seed}: {encoded:#?}");
        assert_eq!(
            decoded.encode().unwrap(),
            encoded,
            "seed {seed}: encode is stable"
        );
    }
}

#[test]
fn config_values_document_is_the_decoded_configmap_shape() {
    let yaml = "global:\n  clusterName: x\nechoServer:\n  replicas: 2\nechoServerEnabled: false\ncertManagerEnabled: \"true\"\n";
    let from_document = ConfigValues::from_yaml_str(yaml, &known()).unwrap();
    let from_configmap = ConfigValues::decode(
        &data(&[
            ("global", "clusterName: x"),
            ("echoServer", "replicas: 2"),
            ("echoServerEnabled", "false"),
            ("certManagerEnabled", "true"),
        ]),
        &known(),
    )
    .unwrap();
    assert_eq!(from_document, from_configmap);
    let reader = ConfigValues::from_yaml_reader(yaml.as_bytes(), &known()).unwrap();
    assert_eq!(reader, from_configmap);

    let errors =
        ConfigValues::from_yaml_str("nope: 1\nechoServerEnabled: 3\nechoServer: 5\n", &known())
            .unwrap_err();
    assert_eq!(errors.len(), 3, "{errors}");
    assert!(ConfigValues::from_yaml_str("[1]", &known()).is_err());
    assert_eq!(
        ConfigValues::from_yaml_str("", &known()).unwrap(),
        ConfigValues::default()
    );
}

#[test]
fn config_values_document_may_be_shaped_like_the_configmap_data() {
    let expected = ConfigValues::decode(
        &data(&[
            ("global", "clusterName: x"),
            ("echoServer", "replicas: 2\nimage:\n  tag: \"off\"\n"),
            ("echoServerEnabled", "false"),
            ("ingressNginx", ""),
        ]),
        &known(),
    )
    .unwrap();
    let data_shape = "global: |\n  clusterName: x\nechoServer: |\n  replicas: 2\n  image:\n    tag: \"off\"\nechoServerEnabled: \"false\"\ningressNginx: \"\"\n";
    assert_eq!(
        ConfigValues::from_yaml_str(data_shape, &known()).unwrap(),
        expected
    );
    let manifest = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: addon-operator\ndata:\n{}",
        data_shape
            .lines()
            .map(|l| format!("  {l}\n"))
            .collect::<String>()
    );
    assert_eq!(
        ConfigValues::from_yaml_str(&manifest, &known()).unwrap(),
        expected
    );
    let mixed = "global:\n  clusterName: x\nechoServer: |\n  replicas: 2\n  image: {tag: \"off\"}\nechoServerEnabled: false\n";
    assert_eq!(
        ConfigValues::from_yaml_str(mixed, &known()).unwrap(),
        expected
    );

    let errors = ConfigValues::from_yaml_str("echoServer: \"a: [\"\nglobal: \"- 1\"\n", &known())
        .unwrap_err()
        .to_string();
    assert!(
        errors.contains("configmap key \"echoServer\": invalid yaml"),
        "{errors}"
    );
    assert!(
        errors.contains("configmap key \"global\": expected a yaml map, got an array"),
        "{errors}"
    );
}

#[test]
fn decode_errors_never_quote_a_value() {
    const MARKER: &str = "SECRET-MARKER-9f3a";
    let errors = ConfigValues::decode(
        &data(&[
            ("global", &format!("pw: [{MARKER}")),
            ("echoServer", MARKER),
            ("echoServerEnabled", MARKER),
            ("certManagerMaintenance", MARKER),
        ]),
        &known(),
    )
    .unwrap_err();
    assert_eq!(errors.len(), 4, "{errors}");
    assert!(!errors.to_string().contains(MARKER), "{errors}");
    let document = format!("echoServerEnabled: [{MARKER}]\nglobal: {MARKER}\n");
    let errors = ConfigValues::from_yaml_str(&document, &known()).unwrap_err();
    assert_eq!(errors.len(), 2, "{errors}");
    assert!(!errors.to_string().contains(MARKER), "{errors}");
}

#[test]
fn set_arguments_produce_what_the_configmap_would() {
    let mut from_set = ConfigValues::default();
    from_set
        .apply_set_args(
            &[
                "echoServer.replicas=3",
                "echoServer.image.tag=\"1.0\"",
                "echoServerEnabled=false",
                "global.clusterName=x,global.https=true",
                "certManager.list[1]=b",
                "ingressNginxMaintenance=NoResourceReconciliation",
            ],
            &known(),
        )
        .unwrap();
    let from_configmap = ConfigValues::decode(
        &data(&[
            ("echoServer", "replicas: 3\nimage:\n  tag: \"1.0\"\n"),
            ("echoServerEnabled", "false"),
            ("global", "clusterName: x\nhttps: true\n"),
            ("certManager", "list: [null, b]"),
            ("ingressNginxMaintenance", "NoResourceReconciliation"),
        ]),
        &known(),
    )
    .unwrap();
    assert_eq!(from_set, from_configmap);
}

#[test]
fn set_arguments_layer_over_a_config_file_and_reject_bad_input_atomically() {
    let mut config =
        ConfigValues::from_yaml_str("echoServer:\n  replicas: 1\n  keep: true\n", &known())
            .unwrap();
    config
        .apply_set_args(
            &["echoServer.replicas=4", "echoServerEnabled=true"],
            &known(),
        )
        .unwrap();
    assert_eq!(config.enabled.get("echoServer"), Some(&true));
    config
        .apply_set_args(&["echoServerEnabled=null"], &known())
        .unwrap();
    assert!(config.enabled.is_empty(), "null unsets a flag");
    assert_eq!(
        config.modules["echoServer"],
        json!({"replicas": 4, "keep": true})
    );

    let before = config.clone();
    let errors = config
        .apply_set_args(
            &[
                "echoServer.replicas=9",
                "echoServerEnabled=maybe",
                "unknown.a=1",
                "echoServer=3",
                "noequals",
            ],
            &known(),
        )
        .unwrap_err();
    let text = errors.to_string();
    assert_eq!(errors.len(), 4, "{text}");
    for needle in [
        "--set #2 echoServerEnabled: ",
        "--set #3 unknown.a: ",
        "--set #4 echoServer: ",
        "--set #5: missing `=`",
    ] {
        assert!(text.contains(needle), "{needle} in {text}");
    }
    assert_eq!(config, before, "a rejected --set changes nothing");
}
