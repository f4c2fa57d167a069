"""Reads an AWS config file with real botocore and prints what it sees, as JSON.

Usage: python3 botocore_config.py PATH

Prints either {"error": "<exception class>"} when botocore refuses the file, or
{"profiles": {...}, "sso_sessions": {...}, "sso": {...}} where
- profiles / sso_sessions hold, per name, the SSO-related keys that are present
  (a nested `key =` block comes out as an object);
- sso holds, per profile, what botocore's SSO credential provider makes of it:
  {"status": "none"} (not an SSO credential profile), {"status": "error", "error": class}
  or {"status": "ok", "config": {the keys it resolved}}.

Exit status 3 means botocore is not installed.
"""

import json
import os
import sys

try:
    import botocore
    import botocore.configloader
    import botocore.credentials
    import botocore.session
except ImportError as e:  # pragma: no cover - reported by the Rust test
    sys.stderr.write(f"botocore is not importable: {e}\n")
    sys.exit(3)

PROFILE_KEYS = (
    "sso_session",
    "sso_start_url",
    "sso_region",
    "sso_account_id",
    "sso_role_name",
    "region",
    "ca_bundle",
)
SESSION_KEYS = ("sso_start_url", "sso_region")


def pick(section, keys):
    return {k: section[k] for k in keys if k in section}


def main():
    path = sys.argv[1]
    try:
        loaded = botocore.configloader.load_config(path)
    except Exception as e:  # botocore refuses the file
        print(json.dumps({"error": type(e).__name__}))
        return

    # The credential provider sees the config through a Session, as `aws` and boto3 do.
    os.environ["AWS_CONFIG_FILE"] = path
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.path.join(
        os.path.dirname(path), "does-not-exist", "credentials"
    )
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        os.environ.pop(var, None)
    session = botocore.session.Session()

    sso = {}
    for name in loaded["profiles"]:
        provider = botocore.credentials.SSOProvider(
            load_config=lambda: session.full_config,
            client_creator=session.create_client,
            profile_name=name,
        )
        try:
            config = provider._load_sso_config()
        except Exception as e:
            sso[name] = {"status": "error", "error": type(e).__name__}
            continue
        if config is None:
            sso[name] = {"status": "none"}
        else:
            sso[name] = {"status": "ok", "config": config}

    print(
        json.dumps(
            {
                "botocore": botocore.__version__,
                "profiles": {
                    n: pick(s, PROFILE_KEYS) for n, s in loaded["profiles"].items()
                },
                "sso_sessions": {
                    n: pick(s, SESSION_KEYS) for n, s in loaded["sso_sessions"].items()
                },
                "sso": sso,
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
