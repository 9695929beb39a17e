//! Enabled-state resolution: a pure function over a module's layers that returns the state and
//! which layer decided it, for the loop, `module list` (`enabledSource`) and `module describe`.
//!
//! The layers, later wins: `<key>Enabled` in `modules/values.yaml`, in the module's
//! `values.yaml`, a global hook's patch, the ConfigMap (all in [`values::EnabledLayers`]); then,
//! if still enabled, the `enabled` script. When the script fails, the state the module had
//! before decides, and never as "disabled": a module whose state cannot be computed is not
//! deleted (`docs/operator.md`).
//!
//! Running the script and reading the inventory are the caller's (`converge.rs`); this module
//! only decides.

use serde::{Deserialize, Serialize};
use values::{EnabledLayers, EnabledSource};

/// A layer that can decide a module's enabled state, in the order they apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layer {
    /// Nothing set a flag: modules are disabled by default.
    Default,
    /// `<key>Enabled` in the common `modules/values.yaml`.
    CommonValues,
    /// `<key>Enabled` in the module's own `values.yaml`.
    ModuleValues,
    /// A global hook's values patch on `/<key>Enabled`.
    GlobalHook,
    /// The ConfigMap key `<key>Enabled`.
    ConfigMap,
    /// The module's `enabled` script.
    EnabledScript,
    /// The `enabled` script failed: the state the module had before.
    PreviousState,
}

/// What is known about a module's state before this resolution; asked for only when its
/// `enabled` script failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Previous {
    /// This process ran (`true`) or disabled (`false`) the module.
    Known(bool),
    /// Before the module's first run in this process, the cluster: an inventory means the
    /// module was enabled.
    Inventory(bool),
    /// The inventory cannot be read.
    Unknown,
}

/// What the `enabled` script said this time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptOutcome {
    /// The module has no `enabled` script.
    Absent,
    /// Not run: the flags disabled the module.
    NotRun,
    /// It wrote `true` or `false` to `$MODULE_ENABLED_RESULT`.
    Decided {
        /// The verdict.
        enabled: bool,
        /// `$MODULE_ENABLED_REASON`, if written.
        reason: Option<String>,
    },
    /// It failed or could not start.
    Failed {
        /// Why.
        error: String,
        /// The state before.
        previous: Previous,
    },
}

/// What one layer said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerVerdict {
    /// The layer.
    pub layer: Layer,
    /// What it said, e.g. `true`, `false`, `not run (disabled by the flags)`, `failed: …`.
    pub says: String,
}

/// A module's enabled state, the layer that decided it and what every layer said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnabledDecision {
    /// `Some(state)`; `None` when it cannot be computed (a failing script) and nothing says
    /// the module was enabled: the module is left exactly as it is.
    pub enabled: Option<bool>,
    /// The layer that decided.
    pub decided_by: Layer,
    /// The `enabled` script's reason, when the script decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Every layer that said something, in the order they apply.
    pub layers: Vec<LayerVerdict>,
}

impl EnabledDecision {
    /// The `enabledSource` of `module list`: the deciding layer (and the script's reason).
    pub fn source(&self) -> String {
        match (self.decided_by, &self.reason) {
            (Layer::EnabledScript, Some(reason)) => format!("EnabledScript: {reason}"),
            (Layer::PreviousState, _) if self.enabled == Some(true) => {
                "EnabledScript (failed; kept enabled)".into()
            }
            (Layer::PreviousState, _) => "EnabledScript (failed; left as it is)".into(),
            (layer, _) => format!("{layer:?}"),
        }
    }

    /// Enabled for `global.enabledModules` and the `module_enabled` metric (unknown is not).
    pub fn shown(&self) -> bool {
        self.enabled == Some(true)
    }
}

/// Resolves a module's enabled state from its flag layers and its script's outcome.
///
/// # Guarantees
/// - The last flag layer that says something wins; none says anything: disabled (`Default`).
/// - The script decides only a module the flags enabled.
/// - A failed script never yields `Some(false)`: the module stays enabled if it was enabled
///   before, else it is left as it is (`None`).
pub fn resolve(flags: &EnabledLayers, script: &ScriptOutcome) -> EnabledDecision {
    let state = flags.resolve();
    let mut layers: Vec<LayerVerdict> = [
        (Layer::CommonValues, flags.common_values),
        (Layer::ModuleValues, flags.module_values),
        (Layer::GlobalHook, flags.global_hook),
        (Layer::ConfigMap, flags.config_map),
    ]
    .into_iter()
    .filter_map(|(layer, flag)| flag.map(|on| verdict(layer, on.to_string())))
    .collect();
    if layers.is_empty() {
        layers.push(verdict(Layer::Default, "false".into()));
    }
    let mut decision = EnabledDecision {
        enabled: Some(state.enabled),
        decided_by: flag_layer(state.source),
        reason: None,
        layers,
    };
    match script {
        ScriptOutcome::Absent => {}
        ScriptOutcome::NotRun => decision.layers.push(verdict(
            Layer::EnabledScript,
            "not run (disabled by the flags)".into(),
        )),
        ScriptOutcome::Decided { enabled, reason } => {
            let says = match reason {
                Some(reason) => format!("{enabled} ({reason})"),
                None => enabled.to_string(),
            };
            decision.layers.push(verdict(Layer::EnabledScript, says));
            decision.enabled = Some(*enabled);
            decision.decided_by = Layer::EnabledScript;
            decision.reason = reason.clone();
        }
        ScriptOutcome::Failed { error, previous } => {
            decision
                .layers
                .push(verdict(Layer::EnabledScript, format!("failed: {error}")));
            let (before, says) = match previous {
                Previous::Known(on) => (Some(*on), format!("{on} (in this process)")),
                Previous::Inventory(on) => (
                    Some(*on),
                    if *on {
                        "true (its inventory exists)".into()
                    } else {
                        "unknown (no inventory)".into()
                    },
                ),
                Previous::Unknown => (None, "unknown (the inventory cannot be read)".into()),
            };
            decision.layers.push(verdict(Layer::PreviousState, says));
            decision.enabled = before.filter(|on| *on);
            decision.decided_by = Layer::PreviousState;
        }
    }
    decision
}

fn verdict(layer: Layer, says: String) -> LayerVerdict {
    LayerVerdict { layer, says }
}

fn flag_layer(source: EnabledSource) -> Layer {
    match source {
        EnabledSource::Default => Layer::Default,
        EnabledSource::CommonValues => Layer::CommonValues,
        EnabledSource::ModuleValues => Layer::ModuleValues,
        EnabledSource::GlobalHook => Layer::GlobalHook,
        EnabledSource::ConfigMap => Layer::ConfigMap,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(common: Option<bool>, config_map: Option<bool>) -> EnabledLayers {
        EnabledLayers {
            common_values: common,
            config_map,
            ..EnabledLayers::default()
        }
    }

    #[test]
    fn the_last_flag_that_says_something_decides_and_nothing_means_disabled() {
        let d = resolve(&flags(Some(true), Some(false)), &ScriptOutcome::Absent);
        assert_eq!((d.enabled, d.decided_by), (Some(false), Layer::ConfigMap));
        assert_eq!(d.source(), "ConfigMap");
        let says: Vec<(Layer, &str)> = d.layers.iter().map(|l| (l.layer, &*l.says)).collect();
        assert_eq!(
            says,
            [(Layer::CommonValues, "true"), (Layer::ConfigMap, "false")]
        );
        let d = resolve(&EnabledLayers::default(), &ScriptOutcome::Absent);
        assert_eq!((d.enabled, d.decided_by), (Some(false), Layer::Default));
        assert_eq!(d.source(), "Default");
    }

    #[test]
    fn the_script_decides_only_what_the_flags_enabled() {
        let script = ScriptOutcome::Decided {
            enabled: false,
            reason: Some("not on this cluster".into()),
        };
        let d = resolve(&flags(Some(true), None), &script);
        assert_eq!(
            (d.enabled, d.decided_by),
            (Some(false), Layer::EnabledScript)
        );
        assert_eq!(d.source(), "EnabledScript: not on this cluster");
        let d = resolve(&flags(Some(false), None), &ScriptOutcome::NotRun);
        assert_eq!(
            (d.enabled, d.decided_by),
            (Some(false), Layer::CommonValues)
        );
        assert_eq!(
            d.layers.last().map(|l| l.says.as_str()),
            Some("not run (disabled by the flags)")
        );
        let silent = ScriptOutcome::Decided {
            enabled: true,
            reason: None,
        };
        assert_eq!(
            resolve(&flags(Some(true), None), &silent).source(),
            "EnabledScript"
        );
    }

    #[test]
    fn a_failed_script_never_disables_a_module() {
        let failed = |previous| ScriptOutcome::Failed {
            error: "exit status 1".into(),
            previous,
        };
        let on = flags(Some(true), None);
        for (previous, enabled, source) in [
            (Previous::Known(true), Some(true), "kept enabled"),
            (Previous::Inventory(true), Some(true), "kept enabled"),
            (Previous::Known(false), None, "left as it is"),
            (Previous::Inventory(false), None, "left as it is"),
            (Previous::Unknown, None, "left as it is"),
        ] {
            let d = resolve(&on, &failed(previous));
            assert_eq!(d.enabled, enabled, "{previous:?}");
            assert_eq!(d.decided_by, Layer::PreviousState);
            assert!(d.source().contains(source), "{previous:?}: {}", d.source());
            assert!(
                d.layers
                    .iter()
                    .any(|l| l.layer == Layer::EnabledScript && l.says == "failed: exit status 1")
            );
        }
    }
}
