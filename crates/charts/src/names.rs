//! Module directory names: `NNN-name`, kebab-case names and their lowerCamel values keys.

/// Order given to a module directory without a numeric prefix (addon-operator's
/// `UNNUMBERED_MODULES_ORDER`).
pub const UNNUMBERED_ORDER: u32 = 1;

/// The form every module name must have, quoted in errors.
const EXPECTED: &str = "expected lower-case letters and digits in dash-separated words, each \
                        word starting with a letter, e.g. `010-cert-manager`";

/// Why a module directory name is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The numeric prefix is larger than a `u32`.
    #[error("order prefix `{prefix}` does not fit in 32 bits")]
    OrderTooLarge {
        /// The prefix as written.
        prefix: String,
    },
    /// The name is not kebab-case.
    #[error("module name `{name}` is not kebab-case ({EXPECTED})")]
    NotKebabCase {
        /// The name as written.
        name: String,
    },
    /// kebab → lowerCamel → kebab gives another name, so the values key would be ambiguous.
    #[error("module name `{name}` does not survive kebab→camel→kebab (got `{back}`; {EXPECTED})")]
    NotReversible {
        /// The name as written.
        name: String,
        /// What the round trip gives.
        back: String,
    },
}

/// A module directory name split into its order and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleName {
    /// The numeric prefix (`010-x` → 10), or [`UNNUMBERED_ORDER`].
    pub order: u32,
    /// The kebab-case module name (`cert-manager`).
    pub name: String,
    /// The values key derived from the name (`certManager`).
    pub key: String,
}

/// Splits a module directory name like `010-cert-manager` into order and name and checks
/// the name rules.
///
/// # Errors
/// A [`NameError`] saying why the name is not acceptable; the caller adds the directory path.
pub fn parse_module_dir_name(dir_name: &str) -> Result<ModuleName, NameError> {
    let (order, name) = split_order(dir_name)?;
    validate_name(name)?;
    Ok(ModuleName {
        order,
        name: name.to_owned(),
        key: values_key(name),
    })
}

/// Splits an optional all-digit prefix followed by `-`, as addon-operator's
/// `^(([0-9]+)-)?(.+)$` does.
fn split_order(dir_name: &str) -> Result<(u32, &str), NameError> {
    if let Some((prefix, rest)) = dir_name.split_once('-')
        && !prefix.is_empty()
        && prefix.bytes().all(|b| b.is_ascii_digit())
        && !rest.is_empty()
    {
        let order = prefix
            .parse::<u32>()
            .map_err(|_| NameError::OrderTooLarge {
                prefix: prefix.to_owned(),
            })?;
        return Ok((order, rest));
    }
    Ok((UNNUMBERED_ORDER, dir_name))
}

/// Checks that `name` is kebab-case and survives kebab → lowerCamel → kebab.
///
/// # Errors
/// A [`NameError`] naming the rule that failed.
pub fn validate_name(name: &str) -> Result<(), NameError> {
    let words_ok = !name.is_empty()
        && name.split('-').all(|w| {
            w.starts_with(|c: char| c.is_ascii_lowercase())
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    if !words_ok {
        return Err(NameError::NotKebabCase {
            name: name.to_owned(),
        });
    }
    let back = kebab_case(&values_key(name));
    if back != name {
        return Err(NameError::NotReversible {
            name: name.to_owned(),
            back,
        });
    }
    Ok(())
}

/// The values key of a module: lowerCamel of its kebab-case name (`cert-manager` →
/// `certManager`).
pub fn values_key(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, word) in name.split('-').enumerate() {
        let mut chars = word.chars();
        match chars.next() {
            Some(first) if i > 0 => {
                out.push(first.to_ascii_uppercase());
                out.extend(chars);
            }
            Some(first) => {
                out.push(first);
                out.extend(chars);
            }
            None => {}
        }
    }
    out
}

/// kebab-case of a lowerCamel key (`certManager` → `cert-manager`); the inverse of
/// [`values_key`] for valid names.
pub fn kebab_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            if !out.is_empty() {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_dir_names_split_into_order_name_and_key() {
        let m = parse_module_dir_name("010-cert-manager").unwrap();
        assert_eq!(
            m,
            ModuleName {
                order: 10,
                name: "cert-manager".into(),
                key: "certManager".into()
            }
        );
    }

    #[test]
    fn unnumbered_dir_names_get_order_one() {
        let m = parse_module_dir_name("echo").unwrap();
        assert_eq!(
            (m.order, m.name.as_str(), m.key.as_str()),
            (1, "echo", "echo")
        );
        let m = parse_module_dir_name("k8s-dashboard").unwrap();
        assert_eq!((m.order, m.key.as_str()), (1, "k8sDashboard"));
    }

    #[test]
    fn names_that_are_not_kebab_case_are_rejected_with_the_rule() {
        for bad in [
            "010-Cert",
            "010-cert_manager",
            "010-cert--manager",
            "010-",
            "-x",
            "010-x-",
            "010-2fa",
            "010-a-2b",
            "Foo",
            "3d",
        ] {
            let err = parse_module_dir_name(bad).unwrap_err();
            assert!(
                matches!(err, NameError::NotKebabCase { .. }),
                "{bad}: {err}"
            );
            assert!(err.to_string().contains("e.g. `010-cert-manager`"), "{err}");
        }
    }

    #[test]
    fn huge_order_prefix_is_rejected() {
        let err = parse_module_dir_name("99999999999-x").unwrap_err();
        assert_eq!(
            err,
            NameError::OrderTooLarge {
                prefix: "99999999999".into()
            }
        );
    }

    #[test]
    fn kebab_and_camel_round_trip() {
        assert_eq!(values_key("ingress-nginx"), "ingressNginx");
        assert_eq!(kebab_case("ingressNginx"), "ingress-nginx");
        assert_eq!(kebab_case(&values_key("a-b-c9")), "a-b-c9");
    }
}
