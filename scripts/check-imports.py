#!/usr/bin/env python3
"""Fails when the top-level modules of a crate import each other in a circle.

For every crate under crates/*/src, each root (lib.rs, main.rs, src/bin/*.rs) has its own
module tree. Every module declared in a root (`mod x;`, file `x.rs` or `x/mod.rs`, or a
`#[path]`) is a node; the child modules of a directory module count as their parent. An edge
a -> b means a file of `a` refers to `b` by `crate::b`, `use crate::{b, ...}`, `super::b` from
the top level of `a`, or `crate::Name` where the root re-exports or imports `Name` from `b`
(`pub use b::Name;`). Comments and string literals are ignored. The root's own `use` and
`pub use` lines are not edges: a root is not a module.

Every strongly connected group of two or more modules is a cycle and is reported with the
references that form it; the exit status is 1 if there is any.

Usage:
    scripts/check-imports.py [CRATES_DIR]    # default: crates/ next to this script's parent
    scripts/check-imports.py --self-test     # checks itself on small in-memory crates
"""

import os
import re
import sys
from collections import defaultdict

# --- lexing -----------------------------------------------------------------------------


def blank(text):
    """`text` with every character but newlines replaced by a space (offsets stay valid)."""
    return re.sub(r"[^\n]", " ", text)


def starts_token(text, i):
    """Whether offset i starts a token (also after a `b` prefix, as in br"...")."""
    def ident(ch):
        return ch.isalnum() or ch == "_"
    if i == 0 or not ident(text[i - 1]):
        return True
    return text[i - 1] == "b" and (i == 1 or not ident(text[i - 2]))


def strip_comments_and_strings(text):
    """Blanks out comments and string/char literals, keeping every offset and newline."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
        elif c == "r" and re.match(r'r#*"', text[i:i + 300]) and starts_token(text, i):
            m = re.match(r'r(#*)"', text[i:])
            close = '"' + m.group(1)
            j = text.find(close, i + len(m.group(0)))
            j = n if j < 0 else j + len(close)
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
        elif c == "'":
            # A char literal ('a', '\n', '\u{1F600}') or a lifetime ('a): only literals close.
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", text[i:i + 12])
            j = i + (len(m.group(0)) if m else 1)
            if not m:
                out.append(c)
                i = j
                continue
        else:
            out.append(c)
            i += 1
            continue
        out.append(blank(text[i:j]))
        i = j
    return "".join(out)


MOD_DECL = re.compile(
    r'(?P<attrs>(?:#\[[^\]]*\]\s*)*)(?:pub(?:\([^)]*\))?\s+)?mod\s+(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<end>[;{])'
)
PATH_ATTR = re.compile(r'#\[path\s*=\s*"([^"]+)"\]')


def module_decls(raw):
    """(name, path attribute or None, is_inline, offset) for each `mod` item of a file."""
    # Attributes hold strings (#[path = "..."]), so read them from the raw text, but only at
    # offsets where the comment-free text has a `mod` keyword too.
    clean = strip_comments_and_strings(raw)
    decls = []
    for m in MOD_DECL.finditer(clean):
        start = m.start("name")
        raw_attrs = raw[m.start():start]
        path = PATH_ATTR.search(raw_attrs)
        decls.append((m.group("name"), path.group(1) if path else None, m.group("end") == "{", m.start()))
    return decls


# --- the module tree --------------------------------------------------------------------


class Crate:
    """The files of one crate's src/ directory: {relative path: text}."""

    def __init__(self, name, files):
        self.name = name
        self.files = files

    def roots(self):
        roots = [p for p in ("lib.rs", "main.rs") if p in self.files]
        roots += sorted(p for p in self.files if re.fullmatch(r"bin/[^/]+\.rs", p))
        roots += sorted(p for p in self.files if re.fullmatch(r"bin/[^/]+/main\.rs", p))
        return roots


def child_file(crate, parent_file, parent_is_mod_rs, name, path_attr):
    """The file of `mod name;` declared in parent_file, or None."""
    base = os.path.dirname(parent_file)
    if path_attr:
        candidate = os.path.normpath(os.path.join(base, path_attr))
        return candidate if candidate in crate.files else None
    if not parent_is_mod_rs:
        stem = os.path.splitext(parent_file)[0]
        base = stem
    for candidate in (os.path.join(base, name + ".rs"), os.path.join(base, name, "mod.rs")):
        candidate = os.path.normpath(candidate)
        if candidate in crate.files:
            return candidate
    return None


def is_mod_rs(path, is_root):
    return is_root or os.path.basename(path) == "mod.rs"


def collect_files(crate, file, is_root_like, depth, out):
    """Adds (file, depth) for `file` and every file module declared under it."""
    out.append((file, depth))
    for name, path_attr, inline, _ in module_decls(crate.files[file]):
        if inline:
            continue
        child = child_file(crate, file, is_mod_rs(file, is_root_like), name, path_attr)
        if child is not None:
            collect_files(crate, child, False, depth + 1, out)


def top_level_modules(crate, root):
    """{module name: [(file, depth)]} for the modules declared in `root`."""
    modules = {}
    for name, path_attr, inline, _ in module_decls(crate.files[root]):
        if inline:
            continue
        file = child_file(crate, root, True, name, path_attr)
        if file is None:
            continue
        files = []
        collect_files(crate, file, False, 1, files)
        modules[name] = files
    return modules


# --- references -------------------------------------------------------------------------

USE_ITEM = re.compile(r"\buse\s+([^;]*);", re.S)


def split_group(body):
    """Top-level comma-separated parts of a `{...}` group body."""
    parts, depth, cur = [], 0, []
    for ch in body:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def first_segments_after(prefix_path):
    """For a use-tree after `crate::` (e.g. `{a, b::c}` or `x::y`), the first segment names."""
    tree = prefix_path.strip()
    if tree.startswith("{") and tree.endswith("}"):
        names = []
        for part in split_group(tree[1:-1]):
            names.extend(first_segments_after(part))
        return names
    m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)", tree)
    return [m.group(1)] if m else []


def root_names(crate, root, modules):
    """Names the root brings into its namespace with `use` (re-exports included): name -> module."""
    names = {}
    clean = strip_comments_and_strings(crate.files[root])
    for m in USE_ITEM.finditer(clean):
        tree = re.sub(r"\s+", " ", m.group(1)).strip()
        tree = re.sub(r"\s*(::|\{|\}|,)\s*", r"\1", tree)
        tree = re.sub(r"^(crate|self)::", "", tree)
        for module, leaf in use_leaves(tree):
            if module in modules:
                names[leaf] = module
    return names


def use_leaves(tree, module=None):
    """(first segment, imported name) pairs of a use-tree such as `a::{B, c::D as E}`."""
    if tree.startswith("{") and tree.endswith("}"):
        out = []
        for part in split_group(tree[1:-1]):
            out.extend(use_leaves(part, module))
        return out
    head, sep, rest = tree.partition("::")
    if not sep:
        m = re.fullmatch(r"(\w+)(?: as (\w+))?", tree)
        if not m or m.group(1) == "self":
            return []
        return [(module or head, m.group(2) or m.group(1))]
    return use_leaves(rest, module or head)


def inline_depths(clean):
    """For each offset of `clean`, the number of inline `mod x { }` blocks around it."""
    opens = {}
    for name, _, inline, offset in module_decls_clean(clean):
        if inline:
            opens[clean.index("{", offset)] = True
    depths, stack, depth, brace = [], [], 0, 0
    for i, ch in enumerate(clean):
        if ch == "{":
            brace += 1
            if i in opens:
                stack.append(brace)
                depth += 1
        elif ch == "}":
            if stack and stack[-1] == brace:
                stack.pop()
                depth -= 1
            brace -= 1
        depths.append(depth)
    return depths


def module_decls_clean(clean):
    return [(m.group("name"), None, m.group("end") == "{", m.start()) for m in MOD_DECL.finditer(clean)]


REF = re.compile(r"(?<![A-Za-z0-9_$])(crate\s*::|(?:super\s*::\s*)+)\s*(\{|[A-Za-z_][A-Za-z0-9_]*)")


def references(text, depth):
    """(first segment after the crate root, line) for every path in `text` that reaches the
    crate root, for a file `depth` modules below the root."""
    clean = strip_comments_and_strings(text)
    depths = inline_depths(clean)
    refs = []
    for m in REF.finditer(clean):
        head = m.group(1)
        here = depth + depths[m.start()]
        if not head.startswith("crate"):
            ups = head.count("super")
            if ups != here:
                continue
        line = clean.count("\n", 0, m.start()) + 1
        if m.group(2) == "{":
            body_end = matching_brace(clean, m.end(2) - 1)
            for name in first_segments_after(clean[m.end(2) - 1:body_end + 1]):
                refs.append((name, line))
        else:
            refs.append((m.group(2), line))
    return refs


def matching_brace(text, open_at):
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    return len(text) - 1


def graph(crate, root):
    """{module: {other module: [(file, line)]}} for the module tree of `root`."""
    modules = top_level_modules(crate, root)
    aliases = root_names(crate, root, modules)
    edges = {m: defaultdict(list) for m in modules}
    for module, files in modules.items():
        for file, depth in files:
            for name, line in references(crate.files[file], depth):
                target = name if name in modules else aliases.get(name)
                if target and target != module:
                    edges[module][target].append((file, line))
    return edges


def cycles(edges):
    """Strongly connected groups of two or more modules (Tarjan), each sorted."""
    index, low, on_stack, stack, groups = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(groups)


def check_crate(crate):
    """Report lines for every cycle of every root of `crate`."""
    report = []
    for root in crate.roots():
        edges = graph(crate, root)
        for group in cycles(edges):
            report.append(f"{crate.name} ({root}): import cycle between {', '.join(group)}")
            for a in group:
                for b in sorted(edges[a]):
                    if b in group:
                        file, line = edges[a][b][0]
                        report.append(f"    {a} -> {b}  (src/{file}:{line})")
    return report


def load_crate(src_dir, name):
    files = {}
    for dirpath, _, filenames in os.walk(src_dir):
        for f in filenames:
            if f.endswith(".rs"):
                full = os.path.join(dirpath, f)
                with open(full, encoding="utf-8") as fh:
                    files[os.path.relpath(full, src_dir)] = fh.read()
    return Crate(name, files)


# --- self-test --------------------------------------------------------------------------


def self_test():
    def check(name, files, want):
        got = [g for root in Crate(name, files).roots() for g in cycles(graph(Crate(name, files), root))]
        status = "ok" if got == want else "FAILED"
        print(f"self-test {name}: {status} (cycles {got}, expected {want})")
        return got == want

    results = [
        check("a-cycle", {
            "lib.rs": "mod a;\nmod b;\nmod c;\n",
            "a.rs": "use crate::b::Thing;\n",
            "b.rs": "pub fn f() { crate::a::g(); }\n",
            "c.rs": "use crate::a;\n",
        }, [["a", "b"]]),
        check("no-cycle", {
            "lib.rs": "mod a;\nmod b;\npub use a::A;\npub use b::B;\n",
            "a.rs": "// crate::b is only mentioned in a comment\nconst S: &str = \"crate::b\";\n"
                    "const R: &[u8] = br#\"\\\" crate::b\"#;\n/* crate::b */\n",
            "b.rs": "use crate::a::A;\n#[cfg(test)]\nmod tests {\n    use super::*;\n    use super::super::a;\n}\n",
        }, []),
        check("a-group-import", {
            "lib.rs": "mod a;\nmod b;\nmod c;\n",
            "a.rs": "use crate::{b::{self, X}, c};\n",
            "b.rs": "use crate::{c::Y};\n",
            "c.rs": "use super::a;\n",
        }, [["a", "b", "c"]]),
        check("renamed-re-export", {
            "lib.rs": "mod base;\nmod user;\npub use base::{Base as Renamed, Other};\n",
            "base.rs": "use crate::user::U;\n",
            "user.rs": "fn f() -> crate::Renamed { todo!() }\n",
        }, [["base", "user"]]),
        check("re-exports-and-directory-modules", {
            "lib.rs": "mod a;\nmod d;\npub use a::Alpha;\n",
            "a.rs": "fn f() {}\n",
            "d/mod.rs": "mod inner;\n",
            "d/inner.rs": "use crate::Alpha;\nuse super::Sibling;\n",
            "main.rs": "use x::Alpha;\n",
        }, []),
        check("child-of-a-directory-module-counts-as-its-parent", {
            "lib.rs": "mod a;\nmod d;\n",
            "a.rs": "use crate::d::inner::Z;\n",
            "d/mod.rs": "pub mod inner;\n",
            "d/inner.rs": "use crate::Alpha;\nfn f() { super::super::a::g(); }\n",
        }, [["a", "d"]]),
        check("path-attribute-test-files", {
            "lib.rs": "mod a;\nmod b;\n",
            "a.rs": "#[cfg(test)]\n#[path = \"a_tests.rs\"]\nmod tests;\n",
            "a_tests.rs": "use crate::b::B;\n",
            "b.rs": "use crate::a::A;\n",
        }, [["a", "b"]]),
    ]
    return 0 if all(results) else 1


def main(argv):
    if argv[1:2] == ["--self-test"]:
        return self_test()
    here = os.path.dirname(os.path.abspath(__file__))
    crates_dir = argv[1] if len(argv) > 1 else os.path.join(here, "..", "crates")
    report = []
    for name in sorted(os.listdir(crates_dir)):
        src = os.path.join(crates_dir, name, "src")
        if os.path.isdir(src):
            report.extend(check_crate(load_crate(src, name)))
    for line in report:
        print(line)
    if report:
        return 1
    print("check-imports: no import cycles between the top-level modules of any crate")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
