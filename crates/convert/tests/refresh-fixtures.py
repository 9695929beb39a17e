#!/usr/bin/env python3
"""Refreshes the real-chart fixtures of `convert-chart` and their Helm 4 goldens.

Usage: python3 crates/convert/tests/refresh-fixtures.py [FIXTURE...]

For each fixture in FIXTURES it
  1. downloads the named package from PyPI (pip download, no dependencies) and copies the
     chart directory out of it into tests/charts/<fixture>/chart/, with the package's license
     file as tests/charts/<fixture>/LICENSE and where it came from in SOURCE;
  2. renders the chart with Helm 4 in-process (the PyPI wheel helm-python-sdk, installed here
     into a venv under target/) for its default values and for each values file it ships
     (ci/*.yaml, or the files listed below), release name = the fixture name, namespace
     `convert-test`, as an install, and stores each render as golden/<values>.yaml
     (golden/<values>.error when Helm itself refuses).

Fixtures marked own=True are charts written for this project (no download); their goldens
are refreshed the same way. Nothing here runs during `cargo test`.
"""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[2]
CHARTS = HERE / "charts"
NAMESPACE = "convert-test"
HELM_SDK = "helm-python-sdk==0.2.2"

# name: (PyPI requirement, kind, path of the chart inside the package, license file,
#        extra values files relative to the chart; ../values/ holds files written for these tests)
FIXTURES = {
    "zenml": ("zenml==0.55.5", "wheel", "zenml/zen_server/deploy/helm",
              "zenml-0.55.5.dist-info/LICENSE", []),
    "ragleap-app-chart": ("ragleap-app-chart==0.3.2", "sdist", "helm/ragleap-app-chart",
                          None, ["values-dev.yaml", "values-staging.yaml", "values-prod.yaml", "values-example.yaml"]),
    "hello-world": ("sphinx-helm==0.2.1", "sdist", "docs/hello-world", "LICENSE", []),
    "kube-compose": ("kube-compose==0.11.4", "sdist", "kube_compose/charts/kube-compose", "LICENSE",
                     ["../values/compose.yaml"]),
    "chartpress-example": ("chartpress==2.4.0", "sdist",
                           "docs/source/minimal-working-example/helm/minimal-working-example", "LICENSE", []),
    "webapp-with-library": (None, "own", None, None, []),
}


def venv_python():
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    venv = target / "helm4-venv"
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", HELM_SDK], check=True)
    return py


def download(fixture, requirement, kind, inner, license_file):
    dest = CHARTS / fixture
    with tempfile.TemporaryDirectory() as tmp:
        fmt = ["--no-binary", ":all:"] if kind == "sdist" else ["--only-binary", ":all:"]
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", *fmt,
                        "-d", tmp, requirement], check=True)
        (archive,) = pathlib.Path(tmp).iterdir()
        unpacked = pathlib.Path(tmp) / "x"
        if archive.suffix == ".whl":
            zipfile.ZipFile(archive).extractall(unpacked)
            base = unpacked
        else:
            with tarfile.open(archive) as t:
                t.extractall(unpacked, filter="data")
            (base,) = unpacked.iterdir()
        if (dest / "chart").exists():
            shutil.rmtree(dest / "chart")
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copytree(base / inner, dest / "chart")
        if license_file:
            shutil.copy(base / license_file, dest / "LICENSE")
        else:
            write_declared_license(base, dest)
        meta = next((p for p in [base / "PKG-INFO", *base.glob("*.dist-info/METADATA")] if p.exists()), None)
        header = []
        if meta:
            for line in meta.read_text().splitlines():
                if not line:
                    break
                if line.split(":")[0] in ("Name", "Version", "Author", "Author-email", "License", "License-Expression", "Home-page"):
                    header.append(line)
        (dest / "SOURCE").write_text(
            f"Copied unchanged from the PyPI package {requirement} ({archive.name}), path {inner}/,\n"
            f"by crates/convert/tests/refresh-fixtures.py.\n\nPackage metadata:\n" + "\n".join(header) + "\n")


MIT = """MIT License

Copyright (c) {author}

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def write_declared_license(base, dest):
    """A package without a license file: the MIT text with the author its metadata names."""
    meta = dict(
        line.split(": ", 1) for line in (base / "PKG-INFO").read_text().splitlines() if ": " in line
    )
    if meta.get("License") != "MIT":
        sys.exit(f"{dest.name}: no license file and no MIT declaration; cannot vendor it")
    (dest / "LICENSE").write_text(
        "The package ships no license file; its metadata (PKG-INFO) declares\n"
        f"License: MIT and Author: {meta['Author']}. The MIT license text follows.\n\n"
        + MIT.format(author=meta["Author"]))


def values_files(chart, extra):
    files = [("default", None)]
    ci = chart / "ci"
    if ci.is_dir():
        files += [(p.stem, p) for p in sorted(ci.glob("*.yaml"))]
    files += [(pathlib.Path(e).stem, chart / e) for e in extra]
    return files




def render_goldens(py, fixture, extra):
    chart = CHARTS / fixture / "chart"
    golden = CHARTS / fixture / "golden"
    if golden.exists():
        shutil.rmtree(golden)
    golden.mkdir()
    jobs = [{"name": name, "values": str(path) if path else None} for name, path in values_files(chart, extra)]
    script = HERE / "helm_render.py"
    out = subprocess.run([str(py), str(script), str(chart), fixture, NAMESPACE],
                         input=json.dumps(jobs), capture_output=True, text=True, check=True)
    for result in json.loads(out.stdout):
        if "error" in result:
            (golden / f"{result['name']}.error").write_text(result["error"] + "\n")
        else:
            (golden / f"{result['name']}.yaml").write_text(result["manifest"])


def main():
    wanted = sys.argv[1:] or list(FIXTURES)
    py = venv_python()
    for fixture in wanted:
        requirement, kind, inner, license_file, extra = FIXTURES[fixture]
        if kind != "own":
            download(fixture, requirement, kind, inner, license_file)
        render_goldens(py, fixture, extra)
        print(f"refreshed {fixture}")


if __name__ == "__main__":
    main()
