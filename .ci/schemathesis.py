#!/usr/bin/env python3
"""Holds the published OpenAPI document to the served API (docs/operations.md, "The API
contract in CI").

Starts the provider sandbox and a gateway on loopback (fresh SQLite), creates a tenant and one
verified credential per provider, then runs schemathesis with every check against
/openapi.json: once per provider with that credential's id as `credentialId`, and once for
the admin routes with the admin token. Any failure fails the script.

Usage: .ci/schemathesis.py BINARY [--examples N]
Needs `schemathesis` and `openapi-spec-validator` on PATH (.ci/run installs pinned versions
into a virtualenv). The OpenAPI document is validated first.
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

MASTER_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
ADMIN_TOKEN = "schemathesis-admin-token-0123456789"

# The sandbox accounts (README, "The sandbox").
SANDBOX = {
    "bird": ("bird-sandbox-key", {"workspaceId": "2d7d5b6e-0000-4000-8000-000000000001"}),
    "karia": ("karia-sandbox-key", {"organisationId": "1", "workspaceId": "1"}),
    "iclosed": ("iclosed_sandbox_key", {}),
}

# By design, not silently skipped: a body can satisfy the published schema and still be
# refused with 422, because the rules of the credential's provider (iClosed's 25-character
# lastName, a secret's shape per provider, a provider refusing a value) depend on which
# credential the request names, and one schema serves every provider. The provider's own
# rules are published per credential at GET /crm/contacts/schema and GET /providers/{p}.
# Likewise an Idempotency-Key that schemathesis happens to reuse for another request is a
# correct 422 idempotency_key_reused: a key's uniqueness is not a schema property.
CONFIG = """
[generation]
max-examples = {examples}

[parameters]
"query.credentialId" = "{credential}"
{contact}

# Opaque cursors cannot be generated valid: a made-up one is a 400 naming `cursor`.
[[operations]]
include-name-regex = "^GET /(crm/contacts|credentials|events|admin/tenants(/[^/]+/keys)?)$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]

[[operations]]
include-name-regex = "^(POST|PATCH|PUT|DELETE) /(crm/contacts|credentials)"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
"""


# By design, per provider: iClosed has no delete (docs/providers/iclosed.md), so DELETE of a
# contact through an iClosed credential answers 501 not_supported_by_provider. Expected there,
# and only there: a 501 from another provider's delete would still fail the run.
NO_DELETE = """
[[operations]]
include-name = "DELETE /crm/contacts/{id}"
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "501"]
"""
BY_DESIGN = {"iclosed": NO_DELETE}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(method, url, token=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def wait_ready(url, deadline=60):
    end = time.time() + deadline
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except Exception:
            time.sleep(0.2)
    sys.exit(f"{url} never became ready")


def schemathesis(args, config_text, workdir, name):
    config = os.path.join(workdir, f"{name}.toml")
    with open(config, "w") as f:
        f.write(config_text)
    cmd = ["schemathesis", "--config-file", config, "run", *args]
    print(f"== schemathesis ({name})", flush=True)
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print(out.stdout, flush=True)
    cases = sum(int(n) for n in re.findall(r"(\d+) generated", out.stdout))
    passed = sum(int(n) for n in re.findall(r"generated, (\d+) passed", out.stdout))
    return out.returncode, cases, passed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--examples", type=int, default=40)
    opts = parser.parse_args()
    for tool in ("schemathesis", "openapi-spec-validator"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not on PATH")

    work = tempfile.mkdtemp(prefix="crm-schemathesis-")
    sandbox_port, api_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_GATEWAY_")}
    env.update(
        {
            "CRM_GATEWAY_SANDBOX_LISTEN": f"127.0.0.1:{sandbox_port}",
            "CRM_GATEWAY_LISTEN": f"127.0.0.1:{api_port}",
            "CRM_GATEWAY_DATABASE_URL": f"sqlite://{work}/gateway.db?mode=rwc",
            "CRM_GATEWAY_MASTER_KEY": MASTER_KEY,
            "CRM_GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN,
            "CRM_GATEWAY_ALLOW_PRIVATE_BASE_URLS": "true",
            # thousands of quick cases from one tenant: keep the limit's headers, not its 429s
            "CRM_GATEWAY_API__RATE_LIMIT__PER_SECOND": "100000",
            "CRM_GATEWAY_API__RATE_LIMIT__BURST": "100000",
            # and every case comes from 127.0.0.1, many of them without a valid key on purpose
            "CRM_GATEWAY_API__RATE_LIMIT__UNAUTHENTICATED_PER_SECOND": "100000",
            "CRM_GATEWAY_API__RATE_LIMIT__UNAUTHENTICATED_BURST": "100000",
            "CRM_GATEWAY_LOG__LEVEL": "warn",
            "CRM_GATEWAY_METRICS_LISTEN": "",
        }
    )
    logs = open(os.path.join(work, "processes.log"), "w")
    procs = [
        subprocess.Popen([opts.binary, "sandbox"], env=env, stdout=logs, stderr=logs),
        subprocess.Popen([opts.binary, "serve"], env=env, stdout=logs, stderr=logs),
    ]
    failed = False
    total = passed = 0
    try:
        api = f"http://127.0.0.1:{api_port}"
        sandbox = f"http://127.0.0.1:{sandbox_port}"
        wait_ready(f"{api}/healthz")
        wait_ready(f"{sandbox}/bird/_sim/stats")
        document = os.path.join(work, "openapi.json")
        with urllib.request.urlopen(f"{api}/openapi.json", timeout=10) as resp, open(document, "wb") as f:
            f.write(resp.read())
        print("== openapi-spec-validator", flush=True)
        failed |= subprocess.run(["openapi-spec-validator", document]).returncode != 0
        tenant = call("POST", f"{api}/admin/tenants", ADMIN_TOKEN, {"name": "schemathesis"})
        key = tenant["apiKey"]
        spec = f"{api}/openapi.json"
        for provider, (secret, settings) in SANDBOX.items():
            settings = dict(settings, baseUrl=f"{sandbox}/{provider}")
            call("POST", f"{sandbox}/{provider}/_sim/seed", body={"count": 5})
            cred = call(
                "POST",
                f"{api}/credentials?verify=true",
                key,
                {"provider": provider, "name": f"st {provider}", "secret": secret, "settings": settings},
            )["credential"]["id"]
            # A real contact, so the item routes reach the provider (and iClosed's delete its
            # documented 501) instead of stopping at 404.
            contact = call(
                "POST",
                f"{api}/crm/contacts?credentialId={cred}",
                key,
                {"firstName": "Schema", "lastName": "Thesis"},
            )["contact"]["id"]
            code, cases, ok = schemathesis(
                [spec, "--checks", "all", "-H", f"Authorization: Bearer {key}",
                 "--exclude-path-regex", "^/admin", "--seed", "1", "--workers", "1"],
                CONFIG.format(
                    examples=opts.examples,
                    credential=cred,
                    contact=f'"path.id" = "{contact}"',
                )
                + BY_DESIGN.get(provider, ""),
                work,
                provider,
            )
            total += cases
            passed += ok
            failed |= code != 0
        code, cases, ok = schemathesis(
            [spec, "--checks", "all", "-H", f"Authorization: Bearer {ADMIN_TOKEN}",
             "--include-path-regex", "^/admin", "--seed", "1", "--workers", "1"],
            CONFIG.format(examples=opts.examples, credential="unused", contact=""),
            work,
            "admin",
        )
        total += cases
        passed += ok
        failed |= code != 0
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        logs.close()
    print(f"schemathesis: {total} cases generated, {'FAILED' if failed else 'no failures'}")
    print(f"schemathesis: {passed} passed, {total - passed} failed")
    if failed:
        with open(os.path.join(work, "processes.log")) as f:
            print(f.read()[-20000:])
        sys.exit(1)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
