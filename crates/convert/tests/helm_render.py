"""Renders one chart with Helm 4 (helm-python-sdk) for several values files.

Run by refresh-fixtures.py (and the operator's `convert_chart` benchmark) inside the venv
that has helm-python-sdk: `python helm_render.py [--bench N] CHART RELEASE NAMESPACE`.
Reads a JSON list of {"name", "values"} on stdin; prints a JSON list of {"name", "manifest"}
or {"name", "error"}. The manifest is every rendered template (sorted by path, `# Source:`
first, NOTES.txt and empty renders left out), as `helm template` prints it. With
`--bench N` it renders each job N times with the chart loaded once and prints
{"name", "seconds": [...]} per job instead (one Helm render call each: parse and execute).
"""
import json
import sys
import time

import helm_python as helm


def load_values(chart, path):
    if path is None:
        return {}
    # Helm's own YAML reader, so values mean what they mean to Helm.
    with open(path) as f:
        return helm.values_from_yaml(f.read())


def bench(chart_dir, release, namespace, jobs, n):
    results = []
    with helm.Chart.load(chart_dir) as chart:
        for job in jobs:
            values = load_values(chart, job["values"])
            seconds = []
            for _ in range(n):
                start = time.perf_counter()
                chart.render(values, name=release, namespace=namespace, is_install=True)
                seconds.append(time.perf_counter() - start)
            results.append({"name": job["name"], "seconds": seconds})
    json.dump(results, sys.stdout)


def main():
    args = sys.argv[1:]
    if args[0] == "--bench":
        n = int(args[1])
        chart_dir, release, namespace = args[2:5]
        return bench(chart_dir, release, namespace, json.load(sys.stdin), n)
    chart_dir, release, namespace = args[0:3]
    jobs = json.load(sys.stdin)
    results = []
    with helm.Chart.load(chart_dir) as chart:
        for job in jobs:
            try:
                values = load_values(chart, job["values"])
                rendered = chart.render(values, name=release, namespace=namespace, is_install=True)
            except Exception as e:  # Helm's error is the golden
                results.append({"name": job["name"], "error": f"{type(e).__name__}: {e}"})
                continue
            docs = []
            for path in sorted(rendered):
                text = rendered[path]
                if path.endswith("NOTES.txt") or not text.strip():
                    continue
                docs.append(f"---\n# Source: {path}\n{text.strip(chr(10))}\n")
            results.append({"name": job["name"], "manifest": "".join(docs)})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
