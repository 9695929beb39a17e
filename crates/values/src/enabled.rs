//! Enabled-state resolution before the `enabled` script: later sources win.

/// Where a module's enabled state came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnabledSource {
    /// Nothing set it: modules are disabled by default.
    Default,
    /// `<key>Enabled` in the common `modules/values.yaml`.
    CommonValues,
    /// `<key>Enabled` in the module's own `values.yaml`.
    ModuleValues,
    /// A global hook's values patch on `/<key>Enabled`.
    GlobalHook,
    /// The ConfigMap key `<key>Enabled`.
    ConfigMap,
}

/// The enabled flags a module gets from each source (None = that source says nothing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EnabledLayers {
    /// From the common `modules/values.yaml`.
    pub common_values: Option<bool>,
    /// From the module's `values.yaml`.
    pub module_values: Option<bool>,
    /// From a global hook patch.
    pub global_hook: Option<bool>,
    /// From the ConfigMap.
    pub config_map: Option<bool>,
}

/// A module's enabled state before its `enabled` script runs, and what decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnabledState {
    /// Enabled so far; the operator runs the `enabled` script only if true.
    pub enabled: bool,
    /// The source that decided.
    pub source: EnabledSource,
}

impl EnabledLayers {
    /// Resolves the layers in addon-operator's order (common → module → global hook →
    /// ConfigMap); the last source that says something wins; nothing ⇒ disabled.
    pub fn resolve(&self) -> EnabledState {
        [
            (self.common_values, EnabledSource::CommonValues),
            (self.module_values, EnabledSource::ModuleValues),
            (self.global_hook, EnabledSource::GlobalHook),
            (self.config_map, EnabledSource::ConfigMap),
        ]
        .into_iter()
        .rev()
        .find_map(|(flag, source)| flag.map(|enabled| EnabledState { enabled, source }))
        .unwrap_or(EnabledState {
            enabled: false,
            source: EnabledSource::Default,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_are_disabled_unless_something_enables_them() {
        let state = EnabledLayers::default().resolve();
        assert_eq!(
            state,
            EnabledState {
                enabled: false,
                source: EnabledSource::Default
            }
        );
    }

    #[test]
    fn later_sources_override_earlier_ones() {
        let mut layers = EnabledLayers {
            common_values: Some(true),
            ..Default::default()
        };
        assert_eq!(layers.resolve().source, EnabledSource::CommonValues);
        layers.module_values = Some(false);
        assert_eq!(
            layers.resolve(),
            EnabledState {
                enabled: false,
                source: EnabledSource::ModuleValues
            }
        );
        layers.global_hook = Some(true);
        assert_eq!(
            layers.resolve(),
            EnabledState {
                enabled: true,
                source: EnabledSource::GlobalHook
            }
        );
        layers.config_map = Some(false);
        assert_eq!(
            layers.resolve(),
            EnabledState {
                enabled: false,
                source: EnabledSource::ConfigMap
            }
        );
        layers.global_hook = None;
        layers.module_values = None;
        assert_eq!(layers.resolve().source, EnabledSource::ConfigMap);
    }
}
