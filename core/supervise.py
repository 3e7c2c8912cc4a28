"""Keeps the embedded PostgreSQL and Redis of `gptstore serve` alive.

A thread of the serve process watches its server children. One that exits (killed, crashed, out of
memory) is started again in the same place, after a growing pause (`restart_delays`), and logged once when
it dies and once when it is back. While it is down the runtime file says so, and `/health` answers 503
(`core.embedded.servers_down`). When every attempt fails, `on_give_up` is called with a message naming
the server and its log: `serve` then stops and exits 1, for a process supervisor (systemd, Docker's
restart policy) to start it afresh.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.embedded import EmbeddedServers

logger = logging.getLogger("gptstore.embedded")

POLL_SECONDS = 0.5


def restart_delays(first: float, attempts: int) -> tuple[float, ...]:
    """Seconds before each restart attempt, doubling from `first` (settings
    `embedded_restart_first_delay_seconds`, `embedded_restart_attempts`; defaults 0.5 s and 5: 0.5, 1, 2,
    4, 8). A killed PostgreSQL's backends need a moment to notice and exit (its shared memory is in use
    until they have); a crash loop should not spin."""
    return tuple(first * 2**n for n in range(attempts))


class Supervisor:
    """Watches `servers`' children from a thread of its own (start, stop, join)."""

    def __init__(
        self,
        servers: EmbeddedServers,
        on_give_up: Callable[[str], None],
        delays: tuple[float, ...] = restart_delays(0.5, 5),
    ):
        self.servers = servers
        self.on_give_up = on_give_up
        self.delays = delays
        self._stopping = threading.Event()
        self._restarting = threading.Lock()
        # The thread lives as long as the servers: on Linux a child started from it is signalled when the
        # thread that forked it ends (PR_SET_PDEATHSIG), so it ends only after they are stopped.
        self._thread = threading.Thread(target=self._watch, name="gptstore-supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """No restart from now on; returns once a restart under way has finished."""
        self._stopping.set()
        with self._restarting:
            pass

    def join(self) -> None:
        self._thread.join(timeout=10)

    def _watch(self) -> None:
        while not self._stopping.wait(POLL_SECONDS):
            for name, proc in self.servers.children().items():
                if proc.poll() is not None and not self._stopping.is_set():
                    with self._restarting:
                        if not self._stopping.is_set() and not self._revive(name, proc.returncode):
                            return

    def _revive(self, name: str, code: int) -> bool:
        """Start `name` again; False when it could not be (then `on_give_up` has been called)."""
        from core.embedded import EmbeddedError

        trouble = f"exited with code {code}"
        self.servers.mark(name, f"{trouble}; restarting")
        logger.warning("the embedded %s %s; restarting it", name, trouble)
        failure: Exception | None = None
        for attempt, delay in enumerate(self.delays, 1):
            if self._stopping.wait(delay):
                return True
            try:
                self.servers.restart(name)
            except (EmbeddedError, OSError) as exc:
                failure = exc
                continue
            self.servers.mark(name, None)
            logger.warning("the embedded %s is running again (attempt %d)", name, attempt)
            return True
        message = (
            f"The embedded {name} {trouble} and could not be restarted "
            f"({str(failure).splitlines()[0] if failure else 'no reason given'}); "
            f"see {self.servers.log_of(name)}"
        )
        self.servers.mark(name, f"{trouble}; could not be restarted")
        logger.error(message)
        self.on_give_up(message)
        return False
