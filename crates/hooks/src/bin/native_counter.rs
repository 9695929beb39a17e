//! A native hook compiled into a binary, speaking the shell hook protocol through `run_native`:
//! the same thing `addon-operator hook run <name>` does for the operator's built-in hooks.
//!
//! It runs at `beforeAll`, counts the ConfigMaps in its snapshot, writes that count to
//! `global.configMaps` and exports a metric. A two-line script makes it a hook:
//!
//! ```sh
//! #!/bin/sh
//! exec /path/to/native_counter "$@"
//! ```
//!
//! The end-to-end test `a_native_hook_runs_through_a_two_line_script` runs it exactly so.

use hooks::{NativeHook, NativeHookError, NativeInput, NativeOutput, run_native};
use serde_json::{Value, json};

struct Counter;

impl NativeHook for Counter {
    fn name(&self) -> &str {
        "native-counter"
    }

    fn config(&self) -> String {
        r#"{"configVersion":"v1","beforeAll":1,"kubernetes":[{"name":"cms","kind":"ConfigMap",
            "namespace":{"nameSelector":{"matchNames":["default"]}},"jqFilter":".metadata.name",
            "executeHookOnSynchronization":false,"executeHookOnEvent":[]}]}"#
            .into()
    }

    fn run(&self, input: NativeInput) -> Result<NativeOutput, NativeHookError> {
        let contexts = input
            .binding_context
            .as_array()
            .ok_or("binding context is not an array")?;
        let count = contexts
            .iter()
            .filter_map(|c| c.pointer("/snapshots/cms").and_then(Value::as_array))
            .map(Vec::len)
            .max()
            .unwrap_or(0);
        Ok(NativeOutput {
            values_patch: vec![json!({"op": "add", "path": "/global/configMaps", "value": count})],
            metrics: vec![
                json!({"name": "native_counter_config_maps", "action": "set", "value": count}),
            ],
            ..Default::default()
        })
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env = |var: &str| std::env::var_os(var);
    if let Err(e) = run_native(&Counter, &args, &env, &mut std::io::stdout()) {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
