"""Run untrusted-input work (parsing, chunking, sniffing) in a child process with hard limits.

A parser fed a hostile file can take minutes and gigabytes (a 1.26 MB DOCX whose XML inflates to 157 MB
took 5.5 GB and 15 minutes inside the server). So the work runs in a child forked from a `forkserver`
(a clean single-threaded process, never a fork of the threaded server) that sets, before it starts:

- `RLIMIT_AS` = its address space at start + `GPTSTORE_PARSE_MEMORY_MB`: an allocation past it fails
  (MemoryError), so the child answers `parse_memory` instead of the kernel's OOM killer taking the server;
- `RLIMIT_CPU` = twice `GPTSTORE_PARSE_TIMEOUT_SECONDS`: a backstop that ends even an orphaned child.

The parent waits at most `GPTSTORE_PARSE_TIMEOUT_SECONDS` (wall clock) and kills the child on a timeout,
on cancellation (the file was deleted, the worker shuts down) and on any exit path, so no parse outlives
the job that asked for it. The child also exits within a second when the server process is gone (its end
of the result pipe closes). The child reads its input from disk itself and sends back only its (bounded)
result.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import multiprocessing
import os
import resource
import select
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from core.settings import Settings
from retrieval.parsing import ParseError

logger = logging.getLogger("gptstore.retrieval")

# Modules the forkserver imports once, so each child starts warm (a fork, not an interpreter start).
PRELOAD = ["retrieval.child_preload"]
ORPHAN_CHECK_SECONDS = 1.0

# How the forkserver learns the parent's main module (retrieval.child_preload reads it): the environment is
# what it inherits when it starts.
MAIN_MODULE_ENV = "GPTSTORE_FORKSERVER_MAIN"


def main_preparation(main: Any) -> dict[str, str]:
    """How multiprocessing brings `main` (`sys.modules["__main__"]`) into a child: by module name (`-m`)
    or by script path; {} for none (`python -c`, an interactive session).

    multiprocessing runs the parent's main module again as `__mp_main__` in every child unless the
    process it forks from already holds it. Its own `"__main__"` preload never does on Python 3.11 (the
    forkserver is not given the path), so for `gptstore worker` every parse child re-imported core.cli and
    what it imports: about a second of CPU per file beside the model, and 5-10 s per child of a benchmark
    script on a busy host against 0.05 s with the main module in the forkserver (docs/performance.md).
    """
    name = getattr(getattr(main, "__spec__", None), "name", None)
    if name:
        return {"init_main_from_name": name}
    path = getattr(main, "__file__", None)
    return {"init_main_from_path": os.path.normpath(path)} if path else {}


os.environ[MAIN_MODULE_ENV] = json.dumps(main_preparation(sys.modules.get("__main__")))
_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(PRELOAD)
_running: dict[int, str] = {}


@dataclass(frozen=True)
class ChildLimits:
    """Hard bounds of one child: wall-clock seconds and address space in bytes."""

    timeout_seconds: float
    memory_bytes: int

    @classmethod
    def of(cls, settings: Settings) -> ChildLimits:
        return cls(settings.parse_timeout_seconds, settings.parse_memory_mb * 1024 * 1024)


def running_pids() -> dict[int, str]:
    """Children running now, pid -> what they do (for logs and tests)."""
    return dict(_running)


async def run_in_child(function: Callable[..., Any], *args: Any, limits: ChildLimits, what: str) -> Any:
    """`function(*args)` (a module-level function) run in a child under `limits`; returns its result.

    Raises `ParseError` with the child's own code, or `parse_timeout` / `parse_memory` when a limit ended
    it. Cancelling the awaiting task kills the child at once.
    """
    child, receiver = await _start(function, args, limits, what)
    try:
        try:
            message = await asyncio.wait_for(asyncio.to_thread(_receive, receiver), limits.timeout_seconds)
        except TimeoutError:
            raise _timeout(limits) from None
        return await _answer(message, child, limits)
    finally:
        await _end(child, receiver)


async def stream_in_child(
    function: Callable[..., Iterator[Any]], *args: Any, limits: ChildLimits, what: str
) -> AsyncIterator[Any]:
    """The items of `function(*args)` (a module-level generator function) run in a child under `limits`,
    each as soon as the child yields it: the caller works on the first items while the child makes the
    next. Use it under `contextlib.aclosing`, so leaving early kills the child at once.

    Errors as `run_in_child`, raised where the child stopped (after the items it yielded before). A thread
    reads the items as they come, so a slow caller never holds the child up and the time limit counts the
    child's work, from its start to its last item; it is checked whenever the caller waits for an item.
    """
    child, receiver = await _start(function, args, limits, what)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limits.timeout_seconds
    messages: asyncio.Queue[tuple | None] = asyncio.Queue()

    def pump() -> None:
        while True:
            message = _receive(receiver)
            loop.call_soon_threadsafe(messages.put_nowait, message)
            if message is None or message[0] != "item":
                return

    pumping = asyncio.ensure_future(asyncio.to_thread(pump))
    try:
        while True:
            try:
                message = await asyncio.wait_for(messages.get(), max(deadline - loop.time(), 0))
            except TimeoutError:
                if messages.empty():
                    raise _timeout(limits) from None
                message = messages.get_nowait()
            if message is not None and message[0] == "item":
                yield message[1]
                continue
            await _answer(message, child, limits)
            return
    finally:
        await _end(child, receiver, pumping)  # the pipe closes with the child, which ends the pump


async def _start(
    function: Callable[..., Any], args: tuple, limits: ChildLimits, what: str
) -> tuple[multiprocessing.process.BaseProcess, Connection]:
    """A started child running `function(*args)` and the end of the pipe its answer comes through."""
    receiver, sender = _context.Pipe(duplex=False)
    child = _context.Process(
        target=_child_main,
        args=(sender, function, args, limits),
        name=f"gptstore-{what}",
        daemon=True,
    )
    try:
        # In a thread: the first start launches the forkserver (seconds), which must not stall the loop.
        await asyncio.shield(asyncio.to_thread(child.start))
    except BaseException:
        receiver.close()
        if child.pid is not None:
            await _reap(child)
        raise
    finally:
        sender.close()  # ours: so the pipe reports EOF when the child dies
    _running[child.pid] = what
    return child, receiver


async def _answer(
    message: tuple | None, child: multiprocessing.process.BaseProcess, limits: ChildLimits
) -> Any:
    """The result a child's last message carries, or the error it stands for (None: the child died)."""
    if message is None:  # the child died without an answer: a signal or the kernel ended it
        await _reap(child)
        raise _death(child.exitcode, limits)
    kind, *payload = message
    if kind == "ok":
        return payload[0]
    if kind == "raise":
        raise payload[0]
    code, text, *media_type = payload
    raise ParseError(code, text, *media_type)


def _receive(receiver: Connection) -> tuple | None:
    try:
        return receiver.recv()
    except (EOFError, OSError):
        return None


def _timeout(limits: ChildLimits) -> ParseError:
    return ParseError(
        "parse_timeout", f"Reading the file took longer than the limit of {limits.timeout_seconds:g} seconds."
    )


async def _end(
    child: multiprocessing.process.BaseProcess, receiver: Connection, pumping: asyncio.Future | None = None
) -> None:
    """Kill the child and forget it at once, then wait for it (and for the thread reading its pipe). The
    kill and the bookkeeping come before any wait, so a second cancellation during the wait (the file
    deleted while its run is being stopped) cannot leave the child running or listed."""
    _kill(child)
    _running.pop(child.pid, None)
    try:
        await _reap(child)
        if pumping is not None:
            await asyncio.shield(pumping)
    finally:
        receiver.close()


def _kill(child: multiprocessing.process.BaseProcess) -> None:
    if child.exitcode is None:
        with contextlib.suppress(ProcessLookupError, AttributeError, ValueError):
            child.kill()


async def _reap(child: multiprocessing.process.BaseProcess) -> None:
    """Kill the child if it still runs, and wait for it (SIGKILL is immediate; join only reaps)."""
    _kill(child)
    # Shielded: a second cancellation must not leave a zombie behind.
    await asyncio.shield(asyncio.to_thread(child.join, 5))


def _death(exitcode: int | None, limits: ChildLimits) -> ParseError:
    if exitcode == -signal.SIGXCPU:
        return ParseError(
            "parse_timeout",
            f"Reading the file used more processor time than allowed ({limits.timeout_seconds:g} s).",
        )
    # Allocation failures inside C code (lxml, tiktoken) end the process instead of raising MemoryError.
    return ParseError(
        "parse_memory",
        f"Reading the file needed more than the {limits.memory_bytes // (1024 * 1024):,} MB allowed "
        f"(the reader stopped with exit code {exitcode}).",
    )


# The child -----------------------------------------------------------------------------------------------


def _child_main(sender: Connection, function: Callable[..., Any], args: tuple, limits: ChildLimits) -> None:
    _watch_for_orphaning(sender)  # before the limits: a thread unable to start under them hangs start()
    cpu = max(2, int(limits.timeout_seconds * 2) + 1)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    # On top of what the child starts with (the parsers imported: about 330 MB of address space).
    space = _address_space() + limits.memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (space, space))
    try:
        result = function(*args)
        if inspect.isgenerator(result):  # stream_in_child: each item as it comes
            for item in result:
                sender.send(("item", item))
            result = None
        message: tuple = ("ok", result)
    except ParseError as exc:
        # C parsers report a failed allocation as anything (lxml: "XMLSyntaxError"); the peak tells.
        at_limit = exc.code == "invalid_file" and _address_space("VmPeak") > space * 0.9
        code = "parse_memory" if isinstance(exc.__cause__, MemoryError) or at_limit else exc.code
        text = _memory_message(limits) if code == "parse_memory" else exc.message
        message = ("error", code, text, exc.media_type)
    except MemoryError:
        message = ("error", "parse_memory", _memory_message(limits))
    except RecursionError:
        message = ("error", "invalid_file", "The file is nested too deeply to read.")
    except Exception as exc:  # re-raised in the parent (FileNotFoundError: the upload was deleted)
        message = ("raise", exc)
    try:
        sender.send(message)
    except MemoryError:
        sender.send(("error", "parse_memory", _memory_message(limits)))
    except Exception as exc:  # an exception that does not pickle
        sender.send(("raise", RuntimeError(f"{type(exc).__name__}: {exc}")))
    sender.close()


def _address_space(field: str = "VmSize") -> int:
    """The process's address space now (VmSize) or at its peak (VmPeak), in bytes; 0 if unknown."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _memory_message(limits: ChildLimits) -> str:
    return f"Reading the file needed more than the {limits.memory_bytes // (1024 * 1024):,} MB allowed."


def _watch_for_orphaning(sender: Connection) -> None:
    """Exit once the server is gone: its end of the result pipe closes, and an orphan must not parse on.

    (The forkserver's own parent check does not help: it lives as long as any child it forked.)"""
    poller = select.poll()
    poller.register(sender.fileno(), 0)  # a pipe's write end reports POLLERR once no reader is left

    def watch() -> None:
        while True:
            if poller.poll(ORPHAN_CHECK_SECONDS * 1000):
                os._exit(70)

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()
