#!/bin/bash
# BakeSight AI, at every boot of the GPU VM (stacks/ai_vm.py fills in the values in at-signs).
#
# The unit runs @APP_LINK@, a symlink to one release folder under @RELEASES@. A release is
# installed into a new folder named after the archive's hash, marked .installed only when
# scripts/install_ai.sh succeeded (which includes torch seeing the GPU), and then swapped in
# with one rename. Until then the previous release keeps running; a failed install is retried
# here, then again later through a transient systemd timer, and never removes a working release.
#
# Beside it, in a transient unit of its own, the Google Cloud Ops Agent is installed if missing and
# given stacks/ops_agent.yaml: it ships the service's JSON log lines to Cloud Logging and its
# /metrics to Cloud Monitoring. Its download never delays the service and its failure never stops
# it; a failed setup is retried later the same way.
set -uo pipefail
ARCHIVE_URI='@ARCHIVE_URI@'
GALLERY_URI='@GALLERY_URI@'
PROJECT='@PROJECT@'
SECRET='@SECRET@'
SECRET_VERSION='@SECRET_VERSION@'
APP_LINK='@APP_LINK@'
RELEASES='@RELEASES@'
ENV_FILE='@ENV_FILE@'
UNIT_DIR='@UNIT_DIR@'
TORCH_INDEX_URL='@TORCH_INDEX_URL@'
ATTEMPTS='@ATTEMPTS@'
RETRY_SECONDS='@RETRY_SECONDS@'
RETRY_LATER_SECONDS='@RETRY_LATER_SECONDS@'
OPS_AGENT_DIR='@OPS_AGENT_DIR@'
OPS_AGENT_HELPER='@OPS_AGENT_HELPER@'
OPS_AGENT_WANTED='@OPS_AGENT_WANTED@'
UNIT=ai-inference.service
RELEASE="$(basename "$ARCHIVE_URI" .tar.gz)"
WANT="$RELEASES/$RELEASE"

log() { echo "bakesight-ai-startup: $*"; }
current() { if [ -L "$APP_LINK" ]; then readlink -f "$APP_LINK"; fi; }
working() { [ -n "$1" ] && [ -f "$1/.installed" ]; }

write_env() {
  # The key is read at every boot, at the version pinned here, so a rotated key reaches the VM
  # on its next start. AI_DEVICE=cuda: a torch that cannot see the GPU stops the service loudly
  # instead of serving from the CPU. The project names the trace in the service's log lines,
  # so they join Central's in Cloud Logging.
  local key
  key="$(gcloud secrets versions access "$SECRET_VERSION" --secret="$SECRET" --project="$PROJECT")" \
    || return 1
  [ -n "$key" ] || return 1
  (umask 077 \
    && printf 'AI_ADMIN_KEY=%s\nAI_GALLERY=%s\nAI_DEVICE=cuda\nAI_GOOGLE_CLOUD_PROJECT=%s\n' \
      "$key" "$GALLERY_URI" "$PROJECT" > "$ENV_FILE.new") || return 1
  mv -f "$ENV_FILE.new" "$ENV_FILE"
}

start_current() {
  install -m 0644 "$APP_LINK/systemd/$UNIT" "$UNIT_DIR/$UNIT" \
    && systemctl daemon-reload \
    && systemctl enable "$UNIT" \
    && systemctl restart "$UNIT"
}

swap_to() {
  # rename(2) is atomic: the link always names a complete release.
  ln -sfn "$1" "$APP_LINK.new" && mv -Tf "$APP_LINK.new" "$APP_LINK"
}

install_release() {
  local work needed
  rm -rf "$WANT"
  mkdir -p "$WANT" || return 1
  work="$(mktemp -d)" || return 1
  if ! gcloud storage cp "$ARCHIVE_URI" "$work/ai.tar.gz" || ! tar -xzf "$work/ai.tar.gz" -C "$WANT"; then
    rm -rf "$work"
    return 1
  fi
  rm -rf "$work"
  for needed in scripts/install_ai.sh "systemd/$UNIT"; do
    if [ ! -f "$WANT/$needed" ]; then
      log "the archive has no $needed"
      return 1
    fi
  done
  (cd "$WANT" && TORCH_INDEX_URL="$TORCH_INDEX_URL" AI_ENV_FILE="$ENV_FILE" bash scripts/install_ai.sh) \
    || return 1
  touch "$WANT/.installed"
}

prune() {
  # Keep the running release and the one before it (to go back by hand); drop the rest.
  local keep="$1" previous="$2" dir
  for dir in "$RELEASES"/*; do
    [ -d "$dir" ] || continue
    if [ "$dir" != "$keep" ] && [ "$dir" != "$previous" ]; then rm -rf "$dir"; fi
  done
}

start_ops_agent() {
  mkdir -p "$(dirname "$OPS_AGENT_HELPER")" "$(dirname "$OPS_AGENT_WANTED")" || return 1
  cat > "$OPS_AGENT_WANTED.new" <<'BAKESIGHT_OPS_AGENT_CONFIG' || return 1
@OPS_AGENT_CONFIG@
BAKESIGHT_OPS_AGENT_CONFIG
  mv -f "$OPS_AGENT_WANTED.new" "$OPS_AGENT_WANTED" || return 1
  cat > "$OPS_AGENT_HELPER.new" <<'BAKESIGHT_OPS_AGENT_HELPER' || return 1
#!/bin/bash
# Usage: bakesight-ops-agent WANTED_CONFIG AGENT_DIR RETRY_SECONDS (written by the VM's boot script).
# Installs the Google Cloud Ops Agent if missing (Google's repository script, major version 2),
# puts WANTED_CONFIG in AGENT_DIR/config.yaml and restarts the agent only when that changed.
# An install that fails (no network yet, apt busy) is retried after RETRY_SECONDS.
set -uo pipefail
WANTED="$1"
AGENT_DIR="$2"
RETRY="$3"
AGENT=google-cloud-ops-agent
log() { echo "bakesight-ops-agent: $*"; }
installed() { dpkg -s "$AGENT" 2>/dev/null | grep -q '^Status: install ok installed'; }

install_agent() {
  local work ok=1
  work="$(mktemp -d)" || return 1
  if curl -fsS --retry 3 -o "$work/add-google-cloud-ops-agent-repo.sh" \
      https://dl.google.com/cloudagents/add-google-cloud-ops-agent-repo.sh \
    && bash "$work/add-google-cloud-ops-agent-repo.sh" --also-install --version='2.*.*'; then
    ok=0
  fi
  rm -rf "$work"
  return "$ok"
}

retry_later() {
  systemd-run --unit="bakesight-ops-agent-retry-$(date +%s)" --on-active="$RETRY" \
    /bin/bash "$0" "$WANTED" "$AGENT_DIR" "$RETRY" \
    && log "retrying in $RETRY s (a transient systemd timer)"
  exit 1
}

if ! installed; then
  log "installing the Ops Agent"
  if ! install_agent || ! installed; then
    log "the Ops Agent did not install; ai-inference's logs stay in journald for now"
    retry_later
  fi
fi
if cmp -s "$WANTED" "$AGENT_DIR/config.yaml"; then
  log "the Ops Agent already has BakeSight's configuration"
  exit 0
fi
if ! install -D -m 0644 "$WANTED" "$AGENT_DIR/config.yaml"; then
  log "cannot write $AGENT_DIR/config.yaml"
  exit 1
fi
if ! systemctl restart "$AGENT"; then
  # A configuration the agent rejects cannot be fixed by retrying: say so where operators look.
  log "the Ops Agent does not start with $AGENT_DIR/config.yaml (journalctl -u $AGENT)"
  exit 1
fi
log "the Ops Agent ships ai-inference's log lines and metrics"
BAKESIGHT_OPS_AGENT_HELPER
  chmod 0755 "$OPS_AGENT_HELPER.new" && mv -f "$OPS_AGENT_HELPER.new" "$OPS_AGENT_HELPER" || return 1
  systemd-run --unit="bakesight-ops-agent-$(date +%s)" --no-block \
    /bin/bash "$OPS_AGENT_HELPER" "$OPS_AGENT_WANTED" "$OPS_AGENT_DIR" "$RETRY_LATER_SECONDS"
}

start_ops_agent || log "could not start the Ops Agent's setup; ai-inference's logs stay in journald"
mkdir -p "$RELEASES"
# A folder left by the earlier in-place layout becomes a release, so it keeps serving.
if [ -d "$APP_LINK" ] && [ ! -L "$APP_LINK" ]; then
  mv "$APP_LINK" "$RELEASES/in-place"
  if [ -x "$RELEASES/in-place/.venv/bin/python" ]; then touch "$RELEASES/in-place/.installed"; fi
  swap_to "$RELEASES/in-place"
fi

for attempt in $(seq 1 "$ATTEMPTS"); do
  if write_env; then break; fi
  log "cannot read $SECRET (attempt $attempt of $ATTEMPTS)"
  if [ "$attempt" -lt "$ATTEMPTS" ]; then sleep "$RETRY_SECONDS"; fi
done
[ -f "$ENV_FILE" ] || log "no $ENV_FILE: the service cannot start without its key"

CURRENT="$(current)"
if working "$CURRENT" && [ "$CURRENT" = "$WANT" ]; then
  log "release $RELEASE is installed; starting it"
  start_current || { log "systemd could not start $UNIT"; exit 1; }
  exit 0
fi
if working "$CURRENT"; then
  log "starting release $(basename "$CURRENT") while $RELEASE installs"
  start_current || log "systemd could not start $UNIT"
fi

for attempt in $(seq 1 "$ATTEMPTS"); do
  log "installing $ARCHIVE_URI (attempt $attempt of $ATTEMPTS)"
  if install_release; then
    swap_to "$WANT" || { log "could not switch to $RELEASE"; exit 1; }
    if start_current; then
      log "ai-inference runs release $RELEASE"
      prune "$WANT" "$CURRENT"
      exit 0
    fi
    log "release $RELEASE does not start"
    if working "$CURRENT"; then
      swap_to "$CURRENT" && start_current
      log "back on release $(basename "$CURRENT")"
    fi
    rm -f "$WANT/.installed"
  else
    log "install attempt $attempt failed"
  fi
  rm -rf "$WANT"
  if [ "$attempt" -lt "$ATTEMPTS" ]; then sleep $((RETRY_SECONDS * attempt)); fi
done

if working "$CURRENT"; then
  log "installing $RELEASE failed $ATTEMPTS times; ai-inference keeps running $(basename "$CURRENT")"
else
  log "installing $RELEASE failed $ATTEMPTS times and no earlier release exists: ai-inference is down"
fi
# Try again later in this boot rather than only at the next one (the VM runs all day).
systemd-run --unit="bakesight-ai-install-retry-$(date +%s)" --on-active="$RETRY_LATER_SECONDS" \
  google_metadata_script_runner startup \
  && log "retrying in $RETRY_LATER_SECONDS s (a transient systemd timer)"
exit 1
