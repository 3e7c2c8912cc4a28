"""Schemathesis hooks of the contract test: leave out generated data a schema cannot make valid.

A `cursor` is an opaque token the service hands out, and an import is a zip archive the service wrote: no
JSON schema tells a handed-out cursor or a real export from a made-up one, so positive (schema-valid) cases
carrying a made-up cursor or import file are not sent; negative cases still are, and every check stays on.
tests/contract/test_validation.py covers both with real and bad values. Likewise a schema-valid action or
MCP server is not a working one: a made-up OpenAPI document, server or operation name is a 422 (or the
server cannot be reached), so positive writes of tools are left to tests/tools/test_config_*.py. A
dataset's `license` must be an id of the SPDX License List, and is required when `access` is open: a
made-up string is a 422 naming `license`, so positive writes of datasets are left to
tests/retrieval/test_datasets.py; a GPT's own file takes one only when open, from the same list, so positive
uploads carrying a `license` are left to tests/retrieval/test_file_licenses.py. The same holds for rules
between fields or about what a URL names, which
a JSON schema cannot state: an organisation's `website` and an embed's `allowed_origins` must be http(s)
URLs with a host (tests/orgs/test_organizations.py, tests/web/test_embed.py), an import takes exactly one
of `url`, `urls`, `sitemap_url`, pages that can be fetched (tests/retrieval/test_web_import.py), a batch
either `file` parts or one `archive` (tests/retrieval/test_file_batches.py), a personal GPT moves to
an organisation, not to another user (tests/orgs/test_org_gpts.py), and a GPT's `retrieval.chunk_overlap`
is at most half its chunk size, the one sent or the GPT's own (tests/builder/test_gpts.py): positive writes
of these are not sent.
"""

from __future__ import annotations

import re

import schemathesis
from schemathesis import GenerationMode
from schemathesis.core.parameters import ParameterLocation


@schemathesis.hook
def filter_case(ctx, case) -> bool:
    meta = case._meta
    if meta is None:
        return True
    if meta.generation.mode != GenerationMode.POSITIVE:
        # Path parameters are pinned to the fixtures' ids (schemathesis.toml), which undoes a negated path
        # value: such a case is no longer negative. Bad path values are tested in test_validation.py.
        path = meta.components.get(ParameterLocation.PATH)
        return path is None or path.mode != GenerationMode.NEGATIVE
    if case.query and "cursor" in case.query:
        return False
    if case.method in ("POST", "PATCH") and ("/actions" in case.path or "/mcp_servers" in case.path):
        return False
    if case.method in ("POST", "PATCH") and re.fullmatch(r"/api/datasets(/[^/]+)?/?", case.path):
        return False
    if case.method in ("POST", "PATCH") and re.fullmatch(r"/api/organizations(/[^/]+)?/?", case.path):
        return False
    if case.method == "PUT" and case.path.endswith("/embed"):
        return False
    if case.method == "POST" and (case.path.endswith(("/imports", "/file_batches", "/transfer"))):
        return False
    if (
        case.method == "POST"
        and case.path.endswith("/files")
        and isinstance(case.body, dict)
        and case.body.get("license")
    ):
        return False
    if (
        case.method in ("POST", "PATCH")
        and re.fullmatch(r"/api/gpts(/[^/]+)?/?", case.path)
        and isinstance(case.body, dict)
        and isinstance(case.body.get("retrieval"), dict)
        and case.body["retrieval"].get("chunk_overlap") is not None
    ):
        return False
    return not case.path.endswith("/import")
