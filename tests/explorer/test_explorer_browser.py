"""The explorer in a real browser (Debian's headless Chromium): what a student sees
and clicks, checked against the ground truth and against ``vtop``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from explorer_browser import console_errors, start, stop, wait_for
from explorer_support import DEMO, HtmlRun, json_documents, serving, url_of

import vmintro
from vmintro.explorer.document import file_document
from vmintro.explorer.page import self_contained
from vmintro.explorer.server import ExplorerServer
from vmintro.helpers import for_each_vm_area


@pytest.fixture(scope="module")
def server() -> Iterator[ExplorerServer]:
    with serving(DEMO) as srv:
        yield srv


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    d, profile = start()
    yield d
    stop(d, profile)


@pytest.fixture(scope="module")
def page(driver: Any, server: ExplorerServer) -> Any:
    driver.get(url_of(server))
    wait_for(lambda: driver.execute_script("return document.body.dataset.ready"), "the page")
    return driver


OFFLINE = {"offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0}
ONLINE = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
TYPED = ["c4811000", "0xc4824abc", "c0100000", "c4832000"]


@pytest.fixture(scope="module")
def walks(truth: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``vmintro --json -c 'vtop ADDR'`` for every address the tests walk, in one process."""
    lines = [f"vtop {a}" for a in TYPED] + [f"vtop {truth['areas'][1]['addr'] + 4096:#x}"]
    return json_documents(lines)


def _walk(document: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in document["results"] if r["name"] == "walk")


def test_page_loads_without_console_errors(page: Any, truth: dict[str, Any]) -> None:
    assert console_errors(page) == []
    want = f"{len(truth['areas'])} vm areas, {truth['num_physpages']} frames"
    assert page.find_element("id", "status").text == want


def test_map_shows_every_area_at_the_truths_addresses(page: Any, truth: dict[str, Any]) -> None:
    want = {(a["addr"], a["addr"] + a["size"]) for a in truth["areas"]}
    rects = page.find_elements("css selector", "#space-map rect.area")
    drawn = {(int(r.get_attribute("data-addr"), 16), int(r.get_attribute("data-end"), 16))
             for r in rects}  # fmt: skip
    assert drawn == want
    guards = page.find_elements("css selector", "#space-map rect.guard")
    assert {int(g.get_attribute("data-guard"), 16) for g in guards} == {e - 4096 for _, e in want}
    rows = page.find_elements("css selector", "#area-table tbody tr")
    assert [int(r.get_attribute("data-addr"), 16) for r in rows] == [
        a["addr"] for a in truth["areas"]
    ]


def test_hover_names_the_vm_struct_and_owner(page: Any, truth: dict[str, Any]) -> None:
    from selenium.webdriver import ActionChains

    area = next(a for a in truth["areas"] if a["owner"] == "module ext3")
    rect = page.find_element("css selector", f'#space-map rect.area[data-addr="{area["addr"]:x}"]')
    ActionChains(page).move_to_element(rect).perform()
    tip = page.find_element("id", "tip")
    wait_for(tip.is_displayed, "the tooltip")
    assert f"vm_struct {area['vm_struct']:x}" in tip.text
    assert "owner     module ext3" in tip.text
    assert f"size      {area['size']} " in tip.text


def test_clicking_an_area_lists_exactly_its_frames(page: Any, truth: dict[str, Any]) -> None:
    for area in truth["areas"][:3] + truth["areas"][-2:]:
        if not area["pages"]:
            continue
        rect = f'#space-map rect.area[data-addr="{area["addr"]:x}"]'
        page.find_element("css selector", rect).click()

        def listed(want: list[int] = area["pages"]) -> list[int] | None:
            rows = page.find_elements("css selector", "#page-table tbody tr")
            pfns = [int(r.get_attribute("data-pfn"), 16) for r in rows]
            return pfns if pfns == want else None

        wait_for(listed, f"the frames of {area['addr']:#x}")
        # and the physical view highlights them: the selected area is the one clicked
        selected = page.find_element("css selector", "#area-table tr.selected")
        assert int(selected.get_attribute("data-addr"), 16) == area["addr"]


@pytest.mark.parametrize("addr", TYPED)
def test_typed_address_shows_the_walk_vtop_prints(
    page: Any, walks: dict[str, dict[str, Any]], addr: str
) -> None:
    walk = _walk(walks[f"vtop {addr}"])
    want = walk["text"]
    box = page.find_element("id", "walk-addr")
    box.clear()
    box.send_keys(addr + "\n")
    wait_for(lambda: page.find_element("id", "walk-text").text == want, f"the walk of {addr}")
    levels = page.find_elements("css selector", "#walk-levels .level .name")
    steps = walk["data"]["steps"]
    names = [e.text for e in levels]
    assert names[: 1 + len(steps)] == ["PAGE DIRECTORY"] + [
        f"{s['level'].upper()}[{s['index']}]" for s in steps
    ]


def test_a_bad_address_is_one_line_and_no_console_error(page: Any) -> None:
    box = page.find_element("id", "walk-addr")
    box.clear()
    box.send_keys("c48<b>x\n")
    wait_for(lambda: page.find_element("id", "walk-error").text, "the error line")
    assert page.find_element("id", "walk-error").text == "not a hex address: c48<b>x"
    assert page.find_elements("css selector", "#walk-error b") == []
    assert console_errors(page) == []


def test_self_contained_file_works_offline(
    driver: Any, demo_html: HtmlRun, truth: dict[str, Any], walks: dict[str, dict[str, Any]]
) -> None:
    out = demo_html.out  # what vmintro html writes (test_explorer_cli.py tests the command)
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", OFFLINE)
    try:
        driver.get(out.as_uri())
        wait_for(lambda: driver.execute_script("return document.body.dataset.ready"), "the file")
        rects = driver.find_elements("css selector", "#space-map rect.area")
        assert {int(r.get_attribute("data-addr"), 16) for r in rects} == {
            a["addr"] for a in truth["areas"]
        }
        area = truth["areas"][1]
        driver.find_element("css selector", f'#area-table tr[data-addr="{area["addr"]:x}"]').click()
        driver.find_element("css selector", "#page-table tbody tr:nth-child(2)").click()
        want = _walk(walks[f"vtop {area['addr'] + 4096:#x}"])["text"]
        wait_for(lambda: driver.find_element("id", "walk-text").text == want, "the walk")
        # nothing was fetched: the data, the script and the style are all in the file
        assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0
        assert console_errors(driver) == []
    finally:
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", ONLINE)


@pytest.fixture(scope="module")
def timeline_server(timeline_image: Path) -> Iterator[ExplorerServer]:
    with serving(timeline_image) as srv:
        yield srv


def _drawn_areas(driver: Any) -> set[int]:
    rects = driver.find_elements("css selector", "#space-map rect.area")
    return {int(r.get_attribute("data-addr"), 16) for r in rects}


def _move_slider(driver: Any, n: int) -> None:
    driver.execute_script(
        "const s = document.getElementById('tl-slider'); s.value = arguments[0];"
        "s.dispatchEvent(new Event('input'));",
        str(n),
    )
    wait_for(lambda: driver.execute_script("return document.body.dataset.moment") == str(n), f"{n}")


def _check_moment(driver: Any, prog: vmintro.Program, n: int) -> None:
    at = prog.at(n)
    assert _drawn_areas(driver) == {a.addr.value_() for a in for_each_vm_area(at)}
    timeline = prog.timeline
    assert timeline is not None
    entry = timeline.entries[n]
    text = driver.find_element("id", "tl-call").text
    assert text.startswith(f"entry {n} (step {entry.step}): ")
    if entry.call.startswith("vmalloc") and entry.result.kind == "address":
        changed = driver.find_elements("css selector", "#space-map rect.area.changed")
        assert [int(r.get_attribute("data-addr"), 16) for r in changed] == [entry.result.value]


def test_the_timeline_moves_every_view(
    driver: Any, timeline_server: ExplorerServer, timeline_image: Path
) -> None:
    prog = vmintro.open(timeline_image)
    driver.get(url_of(timeline_server))
    wait_for(lambda: driver.execute_script("return document.body.dataset.ready"), "the page")
    assert driver.find_element("id", "timeline").is_displayed()
    last = len(prog.timeline.entries) - 1  # type: ignore[union-attr]
    assert driver.find_element("id", "tl-slider").get_attribute("max") == str(last)
    for n in (9, 1, 16, 0):
        _move_slider(driver, n)
        _check_moment(driver, prog, n)
    driver.find_element("id", "tl-step").click()
    wait_for(lambda: driver.execute_script("return document.body.dataset.moment") == "1", "step")
    _check_moment(driver, prog, 1)
    from selenium.webdriver import ActionChains, Keys

    ActionChains(driver).send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT).perform()
    wait_for(lambda: driver.execute_script("return document.body.dataset.moment") == "3", "keys")
    _check_moment(driver, prog, 3)
    # a walk follows the moment: the first area freed is mapped at the entry that made it
    # and unmapped at its vfree
    made, freed, addr = _made_and_freed(prog)
    box = driver.find_element("id", "walk-addr")
    box.clear()
    box.send_keys(f"{addr:x}\n")
    for n in (made, freed):
        _move_slider(driver, n)
        want = vtop_text(prog.at(n), addr)
        wait_for(lambda w=want: driver.find_element("id", "walk-text").text == w, f"walk at {n}")
    assert console_errors(driver) == []


def test_steps_asked_while_a_moment_is_fetched_all_count(driver: Any, timeline_image: Path) -> None:
    """Two presses of the left arrow before the server has answered the first step's
    moment go back two moments, as the slider says, not one: the server holds every
    snapshot until both keys are down (on a loaded machine it is merely late)."""
    from selenium.webdriver import ActionChains, Keys

    with serving(timeline_image) as srv:
        explorer = srv.explorer
        explorer.document()  # the page's first document, answered before the hold
        answer = explorer.moment
        held = threading.Event()

        def late(n: int) -> dict[str, Any]:
            held.wait(60)
            return answer(n)

        explorer.moment = late  # type: ignore[method-assign]
        try:
            driver.get(url_of(srv))
            wait_for(lambda: driver.execute_script("return document.body.dataset.ready"), "page")
            last = explorer.last
            assert last is not None and last >= 2
            ActionChains(driver).send_keys(Keys.ARROW_LEFT, Keys.ARROW_LEFT).perform()
            assert driver.find_element("id", "tl-slider").get_attribute("value") == str(last - 2)
        finally:
            held.set()
        wait_for(
            lambda: driver.execute_script("return document.body.dataset.moment") == str(last - 2),
            f"moment {last - 2}",
        )
        _check_moment(driver, explorer.prog, last - 2)
        assert console_errors(driver) == []


def _made_and_freed(prog: vmintro.Program) -> tuple[int, int, int]:
    """The timeline's first vfree of a vmalloc'd area: the entries that made and freed
    it, and its address."""
    assert prog.timeline is not None
    made: dict[int, int] = {}
    for e in prog.timeline.entries:
        if e.call == "vmalloc" and e.result.kind == "address":
            made[e.result.value] = e.number
        elif e.call == "vfree" and dict(e.args)["addr"] in made:
            addr = dict(e.args)["addr"]
            return made[addr], e.number, addr
    raise AssertionError("the timeline frees no vmalloc'd area")


def vtop_text(prog: vmintro.Program, addr: int) -> str:
    from vmintro.explorer.data import vtop

    text: str = next(r["text"] for r in vtop(prog, addr)["results"] if r["name"] == "walk")
    return text


@pytest.mark.slow
def test_the_file_moves_through_the_timeline_offline(
    driver: Any, tmp_path: Path, timeline_image: Path
) -> None:
    prog = vmintro.open(timeline_image)
    out = tmp_path / "explorer.html"
    out.write_text(self_contained(file_document(prog, "demo")))
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", OFFLINE)
    try:
        driver.get(out.as_uri())
        wait_for(lambda: driver.execute_script("return document.body.dataset.ready"), "the file")
        for n in (3, 20):
            _move_slider(driver, n)
            _check_moment(driver, prog, n)
        assert console_errors(driver) == []
    finally:
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", ONLINE)


def test_text_from_the_image_stays_text(driver: Any, tmp_path: Path) -> None:
    """A module whose name is markup: the page shows the name, and runs nothing."""
    core = bytearray(Path(f"{DEMO}.vmcore").read_bytes())
    at = core.index(b"ext3\x00ext3_sym0\x00ext3_sym1\x00ext3_sym2\x00")
    name = b"<img src=x onerror=document.title=1>"  # over ext3 and its symbols' names
    core[at : at + len(name) + 1] = name + b"\x00"  # in place: the file keeps its layout
    hostile = tmp_path / "demo"
    Path(f"{hostile}.vmcore").write_bytes(core)
    Path(f"{hostile}.vmlinux").write_bytes(Path(f"{DEMO}.vmlinux").read_bytes())
    with serving(hostile, "<i>title</i>") as srv:
        driver.get(url_of(srv))
        wait_for(lambda: driver.execute_script("return document.body.dataset.ready"), "the page")
        owners = [td.text for td in driver.find_elements("css selector", "#area-table td.text")]
        assert f"module {name.decode()}" in owners
        assert driver.find_elements("css selector", "main img, main i, header i") == []
        assert driver.find_element("id", "title").text == "vmintro explorer: <i>title</i>"
        assert driver.title == "vmintro explorer"
        assert console_errors(driver) == []


def test_physical_memory_around_the_selected_area(
    driver: Any, server: ExplorerServer, truth: dict[str, Any]
) -> None:
    page = driver
    page.get(url_of(server))  # afresh: the tests before may have left another page
    wait_for(lambda: page.execute_script("return document.body.dataset.ready"), "the page")
    area = next(a for a in truth["areas"] if a["owner"] == "module ext3")
    page.find_element("css selector", f'#area-table tr[data-addr="{area["addr"]:x}"]').click()
    canvas = page.find_element("id", "frames")
    whole = canvas.size["height"]
    page.find_element("id", "phys-area").click()
    assert canvas.size["height"] < whole
    # the mouse over every cell of a grid of the canvas: what the page says is there
    said = page.execute_script(HOVER_GRID)
    shown = {int(text.split()[1], 16) for text in said if text.startswith("pfn ")}
    behind = {int(t.split()[1], 16) for t in said if t.endswith(" of module ext3")}
    lo, hi = min(area["pages"]), max(area["pages"])
    assert shown and lo - 96 <= min(shown), sorted(shown)
    assert max(shown) <= max(hi + 97, min(shown) + 640), sorted(shown)  # 512 frames at least
    assert behind and behind <= set(area["pages"])
    page.find_element("id", "phys-all").click()
    assert canvas.size["height"] == whole


HOVER_GRID = """
const canvas = document.getElementById("frames");
const box = canvas.getBoundingClientRect();
const said = [];
for (let y = box.top + 1; y < box.bottom; y += 4) {
  for (let x = box.left + 1; x < box.right; x += 4) {
    canvas.dispatchEvent(new MouseEvent("mousemove", { clientX: x, clientY: y }));
    said.push(document.getElementById("frame-info").textContent);
  }
}
return said;
"""


def test_the_map_zooms_and_pans(driver: Any, server: ExplorerServer) -> None:
    from selenium.webdriver import ActionChains

    driver.get(url_of(server))
    wait_for(lambda: driver.execute_script("return document.body.dataset.ready"), "the page")

    def view() -> tuple[int, int]:
        lo, _dash, hi = driver.find_element("id", "view-range").text.split()[:3]
        return int(lo, 16), int(hi, 16) + 1

    lo, hi = view()
    driver.find_element("id", "zoom-in").click()
    zoomed = view()
    assert zoomed[1] - zoomed[0] == (hi - lo) // 2
    strip = driver.find_element("id", "space-map")
    ActionChains(driver).move_to_element(strip).click_and_hold().move_by_offset(
        -strip.size["width"] // 4, 0
    ).release().perform()
    panned = view()
    assert panned[1] - panned[0] == zoomed[1] - zoomed[0] and panned[0] > zoomed[0]
    assert driver.find_elements("css selector", "#area-table tr.selected") == []  # no click
    driver.find_element("id", "zoom-all").click()
    assert view() == (0xC0000000, 1 << 32)
