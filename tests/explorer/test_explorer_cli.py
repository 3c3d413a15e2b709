"""``vmintro html`` and ``vmintro serve`` as a user types them, and what the server
refuses."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from explorer_support import DEMO, HtmlRun

from vmintro.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE

CMD = [sys.executable, "-m", "vmintro.cli"]


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``vmintro ARGS`` in this process (what the console script calls): status, out, err."""
    from vmintro.cli import main

    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def _embedded(html: str) -> dict[str, Any]:
    m = re.search(r'<script type="application/json" id="vmintro-data">(.*?)</script>', html, re.S)
    assert m is not None
    data: dict[str, Any] = json.loads(m.group(1))
    return data


def test_html_writes_one_self_contained_file(demo_html: HtmlRun, truth: dict[str, Any]) -> None:
    status, stdout, stderr, out = demo_html  # over "an older file" of that name (conftest)
    assert status == EXIT_OK, stderr
    assert stdout == f"wrote {out}\n"
    html = out.read_text()
    data = _embedded(html)
    assert [a["addr"] for a in data["snapshot"]["areas"]] == [a["addr"] for a in truth["areas"]]
    assert data["mode"] == "file"
    # every page of every area has its walk, the vtop document of that page
    pages = [p[0] for a in data["snapshot"]["areas"] for p in a["pages"]]
    assert sorted(data["walks"]) == sorted(f"{va:x}" for va in pages)
    # nothing to fetch: no src=, no href= but the empty icon, and a policy that forbids it
    assert not re.search(r"\bsrc=", html)
    assert re.findall(r'href="([^"]*)"', html) == ["data:,"]
    assert "default-src 'none'" in html
    assert os.listdir(out.parent) == ["explorer.html"]


@pytest.mark.parametrize("kind", ["directory", "fifo", "core", "vmlinux", "no-directory"])
def test_html_refuses_what_other_writers_refuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    image = tmp_path / "img"
    for ext in (".vmcore", ".vmlinux", ".truth.json"):
        os.symlink(f"{DEMO}{ext}", f"{image}{ext}")
    target = {
        "directory": tmp_path,
        "fifo": tmp_path / "pipe.html",
        "core": Path(f"{image}.vmcore"),
        "vmlinux": Path(f"{image}.vmlinux"),
        "no-directory": tmp_path / "nowhere" / "x.html",
    }[kind]
    if kind == "fifo":
        os.mkfifo(target)
    before = sorted(os.listdir(tmp_path))
    status, stdout, stderr = run_main(capsys, "html", str(image), "-o", str(target))
    assert status == EXIT_USAGE
    assert stdout == ""
    assert stderr.count("\n") == 1 and stderr.startswith("vmintro: html: ")
    assert sorted(os.listdir(tmp_path)) == before
    assert Path(f"{DEMO}.vmcore").read_bytes()[:4] == b"\x7fELF"


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen(
        [*CMD, "serve", str(DEMO), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    yield proc, url
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _request(url: str, path: str, method: str = "GET") -> tuple[int, str, str]:
    m = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/", url)
    assert m is not None, url
    conn = http.client.HTTPConnection("127.0.0.1", int(m.group(1)), timeout=60)
    try:
        conn.request(method, path)
        reply = conn.getresponse()
        return reply.status, reply.getheader("Content-Type") or "", reply.read().decode()
    finally:
        conn.close()


def test_serve_prints_the_url_and_serves_the_page(
    served: tuple[Any, str], truth: dict[str, Any]
) -> None:
    _proc, url = served
    status, kind, body = _request(url, "/")
    assert (status, kind) == (200, "text/html; charset=utf-8")
    assert '<script type="module" src="explorer.js">' in body
    for name in ("explorer.js", "explorer.css"):
        assert _request(url, f"/{name}")[0] == 200
    status, _, body = _request(url, "/api/explorer")
    assert status == 200
    assert len(json.loads(body)["snapshot"]["areas"]) == len(truth["areas"])


def test_serve_walks_as_vtop_json(
    served: tuple[Any, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _proc, url = served
    status, kind, body = _request(url, "/api/vtop?addr=0xc4811000")
    assert (status, kind) == (200, "application/json")
    _status, out, _err = run_main(capsys, "--json", "-c", "vtop 0xc4811000", str(DEMO))
    assert json.loads(body) == json.loads(out)


@pytest.mark.parametrize(
    ("path", "method", "status"),
    [
        ("/../../etc/passwd", "GET", 404),
        ("/images/demo.vmcore", "GET", 404),
        ("/static/explorer.js", "GET", 404),
        ("/api/vtop?addr=c4800000%7Cls", "GET", 400),
        ("/api/vtop?addr=vmlist", "GET", 400),
        ("/api/vtop?addr=1&addr=2", "GET", 400),
        ("/api/vtop", "GET", 400),
        ("/api/vtop?addr=c4800000&file=/etc/passwd", "GET", 400),
        ("/api/snapshot?at=99999", "GET", 404),  # no such entry, or no timeline
        ("/api/snapshot?at=x", "GET", 400),
        ("/?x=1", "GET", 400),
        ("/api/explorer", "POST", 405),
        ("/api/explorer", "DELETE", 405),
    ],
)
def test_bad_requests_get_a_4xx_and_one_line(
    served: tuple[Any, str], path: str, method: str, status: int
) -> None:
    _proc, url = served
    got, kind, body = _request(url, path, method)
    assert got == status
    assert kind == "text/plain; charset=utf-8"
    assert body.count("\n") == 1 and body.strip()


def test_a_page_elsewhere_cannot_read_it_through_another_name(served: tuple[Any, str]) -> None:
    """DNS rebinding: a site whose name now points at 127.0.0.1 sends its own Host."""
    _proc, url = served
    port = int(url.rsplit(":", 1)[1].strip("/"))
    for host, status in ((f"attacker.example:{port}", 400), (f"localhost:{port}", 200)):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            conn.request("GET", "/api/explorer", headers={"Host": host})
            reply = conn.getresponse()
            reply.read()
            assert reply.status == status, host
        finally:
            conn.close()


def test_interrupt_stops_the_server_cleanly(served: tuple[Any, str]) -> None:
    proc, url = served
    assert _request(url, "/api/vtop?addr=c0000000")[0] == 200
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == EXIT_OK
    assert proc.stderr.read() == ""


@pytest.mark.slow
def test_another_address_only_with_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    status, _out, err = run_main(capsys, "serve", str(DEMO), "--port", "70000")
    assert status == EXIT_USAGE and "not a port" in err
    proc = subprocess.Popen(
        [*CMD, "serve", str(DEMO), "--host", "0.0.0.0", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline().startswith("http://0.0.0.0:")
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        assert "listening on 0.0.0.0, not only this machine" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_html_of_a_broken_vmlist_draws_what_it_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from vmintro.generate import generate
    from vmintro.scenario.loader import parse_scenario

    text = (
        "".join(f"[[step]]\nop = 'vmalloc'\nsize = '{k}K'\n\n" for k in (8, 12, 16))
        + "[[step]]\nop = 'fault'\nkind = 'vmlist_cycle'\n"
    )
    image = tmp_path / "cycle"
    generate(image, parse_scenario(text, "cycle.toml"), {"ram": 16 << 20})
    _status, out, _err = run_main(capsys, "--json", "-c", "vmlist", str(image))
    read = json.loads(out)
    out_file = tmp_path / "cycle.html"
    status, stdout, stderr = run_main(capsys, "html", str(image), "-o", str(out_file))
    # as map: the picture of what was read is written, then the walk's error, status 1
    assert status == EXIT_FAILED
    assert stdout == f"wrote {out_file}\n"
    assert stderr.startswith("vmintro: html: vmlist: cycle: ") and stderr.count("\n") == 1
    assert read["status"] == "error" and "cycle" in read["error"]
    areas = _embedded(out_file.read_text())["snapshot"]["areas"]
    assert [a["addr"] for a in areas] == [r["addr"] for r in read["results"][0]["rows"]]


def test_serve_refuses_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_main(capsys, "serve", str(tmp_path / "nothing"), "--port", "0")
    assert (status, out) == (EXIT_USAGE, "")
    assert err.count("\n") == 1 and "nothing.vmcore" in err
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        status, out, err = run_main(capsys, "serve", str(DEMO), "--port", port)
    assert (status, out) == (EXIT_USAGE, "")
    assert err == f"vmintro: serve: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def test_without_a_vmlinux_nothing_is_written_or_served(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    core = tmp_path / "alone.vmcore"  # a core with no vmlinux beside it: symbols, no types
    core.write_bytes(Path(f"{DEMO}.vmcore").read_bytes())
    out = tmp_path / "explorer.html"
    for words in (["html", str(core), "-o", str(out)], ["serve", str(core), "--port", "0"]):
        status, stdout, stderr = run_main(capsys, *words)
        assert (status, stdout) == (EXIT_FAILED, "")
        assert stderr == (
            f"vmintro: {words[0]}: no vmlinux is loaded, so the views of the explorer are "
            "unknown (give one with --vmlinux FILE)\n"
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alone.vmcore"]
