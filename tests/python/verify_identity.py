"""An independent verifier of X-Vexa-Identity (gateway-identity v1), written from the reference
(`vexa-identity-signing.md`) with Python's `cryptography`, as a newer Vexa service checks it.

Usage: verify_identity.py PUBLIC_KEY_PEM < tokens   (one token a line)
Prints one line per token: `ok <claims JSON>` or `refused <reason>`.
"""
import base64
import json
import sys
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

SKEW_S = 30
MAX_LIFETIME_S = 300


def b64url(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify(token, key, now):
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != "v1":
        return "refused version"
    signed = ("v1." + parts[1]).encode("ascii")
    try:
        sig = b64url(parts[2])
        if len(sig) != 64:
            return "refused signature_length"
        key.verify(sig, signed)
    except (InvalidSignature, ValueError):
        return "refused signature"
    claims = json.loads(b64url(parts[1]))
    if claims.get("typ") != "vexa-identity":
        return "refused typ"
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int) or not isinstance(exp, int):
        return "refused times"
    if exp - iat > MAX_LIFETIME_S:
        return "refused lifetime"
    if now > exp + SKEW_S:
        return "refused expired"
    if now < iat - SKEW_S:
        return "refused not_yet_valid"
    canonical = json.dumps(claims, sort_keys=True, separators=(",", ":"))
    if b64url(parts[1]).decode("utf-8") != canonical:
        return "refused not_canonical"
    return "ok " + canonical


def main():
    with open(sys.argv[1], "rb") as f:
        key = load_pem_public_key(f.read())
    if not isinstance(key, Ed25519PublicKey):
        print("refused not_an_ed25519_public_key")
        return 2
    now = int(time.time())
    for line in sys.stdin:
        line = line.strip()
        if line:
            print(verify(line, key, now), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
