"""The builder's Knowledge tab: several dropped files become one file batch, shown with its counts and a
Cancel button (docs/web.md)."""

from __future__ import annotations

from tests.factories import auth_headers
from tests.web.test_builder_pages import signed_in_draft, token
from tests.web.test_pages import HTML
from web.session import SESSION_COOKIE


async def test_dropped_files_become_a_batch_with_counts_and_cancel(client, session, creator, settings):
    path = await signed_in_draft(client, session, settings, creator, name="Harbour")
    files = [("file", (f"n{i}.md", f"# Note {i}\n\nQuay {i} is open.\n".encode())) for i in range(3)]
    created = await client.post(
        f"{path}/file_batches",
        files=files + [("access", (None, b"private"))],
        headers={"Accept": "application/json", "X-CSRF-Token": token(client)},
    )
    assert created.status_code == 202, created.text
    batch = created.json()
    assert batch["file_counts"]["total"] == 3 and batch["status"] == "in_progress"

    page = (await client.get(f"{path}?tab=knowledge", headers=HTML)).text
    assert f'data-batch-id="{batch["id"]}"' in page
    assert "0 ready · 3 processing" in page
    assert f'action="{path}/file_batches/{batch["id"]}/cancel"' in page

    cancelled = await client.post(
        f"{path}/file_batches/{batch['id']}/cancel", data={"csrf_token": token(client)}
    )
    assert cancelled.status_code == 303 and "cancelled-batch" in cancelled.headers["location"]
    page = (await client.get(f"{path}?tab=knowledge", headers=HTML)).text
    assert "3 cancelled" in page and "Cancelled" in page
    assert f"{path}/file_batches/{batch['id']}/cancel" not in page  # nothing left to cancel

    forged = await client.post(f"{path}/file_batches", files=files)  # no CSRF token: refused
    assert forged.status_code == 403


async def test_a_script_whose_session_ended_gets_a_401_problem_not_the_login_page(
    client, session, creator, settings
):
    """`fetch` follows redirects: the login page's HTML used to come back as a 200 the script took for an
    uploaded batch. A page asks for HTML and still goes to the login page."""
    path = await signed_in_draft(client, session, settings, creator, name="Harbour")
    client.cookies.delete(SESSION_COOKIE)  # logged out in another tab: the form's token stays
    files = [("file", (f"n{i}.md", b"# Quay\n\nOpen.\n")) for i in range(2)]
    headers = {"Accept": "application/json", "X-CSRF-Token": token(client)}
    for route in ("file_batches", "files"):
        refused = await client.post(f"{path}/{route}", files=files, headers=headers)
        assert refused.status_code == 401, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "log in again" in refused.json()["detail"]
    streamed = await client.post(
        f"{path}/messages",
        data={"content": "Call it Harbour"},
        headers={"Accept": "text/event-stream", "X-CSRF-Token": token(client)},
    )
    assert streamed.status_code == 401 and "log in again" in streamed.json()["detail"]
    page = await client.get(f"{path}?tab=knowledge", headers=HTML)
    assert page.status_code == 303 and page.headers["location"].startswith("/login?next=")


async def test_cancelling_a_batch_that_finished_meanwhile_says_so(client, session, creator, settings):
    """A page opened before the batch ended still shows its Cancel button: nothing is left to cancel."""
    path = await signed_in_draft(client, session, settings, creator, name="Harbour")
    files = [("file", (f"n{i}.md", f"# Note {i}\n\nPier {i}.\n".encode())) for i in range(2)]
    headers = {"Accept": "application/json", "X-CSRF-Token": token(client)}
    batch = (await client.post(f"{path}/file_batches", files=files, headers=headers)).json()
    gpt_id = path.rsplit("/", 1)[1]
    listed = await client.get(
        f"/api/gpts/{gpt_id}/file_batches/{batch['id']}/files", headers=auth_headers(creator, settings)
    )
    for file in listed.json()["data"]:  # the batch ends without a file in progress
        deleted = await client.post(f"{path}/files/{file['id']}/delete", data={"csrf_token": token(client)})
        assert deleted.status_code == 303

    cancelled = await client.post(
        f"{path}/file_batches/{batch['id']}/cancel", data={"csrf_token": token(client)}
    )
    assert cancelled.status_code == 303 and "done=finished-batch" in cancelled.headers["location"]
    page = (await client.get(cancelled.headers["location"], headers=HTML)).text
    assert "The batch had already finished: nothing was left to cancel." in page


async def test_a_batch_row_names_its_skipped_files_and_why(client, session, creator, settings):
    """It said "1 skipped" and no more: which of the files chosen was left out, and why, was not shown."""
    path = await signed_in_draft(client, session, settings, creator, name="Harbour")
    note = ("file", ("quay.md", b"# Quay\n\nThe quay opens at six.\n"))
    files = [note, ("file", ("blank.md", b"")), ("file", ("quay-again.md", note[1][1]))]
    created = await client.post(
        f"{path}/file_batches",
        files=files + [("access", (None, b"private"))],
        headers={"Accept": "application/json", "X-CSRF-Token": token(client)},
    )
    assert created.status_code == 202, created.text
    page = (await client.get(f"{path}?tab=knowledge", headers=HTML)).text
    assert "2 skipped" in page
    assert '<span class="file-name">blank.md</span>: empty: nothing to read' in page
    assert '<span class="file-name">quay-again.md</span>: already here' in page
