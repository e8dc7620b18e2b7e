#!/bin/bash
# BakeSight AI, at every boot of the GPU VM (stacks/ai_vm.py fills in the values in at-signs).
#
# The unit runs @APP_LINK@, a symlink to one release folder under @RELEASES@. A release is
# installed into a new folder named after the archive's hash, marked .installed only when
# scripts/install_ai.sh succeeded (which includes torch seeing the GPU), and then swapped in
# with one rename. Until then the previous release keeps running; a failed install is retried
# here, then again later through a transient systemd timer, and never removes a working release.
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
