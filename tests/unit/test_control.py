"""The control socket's client: a monitor that goes away mid-request is a ControlError."""

from __future__ import annotations

import threading

import pytest

from edera_oci.zone import control


def serve_once(tmp_path, handle) -> threading.Thread:
    listener = control.listen(tmp_path)

    def run():
        conn, _ = listener.accept()
        try:
            handle(conn)
        finally:
            conn.close()
            listener.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_monitor_that_exits_with_the_request_unread_is_a_control_error(tmp_path):
    # The monitor exiting as the request arrives closes its end with the request unread: the
    # client's recv gets ECONNRESET (seen in the lab: `events` ended with "Connection reset by
    # peer" as an OOM-killed container's monitor exited, and its oom event was lost).
    thread = serve_once(tmp_path, lambda conn: None)
    with pytest.raises(control.ControlError, match="closed the connection during 'stats'"):
        control.request(tmp_path, "stats", pad="x" * 4096)
    thread.join()


def test_an_answer_is_returned(tmp_path):
    def answer(conn):
        conn.recv(65536)
        conn.sendall(b'{"ok": true, "stats": {}}\n')

    thread = serve_once(tmp_path, answer)
    assert control.request(tmp_path, "stats") == {"ok": True, "stats": {}}
    thread.join()
