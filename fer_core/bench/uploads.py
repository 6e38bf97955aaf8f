"""Server memory under the worst uploads the limits allow, on a real ``streamlit run app.py``.

Raw clients, no browser: each session opens Streamlit's websocket (as a tab does), then PUTs files
to ``/_stcore/upload_file/<session>/<file>`` (as the uploader widget does) until the gate refuses
one (413: the per-session or per-server budget of ``fer_core.core.limits``). The figure that
matters is the server's peak RSS (VmHWM): the target is <= 1.5 GB with the default limits
(issue 29: before the budgets, ten 199 MB photos peaked at 4,059 MB).

    python -m fer_core.bench.uploads --sessions 3 --file-mb 100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

from fer_core import REPO_ROOT


@contextlib.contextmanager
def app_server(env: Mapping[str, str], log: Path | None = None, repo: Path = REPO_ROOT,
               ready_s: float = 60.0) -> Iterator[tuple[str, int, subprocess.Popen]]:
    """A fresh ``streamlit run app.py`` on a free loopback port, healthy before it is yielded."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = log.open("wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true"], cwd=repo,
                            env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    if log:
        out.close()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_s
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).status == 200:
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"the Streamlit server did not become healthy within {ready_s:.0f} s") from None
                time.sleep(0.5)
        yield url, port, proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextlib.asynccontextmanager
async def open_session(port: int, page: str = "photo", cookie: str | None = None):
    """One tab's websocket session, kept open (uploads belong to a live session): yields its id."""
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    headers = {"Cookie": cookie} if cookie else {}
    async with websockets.connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"],
                                  additional_headers=headers, max_size=None) as ws:
        msg = BackMsg()
        msg.rerun_script.page_name = page
        await ws.send(msg.SerializeToString())
        session_id = ""
        while True:
            fm = ForwardMsg()
            fm.ParseFromString(await asyncio.wait_for(ws.recv(), 150))
            kind = fm.WhichOneof("type")
            if kind == "new_session":
                session_id = fm.new_session.initialize.session_id
            elif kind == "script_finished" and fm.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                break
        yield session_id


def xsrf_token(url: str) -> str:
    """Streamlit's XSRF cookie value (set by its health endpoint), which every upload must echo."""
    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=10) as resp:
        for header in resp.headers.get_all("Set-Cookie") or []:
            if header.startswith("_streamlit_xsrf="):
                return header.split(";", 1)[0].split("=", 1)[1]
    return "no-xsrf-cookie-was-set"  # the gate answers before Streamlit's XSRF check either way


def put_upload(url: str, session_id: str, xsrf: str, size: int, file_id: str = "f1",
               name: str = "x.mp4") -> tuple[int, str]:
    """PUT one file of ``size`` zero bytes as the uploader widget does: (HTTP status, body).

    The gate may answer (413) before the body is sent and close the socket; the answer is still read."""
    import http.client
    from urllib.parse import urlsplit

    boundary = "ferbenchboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    where = urlsplit(url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=120)
    try:
        conn.putrequest("PUT", f"/_stcore/upload_file/{session_id}/{file_id}")
        for key, value in {"Content-Type": f"multipart/form-data; boundary={boundary}", "X-Xsrftoken": xsrf,
                           "Cookie": f"_streamlit_xsrf={xsrf}",
                           "Content-Length": str(len(head) + size + len(tail))}.items():
            conn.putheader(key, value)
        conn.endheaders()
        try:
            conn.send(head)
            chunk = bytes(2**20)
            for start in range(0, size, len(chunk)):
                conn.send(chunk[:min(len(chunk), size - start)])
            conn.send(tail)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered early: the reply is waiting
        try:
            resp = conn.getresponse()
        except (ConnectionResetError, http.client.RemoteDisconnected):
            return 0, "the server closed the connection without an answer"
        try:
            body = resp.read()
        except http.client.IncompleteRead as exc:  # the gate closes the socket after its answer
            body = exc.partial
        return resp.status, body.decode(errors="replace")
    finally:
        conn.close()


def memory_mb(pid: int) -> dict[str, float]:
    """Current and peak resident memory of a process (Linux /proc), in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = round(int(value.split()[0]) / 1024, 1)
    return {"rss_mb": fields.get("VmRSS", 0.0), "peak_rss_mb": fields.get("VmHWM", 0.0)}


async def _fill(url: str, port: int, sessions: int, file_mb: int, max_files: int) -> list[dict]:
    """Every session uploads ``file_mb`` files until one is refused; all stay open until the end."""
    xsrf = xsrf_token(url)
    rows = []
    async with contextlib.AsyncExitStack() as stack:
        ids = [await stack.enter_async_context(open_session(port)) for _ in range(sessions)]
        for i, sid in enumerate(ids):
            statuses = []
            for n in range(max_files):
                status, _ = await asyncio.to_thread(put_upload, url, sid, xsrf, file_mb * 2**20, f"f{n}")
                statuses.append(status)
                if status != 204:
                    break
            rows.append({"session": i + 1, "accepted": statuses.count(204), "refused_with": statuses[-1]
                         if statuses[-1] != 204 else None})
    return rows


def run(sessions: int, file_mb: int, max_files: int = 20, env: Mapping[str, str] | None = None) -> dict:
    """Fill the budgets, then close the sessions: the figures ``main`` prints."""
    with app_server(dict(env or {})) as (url, port, proc):
        idle = memory_mb(proc.pid)
        rows = asyncio.run(_fill(url, port, sessions, file_mb, max_files))
        peak = memory_mb(proc.pid)
        time.sleep(2.0)  # the sessions' websockets are closed: their files must be dropped
        after = memory_mb(proc.pid)
    return {"sessions": rows, "file_mb": file_mb, "idle_rss_mb": idle["rss_mb"],
            "peak_rss_mb": peak["peak_rss_mb"], "rss_after_close_mb": after["rss_mb"],
            "uploaded_mb": sum(r["accepted"] for r in rows) * file_mb, "target_peak_rss_mb": 1536,
            "cpu_count": os.cpu_count()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=3, help="browser sessions uploading at once")
    ap.add_argument("--file-mb", type=int, default=100, help="size of each uploaded file")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    figures = run(args.sessions, args.file_mb)
    text = json.dumps(figures, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0 if figures["peak_rss_mb"] <= figures["target_peak_rss_mb"] else 1


if __name__ == "__main__":
    sys.exit(main())
