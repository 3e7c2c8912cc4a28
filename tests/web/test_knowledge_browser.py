"""Knowledge pages in real Chromium hold one live stream for all their files (docs/web.md, The builder).

A browser opens at most 6 HTTP/1.1 connections to a host: a stream per file in progress used to take them
all, and the batch's Cancel waited until a file was done. The site here runs no ingestion worker, so every
upload stays in progress (queued) for as long as the test looks at it. `window.EventSource` is counted by
an init script: how many are open now, the most open at once, and the URL of each.
"""

from __future__ import annotations

import io
import re
import zipfile
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import expect

from tests.web.conftest import PASSWORD

COUNT_STREAMS = """
(() => {
  const Native = window.EventSource;
  const streams = (window.__streams = { open: 0, most: 0, urls: [] });
  window.EventSource = class extends Native {
    constructor(url, options) {
      super(url, options);
      streams.open += 1;
      streams.most = Math.max(streams.most, streams.open);
      streams.urls.push(String(url));
      this.counted = true;
    }
    close() {
      if (this.counted) streams.open -= 1;
      this.counted = false;
      super.close();
    }
  };
})();
"""


def text_file(name: str, kilobytes: int = 240) -> dict:
    line = f"{name}: the ferry timetable of the fjord, one departure a line, kept by the harbour master.\n"
    return {
        "name": name,
        "mimeType": "text/plain",
        "buffer": (line * (kilobytes * 1024 // len(line))).encode(),
    }


def log_in(page, email: str, next_path: str) -> None:
    page.goto(f"/login?next={next_path}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def streams(page) -> dict:
    return page.evaluate("window.__streams")


def followed_ids(url: str) -> list[str]:
    return parse_qs(urlsplit(url).query)["ids"][0].split(",")


def file_ids(page) -> list[str]:
    return page.locator("#files li[data-file-id]").evaluate_all(
        "rows => rows.map(row => row.getAttribute('data-file-id'))"
    )


def test_eight_files_in_progress_share_one_stream_and_cancel_goes_through(page, site):
    page.add_init_script(COUNT_STREAMS)
    log_in(page, site.creator_email, "/builder")
    page.get_by_role("button", name="Create a GPT").click()
    expect(page.get_by_role("tab", name="Knowledge")).to_be_visible()
    page.get_by_role("tab", name="Knowledge").click()

    page.get_by_label("Knowledge files").set_input_files([text_file(f"timetable-{i}.txt") for i in range(8)])
    # Eight files go as one batch; the tab comes back with them in progress.
    expect(page).to_have_url(re.compile(r"done=uploaded"))
    rows = page.locator("#files li.file")
    expect(rows).to_have_count(8)
    expect(page.locator('#files li[data-status="in_progress"]')).to_have_count(8)
    page.wait_for_function("() => window.__streams.open === 1")
    seen = streams(page)
    assert seen["most"] == 1, seen
    assert sorted(followed_ids(seen["urls"][-1])) == sorted(file_ids(page))
    assert "/files/events?ids=" in seen["urls"][-1]

    # A file added later joins the one stream: it is reopened with the new set, the old one closed first.
    page.get_by_label("Knowledge files").set_input_files([text_file("late.txt", kilobytes=4)])
    expect(rows).to_have_count(9)
    page.wait_for_function("() => window.__streams.urls.length === 2 && window.__streams.open === 1")
    seen = streams(page)
    assert seen["most"] == 1, seen
    assert sorted(followed_ids(seen["urls"][-1])) == sorted(file_ids(page))
    late = page.locator("#files li.file", has_text="late.txt").get_attribute("data-file-id")

    # Cancel reaches the server while all nine are still in progress (no worker runs here).
    batch = page.locator("li[data-batch-id]")
    expect(batch).to_contain_text("8 processing")
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/cancel")) as cancel:
        batch.get_by_role("button", name="Cancel").click()
    assert cancel.value.status == 303
    expect(page.locator("li[data-batch-id]")).to_contain_text("8 cancelled")
    expect(page.locator('#files li[data-status="cancelled"]')).to_have_count(8)
    # The reloaded page follows what is left: the one file outside the batch.
    page.wait_for_function("() => window.__streams.open === 1")
    seen = streams(page)
    assert seen["most"] == 1 and followed_ids(seen["urls"][-1]) == [late], seen


def test_a_dataset_page_follows_its_files_through_one_stream(page, site):
    page.add_init_script(COUNT_STREAMS)
    log_in(page, site.creator_email, "/creator/datasets/new")
    page.get_by_label("Name").fill("Ferry timetables")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status")).to_have_text("Dataset created. Add its files below.")

    page.get_by_label("Knowledge files").set_input_files([text_file(f"route-{i}.txt", 8) for i in range(7)])
    rows = page.locator("#files li[data-file-id]")
    expect(rows).to_have_count(7)
    # in the page's one list of files (the heading above it had the same id and took the rows)
    expect(page.locator("ul#files > li[data-file-id]")).to_have_count(7)
    assert page.locator("[id=files]").count() == 1
    page.wait_for_function(
        "() => window.__streams.open === 1 && window.__streams.urls.at(-1).split(',').length === 7"
    )
    seen = streams(page)
    assert seen["most"] == 1, seen
    assert sorted(followed_ids(seen["urls"][-1])) == sorted(file_ids(page))

    # The page's other requests are not held up: a delete goes through with seven files in progress.
    first = rows.first
    name = first.locator(".file-name").text_content()
    first.get_by_role("button", name=f"Delete {name}").click()
    expect(page.get_by_role("status")).to_have_text("The file was deleted.")
    expect(page.locator("#files li[data-file-id]")).to_have_count(6)
    page.wait_for_function("() => window.__streams.open === 1")
    assert len(followed_ids(streams(page)["urls"][-1])) == 6


def test_a_batch_row_counts_its_files_live(page, site):
    """Cancelled from elsewhere (another tab, the API), the batch's row follows without a reload: its files'
    events move its counts, and its Cancel button goes once nothing is left to cancel."""
    page.add_init_script(COUNT_STREAMS)
    log_in(page, site.creator_email, "/builder")
    page.get_by_role("button", name="Create a GPT").click()
    page.get_by_role("tab", name="Knowledge").click()
    page.get_by_label("Knowledge files").set_input_files([text_file(f"pier-{i}.txt", 8) for i in range(3)])
    expect(page).to_have_url(re.compile(r"done=uploaded"))
    batch = page.locator("li[data-batch-id]")
    expect(batch).to_contain_text("0 ready · 3 processing · 0 failed · 0 cancelled")
    page.wait_for_function("() => window.__streams.open === 1")
    page.evaluate("window.__same_page = true")

    # another tab's Cancel: the same form, posted without this page navigating
    status = page.evaluate(
        """async () => {
          const form = document.querySelector("form[data-batch-cancel]");
          const body = new FormData(form);
          const response = await fetch(form.action, {method: "POST", body, redirect: "manual"});
          return response.type === "opaqueredirect" ? 303 : response.status;
        }"""
    )
    assert status == 303
    expect(batch).to_contain_text("0 ready · 0 processing · 0 failed · 3 cancelled")
    expect(batch.locator("[data-batch-status]")).to_have_text("Cancelled")
    expect(batch.get_by_role("button", name="Cancel")).to_have_count(0)
    expect(batch.locator("progress")).to_be_hidden()
    assert page.evaluate("window.__same_page") is True
    assert streams(page)["most"] == 1


def test_a_refused_upload_row_has_no_delete_button_to_post_the_configure_form(page, site):
    """A file the server refused has no file to delete: its row used to show a Delete form without an
    action (`hidden` lost to `form.inline`), which posted the page's own Configure save with empty fields."""
    log_in(page, site.creator_email, "/builder")
    page.get_by_role("button", name="Create a GPT").click()
    page.get_by_role("tab", name="Configure").click()
    page.get_by_label("Name").fill("Tide Planner")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Saved")
    page.get_by_role("tab", name="Knowledge").click()
    page.allow_console_error("status of 422")  # the refusal itself

    page.get_by_label("Knowledge files").set_input_files(
        [{"name": "empty.txt", "mimeType": "text/plain", "buffer": b""}]
    )
    row = page.locator("#files li.file", has_text="empty.txt")
    expect(row).to_contain_text("Not uploaded")
    expect(row.get_by_role("button", name=re.compile("Delete"))).to_have_count(0)
    # every element the page hides stays hidden, whatever its class
    assert page.evaluate(
        "() => [...document.querySelectorAll('[hidden]')].every(e => getComputedStyle(e).display === 'none')"
    )
    page.reload()
    page.get_by_role("tab", name="Configure").click()
    expect(page.get_by_label("Name")).to_have_value("Tide Planner")


def test_a_chosen_zip_is_unpacked_as_a_batch_of_its_own(page, site):
    """A zip chosen in the Knowledge tab goes as the batch's `archive`, so its members become the files;
    sent as a plain file it used to fail as "ZIP archives are not supported"."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("trips/flam.md", "# Flåm\n\nKayak rental in Flåm costs 600 NOK per day.")
        z.writestr("trips/bergen.md", "# Bergen\n\nIt rains 231 days a year in Bergen.")
    log_in(page, site.creator_email, "/builder")
    page.get_by_role("button", name="Create a GPT").click()
    page.get_by_role("tab", name="Knowledge").click()
    page.get_by_label("Knowledge files").set_input_files(
        [
            {"name": "trips.zip", "mimeType": "application/zip", "buffer": archive.getvalue()},
            text_file("pier.txt", 1),
        ]
    )
    expect(page).to_have_url(re.compile(r"done=uploaded"))
    batches = page.locator("li[data-batch-id]")
    expect(batches).to_have_count(2)
    expect(batches.filter(has_text="2 files")).to_contain_text("0 ready · 2 processing")
    expect(batches.filter(has_text="1 file ")).to_contain_text("0 ready · 1 processing")
    expect(page.locator("#files")).to_contain_text("flam.md")
    expect(page.locator("#files")).not_to_contain_text("trips.zip")
