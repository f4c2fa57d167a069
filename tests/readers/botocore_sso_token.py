#!/usr/bin/env python3
"""Loads an sso-session token from an SSO cache folder with botocore, as boto3 and the AWS CLI do.

Usage: botocore_sso_token.py CACHE_DIR SESSION_NAME START_URL REGION

Builds a config with `[sso-session SESSION_NAME]` (START_URL, REGION) and a profile using it,
then asks botocore.tokens.SSOTokenProvider, reading CACHE_DIR through botocore's JSONFileCache,
for the token: the cache file is found by botocore's own name, parsed by its JSON cache, and
its expiresAt parsed by dateutil. Prints {"accessToken": ..., "expiresAt": "<ISO 8601>"}.
SSO OIDC points at a closed local port, so a token inside botocore's refresh window is never
refreshed anywhere real (the failed attempt is swallowed by botocore and the cached token
returned).
On any exception prints {"error": "<class>: <message>"} and exits 1.
Exits 3 if botocore cannot be imported (run `bash scripts/test.sh` to install it).
"""
import json
import os
import sys
import tempfile

try:
    import botocore.session
    import botocore.tokens
    import botocore.utils
except ImportError as e:
    print(f"botocore is not importable by {sys.executable}: {e}", file=sys.stderr)
    sys.exit(3)


def main():
    cache_dir, session_name, start_url, region = sys.argv[1:5]
    with tempfile.TemporaryDirectory(prefix="ssofresh-botocore-") as tmp:
        config = os.path.join(tmp, "config")
        with open(config, "w") as f:
            f.write(
                f"[profile reader]\nsso_session = {session_name}\n\n"
                f"[sso-session {session_name}]\nsso_start_url = {start_url}\n"
                f"sso_region = {region}\n"
            )
        os.environ["AWS_CONFIG_FILE"] = config
        os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.path.join(tmp, "credentials")
        os.environ["AWS_ENDPOINT_URL_SSO_OIDC"] = "http://127.0.0.1:9"
        try:
            session = botocore.session.Session(profile="reader")
            cache = botocore.utils.JSONFileCache(cache_dir)
            provider = botocore.tokens.SSOTokenProvider(
                session, cache=cache, profile_name="reader"
            )
            token = provider.load_token().get_frozen_token()
        except Exception as e:  # noqa: BLE001 - every failure is reported to the test
            print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
            sys.exit(1)
    print(json.dumps({"accessToken": token.token, "expiresAt": token.expiration.isoformat()}))


if __name__ == "__main__":
    main()
