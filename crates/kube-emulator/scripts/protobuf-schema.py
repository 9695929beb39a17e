#!/usr/bin/env python3
"""Generates crates/kube-emulator/src/protobuf/schema.txt: the protobuf field table of every
built-in kind the emulator serves, which its generic protobuf decoder reads.

Field numbers, wire types and message structure come from the k8s-pb crate (prost types
generated from Kubernetes' generated.proto files); JSON field names come from k8s-openapi
(prost renames `clusterIPs` to `cluster_i_ps`, which cannot be turned back reliably). Both are
dev-dependencies of kube-emulator, so `cargo metadata` finds their sources. The kinds are the
built-in rows of src/resources.rs, plus DeleteOptions (sent with any apiVersion) and
autoscaling/v1 Scale (the /scale subresource).

Run from anywhere after changing the k8s-pb version or the built-in table:
    python3 crates/kube-emulator/scripts/protobuf-schema.py
Output format (one item per line, `#` comments):
    kind <apiVersion or *> <Kind> <message>
    message <name>
    <tag> <jsonName> <one|many|map|inline> <string|int32|int64|bool|bytes|double|message:<name>>
Map keys are always strings in Kubernetes' protos; the type is the value's. `inline` marks an
embedded Go struct (`json:",inline"`, e.g. ProbeHandler in Probe): a message field that the
parent's JSON form does not have, whose own fields the decoder merges into the parent's.
"""

import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CRATE = os.path.dirname(HERE)
OUT = os.path.join(CRATE, "src", "protobuf", "schema.txt")
EXTRA_KINDS = {
    ("*", "DeleteOptions"): "apimachinery.pkg.apis.meta.v1.DeleteOptions",
    ("autoscaling/v1", "Scale"): "api.autoscaling.v1.Scale",
    ("authentication.k8s.io/v1", "TokenRequest"): "api.authentication.v1.TokenRequest",
}


def package_dirs():
    meta = json.loads(
        subprocess.check_output(
            ["cargo", "metadata", "--format-version", "1"], cwd=CRATE, stderr=subprocess.DEVNULL
        )
    )
    found = {}
    for p in meta["packages"]:
        if p["name"] in ("k8s-pb", "k8s-openapi"):
            found[p["name"]] = (p["version"], os.path.dirname(p["manifest_path"]))
    return found


def norm(name):
    return re.sub(r"[^a-z0-9]", "", name.lower().removeprefix("r#"))


# --- k8s-pb -------------------------------------------------------------------------------

STRUCT = re.compile(r"^pub struct (\w+) \{(\})?$")
PROST = re.compile(r"^\s*#\[prost\((.*)\)\]$")
FIELD = re.compile(r"^\s*pub ((?:r#)?\w+): (.+),$")
RESOURCE = re.compile(r"impl crate::Resource for (\w+) \{(.*?)\n\}", re.S)


def resolve(module, ty):
    """Message name (module.Struct) of the innermost type path in a prost field type."""
    inner = ty
    for wrapper in (r"::core::option::Option<(.*)>", r"::prost::alloc::vec::Vec<(.*)>",
                    r"::prost::alloc::boxed::Box<(.*)>"):
        m = re.fullmatch(wrapper, inner)
        if m:
            inner = m.group(1)
    m = re.fullmatch(r"::prost::alloc::boxed::Box<(.*)>", inner)
    if m:
        inner = m.group(1)
    m = re.fullmatch(r"::(?:std::collections|prost::alloc::collections)::BTreeMap<[^,]+,\s*(.*)>", inner)
    if m:
        inner = m.group(1)
    parts = module.split(".")
    segs = inner.split("::")
    while segs and segs[0] == "super":
        parts.pop()
        segs.pop(0)
    return ".".join(parts + segs)


def joined_lines(text):
    """Lines of `text`, with a field declaration that rustfmt broke over several lines
    (`pub x:\n BTreeMap<\n String,\n String,\n>,`) joined into one."""
    pending = None
    for line in text.splitlines():
        if pending is not None:
            pending += " " + line.strip()
            if pending.count("<") == pending.count(">") and pending.endswith(","):
                yield re.sub(r",?\s*>", ">", re.sub(r"<\s+", "<", pending))
                pending = None
            continue
        if re.match(r"^\s*pub (?:r#)?\w+:", line) and not line.endswith(","):
            pending = line.rstrip()
            continue
        yield line


def parse_k8s_pb(src):
    messages, kinds = {}, []
    for dirpath, _, files in os.walk(src):
        if "mod.rs" not in files:
            continue
        module = os.path.relpath(dirpath, src).replace(os.sep, ".")
        with open(os.path.join(dirpath, "mod.rs"), encoding="utf-8") as fh:
            text = fh.read()
        current, attr = None, None
        for line in joined_lines(text):
            m = STRUCT.match(line)
            if m:
                current = (module + "." + m.group(1), [])
                messages[current[0]] = current[1]
                if m.group(2):
                    current = None
                continue
            if current is None:
                continue
            if line == "}":
                if attr is not None:
                    sys.exit(f"{current[0]}: a prost attribute without its field: {attr}")
                current = None
                continue
            m = PROST.match(line)
            if m:
                if attr is not None:
                    sys.exit(f"{module}.{current[0]}: a prost attribute without its field: {attr}")
                attr = m.group(1)
                continue
            m = FIELD.match(line)
            if m and attr:
                current[1].append((attr, m.group(1), m.group(2), module))
                attr = None
        for m in RESOURCE.finditer(text):
            body = m.group(2)
            api_version = re.search(r'API_VERSION: &\'static str = "([^"]*)"', body).group(1)
            kind = re.search(r'KIND: &\'static str = "([^"]*)"', body).group(1)
            kinds.append((api_version, kind, module + "." + m.group(1)))
    return messages, kinds


def field_type(attr, rust_type, module):
    """(label, type) of a prost attribute such as `string, optional, tag = "1"`."""
    tag = int(re.search(r'tag = "(\d+)"', attr).group(1))
    m = re.match(r'btree_map = "string, (\w+)"', attr)
    if m:
        value = m.group(1)
        return tag, "map", ("message:" + resolve(module, rust_type)) if value == "message" else value
    kind = re.match(r"(\w+)", attr).group(1)
    label = "many" if "repeated" in attr else "one"
    if kind == "message":
        return tag, label, "message:" + resolve(module, rust_type)
    if kind not in ("string", "int32", "int64", "bool", "bytes", "double"):
        sys.exit(f"unsupported prost type {kind!r} in {module}: {attr}")
    return tag, label, kind


# --- k8s-openapi --------------------------------------------------------------------------

OA_STRUCT = re.compile(r"^pub struct (\w+)", re.M)
OA_KEY = re.compile(r'^\s*"([^"]+)" => Field::Key_', re.M)


def parse_k8s_openapi(src):
    """{(module, normalized struct name): {normalized field: JSON name}} over every version
    directory, newest first (a name a newer version knows wins)."""
    names = {}
    versions = sorted((d for d in os.listdir(src) if re.fullmatch(r"v\d+_\d+", d)),
                      key=lambda d: int(d.split("_")[1]), reverse=True)
    for version in versions:
        root = os.path.join(src, version)
        for dirpath, _, files in os.walk(root):
            module = os.path.relpath(dirpath, root).replace(os.sep, ".")
            for f in files:
                if not f.endswith(".rs") or f == "mod.rs":
                    continue
                with open(os.path.join(dirpath, f), encoding="utf-8") as fh:
                    text = fh.read()
                s = OA_STRUCT.search(text)
                if not s:
                    continue
                table = names.setdefault((module, norm(s.group(1))), {})
                for key in OA_KEY.findall(text):
                    table.setdefault(norm(key), key)
    return names


# Messages the decoder converts by their wire fields (Time, Quantity, IntOrString, ...), whose
# field names are never used.
SPECIAL = {
    "apimachinery.pkg.apis.meta.v1.Time",
    "apimachinery.pkg.apis.meta.v1.MicroTime",
    "apimachinery.pkg.apis.meta.v1.FieldsV1",
    "apimachinery.pkg.runtime.RawExtension",
    "apimachinery.pkg.util.intstr.IntOrString",
    "apimachinery.pkg.api.resource.Quantity",
    "apiextensions_apiserver.pkg.apis.apiextensions.v1.Json",
    "apiextensions_apiserver.pkg.apis.apiextensions.v1.JsonSchemaPropsOrArray",
    "apiextensions_apiserver.pkg.apis.apiextensions.v1.JsonSchemaPropsOrBool",
    "apiextensions_apiserver.pkg.apis.apiextensions.v1.JsonSchemaPropsOrStringArray",
}


def lower_camel(snake):
    head, *rest = snake.removeprefix("r#").split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


# --- output -------------------------------------------------------------------------------


def served_kinds():
    with open(os.path.join(CRATE, "src", "resources.rs"), encoding="utf-8") as fh:
        text = fh.read()
    rows = re.findall(r'^\s*\("([^"]*)", "([^"]+)", "[a-z]+", "(\w+)",', text, re.M)
    kinds = [(f"{g}/{v}" if g else v, k) for g, v, k in rows]
    return kinds + list(EXTRA_KINDS)


def main():
    found = package_dirs()
    pb_version, pb_dir = found["k8s-pb"]
    oa_version, oa_dir = found["k8s-openapi"]
    messages, resource_kinds = parse_k8s_pb(os.path.join(pb_dir, "src"))
    json_names = parse_k8s_openapi(os.path.join(oa_dir, "src"))
    by_kind = {(v, k): msg for v, k, msg in resource_kinds}
    lines = [
        "# kube-emulator protobuf schema: the field table of every built-in kind it decodes.",
        f"# Generated by crates/kube-emulator/scripts/protobuf-schema.py from k8s-pb {pb_version}",
        f"# (field numbers, types) and k8s-openapi {oa_version} (JSON names). Do not edit.",
    ]
    roots = []
    for api_version, kind in served_kinds():
        msg = EXTRA_KINDS.get((api_version, kind)) or by_kind.get((api_version, kind))
        if msg is None:
            sys.exit(f"k8s-pb {pb_version} has no message for {api_version} {kind}")
        lines.append(f"kind {api_version} {kind} {msg}")
        roots.append(msg)
    everywhere = {}
    for table in json_names.values():
        for k, v in table.items():
            everywhere.setdefault(k, v)
    seen, queue, fallbacks = set(), list(roots), []
    while queue:
        name = queue.pop(0)
        if name in seen:
            continue
        seen.add(name)
        module, struct = name.rsplit(".", 1)
        names = json_names.get((module, norm(struct)))
        lines.append(f"message {name}")
        for attr, rust_name, rust_type, mod in messages[name]:
            tag, label, ty = field_type(attr, rust_type, mod)
            json_name = (names or everywhere).get(norm(rust_name))
            if json_name is None and names is not None and ty.startswith("message:") and label == "one":
                json_name, label = lower_camel(rust_name), "inline"
            if json_name is None:
                json_name = lower_camel(rust_name)
                if name not in SPECIAL:
                    fallbacks.append(f"{name}.{json_name}")
            lines.append(f"{tag} {json_name} {label} {ty}")
            if ty.startswith("message:"):
                queue.append(ty.removeprefix("message:"))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"wrote {OUT}: {len(seen)} messages", file=sys.stderr)
    if fallbacks:
        print("JSON names guessed (not in k8s-openapi):", file=sys.stderr)
        for f in fallbacks:
            print(f"  {f}", file=sys.stderr)


if __name__ == "__main__":
    main()
