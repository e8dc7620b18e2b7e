#!/usr/bin/env bash
# Install the AI inference service on the GPU VM into the code folder it is run from:
#   cd /opt/ai-inference && sudo bash scripts/install_ai.sh
# The VM's boot script (stacks/vm_startup.sh) runs it in each new release folder. Idempotent. It
# does not start the service. It fails (and the boot script keeps the previous release) when the
# installed service does not import, or, on a machine with an NVIDIA driver, when torch cannot
# see the GPU: a torch built for a newer CUDA than the driver runs would serve from the CPU.
#
# Environment knobs (all optional):
#   TORCH_INDEX_URL  the PyTorch wheel index whose CUDA build the driver runs. Default: cu128,
#                    for the stack's Deep Learning VM image (driver 570 runs CUDA <= 12.8; the
#                    PyPI wheel of torch 2.13.0 is a CUDA 13 build that needs driver >= 580)
#   WHEELHOUSE       a folder of wheels to install from with no network. Defaults to ./wheels
#                    if present (the stack's VM reaches PyPI through Cloud NAT).
#   AI_ENV_FILE      the service's environment file (default /etc/ai-inference.env)
set -euo pipefail

APP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVICE_USER="ai-inference"
VENV="${APP_DIR}/.venv"
ENV_FILE="${AI_ENV_FILE:-/etc/ai-inference.env}"
TORCH_SPEC="torch==2.13.0"
TORCH_INDEX_URL="${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cu128}"
WHEELHOUSE="${WHEELHOUSE:-${APP_DIR}/wheels}"

say() { printf 'install_ai: %s\n' "$*"; }
die() { printf 'install_ai: ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root: sudo bash scripts/install_ai.sh"
if [ ! -f "${APP_DIR}/pyproject.toml" ] || [ ! -d "${APP_DIR}/ai" ]; then
  die "${APP_DIR} does not hold the BakeSight code (pyproject.toml and ai/)"
fi

# Python 3.11 or newer; Ubuntu 22.04 ships 3.10, so take python3.11 from the archive if needed.
PYTHON=""
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "${candidate}" >/dev/null \
     && "${candidate}" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    PYTHON="$(command -v "${candidate}")"
    break
  fi
done
if [ -z "${PYTHON}" ]; then
  say "no Python 3.11+ found; installing python3.11 from apt"
  export DEBIAN_FRONTEND=noninteractive
  # At boot, unattended-upgrades often holds the dpkg lock: wait for it instead of failing.
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
    python3.11 python3.11-venv >/dev/null
  PYTHON="$(command -v python3.11)"
fi
say "using ${PYTHON} ($("${PYTHON}" --version))"

# The service runs as an unprivileged system user with no shell and no home.
if ! id -u "${SERVICE_USER}" >/dev/null 2>&1; then
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin "${SERVICE_USER}"
  say "created system user ${SERVICE_USER}"
fi
# NVIDIA's device files are usually world-readable; where they are not, they belong to video.
if getent group video >/dev/null; then
  usermod -a -G video "${SERVICE_USER}"
fi

pip_args=(--disable-pip-version-check --no-input)
if [ -d "${WHEELHOUSE}" ]; then
  say "installing offline from ${WHEELHOUSE}"
  pip_args+=(--no-index --find-links "${WHEELHOUSE}")
fi

[ -x "${VENV}/bin/python" ] || "${PYTHON}" -m venv "${VENV}"
"${VENV}/bin/python" -m pip install -q "${pip_args[@]}" --upgrade pip setuptools wheel
# torch first, pinned exactly, from the index whose CUDA build matches the driver.
if [ -n "${TORCH_INDEX_URL}" ] && [ ! -d "${WHEELHOUSE}" ]; then
  "${VENV}/bin/python" -m pip install -q "${pip_args[@]}" --index-url "${TORCH_INDEX_URL}" \
    "${TORCH_SPEC}"
else
  "${VENV}/bin/python" -m pip install -q "${pip_args[@]}" "${TORCH_SPEC}"
fi
# [smoke] adds nox, so `nox -s gpu_smoke` runs on the VM with this very venv.
"${VENV}/bin/python" -m pip install -q "${pip_args[@]}" "${APP_DIR}[ai,smoke]"

# Code and venv stay root-owned: the service reads and runs them, it cannot change them.
chown -R root:root "${APP_DIR}"
chmod -R go-w "${APP_DIR}"

# The env file holds AI_ADMIN_KEY: create it owner-only so the runbook's `tee` keeps that mode.
if [ ! -e "${ENV_FILE}" ]; then
  install -m 0600 -o root -g root /dev/null "${ENV_FILE}"
  printf '# AI_ADMIN_KEY=...\n# AI_MOCK_MODE=1\n' >"${ENV_FILE}"
  say "created ${ENV_FILE} (mode 0600); put AI_ADMIN_KEY in it"
fi

"${VENV}/bin/python" -c 'import ai.app, ai.recognition, ai.smoke' \
  || die "the installed service does not import"
cuda="$("${VENV}/bin/python" -c 'import torch; print(torch.cuda.is_available())' 2>/dev/null || true)"
built="$("${VENV}/bin/python" -c 'import torch; print(torch.version.cuda)' 2>/dev/null || true)"
say "installed; torch built for CUDA ${built:-unknown} sees a GPU: ${cuda:-unknown}"
if command -v nvidia-smi >/dev/null && [ "${cuda}" != "True" ]; then
  driver="$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null || true)"
  die "torch (CUDA ${built:-?}) cannot see the GPU (driver ${driver:-not loaded}); set TORCH_INDEX_URL to an index the driver runs"
fi
say "next: write ${ENV_FILE}, then"
say "  cp systemd/ai-inference.service /etc/systemd/system/ && systemctl daemon-reload"
say "  systemctl enable --now ai-inference && journalctl -u ai-inference -f"
