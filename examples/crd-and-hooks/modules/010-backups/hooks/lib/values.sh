# Helpers shared by this module's hooks. Directories named lib/ are not scanned for hooks.

# set_value POINTER JSON: appends an RFC 6902 "add" operation to the values patch.
set_value() {
  jq -nc --arg path "$1" --argjson value "$2" '{op: "add", path: $path, value: $value}' \
    >>"$VALUES_JSON_PATCH_PATH"
}
