#!/usr/bin/env python3
"""Loads an SSO token from a token cache folder with botocore, as boto3 and the AWS CLI do.

Usage: botocore_token.py CACHE_DIR SESSION_NAME START_URL REGION

Configures a profile with `sso_session = SESSION_NAME` and an `[sso-session SESSION_NAME]`
with START_URL and REGION, then asks botocore's `SSOTokenProvider` (over a `JSONFileCache` of
CACHE_DIR, the way botocore reads `~/.aws/sso/cache`) for the token. Prints
{"token": <accessToken>, "expiration": <epoch seconds>, "method": "sso",
 "cached": <the cache entry as SSOTokenLoader returns it>}.
A token within botocore's 15-minute window would be refreshed; SSO OIDC then points at a
closed local port, so the test sees the refresh fail instead of reaching AWS.
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
                f"[profile p]\nsso_session = {session_name}\n\n"
                f"[sso-session {session_name}]\n"
                f"sso_start_url = {start_url}\nsso_region = {region}\n"
            )
        empty = os.path.join(tmp, "credentials")
        open(empty, "w").close()
        os.environ["AWS_CONFIG_FILE"] = config
        os.environ["AWS_SHARED_CREDENTIALS_FILE"] = empty
        os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
        os.environ["AWS_ENDPOINT_URL_SSO_OIDC"] = "http://127.0.0.1:9"
        try:
            session = botocore.session.Session(profile="p")
            cache = botocore.utils.JSONFileCache(cache_dir)
            provider = botocore.tokens.SSOTokenProvider(
                session, cache=cache, profile_name="p"
            )
            frozen = provider.load_token().get_frozen_token()
            cached = botocore.utils.SSOTokenLoader(cache=cache)(
                start_url, session_name=session_name
            )
        except Exception as e:  # noqa: BLE001 - every failure is reported to the test
            print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
            sys.exit(1)
    print(
        json.dumps(
            {
                "token": frozen.token,
                "expiration": int(frozen.expiration.timestamp()),
                "method": provider.METHOD,
                "cached": cached,
            }
        )
    )


if __name__ == "__main__":
    main()
