"""Background work runs below the GUI thread's CPU priority (Linux threads have their own
niceness), so a busy machine gives the window the core first; the GUI thread itself is
left as it was."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from napari_unet.widgets._jobs import BACKGROUND_NICE, Job


def _niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness")
def test_a_jobs_thread_runs_below_the_gui_threads_priority(qtbot):
    gui_before = _niceness()
    seen: list[int] = []

    def work(stop):
        yield _niceness()
        return None

    job = Job(work, what="Priority", on_event=seen.append, show_progress=False).start()
    qtbot.waitUntil(lambda: job.done, timeout=10_000)
    assert BACKGROUND_NICE >= 10
    assert seen and seen[0] >= max(BACKGROUND_NICE, gui_before)
    assert _niceness() == gui_before  # the GUI thread keeps its priority
