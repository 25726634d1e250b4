"""Inline SVG pictures for the HTML report: the deployment picture and the
traffic chart.

Both are built from report data (plus the inventory, the rules and the
activity table when given) as SVG text. Every string that came from an input
goes through ``markupsafe.escape`` in ``_el``/``_text``: nothing here writes
raw text, so a host named ``<script>`` is drawn as those characters.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape

# --------------------------------------------------------------------------
# Palette, shared with the stylesheet (html.py writes these as CSS variables)
# so a colour means the same thing in the picture, the tables and the chart.
STATUS_COLOURS: dict[str, str] = {
    "met": "#2b8a3e",
    "blocked": "#e8590c",
    "missing": "#c92a2a",
    "misdirected": "#862e9c",
    "reversed": "#0b7285",
    "unexpected": "#1864ab",
    "unobserved": "#868e96",
}
VERDICT_COLOURS: dict[str, str] = {
    "expected": "#2b8a3e",
    "blocked": "#e8590c",
    "reversed": "#0b7285",
    "misdirected": "#862e9c",
    "unexpected": "#1864ab",
    "out_of_scope": "#adb5bd",
}
SEVERITY_COLOURS: dict[str, str] = {
    "critical": "#a61e4d",
    "high": "#d9480f",
    "medium": "#e67700",
    "low": "#5c7cfa",
}

# Worst first: an edge that aggregates several expectations or flow groups
# takes the colour of its worst member.
STATUS_ORDER = ("missing", "misdirected", "blocked", "reversed", "unexpected", "met", "unobserved")
VERDICT_ORDER = ("expected", "blocked", "reversed", "misdirected", "unexpected", "out_of_scope")

# Roles in the inner column face the peer site (they carry the cross-site
# rules: ZVM to ZVM, VRA to VRA); the others sit in the outer column around
# their site's ZVM, which is the hub of every same-site rule.
INNER_ROLES = ("zvm", "vra")
OUTER_ROLES = ("vcenter", "esxi", "vba", "vcd", "zcm", "zssp", "client")
ROLE_TITLES = {
    "zvm": "ZVM", "vra": "VRA", "vba": "VBA", "vcenter": "vCenter", "esxi": "ESXi",
    "zcm": "ZCM", "zssp": "ZSSP", "vcd": "vCD", "client": "Clients",
}

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, 'Liberation Sans', sans-serif"
CHAR_W = 0.6  # average glyph width per font-size unit, to size label boxes


# --------------------------------------------------------------------------
# SVG text with escaping built in.
def _attr_name(name: str) -> str:
    return name.rstrip("_").replace("_", "-")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.1f}".rstrip("0").rstrip(".") if math.isfinite(v) else "0"
    return str(v)


def _el(tag: str, *children: Any, **attrs: Any) -> Markup:
    """One element; attribute values and text children are escaped, Markup
    children (other elements) are kept as they are."""
    attr_text = "".join(
        f' {_attr_name(k)}="{escape(_fmt(v))}"' for k, v in attrs.items() if v is not None
    )
    inner = Markup("").join(c if isinstance(c, Markup) else escape(_fmt(c)) for c in children)
    if not children:
        return Markup(f"<{tag}{attr_text}/>")
    return Markup(f"<{tag}{attr_text}>") + inner + Markup(f"</{tag}>")


def _text(x: float, y: float, s: str, **attrs: Any) -> Markup:
    return _el("text", s, x=x, y=y, **attrs)


def _text_w(s: str, size: float) -> float:
    return len(s) * size * CHAR_W


def _clip(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


# --------------------------------------------------------------------------
# Deployment picture: nodes are (site, role) groups, edges are bundles of
# rules (and finding groups) between two nodes.
NodeKey = tuple  # (site, role); ("", "") is everything outside the inventory
OUTSIDE: NodeKey = ("", "")


@dataclass
class _Node:
    key: NodeKey
    hosts: list[str] = field(default_factory=list)
    x: float = 0.0
    y: float = 0.0
    w: float = 0.0
    h: float = 0.0
    column: int = -1

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2


@dataclass
class _Member:
    """One line of an edge's label: a rule (with its expectation and flow
    counts per status) or a group of findings of one kind."""

    port: str
    name: str
    src: NodeKey
    dst: NodeKey
    counts: Counter = field(default_factory=Counter)

    @property
    def status(self) -> str:
        for s in STATUS_ORDER:
            if self.counts.get(s):
                return s
        return "unobserved"

    def parts(self) -> list[tuple[str, int]]:
        return [(s, self.counts[s]) for s in STATUS_ORDER if self.counts.get(s)]

    def flag(self) -> str:
        """The worst status with its count when the line also carries better
        ones (``1 missing`` on a rule met for 18 other pairs); the colour
        alone says it otherwise."""
        parts = self.parts()
        if len(parts) > 1:
            return f"{parts[0][1]} {parts[0][0]}"
        return ""

    def text(self) -> str:
        flag = self.flag()
        return f"{self.port} {self.name}" + (f"  {flag}" if flag else "")


@dataclass
class _Bundle:
    a: NodeKey
    b: NodeKey
    members: dict[tuple, _Member] = field(default_factory=dict)

    def member(self, key: tuple, port: str, name: str, src: NodeKey, dst: NodeKey) -> _Member:
        if key not in self.members:
            self.members[key] = _Member(port, name, src, dst)
        return self.members[key]

    def ordered(self) -> list[_Member]:
        return sorted(self.members.values(), key=lambda m: (STATUS_ORDER.index(m.status), m.port, m.name))


MAX_LABEL_LINES = 6
LINE_H = 15.0
LABEL_FONT = 11.0


def _label_lines(bundle: _Bundle) -> list[_Member | str]:
    members = bundle.ordered()
    if len(members) <= MAX_LABEL_LINES:
        return list(members)
    return list(members[: MAX_LABEL_LINES - 1]) + [f"+ {len(members) - MAX_LABEL_LINES + 1} more"]


def _label_size(bundle: _Bundle) -> tuple[float, float]:
    lines = _label_lines(bundle)
    w = max(_text_w(m.text() if isinstance(m, _Member) else m, LABEL_FONT) for m in lines) + 24
    return w, len(lines) * LINE_H + 8


class _Graph:
    def __init__(self) -> None:
        self.nodes: dict[NodeKey, _Node] = {}
        self.bundles: dict[frozenset, _Bundle] = {}
        self.sites: list[str] = []

    def node(self, key: NodeKey) -> _Node:
        if key not in self.nodes:
            self.nodes[key] = _Node(key)
            if key != OUTSIDE and key[0] not in self.sites:
                self.sites.append(key[0])
        return self.nodes[key]

    def bundle(self, a: NodeKey, b: NodeKey) -> _Bundle:
        k = frozenset((a, b))
        if k not in self.bundles:
            self.bundles[k] = _Bundle(a, b)
        return self.bundles[k]


def _port_text(port: Any, proto: Any) -> str:
    return f"{port}" if proto in (None, "tcp") else f"{port}/{proto}"


class _Directory:
    """Host name → (site, role) and address → host, from the inventory and
    from what the findings say about their ends."""

    def __init__(self, inventory: Any, findings: Sequence[dict]) -> None:
        self.host_node: dict[str, NodeKey] = {}
        self.networks: list[tuple[Any, str]] = []
        self.ip_host: dict[str, str | None] = {}
        if inventory is not None:
            for h in inventory.hosts:
                self.host_node[h.name] = (h.site, _role_value(h.role))
                for net in h.networks:
                    self.networks.append((net, h.name))
            # Most specific block first (SPEC section 3).
            self.networks.sort(key=lambda t: -t[0].prefixlen)
        for f in findings:
            for end in (f.get("client") or {}, f.get("server") or {}):
                host, role, site = end.get("host"), end.get("role"), end.get("site")
                if host and role and site and host not in self.host_node:
                    self.host_node[host] = (site, role)
                if end.get("ip") and host:
                    self.ip_host.setdefault(end["ip"], host)

    def host_of_ip(self, ip: str) -> str | None:
        if ip in self.ip_host:
            return self.ip_host[ip]
        host = None
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            addr = None
        if addr is not None:
            for net, name in self.networks:
                if addr.version == net.version and addr in net:
                    host = name
                    break
        self.ip_host[ip] = host
        return host


def _role_value(role: Any) -> str:
    return getattr(role, "value", role)


def _end_node(end: dict, directory: _Directory) -> NodeKey:
    host, role, site = end.get("host"), end.get("role"), end.get("site")
    if host and host in directory.host_node:
        return directory.host_node[host]
    if role and site:
        return (site, role)
    return OUTSIDE


def _build_graph(report: dict, inventory: Any, rules: Sequence[Any] | None) -> _Graph:
    g = _Graph()
    findings = report.get("findings") or []
    directory = _Directory(inventory, findings)
    rules_by_id = {r.id: r for r in (rules or [])}

    if inventory is not None:
        for site in inventory.sites:
            if site not in g.sites:
                g.sites.append(site)
        for h in inventory.hosts:
            g.node((h.site, _role_value(h.role))).hosts.append(h.name)
    for host, key in directory.host_node.items():
        node = g.node(key)
        if host not in node.hosts:
            node.hosts.append(host)

    # Roles of each rule's ends: from the rules, else from its findings.
    rule_roles: dict[str, tuple[str, str]] = {
        r.id: (r.client, r.server) for r in rules_by_id.values()
    }
    for f in findings:
        rid = f.get("rule")
        c, s = (f.get("client") or {}).get("role"), (f.get("server") or {}).get("role")
        if rid and c and s and f.get("kind") in ("missing", "blocked") and rid not in rule_roles:
            rule_roles[rid] = (c, s)

    def rule_member(rid: str, a: NodeKey, b: NodeKey) -> _Member:
        r = rules_by_id.get(rid)
        port = _port_text(r.port, r.proto) if r is not None else ""
        return g.bundle(a, b).member(("rule", rid), port, rid, a, b)

    # 1. Expectations (coverage): met / blocked / missing / unobserved.
    for cov in report.get("coverage") or []:
        rid, c, s, status = cov.get("rule"), cov.get("client"), cov.get("server"), cov.get("status")
        pairs: list[tuple[NodeKey, NodeKey]] = []
        if c in directory.host_node and s in directory.host_node:
            a, b = directory.host_node[c], directory.host_node[s]
            roles = rule_roles.get(rid)
            if roles and b[1] == roles[0] and a[1] != roles[0]:
                a, b = b, a
            pairs.append((a, b))
        elif rid in rule_roles:
            cr, sr = rule_roles[rid]
            if c == "*" or s == "*":
                pairs = [(ka, kb) for ka in list(g.nodes) for kb in list(g.nodes)
                         if ka[1] == cr and kb[1] == sr and ka != kb and ka != OUTSIDE]
                if cr == sr:  # an unordered pair of nodes, once
                    pairs = [(ka, kb) for ka, kb in pairs if ka < kb]
            else:
                for ca, sb in ((c, s), (s, c)):
                    if (ca, cr) in g.nodes and (sb, sr) in g.nodes:
                        pairs.append(((ca, cr), (sb, sr)))
                        break
        for a, b in pairs:
            rule_member(rid, a, b).counts[status] += 1

    # 2. Flow findings: blocked and reversed join their rule's line;
    #    misdirected and unexpected get their own (the port that was used).
    for f in findings:
        kind = f.get("kind")
        if kind == "missing":
            continue
        a = _end_node(f.get("client") or {}, directory)
        b = _end_node(f.get("server") or {}, directory)
        g.node(a)
        g.node(b)
        if a == OUTSIDE:
            g.nodes[a].hosts.append((f.get("client") or {}).get("ip") or "?")
        if b == OUTSIDE:
            g.nodes[b].hosts.append((f.get("server") or {}).get("ip") or "?")
        rid = f.get("rule")
        port = _port_text(f.get("port"), f.get("proto"))
        n = int(f.get("flows") or 1)
        if kind in ("blocked", "reversed") and rid:
            m = rule_member(rid, a, b)
            if not m.port:
                m.port = port
            m.counts[kind] += n
        else:
            g.bundle(a, b).member((kind, port, rid, a, b), port, kind, a, b).counts[kind] += n

    # 3. Expected flows of rules that raise no expectation (optional,
    #    on-demand): drawn as met where both ends are inventory hosts.
    covered = {cov.get("rule") for cov in report.get("coverage") or []}
    for fl in report.get("flows") or []:
        rid = fl.get("rule")
        if fl.get("verdict") != "expected" or not rid or rid in covered:
            continue
        r = rules_by_id.get(rid)
        if r is None or r.client in ("any", "inventory") or r.server in ("any", "inventory"):
            continue
        hc, hs = directory.host_of_ip(fl["client_ip"]), directory.host_of_ip(fl["server_ip"])
        if hc is None or hs is None:
            continue
        rule_member(rid, directory.host_node[hc], directory.host_node[hs]).counts["met"] += 1

    outside = g.nodes.get(OUTSIDE)
    if outside is not None:
        outside.hosts = sorted(set(outside.hosts), key=_ip_sort_key)
    return g


def _ip_sort_key(text: str) -> tuple:
    try:
        ip = ipaddress.ip_address(text)
        return (0, ip.version, int(ip))
    except ValueError:
        return (1, 0, 0)


# Layout constants (SVG user units ~ CSS px at 1:1).
NODE_W = 170.0
NODE_HEAD = 24.0
HOST_LINE = 15.0
MAX_HOST_LINES = 5
INNER_GAP = 170.0  # least gap between a site's outer and inner column (same-site labels)
MID_GAP = 200.0  # least gap between two sites' inner columns (cross-site labels)
MARGIN = 20.0
SITE_HEAD = 34.0


def _natural_key(text: str) -> tuple:
    """vra-2 before vra-10."""
    import re

    # isdecimal, not isdigit: "¹" is a digit to isdigit but not to \d or int()
    return tuple((0, int(t), "") if t.isdecimal() else (1, 0, t) for t in re.split(r"(\d+)", text) if t)


def _node_lines(node: _Node) -> list[tuple[str, bool]]:
    """(text, is_a_host) per line: the first hosts, then a count of the rest."""
    hosts = sorted(node.hosts, key=_natural_key) if node.key != OUTSIDE else node.hosts
    if len(hosts) <= MAX_HOST_LINES:
        return [(h, True) for h in hosts]
    return [(h, True) for h in hosts[: MAX_HOST_LINES - 2]] + [
        ("…", False), (f"{len(hosts) - MAX_HOST_LINES + 2} more", False)]


def _layout(g: _Graph) -> tuple[float, float]:
    """Place nodes in columns: for site i, [outer, inner] when i is even and
    [inner, outer] when odd, so two sites face each other with their ZVMs
    and VRAs. Returns the canvas size."""
    for node in g.nodes.values():
        node.w = NODE_W
        node.h = NODE_HEAD + len(_node_lines(node)) * HOST_LINE + 8

    def hub_label_h(site: str, key: NodeKey) -> float:
        b = g.bundles.get(frozenset(((site, "zvm"), key)))
        return _label_size(b)[1] if b else 0.0

    def self_loop_h(key: NodeKey) -> float:
        b = g.bundles.get(frozenset((key,)))
        return _label_size(b)[1] + 36 if b else 0.0

    # Gaps wide enough for the widest label that sits in them.
    rim_w, cross_w = [0.0], [0.0]
    for bundle in g.bundles.values():
        a, b = bundle.a, bundle.b
        if OUTSIDE in (a, b) or a == b:
            continue
        if a[0] == b[0] and (a[1] in INNER_ROLES) != (b[1] in INNER_ROLES):
            rim_w.append(_label_size(bundle)[0])
        elif a[0] != b[0]:
            cross_w.append(_label_size(bundle)[0])
    inner_gap = max(INNER_GAP, max(rim_w) + 40)
    mid_gap = max(MID_GAP, min(max(cross_w) + 40, 360))

    x = MARGIN
    col_x: list[float] = []
    top = MARGIN + SITE_HEAD
    heights: list[float] = []
    site_boxes: list[tuple[str, float, float]] = []
    inner_y: dict[str, float] = {"zvm": top}
    # Inner rows are aligned across sites so cross-site lines run level.
    zvm_h = max([g.nodes[(s, "zvm")].h + self_loop_h((s, "zvm")) for s in g.sites
                 if (s, "zvm") in g.nodes] or [0.0])
    zvm_vra_gap = max([hub_label_h(s, (s, "vra")) for s in g.sites] + [0.0]) + 44
    inner_y["vra"] = top + (zvm_h + zvm_vra_gap if zvm_h else 0.0)

    for i, site in enumerate(g.sites):
        outer_first = i % 2 == 0
        cols = ["outer", "inner"] if outer_first else ["inner", "outer"]
        site_x0 = x
        for c in cols:
            col_x.append(x)
            y_end = top
            if c == "inner":
                for role in INNER_ROLES:
                    inner = g.nodes.get((site, role))
                    if inner is None:
                        continue
                    node = inner
                    node.x, node.y, node.column = x, inner_y[role], len(col_x) - 1
                    y_end = max(y_end, node.y + node.h + self_loop_h(node.key))
            else:
                y = top
                roles = [k[1] for k in g.nodes if k[0] == site and k[1] not in INNER_ROLES]
                roles.sort(key=lambda r: (OUTER_ROLES.index(r) if r in OUTER_ROLES else 99, r))
                for role in roles:
                    node = g.nodes[(site, role)]
                    node.x, node.y, node.column = x, y, len(col_x) - 1
                    slot = max(node.h, hub_label_h(site, node.key)) + self_loop_h(node.key)
                    y += slot + 22
                y_end = y
            heights.append(y_end)
            x += NODE_W + (inner_gap if c == cols[0] else 0)
        site_boxes.append((site, site_x0, x))
        x += mid_gap
    width = x - mid_gap + MARGIN if g.sites else 2 * MARGIN + NODE_W
    height = max(heights + [top]) + 10
    g.site_bottom = height  # type: ignore[attr-defined]
    # Lines between sites that do not face each other run under the sites.
    under = [k for k, b in g.bundles.items() if _runs_under(g, b)]
    g.under_lane = {k: i for i, k in enumerate(under)}  # type: ignore[attr-defined]
    if under:
        height += UNDER_DIP + UNDER_LANE * len(under) + 16

    outside = g.nodes.get(OUTSIDE)
    if outside is not None:
        outside.w = NODE_W + 30
        outside.x = width / 2 - outside.w / 2
        outside.y = height + 70
        height = outside.y + outside.h + self_loop_h(OUTSIDE)
    g.site_boxes = site_boxes  # type: ignore[attr-defined]
    return width, height + MARGIN


UNDER_DIP = 40.0  # how far below the site boxes the under-routed lines run
UNDER_LANE = 14.0  # and one lane below the other


def _runs_under(g: _Graph, bundle: _Bundle) -> bool:
    """A line between two sites whose nodes are not in facing columns
    (a third site, or a site's own inner column, lies between them)."""
    a, b = g.nodes[bundle.a], g.nodes[bundle.b]
    if OUTSIDE in (a.key, b.key) or a.key[0] == b.key[0]:
        return False
    return abs(a.column - b.column) != 1


Point = tuple[float, float]
Rect = tuple[float, float, float, float]  # x0, y0, x1, y1


def _bezier(p: Sequence[Point], t: float) -> Point:
    u = 1 - t
    return (u ** 3 * p[0][0] + 3 * u * u * t * p[1][0] + 3 * u * t * t * p[2][0] + t ** 3 * p[3][0],
            u ** 3 * p[0][1] + 3 * u * u * t * p[1][1] + 3 * u * t * t * p[2][1] + t ** 3 * p[3][1])


def _overlap(a: Rect, b: Rect) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


class _Labels:
    """Label placement: a label goes where it overlaps nothing already
    placed (nodes, earlier labels), trying points along its curve from the
    middle outwards."""

    # Middle of the curve first, then outwards; then nudged off the curve.
    T_CANDIDATES = tuple(sorted((i / 20 for i in range(1, 20)), key=lambda t: abs(t - 0.5)))
    SHIFTS = (0.0, -0.6, 0.6, -1.2, 1.2)

    def __init__(self, obstacles: list[Rect]) -> None:
        self.taken = list(obstacles)
        self.parts: list[Markup] = []

    def fixed(self, x0: float, y0: float, bundle: _Bundle) -> None:
        w, h = _label_size(bundle)
        self.taken.append((x0, y0, x0 + w, y0 + h))
        self.parts.append(_draw_label(x0, y0, bundle))

    def along(self, curve: Sequence[Point], bundle: _Bundle) -> None:
        w, h = _label_size(bundle)
        best, best_cost = None, math.inf
        for shift in self.SHIFTS:
            for t in self.T_CANDIDATES:
                cx, cy = _bezier(curve, t)
                cy += shift * h
                rect = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
                cost = sum(_overlap(rect, r) for r in self.taken) + abs(shift) * 40
                if cost < best_cost:
                    best, best_cost = rect, cost
            if best_cost == 0:
                break
        assert best is not None
        self.taken.append(best)
        self.parts.append(_draw_label(best[0], best[1], bundle))


def _draw_label(x0: float, y0: float, bundle: _Bundle) -> Markup:
    """A label block at (x0, y0) listing the bundle's members, each with a
    swatch in its status colour."""
    w, h = _label_size(bundle)
    parts = [_el("rect", x=x0, y=y0, width=w, height=h, rx=4, class_="lbl-bg")]
    for i, m in enumerate(_label_lines(bundle)):
        ty = y0 + 4 + LINE_H * (i + 1) - 4
        if isinstance(m, str):
            parts.append(_text(x0 + 8, ty, m, class_="lbl-more"))
            continue
        colour = STATUS_COLOURS[m.status]
        parts.append(_el("rect", x=x0 + 6, y=ty - 8, width=9, height=9, rx=2, fill=colour))
        spans = [_el("tspan", m.port, class_="lbl-port"), " ", _el("tspan", m.name, class_="lbl-name")]
        if m.flag():
            spans += [" ", _el("tspan", m.flag(), fill=colour, class_="lbl-status")]
        parts.append(_el("text", *spans, x=x0 + 19, y=ty))
    return Markup("").join(parts)


def _strokes(bundle: _Bundle, path_for_offset: Any) -> Markup:
    """One stroke per member (up to six), side by side like a cable, each in
    its status colour; unobserved ones dashed."""
    members = bundle.ordered()[:MAX_LABEL_LINES]
    n = len(members)
    parts = []
    for i, m in enumerate(members):
        off = (i - (n - 1) / 2) * 3.5
        parts.append(_el(
            "path", d=path_for_offset(off), fill="none", stroke=STATUS_COLOURS[m.status],
            stroke_width=2, stroke_dasharray="5 4" if m.status == "unobserved" else None,
            stroke_linecap="round",
        ))
    return Markup("").join(parts)


def _cubic_path(p: Sequence[Point], dx: float, dy: float) -> str:
    return (f"M{p[0][0] + dx:.1f},{p[0][1] + dy:.1f} C{p[1][0] + dx:.1f},{p[1][1] + dy:.1f} "
            f"{p[2][0] + dx:.1f},{p[2][1] + dy:.1f} {p[3][0] + dx:.1f},{p[3][1] + dy:.1f}")


def _geometry(g: _Graph, bundle: _Bundle) -> tuple[str, list[Point], tuple[float, float], Any]:
    """How a bundle is drawn: (kind, cubic control points, stroke offset
    direction, fixed label position or None)."""
    a, b = g.nodes[bundle.a], g.nodes[bundle.b]
    w, h = _label_size(bundle)
    if a is b:  # a loop below the node, label under it
        x, y = a.cx, a.y + a.h
        return "loop", [(x - 30, y), (x - 55, y + 36), (x + 55, y + 36), (x + 30, y)], (1, 0), \
            (x - w / 2, y + 30)
    if OUTSIDE in (a.key, b.key):
        o, n = (a, b) if a.key == OUTSIDE else (b, a)
        x1, y1 = n.cx, n.y + n.h
        x2 = o.cx + max(-o.w / 2 + 20, min(o.w / 2 - 20, (n.cx - o.cx) * 0.3))
        y2 = o.y
        return "down", [(x1, y1), (x1, y1 + 70), (x2, y2 - 70), (x2, y2)], (1, 0), None
    if a.column == b.column:
        upper, lower = (a, b) if a.y < b.y else (b, a)
        between = [n for n in g.nodes.values() if n.column == a.column and upper.y < n.y < lower.y]
        if not between:
            x1, y1, y2 = upper.cx, upper.y + upper.h, lower.y
            return "vertical", [(x1, y1), (x1, y1 + (y2 - y1) / 3), (x1, y2 - (y2 - y1) / 3), (x1, y2)], \
                (1, 0), None
        # Around the nodes in between, on the side away from the other site.
        left_side = upper.column % 4 in (0, 3)
        sx = upper.x if left_side else upper.x + upper.w
        bulge = -80 if left_side else 80
        ya, yb = upper.cy, lower.cy
        return "arc", [(sx, ya), (sx + bulge, ya), (sx + bulge, yb), (sx, yb)], (0, 1), None
    left, right = (a, b) if a.x < b.x else (b, a)
    if _runs_under(g, bundle):
        lane = g.under_lane[frozenset((bundle.a, bundle.b))]  # type: ignore[attr-defined]
        floor = g.site_bottom + UNDER_DIP + UNDER_LANE * lane  # type: ignore[attr-defined]
        x1, y1 = left.cx + 20 - 14 * lane, left.y + left.h
        x2, y2 = right.cx - 20 + 14 * lane, right.y + right.h
        return "under", [(x1, y1), (x1, floor + 12), (x2, floor + 12), (x2, y2)], (1, 0), None
    x1, y1, x2, y2 = left.x + left.w, left.cy, right.x, right.cy
    dx = (x2 - x1) / 2
    curve = [(x1, y1), (x1 + dx, y1), (x2 - dx, y2), (x2, y2)]
    if left.key[0] == right.key[0] and (left.key[1] in INNER_ROLES) != (right.key[1] in INNER_ROLES):
        # Same site, hub to rim: the label is tagged beside the rim node, in
        # its row, so the ZVM's many same-site labels stack without overlap.
        rim = right if left.key[1] in INNER_ROLES else left
        lx = rim.x + rim.w + 10 if rim is left else rim.x - 10 - w
        return "rim", curve, (0, 1), (lx, rim.cy - h / 2)
    return "cross", curve, (0, 1), None


def _draw_node(node: _Node) -> Markup:
    role = node.key[1]
    is_outside = node.key == OUTSIDE
    title = "Not in inventory" if is_outside else ROLE_TITLES.get(role, role)
    n = len(node.hosts)
    count = f"{n} addr." if is_outside else f"{n} host{'s' if n != 1 else ''}"
    parts = [
        _el("title", f"{title}: " + ", ".join(sorted(node.hosts, key=_natural_key)[:60])
            + (" …" if n > 60 else "")),
        _el("rect", x=node.x, y=node.y, width=node.w, height=node.h, rx=6,
            class_="node-box outside" if is_outside else "node-box"),
        _el("path", d=(f"M{node.x:.1f},{node.y + NODE_HEAD:.1f} V{node.y + 6:.1f} "
                       f"Q{node.x:.1f},{node.y:.1f} {node.x + 6:.1f},{node.y:.1f} H{node.x + node.w - 6:.1f} "
                       f"Q{node.x + node.w:.1f},{node.y:.1f} {node.x + node.w:.1f},{node.y + 6:.1f} "
                       f"V{node.y + NODE_HEAD:.1f} Z"),
            class_="node-head outside" if is_outside else "node-head"),
        _text(node.x + 10, node.y + 16.5, title, class_="node-title"),
        _text(node.x + node.w - 10, node.y + 16.5, count, class_="node-count", text_anchor="end"),
    ]
    for i, (line, is_host) in enumerate(_node_lines(node)):
        parts.append(_text(node.x + 10, node.y + NODE_HEAD + 14 + i * HOST_LINE,
                           _clip(line, 26), class_="node-host" if is_host else "node-more"))
    return _el("g", *parts, class_="node")


@dataclass
class Picture:
    """The deployment picture and, for the table under it, one row per line
    drawn: ``edges`` of dicts with src/dst (site, role), port, name, status
    (worst) and parts [(status, count)]."""

    svg: Markup
    edges: list[dict]


def deployment_picture(report: dict, inventory: Any = None, rules: Sequence[Any] | None = None) -> Picture | None:
    """The deployment as inline SVG: sites side by side, hosts grouped by
    role into one node per (site, role) (a node lists up to five hosts and
    counts the rest, so 40 VRAs stay one node per site), and one stroke per
    rule or finding group between two nodes coloured by its worst status.
    None when there is nothing to place (no inventory and no host in any
    finding)."""
    g = _build_graph(report, inventory, rules)
    if not [k for k in g.nodes if k != OUTSIDE]:
        return None
    width, height = _layout(g)
    parts: list[Markup] = []
    for site, x0, x1 in g.site_boxes:  # type: ignore[attr-defined]
        peers = ""
        if inventory is not None and site in inventory.sites:
            others = sorted(p for p in inventory.sites if p != site and inventory.paired(site, p))
            peers = f"paired with {', '.join(others)}" if others else "no peer site"
        parts.append(_el("rect", x=x0 - 10, y=MARGIN - 6, width=x1 - x0 + 20,
                         height=g.site_bottom - MARGIN + 6, rx=10, class_="site-box"))  # type: ignore[attr-defined]
        parts.append(_text(x0 + 2, MARGIN + 14, _clip(site, 40), class_="site-name"))
        if peers:
            parts.append(_text(x1 - 2, MARGIN + 14, _clip(peers, 40), class_="site-peers",
                               text_anchor="end"))
    labels = _Labels([(n.x - 4, n.y - 4, n.x + n.w + 4, n.y + n.h + 4) for n in g.nodes.values()])
    strokes = []
    placed_later = []
    for bundle in g.bundles.values():
        kind, curve, (ox, oy), fixed = _geometry(g, bundle)
        strokes.append(_strokes(bundle, lambda off, c=curve, ox=ox, oy=oy: _cubic_path(c, off * ox, off * oy)))
        if fixed is not None:
            labels.fixed(fixed[0], fixed[1], bundle)
        else:
            placed_later.append((0 if kind == "vertical" else 1, curve, bundle))
    for _, curve, bundle in sorted(placed_later, key=lambda t: t[0]):
        labels.along(curve, bundle)
    if strokes:
        parts.append(_el("g", *strokes, class_="edges"))
    parts.extend(_draw_node(n) for n in g.nodes.values())
    if labels.parts:
        parts.append(_el("g", *labels.parts, class_="labels"))
    svg_text = _el(
        "svg", *parts, xmlns="http://www.w3.org/2000/svg", viewBox=f"0 0 {width:.0f} {height:.0f}",
        width=f"{width:.0f}", height=f"{height:.0f}", role="img", class_="deployment",
        aria_label="Deployment picture: sites, hosts grouped by role, and rule edges coloured by status",
        font_family=FONT,
    )
    members = sorted((m for b in g.bundles.values() for m in b.members.values()),
                     key=lambda m: (STATUS_ORDER.index(m.status), _natural_key(m.port), m.name))
    edges = [{"src": m.src, "dst": m.dst, "port": m.port, "name": m.name, "status": m.status,
              "parts": m.parts()} for m in members]
    return Picture(svg_text, edges)


# --------------------------------------------------------------------------
# Traffic over time.
_TICK_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
                 21600, 43200, 86400, 172800, 604800)
MAX_BINS = 480


def _fmt_rate(v: float) -> str:
    if v >= 1e6:
        return f"{v / 1e6:.3g}M"
    if v >= 1e3:
        return f"{v / 1e3:.3g}k"
    return f"{v:.3g}"


def _clock(ns: int, step_s: int) -> str:
    t = _dt.datetime.fromtimestamp(ns / 1e9, tz=_dt.timezone.utc)
    if step_s >= 86400:
        return t.strftime("%m-%d")
    if step_s >= 60:
        return t.strftime("%H:%M")
    return t.strftime("%H:%M:%S")


def activity_bins(activity: Any, bin_ns: int | None = None) -> tuple[Any, int]:
    """Normalise the activity table to one row per bin on a gapless grid
    (empty bins are zero: a stream that stopped shows as a drop, not a line
    drawn across the gap), re-binned coarser when there are more than
    MAX_BINS bins. Returns (per-bin DataFrame with columns verdict and rule
    summed packets, bin width in ns)."""
    import numpy as np
    import pandas as pd

    starts = np.unique(activity["bin_start_ns"].to_numpy(dtype="int64"))
    if bin_ns is None:
        if "bin_ns" in activity.columns and len(activity):
            bin_ns = int(activity["bin_ns"].iloc[0])
        elif len(starts) > 1:
            bin_ns = int(np.diff(starts).min())
        else:
            bin_ns = 1_000_000_000
    bin_ns = max(int(bin_ns), 1)
    lo, hi = int(starts.min()), int(starts.max())
    n_bins = (hi - lo) // bin_ns + 1
    factor = max(1, math.ceil(n_bins / MAX_BINS))
    width = bin_ns * factor
    idx = (activity["bin_start_ns"].to_numpy(dtype="int64") - lo) // width
    frame = pd.DataFrame({
        "bin": idx,
        "verdict": activity["verdict"].astype(str).to_numpy(),
        "rule": (activity["rule"].astype(object).where(activity["rule"].notna(), None).to_numpy()
                 if "rule" in activity.columns else np.full(len(activity), None, dtype=object)),
        "packets": activity["packets"].to_numpy(dtype="int64"),
    })
    frame.attrs["lo"] = lo
    frame.attrs["n"] = int((hi - lo) // width + 1)
    return frame, width


def traffic_chart(activity: Any, bin_ns: int | None = None, top_rules: int = 6) -> Markup | None:
    """Packets per second per verdict as step lines over the capture on a
    log scale (a handful of blocked SYNs stays visible beside a replication
    stream), and below it one small row per busiest rule, each on its own
    linear scale, so the moment a stream stops is plain to see."""
    import numpy as np

    if activity is None or len(activity) == 0:
        return None
    frame, width_ns = activity_bins(activity, bin_ns)
    lo, n = frame.attrs["lo"], frame.attrs["n"]
    secs = width_ns / 1e9

    def per_second(sub: Any) -> np.ndarray:
        arr = np.zeros(n)
        s = sub.groupby("bin")["packets"].sum()
        arr[s.index.to_numpy()] = s.to_numpy() / secs
        return arr

    verdicts = list(dict.fromkeys([v for v in VERDICT_ORDER if (frame["verdict"] == v).any()]
                                  + sorted(set(frame["verdict"]) - set(VERDICT_ORDER))))
    series = {v: per_second(frame[frame["verdict"] == v]) for v in verdicts}

    W, PL, PR, PT = 1100.0, 64.0, 20.0, 30.0
    CH = 190.0
    plot_w = W - PL - PR
    peak = max(float(a.max()) for a in series.values())
    decades = max(1, math.ceil(math.log10(max(peak, 1.0)) + 1e-9))

    def y_of(v: np.ndarray | float) -> Any:
        # log10(1 + v): zero sits on the axis, 1 packet/s one step up.
        return PT + CH - CH * np.log10(1.0 + np.asarray(v)) / math.log10(1.0 + 10.0 ** decades)

    def xpos(i: float) -> float:
        return PL + plot_w * i / n

    parts: list[Markup] = []
    for k in range(decades + 1):
        v = 0.0 if k == 0 else 10.0 ** (k - 1)
        y = float(y_of(v))
        parts.append(_el("line", x1=PL, x2=W - PR, y1=y, y2=y, class_="grid"))
        parts.append(_text(PL - 8, y + 4, _fmt_rate(v), class_="axis", text_anchor="end"))
    y_top = float(y_of(10.0 ** decades))
    parts.append(_text(PL - 8, y_top + 4, _fmt_rate(10.0 ** decades), class_="axis", text_anchor="end"))
    parts.append(_text(14, PT + CH / 2, "packets / s (log)", class_="axis",
                       transform=f"rotate(-90 14 {PT + CH / 2:.1f})", text_anchor="middle"))

    # Time axis ticks (shared with the small rows below).
    span_s = n * secs
    step_s = next((s for s in _TICK_STEPS_S if span_s / s <= 10), _TICK_STEPS_S[-1])
    first_tick = math.ceil(lo / 1e9 / step_s) * step_s
    ticks = []
    t = first_tick
    while t * 1e9 <= lo + n * width_ns:
        ticks.append(t)
        t += step_s

    def tick_x(t_s: float) -> float:
        return PL + plot_w * (t_s * 1e9 - lo) / (n * width_ns)

    for t in ticks:
        parts.append(_el("line", x1=tick_x(t), x2=tick_x(t), y1=PT, y2=PT + CH, class_="grid-v"))
        parts.append(_text(tick_x(t), PT + CH + 16, _clock(int(t * 1e9), step_s), class_="axis",
                           text_anchor="middle"))

    def step_path(ys: np.ndarray) -> str:
        cmds = [f"M{xpos(0):.1f},{ys[0]:.1f}"]
        for i in range(n):
            cmds.append(f"H{xpos(i + 1):.1f}")
            if i + 1 < n and ys[i + 1] != ys[i]:
                cmds.append(f"V{ys[i + 1]:.1f}")
        return " ".join(cmds)

    for verdict, arr in series.items():
        colour = VERDICT_COLOURS.get(verdict, "#495057")
        parts.append(_el("path", d=step_path(y_of(arr)), fill="none", stroke=colour,
                         stroke_width=1.8, stroke_linejoin="round", class_=f"series v-{verdict}"))
    parts.append(_el("rect", x=PL, y=PT, width=plot_w, height=CH, class_="frame"))

    lx = PL
    for verdict, arr in series.items():
        colour = VERDICT_COLOURS.get(verdict, "#495057")
        label = f"{verdict.replace('_', ' ')} · {round(arr.sum() * secs):,} pkts"
        parts.append(_el("rect", x=lx, y=10, width=14, height=4, rx=1, fill=colour))
        parts.append(_text(lx + 19, 16, label, class_="legend"))
        lx += _text_w(label, 11) + 38

    height = PT + CH + 30
    rules = frame[frame["rule"].notna()]
    if top_rules and len(rules):
        totals = rules.groupby("rule")["packets"].sum().sort_values(ascending=False).head(top_rules)
        ROW, SPARK = 46.0, 26.0
        y = height + 16
        parts.append(_text(PL, y, "Busiest rules — each row on its own linear scale, coloured by verdict",
                           class_="axis-title"))
        y += 8
        for rid, total in totals.items():
            sub = rules[rules["rule"] == rid]
            by_v = {v: per_second(sub[sub["verdict"] == v]) for v in verdicts if (sub["verdict"] == v).any()}
            row_peak = max(float(a.max()) for a in by_v.values()) or 1.0
            base = y + ROW - 4
            parts.append(_text(PL, y + 12, str(rid), class_="row-label"))
            parts.append(_text(W - PR, y + 12, f"peak {_fmt_rate(row_peak)}/s · {int(total):,} pkts",
                               class_="row-peak", text_anchor="end"))
            for t in ticks:
                parts.append(_el("line", x1=tick_x(t), x2=tick_x(t), y1=base - SPARK, y2=base,
                                 class_="grid-v"))
            parts.append(_el("line", x1=PL, x2=W - PR, y1=base, y2=base, class_="grid"))
            # Loudest verdict as a filled area; the others as bars in the
            # bins where they happened (a line along zero would hide the axis).
            for k, (verdict, arr) in enumerate(sorted(by_v.items(), key=lambda kv: -kv[1].sum())):
                colour = VERDICT_COLOURS.get(verdict, "#495057")
                heights = SPARK * np.minimum(arr / row_peak, 1.0)
                if k == 0:
                    path = step_path(base - heights)
                    parts.append(_el("path", d=path + f" V{base:.1f} H{xpos(0):.1f} Z", fill=colour,
                                     fill_opacity=0.16, stroke="none"))
                    parts.append(_el("path", d=path, fill="none", stroke=colour, stroke_width=1.5))
                    continue
                bar_w = max(plot_w / n, 1.5)
                bars = [_el("rect", x=xpos(int(i)), y=base - max(float(heights[i]), 3.0), width=bar_w,
                            height=max(float(heights[i]), 3.0))
                        for i in np.flatnonzero(arr)]
                if bars:
                    parts.append(_el("g", *bars, fill=colour, class_=f"bars v-{verdict}"))
            y += ROW
        height = y + 8
    return _el(
        "svg", *parts, xmlns="http://www.w3.org/2000/svg", viewBox=f"0 0 {W:.0f} {height:.0f}",
        width=f"{W:.0f}", height=f"{height:.0f}", role="img", class_="traffic",
        aria_label="Packets per second per verdict over the capture", font_family=FONT,
    )
