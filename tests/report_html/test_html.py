"""The HTML evidence report (issue 5): sections, pass/fail, findings with
their flows, the deployment picture at 2 sites × 20 VRAs, coverage, chart,
self-containment and escaping of every input string."""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.errors import UsageError
from auditor.model import ROLE_DOCS
from auditor.report import html, svg
from auditor.report.definitions import COVERAGE_STATUS_DOCS, FINDING_KIND_DOCS, VERDICT_DOCS
from auditor.tables import CONN_STATES

from .conftest import SECOND, T0, make_scenario

SVG_NS = "{http://www.w3.org/2000/svg}"


class Page(HTMLParser):
    """Every start tag with its attributes, and the text of the document, as
    a browser's parser sees them."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text_parts: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)
        else:
            self.text_parts.append(data)

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    def by_id(self, id_: str) -> list[tuple[str, dict]]:
        return [t for t in self.tags if t[1].get("id") == id_]


def _render(sc, **kw) -> str:
    kw.setdefault("inventory", sc.inventory)
    kw.setdefault("rules", sc.rules)
    kw.setdefault("activity", sc.activity)
    return html.render(sc.report, **kw)


def _svg(doc: str, cls: str) -> ET.Element:
    m = re.search(rf'<svg[^>]*class="{cls}".*?</svg>', doc, re.DOTALL)
    assert m, f"no <svg class={cls}>"
    return ET.fromstring(m.group(0))  # well-formed XML, or this raises


def test_every_section_is_there_with_real_data(scenario):
    doc = _render(scenario, fail_on="high")
    page = Page(doc)
    for id_ in ("verdict", "evidence", "captures-table", "findings-table", "picture", "coverage-matrix",
                "traffic", "accounting-table", "warnings", "glossary"):
        assert page.by_id(id_), id_
    r = scenario.report
    text = page.text
    # Evidence block: every input with its hash, format, compression, size.
    cap = r["inputs"]["captures"][0]
    for s in (cap["path"], cap["sha256"], "pcapng", "gzip", "EN10MB", f"{cap['packets']:,}",
              r["inputs"]["inventory"]["sha256"], "zvr-legacy", "infrastructure", "zvm-vra",
              r["tool"]["version"], "2024-05-02 08:15:00.000000 UTC", "acme-dr"):
        assert s in text, s
    for rs in r["inputs"]["rules"]:
        assert rs["sha256"] in text
    # Capture window and accounting.
    assert "2024-05-01 12:00:00.000000 UTC" in text and "2024-05-01 12:10:00.123456 UTC" in text
    assert "10 min 0 s" in text
    assert f"{r['packets']['read']:,}" in text and f"{r['packets']['tcp']:,}" in text
    assert r["warnings"][0] in text
    # Both pictures are inline, well-formed SVG.
    assert _svg(doc, "deployment").tag == SVG_NS + "svg"
    assert _svg(doc, "traffic").tag == SVG_NS + "svg"


def test_pass_fail_against_fail_on(scenario):
    # One critical, four high, one medium, one low.
    text = Page(_render(scenario, fail_on="critical")).text
    assert "FAIL" in text and "1 finding at or above critical, 6 below" in text
    assert "exit code 1" in text
    text = Page(_render(scenario, fail_on="low")).text
    assert "7 findings at or above low" in text
    report = copy.deepcopy(scenario.report)
    report["findings"] = [f for f in report["findings"] if f["severity"] in ("medium", "low")]
    text = Page(html.render(report, fail_on="high")).text
    assert "PASS" in text and "FAIL" not in text
    assert "No finding at or above high (2 lower findings)" in text and "exit code 0" in text
    with pytest.raises(UsageError, match="unknown severity 'severe'"):
        html.render(report, fail_on="severe")


def test_findings_most_severe_first_with_rule_purpose_and_hosts(scenario):
    doc = _render(scenario)
    page = Page(doc)
    badges = [a["class"].split("sev-")[1] for t, a in page.tags
              if t == "span" and "badge" in a.get("class", "") and "sev-" in a.get("class", "")]
    # The first four badges are the header's chips (one per severity); the
    # findings table follows, then the glossary's four.
    order = badges[4:-4]
    assert order == ["critical", "high", "high", "high", "high", "medium", "low"]
    # The report's order within a severity is kept.
    body = doc[doc.index('id="findings-table"'):]
    assert body.index("vra-data") < body.index("zvm-vra-checkpoints")
    text = page.text
    assert "Required for vra data (port 4008)." in text  # the rule's purpose
    assert "4008/tcp · vra ↔ vra · peer-site · steady · expect some · critical" in text
    assert "vra @ prod" in text and "vra @ dr" in text and "client @ prod" in text
    assert "198.51.100.7" in text and "not in inventory" in text


def test_flows_behind_a_finding_are_the_grouped_ones(scenario):
    doc = _render(scenario)
    blocked = doc[doc.index('id="finding-1"'):doc.index('id="finding-2"')]
    assert "6 flows behind this finding" in blocked
    rows = re.findall(r'<td class="mono">10\.10\.2\.13:\d+</td>\s*<td class="mono">10\.20\.2\.13:4008</td>',
                      blocked)
    assert len(rows) == 6
    assert blocked.count("<code>S0</code>") == 6
    # conn_state carries its Zeek meaning as a tooltip.
    assert f'title="{CONN_STATES["S0"]}"' in blocked
    # A missing finding has no flows and says so.
    missing = doc[doc.index('id="finding-2"'):doc.index('id="finding-3"')]
    assert "flows behind" not in missing and "No expected or blocked flow" in missing


def test_without_the_flow_list_the_report_says_how_to_get_it():
    sc = make_scenario(include_flows=False)
    doc = html.render(sc.report, inventory=sc.inventory, rules=sc.rules)
    assert "--include-flows" in doc
    assert "flows behind this finding" not in doc
    assert "No activity table was given" in doc


def test_deployment_picture_with_2_sites_and_40_vras(scenario):
    doc = _render(scenario)
    root = _svg(doc, "deployment")
    nodes = root.findall(f".//{SVG_NS}g[@class='node']")
    titles = [n.find(f"{SVG_NS}text[@class='node-title']").text for n in nodes]
    # One node per (site, role): zvm, vcenter, esxi, vra at both sites,
    # clients at prod, and one for the address outside the inventory.
    assert sorted(titles) == sorted(["ZVM", "vCenter", "ESXi", "VRA"] * 2 + ["Clients", "Not in inventory"])
    vra_counts = [n.find(f"{SVG_NS}text[@class='node-count']").text for n in nodes
                  if n.find(f"{SVG_NS}text[@class='node-title']").text == "VRA"]
    assert vra_counts == ["20 hosts", "20 hosts"]
    # Natural order, five lines at most.
    vra_prod = next(n for n in nodes if "vra-prod-1" in "".join(n.itertext()))
    hosts = [t.text for t in vra_prod.findall(f"{SVG_NS}text[@class='node-host']")]
    assert hosts == ["vra-prod-1", "vra-prod-2", "vra-prod-3"]
    assert "17 more" in "".join(vra_prod.itertext())

    # Edge colours follow status: vra-data (blocked) in the blocked colour,
    # zvm-vra at dr (1 missing of 20) in the missing colour with its flag.
    labels = root.find(f".//{SVG_NS}g[@class='labels']")
    lines = ["".join(t.itertext()) for t in labels.iter(f"{SVG_NS}text")]
    assert "4008 vra-data" in lines
    assert "4006 zvm-vra 1 missing" in lines
    assert "4009 zvm-vra-checkpoints 1 missing" in lines
    assert "4008 misdirected" in lines and "22 unexpected" in lines and "445 unexpected" in lines
    swatch = {}
    rects = list(labels.iter(f"{SVG_NS}rect"))
    texts = list(labels.iter(f"{SVG_NS}text"))
    for t in texts:
        # The swatch drawn just before a line's text is its status colour.
        y = float(t.get("y"))
        sw = [r for r in rects if r.get("fill") and abs(float(r.get("y")) - (y - 8)) < 0.01
              and abs(float(r.get("x")) + 13 - float(t.get("x"))) < 0.01]
        if sw:
            swatch["".join(t.itertext())] = sw[0].get("fill")
    assert swatch["4008 vra-data"] == svg.STATUS_COLOURS["blocked"]
    assert swatch["4006 zvm-vra 1 missing"] == svg.STATUS_COLOURS["missing"]
    assert swatch["4007 vra-control"] == svg.STATUS_COLOURS["met"]
    assert swatch["4008 misdirected"] == svg.STATUS_COLOURS["misdirected"]

    # Readable: no label overlaps another label or a node.
    def box(r):
        x, y, w, h = (float(r.get(k)) for k in ("x", "y", "width", "height"))
        return x, y, x + w, y + h

    label_boxes = [box(r) for r in labels.iter(f"{SVG_NS}rect") if r.get("class") == "lbl-bg"]
    node_boxes = [box(n.find(f"{SVG_NS}rect")) for n in nodes]

    def overlap(a, b):
        return min(a[2], b[2]) - max(a[0], b[0]) > 0.5 and min(a[3], b[3]) - max(a[1], b[1]) > 0.5

    for i, a in enumerate(label_boxes):
        for b in label_boxes[i + 1:]:
            assert not overlap(a, b), (a, b)
        for b in node_boxes:
            assert not overlap(a, b), (a, b)

    # The table under the picture gives every line's counts.
    table = doc[doc.index('id="picture-edges"'):]
    table = table[:table.index("</table>")]
    row = re.search(r"<code>zvm-vra</code>.*?</tr>", table.replace("\n", " "))
    assert row
    assert "vra @ dr" in table


def test_picture_puts_each_host_pair_at_its_sites(scenario):
    pic = svg.deployment_picture(scenario.report, scenario.inventory, scenario.rules)
    by = {(e["name"], e["src"], e["dst"]): dict(e["parts"]) for e in pic.edges}
    assert by[("zvm-vra", ("dr", "zvm"), ("dr", "vra"))] == {"missing": 1, "met": 18, "unobserved": 1}
    assert by[("zvm-vra", ("prod", "zvm"), ("prod", "vra"))] == {"met": 20}
    assert by[("vra-data", ("dr", "vra"), ("prod", "vra"))] == {"blocked": 7}  # 1 expectation + 6 flows
    assert by[("misdirected", ("prod", "vra"), ("dr", "zvm"))] == {"misdirected": 2}
    assert by[("unexpected", ("prod", "vra"), ("", ""))] == {"unexpected": 1}
    assert by[("zvm-vcenter", ("prod", "zvm"), ("prod", "vcenter"))] == {"met": 1, "reversed": 1}
    # Optional rules raise no expectation but their expected flows are drawn.
    assert by[("zvm-gui", ("prod", "client"), ("prod", "zvm"))] == {"met": 1}


def test_coverage_matrix_rules_by_site_and_pair(scenario):
    doc = _render(scenario)
    cov = html._coverage(scenario.report, scenario.inventory, {r.id: r for r in scenario.rules})
    assert cov["columns"] == ["prod", "dr", "dr ↔ prod"]
    rows = {r["rule"]: r for r in cov["rows"]}
    prod, dr, pair = (rows["zvm-vra"]["cells"][i] for i in range(3))
    assert prod["parts"] == [("met", 20)] and prod["worst"] == "met"
    assert dr["parts"] == [("met", 18), ("missing", 1), ("unobserved", 1)] and dr["worst"] == "missing"
    assert pair is None
    assert rows["vra-data"]["cells"][2]["parts"] == [("blocked", 1)]
    assert cov["totals"] == {"met": 80, "missing": 2, "unobserved": 2, "blocked": 1}
    matrix = doc[doc.index('id="coverage-matrix"'):]
    matrix = matrix[:matrix.index("</table>")]
    assert matrix.count('class="cell w-missing"') == 2 and matrix.count('class="cell w-blocked"') == 1


def test_traffic_chart_totals_and_the_stop(scenario):
    doc = _render(scenario)
    root = _svg(doc, "traffic")
    legend = ["".join(t.itertext()) for t in root.iter(f"{SVG_NS}text") if t.get("class") == "legend"]
    totals = scenario.activity.groupby("verdict")["packets"].sum()
    for verdict, n in totals.items():
        assert f"{verdict.replace('_', ' ')} · {n:,} pkts" in legend
    rows = [t.text for t in root.iter(f"{SVG_NS}text") if t.get("class") == "row-label"]
    assert rows[0] == "vra-data"  # the busiest rule first


def test_activity_bins_are_gapless():
    act = pd.DataFrame({"bin_start_ns": [T0, T0 + 10 * SECOND, T0 + 10 * SECOND],
                        "verdict": ["expected", "expected", "blocked"], "rule": ["vra-data", "vra-data", None],
                        "packets": [5, 7, 1]})
    frame, width = svg.activity_bins(act)
    assert width == 10 * SECOND and frame.attrs["n"] == 2  # inferred from the smallest gap
    frame, width = svg.activity_bins(act, bin_ns=SECOND)
    assert width == SECOND and frame.attrs["n"] == 11 and list(frame["bin"]) == [0, 10, 10]
    act["bin_ns"] = SECOND
    assert svg.activity_bins(act)[1] == SECOND
    # Many bins are merged into at most MAX_BINS.
    many = pd.DataFrame({"bin_start_ns": T0 + pd.RangeIndex(5000).to_numpy() * SECOND, "verdict": "expected",
                         "rule": "x", "packets": 1})
    frame, width = svg.activity_bins(many)
    assert frame.attrs["n"] <= svg.MAX_BINS and width == 11 * SECOND
    chart = svg.traffic_chart(many)
    assert "expected · 5,000 pkts" in chart


def test_join_activity_takes_each_flows_verdict_and_rule():
    flow_activity = pd.DataFrame({"flow": [0, 1, 1, 2], "bin_start_ns": [T0, T0, T0 + SECOND, T0],
                                  "packets": [4, 2, 3, 9], "bytes": [1, 1, 1, 1]})
    joined = html.join_activity(flow_activity, ["expected", "blocked", "expected"],
                                ["vra-data", "vra-data", None])
    assert list(joined.columns) == ["bin_start_ns", "verdict", "rule", "packets"]
    assert list(joined["verdict"]) == ["expected", "blocked", "blocked", "expected"]
    assert [r if isinstance(r, str) else None for r in joined["rule"]] == ["vra-data"] * 3 + [None]
    chart = svg.traffic_chart(joined)
    assert "expected · 13 pkts" in chart and "blocked · 5 pkts" in chart


def test_glossary_is_the_codes_definitions(scenario):
    text = Page(_render(scenario)).text
    for table in (VERDICT_DOCS, FINDING_KIND_DOCS, COVERAGE_STATUS_DOCS, CONN_STATES, ROLE_DOCS):
        for code, doc in table.items():
            assert code in text and doc in text, code


def test_self_contained_and_only_the_hashed_script_runs(scenario):
    doc = _render(scenario)
    page = Page(doc)
    # Nothing is fetched: no external references of any kind.
    for tag, attrs in page.tags:
        for k, v in attrs.items():
            if k in ("src", "href", "action", "xlink:href", "data", "poster"):
                assert v is None or v.startswith("#"), (tag, k, v)
    assert "url(" not in doc and "@import" not in doc
    assert re.findall(r"https?://[^\"'\s<]+", doc) == ["http://www.w3.org/2000/svg"] * 2
    # One inline script, allowed by its hash in the Content-Security-Policy.
    assert [t for t, _ in page.tags].count("script") == 1
    csp = next(a["content"] for t, a in page.tags if a.get("http-equiv") == "Content-Security-Policy")
    digest = base64.b64encode(hashlib.sha256(page.scripts[0].encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp and "default-src 'none'" in csp


def test_hostile_strings_are_shown_as_text(evil_scenario):
    doc = _render(evil_scenario)
    page = Page(doc)
    # The browser's parser sees only our own tags: one script, no img, no
    # event-handler attribute anywhere.
    assert [t for t, _ in page.tags].count("script") == 1
    assert "img" not in {t for t, _ in page.tags}
    assert not [(t, k) for t, a in page.tags for k in a if k.startswith("on")]
    text = page.text
    assert "<script>alert(1)</script>" in text  # a host name, as text
    assert "<img src=x onerror=alert(2)> Required between the ZVM and each VRA." in text  # a rule purpose
    assert "<script>alert(3)</script>: byte 1234" in text  # a warning
    assert "captures/<evil>\"'&.pcapng" in text  # a file name
    assert "acme <i>dr</i>" in text  # the deployment name
    # Inside the SVG too (node list and title), and the SVG is still XML.
    root = _svg(doc, "deployment")
    svg_text = "".join(root.itertext())
    assert "<script>alert(1)</script>" in svg_text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in doc
    assert "<script>alert" not in doc


@functools.lru_cache(maxsize=1)
def _small_report() -> dict:
    return make_scenario(vras_per_site=8, include_flows=False).report


_names = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30)


def test_host_names_sort_naturally_whatever_their_digits() -> None:
    """vra-2 before vra-10; a superscript or other non-decimal digit (which
    str.isdigit accepts and int() refuses) is text, never a crash (found by
    the property test below with host "¹")."""
    from auditor.report.svg import _natural_key

    names = ["vra-10", "vra-2", "vra-¹", "vra-²0", "vra-٣"]  # the last: Arabic-Indic three, a decimal digit
    assert sorted(names, key=_natural_key) == ["vra-2", "vra-٣", "vra-10", "vra-²0", "vra-¹"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(host=_names, site=_names, detail=_names)
def test_any_input_string_round_trips_as_text(host, site, detail):
    report = copy.deepcopy(_small_report())
    f = report["findings"][1]
    f["client"]["host"], f["client"]["site"], f["detail"] = host, site, detail
    report["coverage"].append({"rule": "zvm-peer", "client": host, "server": site, "status": "missing"})
    doc = html.render(report, fail_on="low")  # no inventory: the picture comes from the findings
    page = Page(doc)
    assert [t for t, _ in page.tags].count("script") == 1
    text = page.text
    for s in (host, detail):
        # HTML folds CR/CRLF into LF when parsing; compare as a browser would.
        assert s.replace("\r\n", "\n").replace("\r", "\n") in text.replace("\r\n", "\n").replace("\r", "\n")
    ET.fromstring(re.search(r'<svg[^>]*class="deployment".*?</svg>', doc, re.DOTALL).group(0))


def test_without_inventory_or_rules_it_still_renders(scenario):
    doc = html.render(scenario.report)
    page = Page(doc)
    assert page.by_id("findings-table") and page.by_id("coverage-matrix")
    assert "acme-dr" not in page.text.split("Evidence")[0] and "inventory" in page.text  # name from the path
    root = _svg(doc, "deployment")
    titles = sorted(t.text for t in root.iter(f"{SVG_NS}text") if t.get("class") == "node-title")
    assert titles == sorted(["VRA", "VRA", "ZVM", "ZVM", "vCenter", "vCenter", "Clients", "Not in inventory"])
    assert "No inventory was given to the renderer" in doc


def test_no_findings_and_no_coverage():
    sc = make_scenario(vras_per_site=8)
    report = copy.deepcopy(sc.report)
    report["findings"], report["coverage"], report["warnings"] = [], [], []
    doc = html.render(report, inventory=sc.inventory, rules=sc.rules, activity=sc.activity.iloc[:0])
    text = Page(doc).text
    assert "PASS" in text and "No findings" in text
    assert "The rules raise no expectation" in text
    assert "None: every capture was read to its end" in text
    assert "No packets in any time bin." in text


def test_with_the_bundled_rules_the_purposes_are_the_real_ones(scenario):
    ruleset = pytest.importorskip("auditor.ruleset")
    rulesets = ruleset.load_rulesets(None, "zvr-legacy")
    rules = ruleset.effective_rules(rulesets, scenario.inventory)
    doc = html.render(scenario.report, inventory=scenario.inventory, rules=rules)
    vra_data = next(r for r in rules if r.id == "vra-data")
    assert Page(doc).text.count(vra_data.purpose) >= 2  # the blocked and the misdirected finding


def _bare_report(findings: list[dict], coverage: list[dict]) -> dict:
    report = copy.deepcopy(_small_report())
    report["findings"], report["coverage"] = findings, coverage
    return report


@pytest.mark.parametrize("sites", [["hq"], ["a", "b", "c"]])
def test_one_site_and_three_sites_lay_out(sites):
    import ipaddress

    from auditor.model import Host, Inventory, Role, Site

    hosts = []
    for i, s in enumerate(sites):
        hosts += [Host(f"zvm-{s}", Role.ZVM, s, (ipaddress.ip_network(f"10.{i}.0.10"),)),
                  Host(f"vc-{s}", Role.VCENTER, s, (ipaddress.ip_network(f"10.{i}.0.5"),)),
                  Host(f"vra-{s}", Role.VRA, s, (ipaddress.ip_network(f"10.{i}.2.11"),))]
    inv = Inventory("multi", "zvr-legacy", "inv.yaml", "b" * 64,
                    {s: Site(s, frozenset(sites[:1]) - {s}) for s in sites}, tuple(hosts), {})
    coverage = [{"rule": "zvm-vra", "client": f"vra-{s}", "server": f"zvm-{s}", "status": "met"} for s in sites]
    coverage += [{"rule": "vra-data", "client": a, "server": b, "status": "missing"}
                 for a in sites for b in sites if a < b]
    end = {"ip": "10.0.2.11", "host": f"vra-{sites[0]}", "role": "vra", "site": sites[0]}
    to = {"ip": f"10.{len(sites) - 1}.0.10", "host": f"zvm-{sites[-1]}", "role": "zvm", "site": sites[-1]}
    findings = [{"kind": "misdirected", "severity": "high", "rule": "vra-data", "client": end, "server": to,
                 "port": 4008, "proto": "tcp", "flows": 1, "packets": 3, "bytes": 180, "first_seen": None,
                 "last_seen": None, "detail": "4008 to a ZVM."}]
    sc = make_scenario(vras_per_site=8)
    doc = html.render(_bare_report(findings, coverage), inventory=inv, rules=sc.rules)
    root = _svg(doc, "deployment")
    site_names = [t.text for t in root.iter(f"{SVG_NS}text") if t.get("class") == "site-name"]
    assert site_names == sites
    lines = ["".join(t.itertext()) for t in root.iter(f"{SVG_NS}text") if t.get("x") and t.find(f"{SVG_NS}tspan") is not None]
    assert "4006 zvm-vra" in lines and "4008 misdirected" in lines
    if len(sites) > 1:
        assert "4008 vra-data" in lines
        assert "a ↔ b" in doc and "b ↔ c" in doc
