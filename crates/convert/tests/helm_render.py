"""Renders one chart with Helm 4 (helm-python-sdk) for several values files.

Run by refresh-fixtures.py inside the venv that has helm-python-sdk. Reads a JSON list of
{"name", "values"} on stdin; prints a JSON list of {"name", "manifest"} or {"name", "error"}.
The manifest is every rendered template (sorted by path, `# Source:` first, NOTES.txt and
empty renders left out), as `helm template` prints it.
"""
import json
import sys

import helm_python as helm


def load_values(chart, path):
    if path is None:
        return {}
    # Helm's own YAML reader, so values mean what they mean to Helm.
    with open(path) as f:
        return helm.values_from_yaml(f.read())


def main():
    chart_dir, release, namespace = sys.argv[1:4]
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
