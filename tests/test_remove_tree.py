"""A run's temp dir goes even while an exiting process still writes into it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from gpuconf.backends.localray.ownership import remove_tree


def test_the_dir_goes_although_a_writer_keeps_adding_files_for_a_while(tmp_path: Path) -> None:
    root = tmp_path / "gpc-run"
    (root / "session" / "logs").mkdir(parents=True)
    stop = time.monotonic() + 1.5

    def writer() -> None:  # as a dying raylet's worker flushing its log
        i = 0
        while time.monotonic() < stop:
            try:
                (root / "session" / "logs").mkdir(parents=True, exist_ok=True)
                (root / "session" / "logs" / f"w{i}.log").write_text("x")
            except OSError:
                pass
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    assert remove_tree(root, attempts=20, pause_s=0.25)
    t.join()
    remove_tree(root, attempts=2, pause_s=0.1)  # the writer may have re-made it in its last moment
    assert not root.exists()
