//! `printf` (Go's `fmt.Sprintf` verbs that charts use) and `semverCompare` (Masterminds
//! semver constraints, as Sprig evaluates them).

use serde_json::Value;

use super::error::{ArgumentProblem as P, HelperError};
use super::funcs::text;
use super::sprig::go_text;

type Out = Result<Value, HelperError>;

/// `printf FORMAT ARGS...`: verbs `%s %v %d %f %q %t %x %X %o %%` with flags `-`, `0`, `+`,
/// width and precision. A missing argument prints `%!v(MISSING)` like Go.
pub(super) fn printf(a: &[&Value]) -> Out {
    let format = text(a, 0)?;
    let mut args = a[1..].iter();
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&f) = chars
            .peek()
            .filter(|f| matches!(f, '-' | '0' | '+' | ' ' | '#'))
        {
            flags.push(f);
            chars.next();
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut precision: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            precision = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let body = match verb {
            'd' => match arg.as_f64() {
                Some(f) => format!(
                    "{}{}",
                    if flags.contains('+') && f >= 0.0 {
                        "+"
                    } else {
                        ""
                    },
                    f.trunc() as i64
                ),
                None => format!("%!d({})", go_text(arg)),
            },
            'f' | 'F' => match arg.as_f64() {
                Some(f) => format!("{f:.*}", precision.unwrap_or(6)),
                None => format!("%!f({})", go_text(arg)),
            },
            'x' | 'X' | 'o' => match arg.as_i64() {
                Some(i) => match verb {
                    'x' => format!("{i:x}"),
                    'X' => format!("{i:X}"),
                    _ => format!("{i:o}"),
                },
                None => {
                    let t = go_text(arg);
                    if verb == 'x' {
                        hex::encode(t)
                    } else {
                        hex::encode_upper(t)
                    }
                }
            },
            'q' => Value::String(go_text(arg)).to_string(),
            't' => go_text(arg),
            _ => {
                let t = go_text(arg);
                match precision {
                    Some(p) if verb == 's' => t.chars().take(p).collect(),
                    _ => t,
                }
            }
        };
        let w: usize = width.parse().unwrap_or(0);
        let len = body.chars().count();
        if len >= w {
            out.push_str(&body);
        } else if flags.contains('-') {
            out.push_str(&body);
            out.push_str(&" ".repeat(w - len));
        } else if flags.contains('0') && matches!(verb, 'd' | 'f' | 'x' | 'X' | 'o') {
            let (sign, digits) = match body.strip_prefix('-') {
                Some(d) => ("-", d),
                None => ("", body.as_str()),
            };
            out.push_str(sign);
            out.push_str(&"0".repeat(w - len));
            out.push_str(digits);
        } else {
            out.push_str(&" ".repeat(w - len));
            out.push_str(&body);
        }
    }
    if args.len() > 0 {
        let extra: Vec<String> = args.map(|v| go_text(v)).collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    Ok(Value::String(out))
}

/// A parsed version: major, minor, patch and prerelease.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Version {
    core: [u64; 3],
    /// Empty for a release (which sorts after any prerelease of it).
    pre: Vec<PreId>,
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.core
            .cmp(&other.core)
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                (false, false) => self.pre.cmp(&other.pre),
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum PreId {
    Num(u64),
    Text(String),
}

/// Parses `v1.2.3-rc.1+build` leniently (`v` prefix, missing minor/patch are 0). Returns the
/// version and how many core parts were written (for `1.2.x`-style wildcards).
fn parse_version(s: &str) -> Option<(Version, usize, bool)> {
    let s = s.trim().trim_start_matches(['v', 'V', '=']);
    let s = s.split('+').next()?;
    let (core, pre) = match s.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (s, None),
    };
    let mut parts = [0u64; 3];
    let mut written = 0;
    let mut wildcard = false;
    for (i, p) in core.split('.').enumerate() {
        if i >= 3 {
            return None;
        }
        if matches!(p, "x" | "X" | "*") {
            wildcard = true;
            break;
        }
        parts[i] = p.parse().ok()?;
        written = i + 1;
    }
    let pre = pre
        .map(|p| {
            p.split('.')
                .map(|id| {
                    id.parse()
                        .map_or_else(|_| PreId::Text(id.to_owned()), PreId::Num)
                })
                .collect()
        })
        .unwrap_or_default();
    Some((
        Version { core: parts, pre },
        written,
        wildcard || written < 3,
    ))
}

/// Whether `v` satisfies one comparison such as `>=1.19-0`, `~1.2`, `^2`, `1.2.x`.
fn satisfies(v: &Version, constraint: &str) -> Option<bool> {
    let c = constraint.trim();
    let op_len = c
        .find(|ch: char| ch.is_ascii_digit() || ch == 'v' || ch == 'x' || ch == '*')
        .unwrap_or(c.len());
    let (op, rest) = c.split_at(op_len);
    let (bound, written, partial) = parse_version(rest)?;
    // Masterminds: a version with a prerelease only matches constraints that have one.
    if !v.pre.is_empty() && bound.pre.is_empty() {
        return Some(false);
    }
    let vc = Version {
        core: v.core,
        pre: v.pre.clone(),
    };
    let next = |upto: usize| {
        let mut core = bound.core;
        if upto == 0 {
            core = [core[0] + 1, 0, 0];
        } else if upto == 1 {
            core = [core[0], core[1] + 1, 0];
        } else {
            core = [core[0], core[1], core[2] + 1];
        }
        Version {
            core,
            pre: vec![PreId::Num(0)],
        }
    };
    let lower = Version {
        core: bound.core,
        pre: bound.pre.clone(),
    };
    Some(match op.trim() {
        "" | "=" if partial => vc >= lower && vc < next(written.saturating_sub(1).min(2)),
        "" | "=" => vc.core == bound.core && vc.pre == bound.pre,
        "!=" => vc != lower,
        ">" => vc > lower,
        "<" => vc < lower,
        ">=" | "=>" => vc >= lower,
        "<=" | "=<" => vc <= lower,
        "~" | "~>" => vc >= lower && vc < next(if written <= 1 { 0 } else { 1 }),
        "^" => {
            let upto = if bound.core[0] > 0 || written <= 1 {
                0
            } else if bound.core[1] > 0 || written <= 2 {
                1
            } else {
                2
            };
            vc >= lower && vc < next(upto)
        }
        _ => return None,
    })
}

/// `semverCompare CONSTRAINT VERSION`: `||`-separated alternatives of space- or
/// comma-separated comparisons, all of which must hold.
pub(super) fn semver_compare(a: &[&Value]) -> Out {
    let constraint = text(a, 0)?;
    let (version, _, _) = parse_version(&text(a, 1)?).ok_or(HelperError::arg(1, P::NotAVersion))?;
    let mut any = false;
    for alternative in constraint.split("||") {
        let mut all = true;
        for part in split_comparisons(alternative) {
            match satisfies(&version, &part) {
                Some(ok) => all &= ok,
                None => return Err(HelperError::arg(0, P::NotAConstraint)),
            }
        }
        any |= all;
    }
    Ok(Value::Bool(any))
}

/// `>= 1.2, < 2` → [`>=1.2`, `<2`]: an operator written apart from its version is joined to it.
fn split_comparisons(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for tok in s.split([' ', ',']).filter(|t| !t.is_empty()) {
        match out.last_mut() {
            Some(prev) if prev.chars().all(|c| "<>=!~^".contains(c)) => prev.push_str(tok),
            _ => out.push(tok.to_owned()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn semver(c: &str, v: &str) -> bool {
        semver_compare(&[&json!(c), &json!(v)]).unwrap() == json!(true)
    }

    #[test]
    fn semver_constraints_follow_masterminds() {
        assert!(semver(">=1.19-0", "v1.36.0"));
        assert!(semver(">=1.19-0", "1.19.0-gke.1"));
        assert!(
            !semver(">=1.19", "1.19.0-gke.1"),
            "prereleases need a prerelease constraint"
        );
        assert!(semver("<1.22", "v1.21.3"));
        assert!(semver(">= 1.2, < 2", "1.5.0"));
        assert!(semver("~1.2", "1.2.9") && !semver("~1.2", "1.3.0"));
        assert!(semver("^1.2", "1.9.0") && !semver("^1.2", "2.0.0"));
        assert!(semver("1.2.x", "1.2.7") && !semver("1.2.x", "1.3.0"));
        assert!(semver("<1.0 || >=3", "3.1.0"));
        assert!(semver_compare(&[&json!("??"), &json!("1.0.0")]).is_err());
    }

    #[test]
    fn printf_handles_the_verbs_charts_use() {
        let p = |f: &str, args: &[Value]| {
            let mut all = vec![json!(f)];
            all.extend(args.iter().cloned());
            let refs: Vec<&Value> = all.iter().collect();
            printf(&refs).unwrap().as_str().unwrap().to_owned()
        };
        assert_eq!(p("%s-%s", &[json!("a"), json!(1)]), "a-1");
        assert_eq!(
            p(
                "%d|%03d|%5s|%-3s|",
                &[json!(2.0), json!(7), json!("x"), json!("y")]
            ),
            "2|007|    x|y  |"
        );
        assert_eq!(
            p("%.2f %q %v %%", &[json!(1.5), json!("a\"b"), json!(true)]),
            "1.50 \"a\\\"b\" true %"
        );
        assert_eq!(p("%s %s", &[json!("a")]), "a %!s(MISSING)");
    }
}
