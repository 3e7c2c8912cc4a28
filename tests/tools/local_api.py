"""The local trips API for tool tests (`TripsApi`, on 127.0.0.1 in a uvicorn thread like
tests/fake_openai.py) and the thread helper the MCP server reuses. Use them through tests/tools/servers.py."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

OPENAPI_DOCUMENT = Path(__file__).resolve().parents[1] / "data" / "tools" / "trips.openapi.yaml"
API_KEY = "test-api-key-7f3a"
BEARER_TOKEN = "test-bearer-token-91c2"
BASIC_USERNAME = "trips-user"
BASIC_PASSWORD = "test-basic-password-55d1"
CLIENT_ID = "trips-client"
CLIENT_SECRET = "test-client-secret-a8e4"
MCP_TOKEN = "test-mcp-token-3b9d"
BIG_RESPONSE_BYTES = 300 * 1024


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    cookies: dict[str, str]
    body: bytes
    header_list: list[tuple[str, str]] = field(default_factory=list)  # as sent: repeats and case kept
    query_list: list[tuple[str, str]] = field(default_factory=list)


def _escaped_json(value: Any) -> str:
    """`value` as JSON whose strings spell every character as a `\\uXXXX` escape."""
    if isinstance(value, str):
        return '"' + "".join(f"\\u{ord(c):04x}" for c in value) + '"'
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_escaped_json(k)}: {_escaped_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_escaped_json(v) for v in value) + "]"
    return json.dumps(value)


@dataclass
class _Trips:
    items: dict[str, dict[str, Any]] = field(default_factory=dict)

    def reset(self) -> None:
        self.items = {
            "t1": {"id": "t1", "destination": "Lisbon", "days": 4},
            "t2": {"id": "t2", "destination": "Kyoto", "days": 9},
        }


class _UvicornThread:
    """One ASGI app on 127.0.0.1 at a free port, in a daemon thread."""

    name = "local-server"

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def app(self) -> Any:
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app(), log_level="warning", lifespan="on", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=self.name, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class TripsApi(_UvicornThread):
    """The local HTTP API. Auth is checked per route prefix: `/trips` accepts any auth (and records it),
    `/secure/*` answers 401 unless one of the test credentials arrived."""

    name = "trips-api"

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[RecordedRequest] = []
        self.token_requests: list[RecordedRequest] = []
        self.issued_tokens: list[str] = []
        self.token_lifetime_seconds = 3600
        self.token_client_auth = {"basic", "post"}  # client authentication methods the token endpoint takes
        # A trip's JSON with every character of its strings as a `\uXXXX` escape (valid JSON, as an API
        # that escapes all it writes answers)
        self.escape_strings = False
        self._trips = _Trips()
        self._trips.reset()

    def reset(self) -> None:
        self.requests.clear()
        self.token_requests.clear()
        self.issued_tokens.clear()
        self.token_lifetime_seconds = 3600
        self.token_client_auth = {"basic", "post"}  # client authentication methods the token endpoint takes
        self.escape_strings = False
        self._trips.reset()

    @property
    def last(self) -> RecordedRequest:
        return self.requests[-1]

    def auth_seen(self, request: RecordedRequest) -> str | None:
        """Which test credential a request carried: api_key_header, api_key_query, bearer, basic, oauth."""
        authorization = request.headers.get("authorization", "")
        if request.headers.get("x-api-key") == API_KEY:
            return "api_key_header"
        if request.query.get("api_key") == API_KEY:
            return "api_key_query"
        if authorization == f"Bearer {BEARER_TOKEN}":
            return "bearer"
        if authorization.startswith("Bearer ") and authorization[7:] in self.issued_tokens:
            return "oauth"
        if authorization.startswith("Basic "):
            decoded = base64.b64decode(authorization[6:]).decode()
            if decoded == f"{BASIC_USERNAME}:{BASIC_PASSWORD}":
                return "basic"
        return None

    def app(self) -> Starlette:
        async def record(request: Request, into: list[RecordedRequest] | None = None) -> RecordedRequest:
            recorded = RecordedRequest(
                method=request.method,
                path=request.url.path,
                headers={k.lower(): v for k, v in request.headers.items()},
                query=dict(request.query_params),
                cookies=dict(request.cookies),
                body=await request.body(),
                header_list=list(request.headers.items()),
                query_list=list(request.query_params.multi_items()),
            )
            (self.requests if into is None else into).append(recorded)
            return recorded

        async def list_trips(request: Request) -> Response:
            recorded = await record(request)
            items = list(self._trips.items.values())
            if destination := request.query_params.get("destination"):
                items = [t for t in items if t["destination"].lower() == destination.lower()]
            limit = int(request.query_params.get("limit", 50))
            return JSONResponse({"trips": items[:limit], "auth": self.auth_seen(recorded)})

        async def create_trip(request: Request) -> Response:
            recorded = await record(request)
            body = await request.json()
            if not isinstance(body, dict) or "destination" not in body:
                return JSONResponse({"error": "destination is required"}, status_code=422)
            trip = {"id": f"t{len(self._trips.items) + 1}", "destination": body["destination"]}
            trip["days"] = body.get("days", 1)
            self._trips.items[trip["id"]] = trip
            return JSONResponse({**trip, "auth": self.auth_seen(recorded)}, status_code=201)

        async def get_trip(request: Request) -> Response:
            recorded = await record(request)
            trip = self._trips.items.get(request.path_params["trip_id"])
            if trip is None:
                return JSONResponse({"error": "no such trip"}, status_code=404)
            payload = {**trip, "auth": self.auth_seen(recorded)}
            if self.escape_strings:
                return Response(_escaped_json(payload), media_type="application/json")
            return JSONResponse(payload)

        async def secure(request: Request) -> Response:
            recorded = await record(request)
            seen = self.auth_seen(recorded)
            if seen is None:
                return JSONResponse({"error": "unauthorized"}, status_code=401)
            return JSONResponse({"auth": seen})

        async def echo(request: Request) -> Response:
            recorded = await record(request)
            return JSONResponse(
                {
                    "method": recorded.method,
                    "headers": recorded.headers,
                    "query": recorded.query,
                    "cookies": recorded.cookies,
                    "body": recorded.body.decode("utf-8", "replace"),
                }
            )

        async def token(request: Request) -> Response:
            recorded = await record(request, self.token_requests)
            form = await request.form()
            client_id, client_secret = form.get("client_id"), form.get("client_secret")
            authorization = recorded.headers.get("authorization", "")
            if authorization.startswith("Basic "):
                if "basic" not in self.token_client_auth:
                    return JSONResponse({"error": "invalid_client"}, status_code=401)
                client_id, _, client_secret = base64.b64decode(authorization[6:]).decode().partition(":")
            elif "post" not in self.token_client_auth:
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            if form.get("grant_type") != "client_credentials":
                return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
            if (client_id, client_secret) != (CLIENT_ID, CLIENT_SECRET):
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            issued = f"oauth-{uuid.uuid4().hex}"
            self.issued_tokens.append(issued)
            return JSONResponse(
                {"access_token": issued, "token_type": "Bearer", "expires_in": self.token_lifetime_seconds}
            )

        async def slow(request: Request) -> Response:
            await record(request)
            await asyncio.sleep(float(request.query_params.get("seconds", "5")))
            return JSONResponse({"slow": True})

        async def big(request: Request) -> Response:
            await record(request)
            return PlainTextResponse("x" * BIG_RESPONSE_BYTES)

        async def status(request: Request) -> Response:
            await record(request)
            code = int(request.path_params["code"])
            return JSONResponse({"error": f"status {code}"}, status_code=code)

        async def redirect(request: Request) -> Response:
            await record(request)
            return RedirectResponse(request.query_params["to"], status_code=302)

        async def redirect_chain(request: Request) -> Response:
            await record(request)
            n = int(request.path_params["n"])
            return RedirectResponse("/trips" if n <= 0 else f"/redirect/chain/{n - 1}", status_code=302)

        async def metadata(request: Request) -> Response:
            await record(request)
            return RedirectResponse("http://169.254.169.254/latest/meta-data/", status_code=302)

        async def openapi(request: Request) -> Response:
            text = OPENAPI_DOCUMENT.read_text().replace("http://127.0.0.1:0", self.base_url)
            return Response(text, media_type="application/yaml")

        return Starlette(
            routes=[
                Route("/trips", list_trips, methods=["GET"]),
                Route("/trips", create_trip, methods=["POST"]),
                Route("/trips/{trip_id}", get_trip, methods=["GET"]),
                Route("/secure/trips", secure, methods=["GET"]),
                Route("/echo", echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
                Route("/oauth/token", token, methods=["POST"]),
                Route("/slow", slow, methods=["GET"]),
                Route("/big", big, methods=["GET"]),
                Route("/status/{code:int}", status, methods=["GET", "POST"]),
                Route("/redirect", redirect, methods=["GET"]),
                Route("/redirect/chain/{n:int}", redirect_chain, methods=["GET"]),
                Route("/metadata", metadata, methods=["GET"]),
                Route("/openapi.yaml", openapi, methods=["GET"]),
            ]
        )
