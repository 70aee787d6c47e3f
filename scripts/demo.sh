#!/usr/bin/env bash
# `make demo`: wagate-sim plays WhatsApp Web and the phone; the gateway is pointed at it.
set -euo pipefail
cd "$(dirname "$0")/.."
SIM_PORT=${SIM_PORT:-9300}
PORT=${PORT:-8080}
DATA=${DEMO_DATA:-$PWD/demo-data}
rm -rf "$DATA"

./target/release/wagate-sim --port "$SIM_PORT" >/dev/null &
SIM_PID=$!
trap 'kill $SIM_PID 2>/dev/null || true' EXIT

cat <<TXT
wagate demo
  WhatsApp Web (simulated):  http://127.0.0.1:$SIM_PORT/
  The phone (scan, messages): http://127.0.0.1:$SIM_PORT/control
  The gateway:               http://127.0.0.1:$PORT/   (API docs: http://127.0.0.1:$PORT/docs/)

The API key is printed below on the gateway's first start. Then, with KEY set to it:
  curl -s -X POST -H "Authorization: ApiKey \$KEY" http://127.0.0.1:$PORT/api/v1/sessions/init/
  # open http://127.0.0.1:$SIM_PORT/control and press "Scan"
  curl -s -H "Authorization: ApiKey \$KEY" http://127.0.0.1:$PORT/api/v1/sessions/status/
  curl -s -X POST -H "Authorization: ApiKey \$KEY" -H 'Content-Type: application/json' \\
       -d '{"recipient":"+15550002002","message":"Hello from wagate"}' \\
       http://127.0.0.1:$PORT/api/v1/messages/send-text/
  curl -s -X POST -H "Authorization: ApiKey \$KEY" -F recipient=15550002002 -F media_type=document \\
       -F file=@README.md http://127.0.0.1:$PORT/api/v1/messages/send-media/
  curl -s "http://127.0.0.1:$SIM_PORT/control/api/sent?phone=15550001234"   # what "WhatsApp" received

TXT
WAGATE__DATA_DIR="$DATA" \
WAGATE__SERVER__PORT="$PORT" \
WAGATE__BROWSER__WHATSAPP_URL="http://127.0.0.1:$SIM_PORT/" \
  ./target/release/wagate serve
