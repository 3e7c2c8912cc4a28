"""Form posts get the JSON API's text rules: pasted fields lose U+0000 and lone surrogates, any other field
holding them is a 422 naming it (never a 500 from PostgreSQL, logged in or not)."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from litestar.datastructures import FormMultiDict

from core.errors import UnstorableText
from core.forms import check_form
from store.models import ChatMessage
from tests.factories import create_user
from tests.store.factories import create_published_gpt
from tests.web.test_pages import HTML, PASSWORD, csrf, log_in
from web.session import CSRF_COOKIE


def test_check_form_cleans_pasted_fields_and_names_every_other_one() -> None:
    form = FormMultiDict([("content", "ferry\x00 x\ud800"), ("csrf_token", "t")])
    assert check_form(form).dict() == {"content": ["ferry x"], "csrf_token": ["t"]}
    plain = FormMultiDict([("content", "ferry")])
    assert check_form(plain) is plain  # nothing to clean: the same form
    with pytest.raises(UnstorableText) as refused:
        check_form(FormMultiDict([("email", "a\x00b@example.com"), ("bio", "\ud800"), ("x\x00", "1")]))
    assert {e["field"] for e in refused.value.errors} == {"email", "bio", "x\\x00"}


@pytest.mark.parametrize(
    ("path", "field"),
    [("/login", "email"), ("/login", "password"), ("/signup", "email"), ("/signup", "display_name")],
)
async def test_logged_out_forms_refuse_a_nul_naming_the_field(client, path, field):
    token = await csrf(client, path)
    form = {"email": "new@example.com", "password": PASSWORD, "display_name": "New", "csrf_token": token}
    response = await client.post(path, data={**form, field: "a\x00b"}, headers=HTML)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert field in response.text and "U+0000" in response.text


async def test_logged_in_forms_refuse_or_clean_a_nul(client, session, creator, settings):
    listing = await create_published_gpt(session, creator, name="Fjord Guide")
    user = await create_user(session, settings)
    await log_in(client, user.email)
    token = client.cookies.get(CSRF_COOKIE)
    gpt = f"/g/{listing.gpt_id}"
    refused = {
        "/account/profile": {"display_name": "A\x00B", "handle": "someone"},
        "/account/api-keys": {"name": "key\x00"},
        f"{gpt}/rating": {"stars": "5", "review": "good\x00"},
        f"{gpt}/report": {"reason": "spam", "details": "see\x00this"},
    }
    for path, fields in refused.items():
        response = await client.post(path, data={**fields, "csrf_token": token}, headers=HTML)
        assert response.status_code == 422, (path, response.status_code)
        assert "U+0000" in response.text, path
    # a chat message is pasted text: its NULs go, the message is kept
    start = await client.post(f"{gpt}/chat", data={"csrf_token": token}, headers=HTML)
    chat = start.headers["location"]
    sent = await client.post(
        f"{chat}/messages", data={"content": "Which\x00 fjord?", "csrf_token": token}, headers=HTML
    )
    assert sent.status_code == 303
    kept = await session.scalars(sa.select(ChatMessage.content).where(ChatMessage.role == "user"))
    assert "Which fjord?" in list(kept)


async def test_a_nul_in_a_review_is_shown_at_the_field_with_what_was_typed(
    client, session, creator, settings
):
    listing = await create_published_gpt(session, creator, name="Fjord Guide")
    user = await create_user(session, settings)
    await log_in(client, user.email)
    token = client.cookies.get(CSRF_COOKIE)
    gpt = f"/g/{listing.gpt_id}"

    response = await client.post(
        f"{gpt}/rating", data={"stars": "4", "review": "Great\x00 fjords", "csrf_token": token}, headers=HTML
    )

    assert response.status_code == 422
    assert "Fjord Guide" in response.text  # the GPT's page, not an error page
    field = response.text[response.text.index('id="f-review"') :]
    assert field.split("</textarea>")[0].endswith(">Great fjords")  # what was typed, without the NUL
    assert "contains U+0000 (NUL), which cannot be stored" in field.split("</div>")[0]  # at the field
    assert 'value="4" checked' in response.text


async def test_a_forms_parser_limit_is_named_not_called_too_large(client, creator_headers):
    """A part header of 5,000 bytes or 1,001 parts in an upload's form: a 422 naming `form` and the limit
    (Litestar's own answer was a 400 "Request Entity Too Large" for a body far under the size limit)."""
    gpt = (await client.post("/api/gpts", json={"name": "P"}, headers=creator_headers)).json()
    multipart = {**creator_headers, "Content-Type": "multipart/form-data; boundary=XyZ"}
    long_name = b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="' + b"n" * 5000
    many = b"".join(
        b'--XyZ\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nx\r\n' % i for i in range(1001)
    )
    for body in (long_name + b'.md"\r\n\r\nhello\r\n--XyZ--\r\n', many + b"--XyZ--\r\n"):
        response = await client.post(f"/api/gpts/{gpt['id']}/files", content=body, headers=multipart)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "form"
        assert "4,224 bytes" in response.json()["detail"] and "1,000 parts" in response.json()["detail"]


async def test_a_textarea_keeps_its_line_breaks_as_typed(client, session, creator, settings):
    """A browser sends every line break of a textarea as CRLF: saved as LF, as the API stores it, so an
    untouched Configure form round-trips unchanged (CRLF made a draft near the limit unsaveable)."""
    from builder.models import Gpt

    assert check_form(FormMultiDict([("instructions", "a\r\nb\rc\nd")])).dict() == {
        "instructions": ["a\nb\nc\nd"]
    }
    await log_in(client, creator.email)
    token = client.cookies.get(CSRF_COOKIE)
    created = await client.post("/builder/new", data={"csrf_token": token}, headers=HTML)
    path = created.headers["location"].split("?")[0]
    lines = "\r\n".join(f"Rule line number {i:05d}." for i in range(1300))  # 31,199 characters with LF
    form = {
        "csrf_token": token, "name": "Rules", "description": "Many rules", "instructions": lines,
        "welcome_message": "Hello\r\nthere", "category": "lifestyle",
    }  # fmt: skip
    saved = await client.post(path, data=form, headers=HTML)
    assert saved.status_code == 303, saved.text[:500]
    gpt = await session.get(Gpt, uuid.UUID(path.rsplit("/", 1)[1]), populate_existing=True)
    assert gpt.instructions == lines.replace("\r\n", "\n") and gpt.welcome_message == "Hello\nthere"


async def test_a_configure_form_opened_before_a_change_elsewhere_does_not_undo_it(client, creator, settings):
    """Two tabs on one draft: the builder chat (here the API) renames it in one; the Configure form opened
    before in the other, saved, is a 409 that keeps the edits and says so, never a silent undo; saving
    the re-shown form (with the draft's new revision) then applies it."""
    import re

    from tests.factories import auth_headers

    await log_in(client, creator.email)
    token = client.cookies.get(CSRF_COOKIE)
    path = (await client.post("/builder/new", data={"csrf_token": token}, headers=HTML)).headers["location"]
    path = path.split("?")[0]
    gpt_id = path.rsplit("/", 1)[1]
    page = (await client.get(f"{path}?tab=configure", headers=HTML)).text
    revision = re.search(r'name="revision" value="([^"]+)"', page).group(1)
    renamed = await client.patch(
        f"/api/gpts/{gpt_id}", json={"name": "Tab Two"}, headers=auth_headers(creator, settings)
    )
    assert renamed.status_code == 200
    form = {
        "csrf_token": token,
        "revision": revision,
        "name": "Tab One",
        "welcome_message": "Welcome from tab one",
    }
    stale = await client.post(path, data=form, headers=HTML)
    assert stale.status_code == 409 and "changed since this form was opened" in stale.text
    assert 'value="Tab One"' in stale.text  # the edits are kept on the page
    api = auth_headers(creator, settings)
    assert (await client.get(f"/api/gpts/{gpt_id}", headers=api)).json()["name"] == "Tab Two"
    fresh = re.search(r'name="revision" value="([^"]+)"', stale.text).group(1)
    saved = await client.post(path, data={**form, "revision": fresh}, headers=HTML)
    assert saved.status_code == 303
    assert (await client.get(f"/api/gpts/{gpt_id}", headers=api)).json()["name"] == "Tab One"


async def test_the_forms_that_read_their_whole_body_refuse_a_nul_at_the_field_keeping_the_rest(
    client, session, creator, settings
):
    """Configure, Tools, import and uploads read the whole form themselves: a NUL in a field that is not
    pasted text is named at that field of the page, with what was typed (without the NUL) kept; it was
    the bare 422 error page."""
    await log_in(client, creator.email)
    token = client.cookies.get(CSRF_COOKIE)
    path = (await client.post("/builder/new", data={"csrf_token": token}, headers=HTML)).headers["location"]
    path = path.split("?")[0]
    message = "contains U+0000 (NUL), which cannot be stored"

    form = {
        "csrf_token": token,
        "name": "Fjord\x00 Guide",
        "description": "Plans trips",
        "category": "lifestyle",
    }
    configure = await client.post(path, data=form, headers=HTML)
    assert configure.status_code == 422 and 'id="f-name"' in configure.text  # the editor, not an error page
    assert 'value="Fjord Guide"' in configure.text and 'value="Plans trips"' in configure.text
    assert f'id="e-name" class="error">{message}' in configure.text

    tools = await client.post(
        f"{path}/tools/mcp_servers",
        data={"csrf_token": token, "server_label": "docs", "server_url": "https://mcp.example.com/\x00"},
        headers=HTML,
    )
    assert tools.status_code == 422 and 'id="f-new-mcp-server_url"' in tools.text, tools.text[:300]
    assert 'value="https://mcp.example.com/"' in tools.text and message in tools.text

    upload = await client.post(
        f"{path}/files",
        data={"csrf_token": token, "access": "open", "license": "CC\x00 BY 4.0"},
        files={"file": ("k.md", b"# Kayaks\n\nRentals open at nine.")},
        headers=HTML,
    )
    assert upload.status_code == 422 and 'id="f-license"' in upload.text
    assert 'value="CC BY 4.0"' in upload.text and f'id="e-license" class="error">{message}' in upload.text
    assert 'value="open" checked' in upload.text

    imported = await client.post(
        "/builder/import",
        data={"csrf_token": token, "note": "a\x00b"},
        files={"file": ("export.zip", b"not a zip")},
        headers=HTML,
    )
    assert imported.status_code == 422 and f'id="e-file" class="error">note {message}' in imported.text
