#!/usr/bin/env bash
# System packages: a virtual X server with Mesa OpenGL, so napari's canvas renders without a
# display (tests, demo screenshots), and Python's venv module. Debian/Ubuntu. Installs only
# what is missing (checked with dpkg), so it is quick and safe to re-run; as root it needs no
# sudo, as another user it uses sudo, and only when something is missing.
set -euo pipefail
PACKAGES=(xvfb xauth libgl1-mesa-dri libglx-mesa0 libegl1 libxkbcommon-x11-0 libxcb-icccm4
  libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-xinerama0
  libxcb-xfixes0 libxcb-shape0 libxcb-cursor0 libdbus-1-3 libfontconfig1)
PYTHON="${PYTHON:-python3}"

if ! command -v dpkg-query >/dev/null 2>&1; then
  if command -v xvfb-run >/dev/null 2>&1; then
    echo "system packages: not Debian/Ubuntu; xvfb-run found, assuming OpenGL libraries are there"
    exit 0
  fi
  echo "This script installs system packages on Debian/Ubuntu only. Install Xvfb (xvfb-run)" \
       "and Mesa OpenGL with your package manager, then run it again." >&2
  exit 1
fi

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
    || missing+=("$package")
done
if ! "$PYTHON" -c "import ensurepip, venv" >/dev/null 2>&1; then
  missing+=(python3-venv)  # Debian's python3 ships venv's pip bootstrap separately
fi
if [ "${#missing[@]}" -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "Missing system packages: ${missing[*]}. Run this script as root, or install them:" \
       "apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "installing system packages: ${missing[*]}"
"${SUDO[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
  "${missing[@]}" >/dev/null
echo "system packages installed"
