#!/usr/bin/env bash
# OpenStack conformance: runs tempest's image API tests against a fresh IMS that
# is its own identity service (Keystone v3 under /v3). Prints tempest's summary
# and exits non-zero when any enabled test fails.
#
# Usage: test/conformance/tempest.sh [extra `tempest run` arguments]
# Environment: TEMPEST_CONCURRENCY (default 4), TEMPEST_REGEX (default the image API),
#              TEMPEST_KEEP=1 keeps the work directory (IMS log, tempest.conf, tempest.log).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

# Debian's Python tools run with Debian's python (the pyenv one first on PATH lacks their modules).
export PATH="/usr/bin:/bin:$PATH"
if [ ! -x /usr/bin/tempest ]; then
  echo "tempest: installing Debian's package" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tempest >/dev/null
fi

WORK=$(mktemp -d /tmp/ims-tempest.XXXXXX)
IMS_PID=''
HTTP_PID=''
cleanup() {
  # The script's own exit status is kept: a killed child's status (143) must not replace it.
  local rc=$?
  set +e
  [ -n "$IMS_PID" ] && kill "$IMS_PID" 2>/dev/null && wait "$IMS_PID" 2>/dev/null
  [ -n "$HTTP_PID" ] && kill "$HTTP_PID" 2>/dev/null && wait "$HTTP_PID" 2>/dev/null
  if [ "${TEMPEST_KEEP:-0}" = 1 ]; then echo "tempest: work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_for() { # url what
  for _ in $(seq 1 300); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "tempest: $2 did not start ($1)" >&2
  return 1
}

# A local web server for the web-download import tests: an image tempest can
# fetch through IMS without leaving the machine. IMS refuses web-download from
# loopback and private addresses unless IMS_WEB_DOWNLOAD_ALLOW names them.
HTTP_PORT=$(free_port)
mkdir -p "$WORK/www"
head -c 1048576 /dev/urandom >"$WORK/www/image.raw"
/usr/bin/python3 -m http.server "$HTTP_PORT" --bind 127.0.0.1 --directory "$WORK/www" \
  >"$WORK/http.log" 2>&1 &
HTTP_PID=$!
HTTP_IMAGE="http://127.0.0.1:$HTTP_PORT/image.raw"

IMS_PORT=$(free_port)
ADMIN_PASSWORD=$(/usr/bin/python3 -c 'import secrets; print(secrets.token_urlsafe(18))')
IMS_URL="http://127.0.0.1:$IMS_PORT"
IMS_DATA_DIR="$WORK/data" IMS_PORT=$IMS_PORT IMS_HOST=127.0.0.1 IMS_ADMIN_PASSWORD=$ADMIN_PASSWORD \
  IMS_LOG_LEVEL=${IMS_LOG_LEVEL:-warn} IMS_WEB_DOWNLOAD_ALLOW=127.0.0.1 \
  node "$ROOT/bin/ims.js" serve >"$WORK/ims.log" 2>&1 &
IMS_PID=$!
wait_for "$IMS_URL/healthz" IMS
wait_for "$HTTP_IMAGE" "the web-download HTTP server"

HOME="$WORK/home"
export HOME
mkdir -p "$HOME"
/usr/bin/tempest init "$WORK/tempest" >/dev/null
cat >"$WORK/tempest/etc/tempest.conf" <<EOF
[DEFAULT]
log_file = $WORK/tempest/tempest.log

[auth]
# Each test class gets its own project and users, made through IMS's Keystone admin API.
use_dynamic_credentials = true
admin_username = admin
admin_password = $ADMIN_PASSWORD
admin_project_name = admin
admin_domain_name = Default
# No networking service: dynamic credentials must not try to create networks.
create_isolated_networks = false

[identity]
uri_v3 = $IMS_URL/v3
auth_version = v3
region = RegionOne
v3_endpoint_type = public
admin_role = admin

[identity-feature-enabled]
# IMS speaks Keystone v3 only.
api_v2 = false

[service_available]
glance = true
# IMS is an image and identity service; the other services are not there.
nova = false
neutron = false
cinder = false
swift = false

[image]
# The image endpoint comes from the catalog IMS returns with each token.
catalog_type = image
region = RegionOne
endpoint_type = public
http_image = $HTTP_IMAGE
build_timeout = 60
build_interval = 1
# IMS inspects uploaded data and refuses data that is not in the declared disk
# format (OSSN-0090, CVE-2024-32498). Tempest uploads random bytes, which are
# valid only as the formats without a header: the Amazon kinds and raw.
disk_formats = ami,ari,aki,raw
# Glance's image cache is a per-node local disk cache in front of slow stores;
# IMS streams from its blob store and has no cache to manage.
image_caching_enabled = false

[image-feature-enabled]
api_v2 = true
# The v1 API was removed from Glance in Rocky; IMS never offered it.
api_v1 = false
import_image = true
os_glance_reserved = true
# Image locations are deliberately not offered: letting a user point an image
# at an arbitrary URL, or reading back the store's internal locations, exposes
# the blob store and allows data substitution (OSSN-0065, OSSN-0090).
manage_locations = false
EOF

cd "$WORK/tempest"
START=$(date +%s)
set +e
/usr/bin/tempest run --regex "${TEMPEST_REGEX:-^tempest\.api\.image}" \
  --concurrency "${TEMPEST_CONCURRENCY:-4}" "$@" >"$WORK/run.out" 2>&1
RC=$?
set -e
END=$(date +%s)
# Failures in full, then the summary.
grep -E '^\{[0-9]+\} .* \.\.\. (FAILED|SKIPPED)' "$WORK/run.out" || true
sed -n '/^Totals$/,/^Worker Balance$/p' "$WORK/run.out" | grep -v '^Worker Balance$'
echo "tempest: image API tests took $((END - START)) s at concurrency ${TEMPEST_CONCURRENCY:-4}"
if [ $RC -ne 0 ]; then
  echo "tempest: FAILED (exit $RC); the last lines of the IMS log:" >&2
  tail -n 20 "$WORK/ims.log" >&2
fi
exit $RC
