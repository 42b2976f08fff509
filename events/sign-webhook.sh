#!/bin/sh
# Re-signs a sample Stripe webhook event (API Gateway v2 request) for `sam local invoke`: the signature
# must be less than 300 s old, so the samples' fixed one is refused at any other time.
# Usage: events/sign-webhook.sh events/stripe-payment-intents-webhook.json whsec_... > /tmp/event.json
set -eu
python3 - "$1" "$2" <<'PY'
import hashlib, hmac, json, sys, time
event = json.load(open(sys.argv[1]))
t = int(time.time())
sig = hmac.new(sys.argv[2].encode(), f"{t}.{event['body']}".encode(), hashlib.sha256).hexdigest()
event["headers"]["stripe-signature"] = f"t={t},v1={sig}"
print(json.dumps(event, indent=2))
PY
