#!/usr/bin/env bash
# Refresh the browser libraries the gateway serves itself (GraphiQL at /graphql,
# the dashboard at /dashboard) from the npm registry, at pinned versions.
#
#   scripts/refresh-web-assets.sh           # fetch, verify and write salesflow_graphql/web/static/vendor/
#   scripts/refresh-web-assets.sh --check   # fetch and verify, then only compare with what is there
#
# Each package is fetched with `npm pack` (never installed, no scripts run), its
# tarball checked against the sha512 integrity pinned below, and the browser
# build (UMD or IIFE) copied under a fixed name. The script also writes
# LICENSES.md (package, version, license, the license texts) and SHA256SUMS.
# The one change made to a file: graphiql.min.js loses its sourceMappingURL
# comment (the map is not shipped). To upgrade, change a version, run once to
# learn the new integrity (the error prints it), paste it in, run again.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENDOR="$ROOT/salesflow_graphql/web/static/vendor"
CHECK=0
case "${1:-}" in
  --check) CHECK=1 ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

# spec | sha512 integrity of the tarball | license file in the tarball (or "-") | source:served-name ...
PACKAGES=(
  "react@18.3.1|sha512-wS+hAgJShR0KhEvPJArfuPVN1+Hz1t0Y6n5jLrGQbkb4urgPE/0Rve+1kMB1v/oWgHgm4WIcV+i7F2pTVj+2iQ==|LICENSE|umd/react.production.min.js:react.production.min.js"
  "react-dom@18.3.1|sha512-5m4nQKp+rZRb09LNH59GM4BxTh9251/ylbKIbpe7TpGxfJ+9kv6BLkLBXIjjspbgbnIBNqlI23tRnTWT0snUIw==|LICENSE|umd/react-dom.production.min.js:react-dom.production.min.js"
  "graphiql@3.9.0|sha512-rJYFlHdBbug9+YbFSwRVvgfPjCayC7wHecZkx/qB4XLuQPFQZw/yB9pmHFtOJV6RiNBBHro3u1GdocKa3YcGRA==|LICENSE|graphiql.min.js:graphiql.min.js graphiql.min.css:graphiql.min.css"
  # No license file in this tarball; it is MIT and lives in the graphiql monorepo (same LICENSE).
  "@graphiql/plugin-explorer@3.2.6|sha512-MXzG/zVNzZfes4Em253bHyAbD/lwwAZkPKvxCAQkjz0i3dtcv4uF3D8iqJ7214iu3SCphbORYZZUC93fik1yew==|-|dist/index.umd.js:plugin-explorer.umd.js dist/style.css:plugin-explorer.css"
  "graphql-ws@5.16.2|sha512-E1uccsZxt/96jH/OwmLPuXMACILs76pKF2i3W861LpKBCYtGIyPQGtWLuBLkND4ox1KHns70e83PS4te50nvPQ==|LICENSE.md|umd/graphql-ws.min.js:graphql-ws.min.js"
  "uplot@1.6.32|sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw==|LICENSE|dist/uPlot.iife.min.js:uPlot.iife.min.js dist/uPlot.min.css:uPlot.min.css"
)
# Where a package ships no license file, the text comes from this package's.
LICENSE_FALLBACK_FROM="graphiql"

command -v npm >/dev/null || { echo "npm is needed (Node 18+)" >&2; exit 1; }
command -v node >/dev/null || { echo "node is needed (Node 18+)" >&2; exit 1; }

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
STAGE="$WORK/vendor"
mkdir -p "$STAGE"

declare -A LICENSE_TEXT=()
TABLE=""
for entry in "${PACKAGES[@]}"; do
  IFS='|' read -r spec integrity license_file files <<<"$entry"
  name="${spec%@*}"
  version="${spec##*@}"
  dir="$WORK/pkg/${name//\//_}"
  mkdir -p "$dir"
  echo "fetching $spec" >&2
  meta="$(cd "$dir" && npm pack "$spec" --json --silent --ignore-scripts)"
  got="$(node -e 'const m=JSON.parse(process.argv[1]);console.log(m[0].integrity+"\t"+m[0].filename)' "$meta")"
  tarball="${got#*$'\t'}"
  if [ "${got%%$'\t'*}" != "$integrity" ]; then
    echo "integrity mismatch for $spec:" >&2
    echo "  pinned:  $integrity" >&2
    echo "  fetched: ${got%%$'\t'*}" >&2
    exit 1
  fi
  tar xzf "$dir/$tarball" -C "$dir"
  license="$(node -e 'console.log(require(process.argv[1]).license)' "$dir/package/package.json")"
  served=""
  for pair in $files; do
    src="${pair%%:*}"
    dest="${pair##*:}"
    [ -f "$dir/package/$src" ] || { echo "$spec has no $src" >&2; exit 1; }
    # Drop a sourceMappingURL comment: the map is not shipped.
    sed -e 's|//# sourceMappingURL=[^ ]*$||' "$dir/package/$src" >"$STAGE/$dest"
    served="$served\`$dest\` "
  done
  if [ "$license_file" != "-" ]; then
    LICENSE_TEXT[$name]="$(cat "$dir/package/$license_file")"
  fi
  TABLE="$TABLE| $name | $version | $license | ${served% } |"$'\n'
done

{
  echo "# Third-party browser libraries"
  echo
  echo "Served by the gateway under \`/static/vendor/\` (GraphiQL at \`/graphql\`, the"
  echo "dashboard at \`/dashboard\`). Written by \`scripts/refresh-web-assets.sh\`; do not"
  echo "edit by hand. Every file comes unchanged from its npm tarball, except that"
  echo "\`graphiql.min.js\` loses its \`sourceMappingURL\` comment. Checksums: \`SHA256SUMS\`."
  echo
  echo "| Package | Version | License | Files |"
  echo "| --- | --- | --- | --- |"
  printf '%s' "$TABLE"
  for entry in "${PACKAGES[@]}"; do
    IFS='|' read -r spec _ license_file _ <<<"$entry"
    name="${spec%@*}"
    echo
    echo "## $spec"
    echo
    if [ "$license_file" = "-" ]; then
      echo "The package ships no license file; it is MIT-licensed and published from the"
      echo "same repository as $LICENSE_FALLBACK_FROM (github.com/graphql/graphiql), whose license follows."
      echo
      text="${LICENSE_TEXT[$LICENSE_FALLBACK_FROM]}"
    else
      text="${LICENSE_TEXT[$name]}"
    fi
    echo '```text'
    printf '%s\n' "$text"
    echo '```'
  done
} >"$STAGE/LICENSES.md"

(cd "$STAGE" && find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%f\n' | LC_ALL=C sort | xargs sha256sum >SHA256SUMS)

if [ "$CHECK" = 1 ]; then
  if diff -r "$STAGE" "$VENDOR" >/dev/null 2>&1; then
    echo "salesflow_graphql/web/static/vendor/ matches the pinned packages" >&2
    exit 0
  fi
  echo "salesflow_graphql/web/static/vendor/ differs from the pinned packages:" >&2
  diff -rq "$STAGE" "$VENDOR" >&2 || true
  exit 1
fi

mkdir -p "$VENDOR"
find "$VENDOR" -maxdepth 1 -type f -delete
cp "$STAGE"/* "$VENDOR"/
echo "wrote $(find "$VENDOR" -maxdepth 1 -type f | wc -l) files to salesflow_graphql/web/static/vendor/" >&2
