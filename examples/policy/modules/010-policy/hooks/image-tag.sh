#!/usr/bin/env bash
# Validating hook: refuses Deployments with an image that uses :latest or has no tag.
set -euo pipefail

if [[ "${1:-}" == "--config" ]]; then
  cat <<'CONFIG'
configVersion: v1
kubernetesValidating:
- name: image-tag.policy.example.com
  rules:
  - apiGroups: ["apps"]
    apiVersions: ["v1"]
    operations: ["CREATE", "UPDATE"]
    resources: ["deployments"]
    scope: Namespaced
  failurePolicy: Fail
  timeoutSeconds: 5
CONFIG
  exit 0
fi

# Images of every container and init container; an image is pinned when it has a digest,
# or a tag (after the last '/', a ':') other than "latest".
bad=$(jq -r '.[0].review.request.object.spec.template.spec
  | [(.initContainers // [])[], (.containers // [])[]] | map(.image)[]
  | select(contains("@") | not)
  | select((split("/") | last | contains(":") | not) or endswith(":latest"))' "$BINDING_CONTEXT_PATH")

if [[ -n "$bad" ]]; then
  images=$(echo "$bad" | paste -sd, -)
  jq -n --arg images "$images" \
    '{allowed: false, message: ("images must name a tag other than latest: " + $images)}' \
    > "$VALIDATING_RESPONSE_PATH"
else
  echo '{"allowed": true}' > "$VALIDATING_RESPONSE_PATH"
fi
