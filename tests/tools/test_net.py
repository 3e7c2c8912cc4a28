"""The SSRF rules (docs/tools-safety.md): every way of writing a non-public address is refused before a byte
is sent; the two settings allow intranets; redirects are checked again."""

import pytest

from core.settings import Settings
from tests.tools.servers import TripsApi
from tools import fetch, net

# {port} is the local API's port: the requests would reach it if the rules let them through.
REFUSED = [
    ("http://127.0.0.1:{port}/trips", "loopback"),
    ("http://2130706433:{port}/trips", "loopback"),  # decimal
    ("http://0177.0.0.1:{port}/trips", "loopback"),  # octal
    ("http://127.1:{port}/trips", "loopback"),  # short
    ("http://0x7f.1:{port}/trips", "loopback"),  # hex, short
    ("http://0x7f000001:{port}/trips", "loopback"),  # hex
    ("http://017700000001:{port}/trips", "loopback"),  # octal, one part
    ("http://[::1]:{port}/trips", "loopback"),
    ("http://[::ffff:127.0.0.1]:{port}/trips", "loopback"),  # IPv4-mapped IPv6
    ("http://[::ffff:7f00:1]:{port}/trips", "loopback"),  # the same, in hex
    ("http://[64:ff9b::7f00:1]:{port}/trips", "loopback"),  # NAT64
    ("http://[2002:7f00:1::]:{port}/trips", "loopback"),  # 6to4
    ("http://localhost:{port}/trips", "loopback"),  # a DNS name resolving to 127.0.0.1
    ("http://LOCALHOST.:{port}/trips", "loopback"),
    ("http://0.0.0.0:{port}/trips", "unspecified"),
    ("http://[::]:{port}/trips", "unspecified"),
    ("http://0:{port}/trips", "unspecified"),
    ("http://10.0.0.1/", "private"),
    ("http://172.16.5.4/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://[fc00::1]/", "private"),
    ("http://[fe80::1]/", "link-local"),
    ("http://169.254.1.1/", "link-local"),
    ("http://100.64.0.1/", "non-public"),  # shared address space (carrier-grade NAT)
    ("http://224.0.0.1/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("http://[::ffff:169.254.169.254]/latest/meta-data/", "cloud metadata"),
    ("http://0xa9fea9fe/latest/meta-data/", "cloud metadata"),
    ("http://[fd00:ec2::254]/latest/meta-data/", "cloud metadata"),
    ("http://100.100.100.200/latest/meta-data/", "cloud metadata"),
    ("http://metadata.google.internal/computeMetadata/v1/", "cloud metadata"),
]


@pytest.mark.parametrize(("template", "kind"), REFUSED, ids=[t for t, _ in REFUSED])
async def test_non_public_addresses_are_refused_before_anything_is_sent(
    template: str, kind: str, tools_api: TripsApi, plain_settings
):
    url = template.format(port=tools_api.port)
    async with net.guarded_client(plain_settings) as client:
        with pytest.raises(net.RefusedRequest) as refused:
            await fetch.request(client, plain_settings, "GET", url)
    assert kind in str(refused.value)
    assert str(refused.value).startswith("refused:")
    assert tools_api.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/x",
        "gopher://127.0.0.1:70/_x",
        "javascript:alert(1)",
        "/trips",
    ],
)
async def test_only_http_and_https_are_called(url: str, tools_settings):
    async with net.guarded_client(tools_settings) as client:
        with pytest.raises(net.RefusedRequest, match="refused"):
            await fetch.request(client, tools_settings, "GET", url)


async def test_the_connection_itself_is_guarded(tools_api: TripsApi, plain_settings):
    """Even a request that skips `fetch.request` (as the MCP SDK's own requests do) cannot connect."""
    async with net.guarded_client(plain_settings) as client:
        with pytest.raises(net.RefusedRequest, match="loopback"):
            await client.get(f"{tools_api.base_url}/trips")
    assert tools_api.requests == []


async def test_the_checked_address_is_used_and_the_name_is_kept(tools_api: TripsApi, tools_settings):
    """localhost resolves to the allowed 127.0.0.1; the connection goes there and Host keeps the name."""
    url = f"http://localhost:{tools_api.port}/echo"
    async with net.guarded_client(tools_settings) as client:
        result = await fetch.request(client, tools_settings, "GET", url)
    assert result.status_code == 200
    assert tools_api.last.headers["host"] == f"localhost:{tools_api.port}"


async def test_allowed_hosts_allow_by_name_or_address(tools_api: TripsApi, plain_settings):
    by_name = plain_settings.model_copy(update={"actions_allowed_hosts": ["localhost"]})
    async with net.guarded_client(by_name) as client:
        ok = await fetch.request(client, by_name, "GET", f"http://localhost:{tools_api.port}/trips")
        assert ok.status_code == 200
        # The name is allowed, not every name or literal for the same address.
        with pytest.raises(net.RefusedRequest, match="loopback"):
            await fetch.request(client, by_name, "GET", f"{tools_api.base_url}/trips")
    by_network = plain_settings.model_copy(update={"actions_allowed_hosts": ["127.0.0.0/8"]})
    async with net.guarded_client(by_network) as client:
        ok = await fetch.request(client, by_network, "GET", f"http://127.1:{tools_api.port}/trips")
        assert ok.status_code == 200


async def test_private_networks_setting_allows_intranets_but_never_metadata(
    tools_api: TripsApi, plain_settings
):
    intranet = plain_settings.model_copy(update={"actions_allow_private_networks": True})
    async with net.guarded_client(intranet) as client:
        ok = await fetch.request(client, intranet, "GET", f"{tools_api.base_url}/trips")
        assert ok.status_code == 200
        for url in (
            "http://169.254.169.254/latest/meta-data/",
            "http://metadata.google.internal/",
            "http://0.0.0.0/",
        ):
            with pytest.raises(net.RefusedRequest):
                await fetch.request(client, intranet, "GET", url)
    also_listed = plain_settings.model_copy(update={"actions_allowed_hosts": ["169.254.169.254"]})
    async with net.guarded_client(also_listed) as client:
        with pytest.raises(net.RefusedRequest, match="cloud metadata"):
            await fetch.request(client, also_listed, "GET", "http://169.254.169.254/latest/meta-data/")


async def test_redirects_are_followed_on_the_same_host_at_most_three_times(
    tools_api: TripsApi, tools_settings
):
    async with net.guarded_client(tools_settings) as client:
        ok = await fetch.request(client, tools_settings, "GET", f"{tools_api.base_url}/redirect/chain/2")
        assert ok.status_code == 200 and ok.url.endswith("/trips")
        with pytest.raises(net.RefusedRequest, match="more than 3 redirects"):
            await fetch.request(client, tools_settings, "GET", f"{tools_api.base_url}/redirect/chain/5")
    # chain/2 took three redirects (four requests); chain/5 was stopped at its fourth answer.
    assert len(tools_api.requests) == 4 + 4


async def test_a_redirect_to_cloud_metadata_is_refused(tools_api: TripsApi, tools_settings):
    async with net.guarded_client(tools_settings) as client:
        with pytest.raises(net.RefusedRequest, match="169.254.169.254 is a cloud metadata address"):
            await fetch.request(client, tools_settings, "GET", f"{tools_api.base_url}/metadata")


async def test_a_redirect_to_another_host_needs_the_action_to_list_it(tools_api: TripsApi, tools_settings):
    target = f"http://localhost:{tools_api.port}/echo"
    url = f"{tools_api.base_url}/redirect?to={target}"
    headers = {"Authorization": "Bearer action-secret", "X-Api-Key": "key-secret"}
    async with net.guarded_client(tools_settings) as client:
        with pytest.raises(net.RefusedRequest, match="another host"):
            await fetch.request(client, tools_settings, "GET", url, headers=headers)
        listed = await fetch.request(
            client,
            tools_settings,
            "GET",
            url,
            headers=headers,
            redirect_hosts=["localhost"],
            sensitive_headers=["X-Api-Key"],
        )
    assert listed.status_code == 200
    # Credentials stay with the first host.
    assert "authorization" not in tools_api.last.headers
    assert "x-api-key" not in tools_api.last.headers


async def test_a_redirect_to_another_scheme_is_refused(tools_api: TripsApi, tools_settings):
    async with net.guarded_client(tools_settings) as client:
        with pytest.raises(net.RefusedRequest, match="file scheme"):
            await fetch.request(
                client, tools_settings, "GET", f"{tools_api.base_url}/redirect?to=file:///etc/passwd"
            )


async def test_the_response_is_read_up_to_the_cap(tools_api: TripsApi, tools_settings):
    async with net.guarded_client(tools_settings) as client:
        result = await fetch.request(client, tools_settings, "GET", f"{tools_api.base_url}/big")
    assert result.truncated
    assert len(result.content) == tools_settings.actions_max_response_bytes == 100_000


async def test_a_slow_server_times_out(tools_api: TripsApi, tools_settings):
    hasty = tools_settings.model_copy(update={"actions_timeout_seconds": 0.3})
    async with net.guarded_client(hasty) as client:
        with pytest.raises(net.ToolNetworkError, match="timed out"):
            await fetch.request(client, hasty, "GET", f"{tools_api.base_url}/slow?seconds=2")


async def test_fetch_document_follows_the_same_rules(tools_api: TripsApi, tools_settings, plain_settings):
    document = await fetch.fetch_document(tools_settings, f"{tools_api.base_url}/openapi.yaml")
    assert b"operationId: listTrips" in document
    assert tools_api.base_url.encode() in document
    with pytest.raises(net.RefusedRequest, match="loopback"):
        await fetch.fetch_document(plain_settings, f"http://localhost:{tools_api.port}/openapi.yaml")
    with pytest.raises(net.RefusedRequest, match="cloud metadata"):
        await fetch.fetch_document(tools_settings, f"{tools_api.base_url}/metadata")
    small = tools_settings.model_copy(update={"actions_max_document_bytes": 1000})
    with pytest.raises(net.ToolNetworkError, match="larger than 1000 bytes"):
        await fetch.fetch_document(small, f"{tools_api.base_url}/big")
    with pytest.raises(net.ToolNetworkError, match="HTTP 404"):
        await fetch.fetch_document(tools_settings, f"{tools_api.base_url}/status/404")


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("[::1]", "::1"),
        ("example.com", None),
        ("1.2.3.4.5", None),
    ],
)
def test_ip_literals_are_read_as_resolvers_read_them(host: str, address: str | None):
    parsed = net.parse_ip_literal(host)
    assert (str(parsed) if parsed else None) == address


@pytest.mark.parametrize(
    ("value", "hosts"),
    [
        ("wiki.corp.example, 10.20.0.0/16", ["wiki.corp.example", "10.20.0.0/16"]),
        ('["a.example"]', ["a.example"]),
    ],
)
def test_allowed_hosts_setting_takes_a_list_or_commas(monkeypatch, tmp_path, value: str, hosts: list[str]):
    monkeypatch.setenv("GPTSTORE_ACTIONS_ALLOWED_HOSTS", value)
    assert Settings(data_dir=tmp_path).actions_allowed_hosts == hosts


@pytest.mark.parametrize(
    "target",
    ["http://127.0.0.1:{other}/echo", "http://localhost:{other}/echo"],
    ids=["another port", "another port and name"],
)
async def test_credentials_stay_with_the_first_origin_on_a_redirect(
    target: str, tools_api: TripsApi, tools_settings
):
    """The same host on another port is another origin (curl, CVE-2022-27776): no credentials go there."""
    with TripsApi() as other:
        url = f"{tools_api.base_url}/redirect"
        params = {"to": target.format(other=other.port), "api_key": "query-secret"}
        headers = {"Authorization": "Bearer action-secret", "X-Api-Key": "key-secret", "X-Plain": "kept"}
        async with net.guarded_client(tools_settings) as client:
            result = await fetch.request(
                client,
                tools_settings,
                "GET",
                url,
                params=params,
                headers=headers,
                cookies={"session": "cookie-secret"},
                redirect_hosts=["localhost"],
                sensitive_headers=["X-Api-Key"],
            )
        assert result.status_code == 200
        arrived = other.last
    assert arrived.headers["x-plain"] == "kept"
    assert not {"authorization", "x-api-key", "cookie"} & set(arrived.headers)
    assert "api_key" not in arrived.query
    assert tools_api.last.headers["authorization"] == "Bearer action-secret"  # the first origin had them


async def test_the_same_origin_keeps_its_credentials_on_a_redirect(tools_api: TripsApi, tools_settings):
    url = f"{tools_api.base_url}/redirect?to=http://127.0.0.1:{tools_api.port}/echo"
    async with net.guarded_client(tools_settings) as client:
        await fetch.request(client, tools_settings, "GET", url, headers={"Authorization": "Bearer kept"})
    assert tools_api.last.path == "/echo" and tools_api.last.headers["authorization"] == "Bearer kept"


SECRET_VALUES = ["Bearer sk-live-CREATORKEY-9911\r\n", "sk-live-ü-unicode-secret", "tok\r\nX-Evil: 1"]


@pytest.mark.parametrize("value", SECRET_VALUES)
async def test_a_header_value_http_cannot_carry_is_named_without_its_value(
    value: str, tools_api: TripsApi, tools_settings
):
    async with net.guarded_client(tools_settings) as client:
        with pytest.raises(net.ToolNetworkError) as refused:
            await fetch.request(
                client, tools_settings, "GET", f"{tools_api.base_url}/echo", headers={"X-K": value}
            )
    assert "'X-K' cannot be sent" in str(refused.value)
    assert "sk-live" not in str(refused.value) and "tok" not in str(refused.value)
    with pytest.raises(net.ToolNetworkError) as refused:
        net.guarded_client(tools_settings, headers={"X-K": value})
    assert "'X-K' cannot be sent" in str(refused.value) and "sk-live" not in str(refused.value)
    assert tools_api.requests == []


async def test_a_failed_connection_is_said_by_its_kind_without_the_url_query(tools_settings):
    with TripsApi() as gone:
        port = gone.port
    async with net.guarded_client(tools_settings) as client:
        with pytest.raises(net.ToolNetworkError) as failed:
            await fetch.request(
                client, tools_settings, "GET", f"http://127.0.0.1:{port}/x?api_key=query-secret"
            )
    assert str(failed.value) == f"could not reach http://127.0.0.1:{port}/x: the connection failed"


async def test_refusals_and_statuses_show_urls_without_their_query(tools_api: TripsApi, tools_settings):
    """A query may hold an API key (an action's `api_key` in the query, or a Location the API wrote)."""
    with pytest.raises(net.ToolNetworkError) as failed:
        await fetch.fetch_document(tools_settings, f"{tools_api.base_url}/status/404?api_key=query-secret")
    assert str(failed.value) == f"{tools_api.base_url}/status/404 answered HTTP 404"
    target = f"http://localhost:{tools_api.port}/echo?api_key=query-secret"
    async with net.guarded_client(tools_settings) as client:
        with pytest.raises(net.RefusedRequest) as refused:
            await fetch.request(client, tools_settings, "GET", f"{tools_api.base_url}/redirect?to={target}")
    assert "another host (localhost)" in str(refused.value) and "query-secret" not in str(refused.value)
