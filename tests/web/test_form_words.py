"""Page forms say a schema's rule in words, naming the field, once (web/forms.py, form_messages.toml);
the API's 422 keeps its own shape."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, ValidationError

from core.schemas import StrictInt
from store.feedback_schemas import RatingWrite, ReportCreate
from store.schemas import MessageCreate, ModerateRequest
from tests.factories import create_user
from tests.store.factories import create_published_gpt
from tests.web.test_pages import HTML, log_in
from web.forms import field_errors, parse
from web.session import CSRF_COOKIE

RAW = ("String should", "Input should", "Field required", "Value error")


class Sample(BaseModel):
    stars: StrictInt = Field(ge=1, le=5)
    release_notes: str | None = Field(default=None, max_length=5)


@pytest.mark.parametrize(
    ("values", "field", "words"),
    [
        ({"stars": ""}, "stars", "Stars (1 to 5) is required."),
        ({"stars": "lots"}, "stars", "Stars (1 to 5) must be a whole number."),
        ({"stars": "9"}, "stars", "Stars (1 to 5) must be at most 5."),
        (
            {"stars": "3", "release_notes": "too long"},
            "release_notes",
            "Release notes can be at most 5 characters.",
        ),
    ],
)
def test_schema_errors_are_worded_for_a_page(values, field, words):
    data, errors = parse(Sample, values)
    assert data is None and errors[field] == words


def test_a_validator_rule_names_the_field_it_refused():
    assert parse(MessageCreate, {"content": "   "})[1] == {"content": "Message must not be blank."}
    refused = parse(RatingWrite, {"stars": "3", "review": "evil \u202e twin"})[1]["review"]
    assert refused.startswith("Review must not contain bidirectional control characters")


def test_a_blank_choice_is_required_not_out_of_the_list():
    """A report sent with its reason menu left blank: not "must be one of" the list it was not picked from."""
    refused = parse(ReportCreate, {"reason": "", "details": "x"})[1]["reason"]
    assert refused.startswith("Reason is required: choose one of") and "must be one of" not in refused
    assert parse(ReportCreate, {"reason": "nope"})[1]["reason"].startswith("Reason must be one of")


def test_an_empty_required_text_is_required():
    with pytest.raises(ValidationError) as caught:
        ModerateRequest.model_validate({"action": "reject", "reason": ""})
    assert field_errors(caught.value) == {"reason": "Reason is required."}


async def test_an_empty_reject_reason_is_said_once_in_words(client, session, settings, creator):
    admin = await create_user(session, settings, is_admin=True)
    listing = await create_published_gpt(session, creator)
    await log_in(client, admin.email)
    form = {"csrf_token": client.cookies.get(CSRF_COOKIE), "action": "reject", "reason": ""}
    refused = await client.post(f"/admin/gpts/{listing.gpt_id}/versions/1/moderate", data=form, headers=HTML)
    assert refused.status_code == 422
    assert refused.text.count("Reason is required.") == 1
    assert not any(raw in refused.text for raw in RAW)


async def test_a_rating_without_stars_asks_for_them(client, session, settings, creator):
    listing = await create_published_gpt(session, creator)
    reader = await create_user(session, settings)
    await log_in(client, reader.email)
    form = {"csrf_token": client.cookies.get(CSRF_COOKIE), "review": "Nice"}
    refused = await client.post(f"/g/{listing.gpt_id}/rating", data=form, headers=HTML)
    assert refused.status_code == 422 and refused.text.count("Stars (1 to 5) is required.") == 1
    assert not any(raw in refused.text for raw in RAW)
