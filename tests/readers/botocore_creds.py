#!/usr/bin/env python3
"""Reads profiles from a credentials file with botocore, as boto3 and the AWS CLI do.

Usage: botocore_creds.py CREDENTIALS_FILE PROFILE...
       botocore_creds.py --raw FILE
       botocore_creds.py --raw-each FILE...

Prints {"<profile>": {"access_key", "secret_key", "token", "method"} or null, ...} as JSON.
With --raw, prints every section and key of FILE as botocore.configloader.raw_config_parse
returns it: {"<section>": {"<key>": "<value>" or {nested block}}}. With --raw-each, prints a
list with that view (or {"error": ...}) for each FILE, and exits 0.
On any exception prints {"error": "<class>: <message>"} and exits 1.
Exits 3 if botocore cannot be imported (run `bash scripts/test.sh` to install it).
"""
import json
import os
import sys
import tempfile

try:
    import botocore.configloader
    import botocore.session
except ImportError as e:
    print(f"botocore is not importable by {sys.executable}: {e}", file=sys.stderr)
    sys.exit(3)


def raw(path):
    try:
        parsed = botocore.configloader.raw_config_parse(path)
    except Exception as e:  # noqa: BLE001 - every failure is reported to the test
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        sys.exit(1)
    print(json.dumps(parsed))


def raw_each(paths):
    views = []
    for path in paths:
        try:
            views.append(botocore.configloader.raw_config_parse(path))
        except Exception as e:  # noqa: BLE001 - a refused file is a result here
            views.append({"error": type(e).__name__})
    print(json.dumps(views))


def main():
    if sys.argv[1] == "--raw-each":
        raw_each(sys.argv[2:])
        return
    if sys.argv[1] == "--raw":
        raw(sys.argv[2])
        return
    path, profiles = sys.argv[1], sys.argv[2:]
    with tempfile.TemporaryDirectory(prefix="ssofresh-botocore-") as tmp:
        empty_config = os.path.join(tmp, "config")
        open(empty_config, "w").close()
        os.environ["AWS_SHARED_CREDENTIALS_FILE"] = path
        os.environ["AWS_CONFIG_FILE"] = empty_config
        os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
        result = {}
        try:
            for name in profiles:
                creds = botocore.session.Session(profile=name).get_credentials()
                if creds is None:
                    result[name] = None
                    continue
                frozen = creds.get_frozen_credentials()
                result[name] = {
                    "access_key": frozen.access_key,
                    "secret_key": frozen.secret_key,
                    "token": frozen.token,
                    "method": creds.method,
                }
        except Exception as e:  # noqa: BLE001 - every failure is reported to the test
            print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
            sys.exit(1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
