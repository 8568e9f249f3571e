"""The tracker's TensorBoard writer: a failed write in its thread is reported once, in the training
thread, and the process-wide thread exception hook is ours only while the tracker is open."""

from __future__ import annotations

import threading

from tensorboard.summary.writer.event_file_writer import EventFileWriter

from wgan_cli.tracking import Tracker


def test_the_writer_threads_hook_is_put_back_when_the_tracker_closes(tmp_path):
    before = threading.excepthook
    tracker = Tracker(tmp_path, total_steps=10)
    assert threading.excepthook is not before  # the writer thread's second report of a failed write is dropped
    seen = []
    threading.excepthook = lambda args: seen.append(args)  # someone else's hook, set later, stays theirs
    tracker.close()
    assert threading.excepthook is not before and seen == []
    threading.excepthook = before
    again = Tracker(tmp_path / "again", total_steps=10)
    again.close()
    assert threading.excepthook is before  # ours, then the one we found


def test_a_writer_threads_os_error_is_dropped_and_every_other_error_kept(tmp_path):
    reported = []
    before, threading.excepthook = threading.excepthook, lambda args: reported.append(args.exc_type)
    try:
        tracker = Tracker(tmp_path, total_steps=10)
        writer = EventFileWriter(str(tmp_path / "w"))
        writer_thread = next(t for t in threading.enumerate() if type(t).__module__.startswith("tensorboard.summary"))

        def report(thread: threading.Thread, error: type) -> None:
            threading.excepthook(threading.ExceptHookArgs((error, error(), None, thread)))

        report(writer_thread, OSError)  # a full disk: raised again in the training thread, not printed here
        report(writer_thread, ValueError)  # a bug in the writer: printed
        report(threading.current_thread(), OSError)  # another thread's: printed
        writer.close()
        tracker.close()
    finally:
        threading.excepthook = before
    assert reported == [ValueError, OSError]
