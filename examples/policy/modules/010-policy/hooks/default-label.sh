#!/usr/bin/env bash
# Mutating hook: adds the module's default label to Deployments that lack it.
set -euo pipefail

if [[ "${1:-}" == "--config" ]]; then
  cat <<'CONFIG'
configVersion: v1
kubernetesMutating:
- name: default-label.policy.example.com
  rules:
  - apiGroups: ["apps"]
    apiVersions: ["v1"]
    operations: ["CREATE", "UPDATE"]
    resources: ["deployments"]
    scope: Namespaced
  failurePolicy: Ignore
  timeoutSeconds: 5
CONFIG
  exit 0
fi

key=$(jq -r '.policy.defaultLabel.key' "$VALUES_PATH")
value=$(jq -r '.policy.defaultLabel.value' "$VALUES_PATH")

# A JSON patch: create metadata.labels, or add the one label ('/' is '~1' in a JSON pointer).
patch=$(jq -c --arg k "$key" --arg v "$value" '.[0].review.request.object.metadata.labels as $l
  | if $l == null then [{op: "add", path: "/metadata/labels", value: {($k): $v}}]
    elif $l | has($k) then []
    else [{op: "add", path: ("/metadata/labels/" + ($k | gsub("~"; "~0") | gsub("/"; "~1"))), value: $v}]
    end' "$BINDING_CONTEXT_PATH")

if [[ "$patch" == "[]" ]]; then
  echo '{"allowed": true}' > "$VALIDATING_RESPONSE_PATH"
else
  jq -n --arg p "$(printf '%s' "$patch" | base64 -w0)" '{allowed: true, patch: $p}' > "$VALIDATING_RESPONSE_PATH"
fi
