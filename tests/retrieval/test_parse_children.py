"""Parse children start from the forkserver with the server's main module already imported."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A main module that records every time its top level runs, then starts three parse children.
MAIN = textwrap.dedent(
    """
    import os, sys
    with open(os.environ["RUNS_LOG"], "a") as log:
        log.write(__name__ + "\\n")

    import asyncio
    from retrieval.isolation import ChildLimits, run_in_child

    async def main():
        for _ in range(3):
            await run_in_child(os.getpid, limits=ChildLimits(60, 2**31), what="probe")

    if __name__ == "__main__":
        asyncio.run(main())
    """
)


@pytest.mark.parametrize("how", ["script", "module"])
def test_parse_children_do_not_run_the_main_module_again(tmp_path: Path, how: str) -> None:
    (tmp_path / "server_main.py").write_text(MAIN)
    log = tmp_path / "runs.log"
    env = os.environ | {"RUNS_LOG": str(log), "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    command = (
        [sys.executable, str(tmp_path / "server_main.py")]
        if how == "script"
        else [sys.executable, "-m", "server_main"]
    )

    subprocess.run(command, env=env, cwd=tmp_path, check=True, timeout=300)

    runs = log.read_text().split()
    # Once as the program, once in the forkserver; before, once more in each of the three children.
    assert runs.count("__main__") == 1
    assert runs.count("__mp_main__") == 1
