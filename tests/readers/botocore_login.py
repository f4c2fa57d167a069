#!/usr/bin/env python3
"""Gets a profile's credentials with botocore as the AWS CLI does, `aws login` sessions included.

Usage: botocore_login.py CONFIG LOGIN_CACHE_DIR SIGNIN_ENDPOINT PROFILE [CREDENTIALS]

Points AWS_CONFIG_FILE at CONFIG, AWS_LOGIN_CACHE_DIRECTORY at LOGIN_CACHE_DIR,
AWS_ENDPOINT_URL_SIGNIN at SIGNIN_ENDPOINT and AWS_SHARED_CREDENTIALS_FILE at CREDENTIALS (an
absent file when not given), then asks `Session(profile=PROFILE).get_credentials()` for frozen
credentials. botocore's own chain decides: a section in the credentials file wins over
`login_session`; the login provider (botocore[crt]) re-reads the cache and refreshes through
Sign-In when 5 minutes or less remain, writing the rotated token back.
Prints {"access_key": …, "method": …}.
On any exception prints {"error": "<class>: <message>"} and exits 1.
Exits 3 if botocore or awscrt cannot be imported (run `bash scripts/test.sh` to install them).
"""
import json
import os
import sys

try:
    import awscrt  # noqa: F401  (the login provider's DPoP signer)
    import botocore.session
except ImportError as e:
    print(f"botocore[crt] is not importable by {sys.executable}: {e}", file=sys.stderr)
    sys.exit(3)


def main():
    config, cache_dir, endpoint, profile = sys.argv[1:5]
    credentials = sys.argv[5] if len(sys.argv) > 5 else os.path.join(cache_dir, "absent")
    os.environ["AWS_CONFIG_FILE"] = config
    os.environ["AWS_LOGIN_CACHE_DIRECTORY"] = cache_dir
    os.environ["AWS_ENDPOINT_URL_SIGNIN"] = endpoint
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = credentials
    try:
        creds = botocore.session.Session(profile=profile).get_credentials()
        if creds is None:
            raise RuntimeError("no credentials")
        frozen = creds.get_frozen_credentials()
        print(json.dumps({"access_key": frozen.access_key, "method": creds.method}))
    except Exception as e:  # the test prints what went wrong
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        sys.exit(1)


if __name__ == "__main__":
    main()
