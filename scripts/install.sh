#!/bin/sh
# Installs or upgrades mill on a Linux node and enables its agent under systemd:
#
#   curl -fsSL https://.../install.sh | sh
#   curl -fsSL https://.../install.sh | sh -s -- --version v0.2.0
#
# What it does, in order, changing nothing until the download is verified:
#   1. refuses a non-root user, a missing curl or sha256sum, an unsupported
#      architecture (x86_64 and aarch64/arm64 only);
#   2. downloads mill-linux-<arch>.sha256 (as sha256sum writes it) from the
#      base URL, and mill-linux-<arch> unless the installed binary already has
#      that checksum; refuses an HTTP error, an empty download or a mismatch;
#   3. installs /usr/local/bin/mill atomically (a temporary file in the same
#      directory, mode 0755, renamed over the old one);
#   4. makes /var/lib/mill (0700), writes /etc/systemd/system/mill.service
#      and, the first time or with --agent-args, /etc/mill/agent.env (0600);
#   5. enables mill.service. An agent already running is restarted only when
#      its binary, unit or agent.env changed (systemctl try-restart); a fresh
#      install is enabled but not started, since the agent needs a data dir
#      made by `mill init` or `mill join` first. A rerun with nothing new
#      changes nothing and says so.
#
# Options (each also an environment variable, the flag wins):
#   --base-url URL       MILL_BASE_URL      where the artifacts are; default
#                                           the latest public release
#   --version TAG        MILL_VERSION       that release's artifacts (when no
#                                           base URL is given)
#   --agent-args "ARGS"  MILL_AGENT_ARGS    the agent's options, written to
#                                           /etc/mill/agent.env
#   --root DIR           MILL_INSTALL_ROOT  install into DIR as a root
#                                           filesystem: enabled with
#                                           `systemctl --root=DIR`, never
#                                           started; the only mode that runs
#                                           without root, when DIR is writable
#
# The unit holds no options and no secrets: it reads MILL_AGENT_ARGS from
# /etc/mill/agent.env, which a rerun leaves alone unless --agent-args is given.
# systemd splits the variable at whitespace and does not interpret quotes, so
# the options are a plain space-separated list.
set -eu

DEFAULT_RELEASES="https://github.com/mill-orchestrator/mill/releases"
BIN_PATH=/usr/local/bin/mill
UNIT_PATH=/etc/systemd/system/mill.service
ENV_PATH=/etc/mill/agent.env
DATA_DIR=/var/lib/mill

say() { printf 'mill install: %s\n' "$*"; }
refuse() {
  printf 'mill install: %s\n' "$*" >&2
  exit 1
}

usage() {
  cat <<'EOF'
usage: install.sh [--base-url URL] [--version TAG] [--agent-args "ARGS"] [--root DIR]
Installs /usr/local/bin/mill and enables mill.service (see the script's header).
EOF
}

base_url="${MILL_BASE_URL:-}"
version="${MILL_VERSION:-}"
root="${MILL_INSTALL_ROOT:-}"
agent_args_given=false
if [ "${MILL_AGENT_ARGS+set}" = set ]; then
  agent_args="$MILL_AGENT_ARGS"
  agent_args_given=true
fi

needs_value() {
  [ "$2" -ge 2 ] || refuse "$1 needs a value (see --help)"
}
while [ $# -gt 0 ]; do
  case "$1" in
  --base-url)
    needs_value "$1" $#
    base_url="$2"
    shift 2
    ;;
  --version)
    needs_value "$1" $#
    version="$2"
    shift 2
    ;;
  --agent-args)
    needs_value "$1" $#
    agent_args="$2"
    agent_args_given=true
    shift 2
    ;;
  --root)
    needs_value "$1" $#
    root="$2"
    shift 2
    ;;
  -h | --help)
    usage
    exit 0
    ;;
  *) refuse "unknown option \"$1\" (see --help)" ;;
  esac
done

# --- Refusals that need no network ------------------------------------------

if [ -n "$root" ]; then
  [ -d "$root" ] || refuse "--root $root is not a directory"
  root="$(cd "$root" 2>/dev/null && pwd)" || refuse "--root $root is not accessible to this user"
  [ "$root" != / ] || root=""
fi
if [ "$(id -u)" != 0 ]; then
  if [ -z "$root" ]; then
    refuse "run as root (e.g. curl -fsSL URL | sudo sh): it installs $BIN_PATH and a systemd unit"
  fi
  [ -w "$root" ] || refuse "--root $root is not writable by this user; run as root or choose a writable directory"
fi

command -v curl >/dev/null 2>&1 || refuse "curl is missing; install it first (e.g. apt-get install curl)"
command -v sha256sum >/dev/null 2>&1 || refuse "sha256sum is missing; install it first (coreutils)"

machine="$(uname -m)"
case "$machine" in
x86_64) arch=x86_64 ;;
aarch64 | arm64) arch=aarch64 ;;
*) refuse "unsupported architecture \"$machine\": mill is built for x86_64 and aarch64" ;;
esac
artifact="mill-linux-$arch"

if [ -z "$base_url" ]; then
  if [ -n "$version" ]; then
    case "$version" in
    *[!A-Za-z0-9._-]*) refuse "--version \"$version\" is not a release tag" ;;
    esac
    base_url="$DEFAULT_RELEASES/download/$version"
  else
    base_url="$DEFAULT_RELEASES/latest/download"
  fi
fi
base_url="${base_url%/}"

if [ "$agent_args_given" = true ]; then
  newline='
'
  case "$agent_args" in
  *[\"\'\\\$]* | *"$newline"*)
    refuse "--agent-args takes a plain space-separated list of options: no quotes, backslashes, \$ or newlines"
    ;;
  esac
fi

# --- Temporary files, removed on every exit ---------------------------------

work=""
staged=""
cleanup() {
  [ -z "$staged" ] || rm -f "$staged"
  [ -z "$work" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
work="$(mktemp -d "${TMPDIR:-/tmp}/mill-install.XXXXXX")"

checksum_of() {
  set -- "$(sha256sum <"$1")"
  printf '%s' "${1%% *}"
}

# download URL FILE: refuses on an HTTP error or an empty body.
download() {
  curl -fsSL --retry 3 --connect-timeout 15 -o "$2" "$1" ||
    refuse "could not download $1 (curl exit $?)"
  if [ ! -f "$2" ] || [ ! -s "$2" ]; then refuse "$1 is empty or not a file"; fi
}

# --- Download and verify ----------------------------------------------------

say "installing $artifact from $base_url"
download "$base_url/$artifact.sha256" "$work/sha256"
read -r expected _ <"$work/sha256" || true
case "$expected" in
*[!0-9a-f]* | "") refuse "$base_url/$artifact.sha256 is not a sha256sum line" ;;
esac
[ ${#expected} -eq 64 ] || refuse "$base_url/$artifact.sha256 is not a sha256sum line"

target="$root$BIN_PATH"
changed=""
if [ -f "$target" ] && [ "$(checksum_of "$target")" = "$expected" ]; then
  chmod 0755 "$target"
  say "$BIN_PATH is up to date (sha256 $expected)"
else
  download "$base_url/$artifact" "$work/mill"
  got="$(checksum_of "$work/mill")"
  [ "$got" = "$expected" ] ||
    refuse "checksum mismatch for $base_url/$artifact: expected $expected, got $got; nothing installed"
  mkdir -p "${target%/*}"
  staged="${target%/*}/.mill.new.$$"
  cp "$work/mill" "$staged"
  chmod 0755 "$staged"
  mv -f "$staged" "$target"
  staged=""
  say "installed $BIN_PATH (sha256 $expected)"
  changed="$changed binary"
fi

# --- Data dir, unit and agent options ----------------------------------------

mkdir -p "$root$DATA_DIR"
chmod 0700 "$root$DATA_DIR"

# put_file MODE PATH NAME: moves $work/new to PATH when its content differs.
put_file() {
  if [ -f "$2" ] && [ "$(checksum_of "$2")" = "$(checksum_of "$work/new")" ]; then
    chmod "$1" "$2"
    return 0
  fi
  mkdir -p "${2%/*}"
  staged="${2%/*}/.${2##*/}.new.$$"
  cp "$work/new" "$staged"
  chmod "$1" "$staged"
  mv -f "$staged" "$2"
  staged=""
  say "wrote ${2#"$root"}"
  changed="$changed $3"
}

cat >"$work/new" <<'EOF'
# Written by mill's install.sh, which rewrites it on every run: agent options
# belong in /etc/mill/agent.env, other changes in a drop-in (systemctl edit mill).
[Unit]
Description=mill agent
After=network-online.target containerd.service
Wants=network-online.target

[Service]
EnvironmentFile=-/etc/mill/agent.env
ExecStart=/usr/local/bin/mill agent --data-dir /var/lib/mill $MILL_AGENT_ARGS
Restart=always
RestartSec=5
# Stop only the agent: containers keep running (their containerd shims are
# processes of their own) and the next agent re-attaches to them.
KillMode=process
LimitNOFILE=1048576

[Install]
WantedBy=multi-user.target
EOF
put_file 0644 "$root$UNIT_PATH" unit

if [ "$agent_args_given" = true ] || [ ! -e "$root$ENV_PATH" ]; then
  {
    echo "# The mill agent's options, read by mill.service: a space-separated list,"
    echo "# e.g. MILL_AGENT_ARGS=--listen 10.0.0.5:7946 --role secondary"
    echo "# (see mill agent --help). install.sh --agent-args rewrites this file."
    echo "MILL_AGENT_ARGS=${agent_args:-}"
  } >"$work/new"
  put_file 0600 "$root$ENV_PATH" agent.env
fi

# --- systemd -----------------------------------------------------------------

if ! command -v systemctl >/dev/null 2>&1; then
  say "systemctl is missing: $UNIT_PATH is written but not enabled"
elif [ -n "$root" ]; then
  systemctl --root="$root" --quiet is-enabled mill.service 2>/dev/null ||
    systemctl --root="$root" enable mill.service
  [ -z "$changed" ] || say "--root $root: the agent is not started or restarted"
elif [ -d /run/systemd/system ]; then
  case "$changed" in *unit*) systemctl daemon-reload ;; esac
  systemctl --quiet is-enabled mill.service 2>/dev/null || systemctl enable mill.service
  if [ -n "$changed" ]; then
    if systemctl --quiet is-active mill.service; then
      say "restarting mill.service (changed:$changed)"
      systemctl try-restart mill.service
    else
      say "mill.service is enabled; start it once the data dir holds a cluster (mill init or mill join with --data-dir $DATA_DIR): systemctl start mill"
    fi
  fi
else
  # No running systemd (a container or an image being built): enable offline.
  systemctl --root=/ --quiet is-enabled mill.service 2>/dev/null ||
    systemctl --root=/ enable mill.service
  [ -z "$changed" ] || say "systemd is not running: mill.service starts on the next boot"
fi

if [ -z "$changed" ]; then
  say "nothing changed"
else
  say "done (changed:$changed)"
fi
