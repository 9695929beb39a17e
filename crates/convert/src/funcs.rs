//! Which Go template and Sprig/Helm functions become which handlebars helper, and which are
//! refused on purpose.

/// Functions that are reported instead of converted, with the reason.
const REFUSED: &[(&str, &str)] = &[
    (
        "lookup",
        "reads the cluster at render time; a module's render is a pure function of its values (read cluster state with a hook instead)",
    ),
    ("genCA", "generates a new certificate on every render"),
    (
        "genSelfSignedCert",
        "generates a new certificate on every render",
    ),
    (
        "genSelfSignedCertWithKey",
        "generates a new certificate on every render",
    ),
    (
        "genSignedCert",
        "generates a new certificate on every render",
    ),
    (
        "genSignedCertWithKey",
        "generates a new certificate on every render",
    ),
    ("genPrivateKey", "generates a new key on every render"),
    (
        "buildCustomCert",
        "certificates belong in a Secret managed by a hook or cert-manager",
    ),
    ("randAlphaNum", "gives a different value on every render"),
    ("randAlpha", "gives a different value on every render"),
    ("randNumeric", "gives a different value on every render"),
    ("randAscii", "gives a different value on every render"),
    ("randBytes", "gives a different value on every render"),
    ("randInt", "gives a different value on every render"),
    ("uuidv4", "gives a different value on every render"),
    (
        "htpasswd",
        "salts randomly, so it gives a different value on every render",
    ),
    (
        "encryptAES",
        "uses a random IV, so it gives a different value on every render",
    ),
    ("now", "gives a different value on every render"),
    ("env", "reads the environment of the rendering process"),
    (
        "expandenv",
        "reads the environment of the rendering process",
    ),
    ("getHostByName", "reads DNS at render time"),
    ("call", "calls Go functions, which values cannot hold"),
];

/// Go functions whose helper has another name.
const RENAMED: &[(&str, &str)] = &[
    ("mustToJson", "toJson"),
    ("toRawJson", "toJson"),
    ("mustToRawJson", "toJson"),
    ("mustMerge", "merge"),
    ("mustMergeOverwrite", "mergeOverwrite"),
    ("mustAppend", "append"),
    ("mustRegexMatch", "regexMatch"),
    ("mustRegexReplaceAll", "regexReplaceAll"),
    ("mustFromJson", "fromJson"),
    ("mustDeepCopy", "deepCopy"),
    ("mustHas", "has"),
    ("mustFirst", "first"),
    ("mustLast", "last"),
    ("mustUniq", "uniq"),
    ("mustCompact", "compact"),
    ("push", "append"),
    ("int64", "int"),
    ("atoi", "int"),
    ("float64", "float"),
    ("trimall", "trimAll"),
];

/// Functions that change their first argument in place in Go; their result is often thrown
/// away (`$_ := set $d "k" v`), which the converter turns into rebinding the variable.
pub(crate) const MUTATORS: &[&str] = &["set", "unset", "merge", "mergeOverwrite"];

/// Functions whose result is always a list (ranging over them needs no key sorting).
pub(crate) const LIST_RESULTS: &[&str] = &[
    "list",
    "until",
    "untilStep",
    "splitList",
    "keys",
    "sortAlpha",
    "uniq",
    "compact",
    "append",
    "concat",
    "regexSplit",
    "without",
    "reverse",
];

/// What a function call becomes.
pub(crate) enum Mapped<'a> {
    /// This helper.
    Helper(&'a str),
    /// Refused on purpose, with the reason.
    Refused(&'static str),
    /// No helper exists.
    Unknown,
}

/// Maps Go function `name`, given the names of the helpers the renderer has.
pub(crate) fn map<'a>(name: &'a str, helpers: &[String]) -> Mapped<'a> {
    if let Some((_, why)) = REFUSED.iter().find(|(n, _)| *n == name) {
        return Mapped::Refused(why);
    }
    let target = RENAMED
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(name, |(_, to)| to);
    if helpers.iter().any(|h| h == target) {
        Mapped::Helper(target)
    } else {
        Mapped::Unknown
    }
}
