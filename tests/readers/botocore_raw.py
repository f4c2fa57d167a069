#!/usr/bin/env python3
"""Reads a whole INI file (credentials or config) as botocore does, every section and key.

Usage: botocore_raw.py FILE

Prints {"<section>": {"<key>": <value>}} as JSON, where a value is a string, or an object for
an indented sub-setting block, exactly as botocore.configloader.raw_config_parse returns it.
On any exception prints {"error": "<class>: <message>"} and exits 1.
Exits 3 if botocore cannot be imported (run `bash scripts/test.sh` to install it).
"""
import json
import sys

try:
    import botocore.configloader
except ImportError as e:
    print(f"botocore is not importable by {sys.executable}: {e}", file=sys.stderr)
    sys.exit(3)


def main():
    try:
        parsed = botocore.configloader.raw_config_parse(sys.argv[1])
    except Exception as e:  # noqa: BLE001 - every failure is reported to the test
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        sys.exit(1)
    print(json.dumps(parsed))


if __name__ == "__main__":
    main()
