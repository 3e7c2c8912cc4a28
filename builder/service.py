"""GPT drafts: create, read, change field by field (recording what changed), delete."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy.ext.asyncio import AsyncSession

from builder.models import Gpt
from builder.schemas import (
    EDITABLE_FIELDS,
    EXPORT_FORMAT,
    EXPORT_VERSION,
    Change,
    ExportManifest,
    GptConfig,
    GptCreate,
    GptRead,
    GptUpdate,
    RetrievalRead,
    TrustRead,
    check_category,
)
from core.archives import open_zip
from core.auth import require_paid_plan
from core.db import utcnow
from core.errors import BadShape, Conflict, Forbidden, Invalid, NotFound, UnstorableText
from core.filenames import clean_member_name, title_filename
from core.models import User
from core.pagination import keyset_page
from core.settings import Settings
from core.storable import clean_json, load_json
from orgs import access
from orgs.models import Organization
from retrieval.dataset_schemas import AttachedDatasetRead
from retrieval.datasets import DatasetService
from retrieval.licenses import file_license
from retrieval.service import KnowledgeService
from retrieval.uploads import bytes_hold_no_text
from tools.portability import export_tools, import_tools

# Capabilities that really work; browsing, image generation and code execution are not offered.
CAPABILITIES = ["knowledge_retrieval", "citations"]


class GptService:
    def __init__(self, session: AsyncSession, settings: Settings):
        self.session = session
        self.settings = settings
        self.knowledge = KnowledgeService(session, settings)
        self.datasets = DatasetService(session, settings)

    async def create(self, owner: User, data: GptCreate | GptConfig | None = None) -> Gpt:
        """A new draft with its (empty) knowledge base, owned by a paying creator, or by the organisation
        `data.organization_id` (on the `team` plan) when the creator is one of its builders."""
        organization_id = getattr(data, "organization_id", None)
        if organization_id is None:
            require_paid_plan(owner)
        else:
            await self.check_organization_builder(owner, organization_id)
        gpt = Gpt(owner_id=owner.id, organization_id=organization_id)
        self.session.add(gpt)
        await self.session.flush()
        await self.knowledge.open_knowledge_base(gpt.id, owner.id, None, organization_id)
        if data is not None:
            await self.update(gpt, data)
        return gpt

    async def check_organization_builder(self, user: User, organization_id: uuid.UUID) -> Organization:
        """The organisation, if `user` may create GPTs there: a builder or higher (else 404 for
        non-members, 403 naming the role) of an organisation on the `team` plan (else 403 naming it)."""
        organization = await self.session.get(Organization, organization_id)
        role = await access.role_in(self.session, user, organization_id)
        if organization is None or role is None:
            raise NotFound(
                "No such organisation", errors=[{"field": "organization_id", "message": "not found"}]
            )
        if not access.allows(role, "create_gpt"):
            needed = access.needed_role("create_gpt")
            raise Forbidden(
                f"Creating the organisation's GPTs needs the role '{needed}' or higher; yours is '{role}'",
                required_role=needed,
            )
        if organization.plan != "team":
            raise Forbidden(
                f"Creating GPTs of an organisation needs its 'team' plan; its plan is '{organization.plan}'",
                required_plans=["team"],
            )
        return organization

    async def list_owned(self, owner: User, limit: int, cursor: str | None) -> tuple[list[Gpt], str | None]:
        """One page of the drafts the user may edit (their own and their organisations'), last changed
        first."""
        query = sa.select(Gpt).where(access.allowed(owner, Gpt.owner_id, Gpt.organization_id, "edit"))
        return await keyset_page(self.session, query, Gpt.updated_at, Gpt.id, limit=limit, cursor=cursor)

    async def get_owned(
        self, user: User, gpt_id: uuid.UUID, *, for_update: bool = False, need: access.Need = "edit"
    ) -> Gpt:
        """The draft if `user` may `need` it (`orgs.access`: its owner, its organisation's builders for
        "edit", admins for "manage", site admins); 403 naming the role for a member of its organisation
        below that, 404 for anyone else, so ids cannot be probed."""
        query = sa.select(Gpt).where(Gpt.id == gpt_id)
        if for_update:
            query = query.with_for_update()
        gpt = await self.session.scalar(query)
        if gpt is None:
            raise NotFound("No such GPT")
        await access.require(
            self.session, user, gpt.owner_id, gpt.organization_id, need, not_found="No such GPT"
        )
        return gpt

    async def get_owned_by_id(self, gpt_id: uuid.UUID, *, for_update: bool = False) -> Gpt:
        """The draft by id, for code that already checked ownership (a stream's own transaction)."""
        query = sa.select(Gpt).where(Gpt.id == gpt_id)
        gpt = await self.session.scalar(query.with_for_update() if for_update else query)
        if gpt is None:
            raise NotFound("No such GPT")
        return gpt

    async def update(self, gpt: Gpt, data: GptUpdate | GptConfig) -> list[Change]:
        """Apply the fields that were sent (already validated as a whole); returns what changed."""
        sent = data.model_dump(exclude_unset=True)
        check_category(sent.get("category"), self.settings.categories)
        changes = self.apply_fields(gpt, {k: v for k, v in sent.items() if k in EDITABLE_FIELDS})
        if "model" in sent:
            gpt.model = sent["model"] or None
        trust = sent.get("trust") or {}
        if trust.get("instructions") is not None:
            gpt.instructions_visibility = trust["instructions"]
        if "verbatim_max_words" in trust:
            gpt.verbatim_max_words = trust["verbatim_max_words"]
        retrieval = sent.get("retrieval") or {}
        if retrieval.get("top_k") is not None:
            gpt.top_k = retrieval["top_k"]
        if any(retrieval.get(key) is not None for key in ("chunk_size", "chunk_overlap", "score_threshold")):
            await self.knowledge.configure(
                gpt.id,
                chunk_size=retrieval.get("chunk_size"),
                chunk_overlap=retrieval.get("chunk_overlap"),
                score_threshold=retrieval.get("score_threshold"),
            )
        if any(c.field == "language" for c in changes):
            await self.knowledge.configure(gpt.id, language=gpt.language, set_language=True)
        await self.session.flush()
        return changes

    def apply_fields(self, gpt: Gpt, values: dict[str, Any]) -> list[Change]:
        changes = []
        for field, after in values.items():
            if after is None and field not in ("category", "language"):
                after = [] if field in ("conversation_starters", "tags") else ""
            before = getattr(gpt, field)
            if before != after:
                setattr(gpt, field, after)
                changes.append(Change(field=field, before=before, after=after))
        if changes:
            gpt.updated_at = utcnow()
        return changes

    async def delete(self, gpt: Gpt) -> None:
        """Delete the draft, its versions, listing, conversations and knowledge (uploads included)."""
        await self.knowledge.forget_blobs(gpt.id)
        await self.session.delete(gpt)
        await self.session.flush()

    async def read_all(self, gpts: list[Gpt]) -> list[GptRead]:
        """`read` of a list: its knowledge bases and its datasets in one statement each, whatever its
        length (no query per GPT)."""
        ids = [gpt.id for gpt in gpts]
        bases = await self.knowledge.load_bases(ids)  # one query, then identity-map hits while held
        datasets = await self.datasets.attached_of(ids)
        reads = [await self.read(gpt, datasets[gpt.id]) for gpt in gpts]
        del bases
        return reads

    async def read(self, gpt: Gpt, datasets: list[AttachedDatasetRead] | None = None) -> GptRead:
        """The draft as `GptRead`; `datasets` when the caller loaded them already (`read_all`)."""
        chunk_size, chunk_overlap = await self.knowledge.chunking_of(gpt.id)
        threshold = await self.knowledge.score_threshold_of(gpt.id)
        return GptRead(
            id=gpt.id,
            name=gpt.name,
            description=gpt.description,
            instructions=gpt.instructions,
            welcome_message=gpt.welcome_message,
            conversation_starters=list(gpt.conversation_starters),
            category=gpt.category,
            tags=list(gpt.tags),
            language=gpt.language,
            retrieval=RetrievalRead(
                chunk_size=chunk_size, chunk_overlap=chunk_overlap, top_k=gpt.top_k, score_threshold=threshold
            ),
            trust=TrustRead(
                instructions=gpt.instructions_visibility,
                verbatim_max_words=gpt.verbatim_max_words or self.settings.verbatim_max_words,
            ),
            model=gpt.model,
            organization_id=gpt.organization_id,
            capabilities=CAPABILITIES,
            datasets=datasets if datasets is not None else await self.datasets.attached(gpt.id),
            created_at=gpt.created_at,
            updated_at=gpt.updated_at,
        )


MANIFEST = "gptstore.json"


def export_filename(gpt: Gpt) -> str:
    """`<name>.gptstore.zip`, slashes of the name made dashes (`gpt` for an unnamed draft)."""
    return title_filename(gpt.name, ".gptstore.zip", "gpt")


class PortabilityService:
    """Export a GPT as one zip (versioned JSON config + knowledge files) and import such archives."""

    def __init__(self, session: AsyncSession, settings: Settings):
        self.session = session
        self.settings = settings
        self.gpts = GptService(session, settings)

    async def export(self, gpt: Gpt, user: User) -> bytes:
        """The archive for `user`: private knowledge files only for the GPT's owners (its creator, or its
        organisation's builders; an admin's export leaves them out, docs/trust.md)."""
        read = await self.gpts.read(gpt)
        files = await self.gpts.knowledge.list_files(await self.gpts.knowledge.knowledge_base_of(gpt.id))
        owns = await access.can_edit(self.session, user, gpt.owner_id, gpt.organization_id, site_admin=False)
        files = [f for f in files if f.access == "open" or owns]
        manifest = {
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "gpt": {
                **{name: getattr(read, name) for name in EDITABLE_FIELDS},
                "retrieval": read.retrieval.model_dump(),
                "trust": {
                    "instructions": read.trust.instructions,
                    "verbatim_max_words": gpt.verbatim_max_words,
                },
                "model": read.model,
            },
            # Actions and MCP servers without their secrets (`needs_credentials` says which need them).
            "tools": await export_tools(self.session, gpt.id),
            # Other datasets it uses, by id only: they are not copied (docs/data-library.md).
            "datasets": [
                {"id": str(d.id), "name": d.name, "follow_latest": d.follow_latest}
                for d in read.datasets
                if not d.home
            ],
            "files": [],
        }
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for index, file in enumerate(files):
                filename = clean_member_name(file.filename)  # names stored before cleaning; folders kept
                path = f"knowledge/{index:02d}-{filename}"
                archive.writestr(path, await self.gpts.knowledge.read_upload(file.id))
                manifest["files"].append(
                    {"path": path, "filename": filename, "access": file.access, "license": file.license,
                     "sha256": file.sha256}
                )  # fmt: skip
            archive.writestr(MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2))
        return buffer.getvalue()

    async def import_archive(self, owner: User, data: bytes) -> tuple[Gpt, list[uuid.UUID]]:
        """A new draft from an export; the archive and its manifest are checked whole before anything is
        created, and a refusal after that (an action's document, a limit) rolls the request back."""
        require_paid_plan(owner)
        manifest, members = _read_archive(data, self.settings)
        gpt = await self.gpts.create(owner, manifest.gpt)
        await import_tools(self.session, self.settings, gpt, manifest.tools)
        base = await self.gpts.knowledge.knowledge_base_of(gpt.id)
        file_ids = []
        for entry in manifest.files:
            if bytes_hold_no_text(members[entry.path], entry.filename or entry.path):
                continue  # failed as empty where it was exported; an upload refuses it, a batch skips it

            async def content(payload: bytes = members[entry.path]) -> AsyncIterator[bytes]:
                yield payload

            filename = entry.filename or entry.path.rsplit("/", 1)[-1]
            row = await self.gpts.knowledge.add_file(
                base, filename, content(), access=entry.access, license=entry.license, folders=True
            )
            file_ids.append(row.id)
        home = await self.gpts.datasets.gpt_home(owner, gpt.id)
        for dataset in manifest.datasets or []:  # those the new GPT may use and that still exist
            try:
                async with self.session.begin_nested():
                    await self.gpts.datasets.attach(owner, home, dataset.id, dataset.follow_latest)
            except (NotFound, Conflict):
                continue
        return gpt, file_ids


def _archive_error(message: str) -> Invalid:
    return Invalid(f"Not a valid gptstore export: {message}", field="file")


def _key(raw: Any, error: ErrorDetails) -> str:
    """The manifest key an error is about, as people write it (`files[0].access`, `gpt.retrieval.top_k`):
    its path through the manifest, without the names pydantic gives the branches of a union."""
    parts, value = [], raw
    for index, part in enumerate(error["loc"]):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
            value = value[part]
        elif not (error["type"] == "missing" and index == len(error["loc"]) - 1):
            continue  # a union branch's name, or `[key]` after a dictionary key
        parts.append(f"[{part}]" if isinstance(part, int) else f".{part}")
    return "".join(parts).lstrip(".")


def _manifest_errors(raw: Any, exc: ValidationError) -> Invalid:
    """A 422 naming every bad key of the manifest (in `errors`, each at the form's `file` field)."""
    problems = list(
        dict.fromkeys(f"{_key(raw, e)}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors())
    )
    return Invalid(
        f"Not a valid gptstore export: {MANIFEST} has invalid keys: " + "; ".join(problems),
        errors=[{"field": "file", "message": f"{MANIFEST} {problem}"} for problem in problems],
    )


def _read_archive(data: bytes, settings: Settings) -> tuple[ExportManifest, dict[str, bytes]]:
    # a damaged, encrypted or ambiguous zip (core.archives) is a 422 naming `file` too
    entries = 4 * settings.max_files_per_gpt + 100  # the manifest, knowledge files, their directories
    with open_zip(io.BytesIO(data), _archive_error, max_entries=entries) as archive:
        # (member names were checked by open_zip: unsafe, not UTF-8 or twice is a refusal already)
        if sum(member.size for member in archive.members) > settings.max_uncompressed_bytes:
            raise _archive_error("it unpacks to more than the allowed size")
        manifest_member = archive.member(MANIFEST)
        if manifest_member is None:
            raise _archive_error(f"{MANIFEST} is missing")
        if manifest_member.size > settings.max_request_body_bytes:
            raise _archive_error(f"{MANIFEST} is larger than {settings.max_request_body_bytes:,} bytes")
        try:
            raw = load_json(archive.read(manifest_member), settings, field=MANIFEST)
        except ValueError:  # (a damaged member is open_zip's refusal)
            raise _archive_error(f"{MANIFEST} is not valid JSON") from None
        except BadShape as exc:
            raise _archive_error(exc.detail) from None
        try:
            raw, _ = clean_json(raw, settings, root=MANIFEST)
        except (UnstorableText, BadShape) as exc:
            raise _archive_error(f"{MANIFEST}: {exc.detail}") from None
        # The format and version first: another version's keys may mean other things.
        if not isinstance(raw, dict) or raw.get("format") != EXPORT_FORMAT:
            raise _archive_error(f"{MANIFEST} has no format '{EXPORT_FORMAT}'")
        version = raw.get("version")
        if version != EXPORT_VERSION or isinstance(version, bool):
            raise _archive_error(f"unsupported version {version!r}; this server reads {EXPORT_VERSION}")
        try:
            manifest = ExportManifest.model_validate(raw)
        except ValidationError as exc:
            raise _manifest_errors(raw, exc) from None
        try:
            check_category(manifest.gpt.category, settings.categories)
        except Invalid as exc:
            raise _archive_error(f"gpt.{exc.detail}") from None
        if len(manifest.files) > settings.max_files_per_gpt:
            raise _archive_error(f"'files' must be a list of at most {settings.max_files_per_gpt} entries")
        for index, entry in enumerate(manifest.files):  # as an upload's (retrieval.licenses.file_license)
            field = f"files[{index}].license"
            try:
                entry.license = file_license(entry.access, entry.license, field=field)
            except Invalid as exc:
                problem = f"{MANIFEST} {field}: {exc.detail}"
                raise Invalid(
                    f"Not a valid gptstore export: {problem}", errors=[{"field": "file", "message": problem}]
                ) from None
        members: dict[str, bytes] = {}
        for entry in manifest.files:
            member = archive.member(entry.path)
            if member is None:
                raise _archive_error(
                    f"files: {entry.path} is listed in {MANIFEST} but missing from the archive"
                )
            if member.size > settings.max_file_bytes:
                raise _archive_error(f"file {entry.path} is larger than the per-file limit")
            payload = archive.read(member)
            if entry.sha256 is not None and hashlib.sha256(payload).hexdigest() != entry.sha256:
                raise _archive_error(f"file {entry.path} does not match its sha256")
            members[entry.path] = payload
    return manifest, members
