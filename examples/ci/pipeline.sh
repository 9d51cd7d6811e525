#!/usr/bin/env bash
# The CI gate for a self-hosted deployment, as one script that both example pipelines call:
# install the tool, start the deployment (here a stand-in: the mock over TLS), wait for it,
# run the conformance suite with JUnit output, then a short load gate with thresholds.
# Replace the "deployment" step with your own rollout and point HOST at it.
#
# Environment: OUT (reports, default ./conformance-out), SKIP_INSTALL=1 (tool already installed),
# TIME_SCALE (1 against a real deployment; the stand-in may run faster), JOBS (scenarios played at
# once, default 16), LOAD_USERS, LOAD_TIME, LOAD_SCENARIO (what each load user streams),
# DEEPGRAM_API_KEY (the deployment's key, from your CI's secrets: every step reads it from the
# environment and none prints it; the stand-in requires it when set).
set -euo pipefail
cd "$(dirname "$0")/../.."

OUT=${OUT:-conformance-out}
TIME_SCALE=${TIME_SCALE:-1}
JOBS=${JOBS:-16}
LOAD_USERS=${LOAD_USERS:-5}
LOAD_TIME=${LOAD_TIME:-20s}
LOAD_SCENARIO=${LOAD_SCENARIO:-load.stream-finalize-close.1}
PORT=${PORT:-8443}
mkdir -p "$OUT"

if [ "${SKIP_INSTALL:-}" != 1 ]; then
  python3 -m pip install --quiet ".[test]"
fi

# 1. The deployment. A stand-in here: the mock with a certificate from a throwaway CA.
mkdir -p "$OUT/pki"
python3 -m trustme -q -d "$OUT/pki" -i 127.0.0.1 localhost
python3 -m conformance mock --port "$PORT" --time-scale "$TIME_SCALE" \
  --tls-cert "$OUT/pki/server.pem" --tls-key "$OUT/pki/server.key" > "$OUT/deployment.log" 2>&1 &
deployment=$!
trap 'kill "$deployment" 2>/dev/null || true' EXIT
HOST=${HOST:-wss://127.0.0.1:$PORT}

# 2. Wait for it, then gate on the conformance suite (exit 1 on a broken MUST rule).
python3 -m conformance run --host "$HOST" --cafile "$OUT/pki/client.pem" --wait-for-host 60s \
  --time-scale "$TIME_SCALE" --jobs "$JOBS" --junit "$OUT/conformance.xml" --json "$OUT/conformance.json" \
  --trace-dir "$OUT/traces"

# 3. A short load gate: thresholds decide the exit code. --stop-timeout lets streams in flight
#    finish, so every started stream is measured.
python3 -m conformance load --headless --only-summary --cafile "$OUT/pki/client.pem" \
  --host "$HOST" -u "$LOAD_USERS" -r "$LOAD_USERS" -t "$LOAD_TIME" --stop-timeout 30 --time-scale "$TIME_SCALE" --scenario "$LOAD_SCENARIO" \
  --csv "$OUT/load" --slo 'p95(final_latency) < 800ms' --slo 'rate(failures) < 1%'
echo "gate passed: reports in $OUT"
