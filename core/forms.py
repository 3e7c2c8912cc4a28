"""Form bodies (url-encoded or multipart) read and checked as the request guard (`core.guard`) checks JSON:
text PostgreSQL cannot store refused at its field (the pasted fields cleaned), line breaks as LF, and the
multipart parser's limits named. Every handler reads its form through `read_form` or `read_clean_form`.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import FormMultiDict
from litestar.exceptions import ClientException

from core.errors import BadRequest, BadShape, UnstorableText
from core.storable import MAX_ERRORS, PASTED_FIELDS, has_unstorable, storable, unstorable_message

# The `multipart` package's `max_header_size` (4,096 + 128 bytes), under `request.form()` and the file
# batches' own parser: a part's header line (a file name of 255 UTF-8 bytes, sent percent-encoded in
# `filename*` beside its ASCII fallback, needs about 1 KB).
MULTIPART_HEADER_BYTES = 4096 + 128


def check_form(form: FormMultiDict) -> FormMultiDict:
    """A parsed form's fields checked like JSON fields are, line breaks as LF (a browser sends CRLF): the
    pasted fields (`PASTED_FIELDS`) without U+0000 and lone surrogates, any other text field holding them
    refused with a 422 `UnstorableText` naming every such field (file parts are left as they are: their
    names are cleaned at upload)."""
    cleaned, errors = clean_form(form)
    if errors:
        detail = "; ".join(f"{e['field']} {e['message']}" for e in errors[:3])
        raise UnstorableText(detail, errors=errors[:MAX_ERRORS])
    return cleaned


def clean_form(form: FormMultiDict) -> tuple[FormMultiDict, list[dict[str, Any]]]:
    """`check_form` without the refusal: the form with line breaks as LF and every text field without
    U+0000 and lone surrogates, and `{field, message}` for each field (other than the pasted ones) that held
    them, for a page to refuse at that field while it shows the rest of what was typed."""
    errors: list[dict[str, Any]] = []
    items: list[tuple[str, Any]] = []
    changed = False
    for name, value in form.multi_items():
        if isinstance(value, str) and "\r" in value:
            # HTML form submission sends every line break of a textarea as CRLF (HTML, "constructing the
            # entry list"): the text as typed has LF, as the API's JSON does
            value, changed = value.replace("\r\n", "\n").replace("\r", "\n"), True
        if has_unstorable(name):
            field = name.encode("unicode_escape").decode("ascii")
            errors.append({"field": field, "message": f"(a form field name) {unstorable_message(name)}"})
            changed = True
            continue
        if isinstance(value, str) and has_unstorable(value):
            if name not in PASTED_FIELDS:
                errors.append({"field": name, "message": unstorable_message(value)})
            value, changed = storable(value), True
        items.append((name, value))
    return (FormMultiDict(items) if changed else form), errors


async def read_form(request: Request) -> FormMultiDict:
    """The request's form (url-encoded or multipart) with its text fields checked like JSON fields are
    (`check_form`). Every handler reads its form through this or `read_clean_form` (page forms:
    `web.forms.page_form`)."""
    return check_form(await _parsed_form(request))


async def read_clean_form(request: Request) -> tuple[FormMultiDict, list[dict[str, Any]]]:
    """`read_form` that leaves the refusal of unstorable text to the caller (`clean_form`): the form without
    it, and the fields that held it (web.forms.form_values, for a page that refuses at each field)."""
    return clean_form(await _parsed_form(request))


async def _parsed_form(request: Request) -> FormMultiDict:
    try:
        form = await request.form()
    except UnicodeDecodeError:  # Litestar decodes text fields strictly, in their declared charset
        message = "is not text in its charset (UTF-8 unless the part declares another)"
        raise UnstorableText(
            f"A form field {message}", errors=[{"field": "form", "message": message}]
        ) from None
    except LookupError:
        raise BadRequest("A form field declares an unknown charset") from None
    except ClientException as exc:
        # Litestar answers every limit of its multipart parser with a 400 "Request Entity Too Large"
        # (litestar/_multipart.py, kept for compatibility), which says neither which limit nor that the
        # body is no larger than allowed
        if exc.detail != "Request Entity Too Large":
            raise
        message = (
            f"is over a limit of the multipart parser: more than {request.app.multipart_form_part_limit:,}"
            " parts, or a part "
            f"header longer than {MULTIPART_HEADER_BYTES:,} bytes (a file name that long?)"
        )
        raise BadShape(f"The form {message}", errors=[{"field": "form", "message": message}]) from None
    return form
