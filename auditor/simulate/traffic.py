"""A deployment's traffic over a time window: the healthy flow set of the
`zvr-legacy` rules plus background DNS, NTP and ARP, with the faults a
scenario asks for (a `Plan`). Each fault replaces or adds exactly the flows it
concerns, so a scenario's findings are exactly its fault's."""

from __future__ import annotations

import random
from dataclasses import dataclass

from .deployment import Deployment, SimHost
from .wire import MS, SEC, US, TcpConn, Wire

LOCAL_RTT = 300 * US
SITE_RTT = 12 * MS  # between the two sites (WAN)
OUTSIDE_RTT = 25 * MS

STALE_VRA_IP = "10.20.2.99"  # the recovery VRA's address before it was redeployed
UNKNOWN_RDP_IP = "192.168.77.23"  # a workstation outside the inventory


@dataclass(frozen=True)
class Plan:
    """What a scenario's capture holds. The defaults are the healthy set."""

    duration_s: int = 60  # a minute: every steady flow shows at least once
    bulk_segments: int = 6  # full segments per 4008 replication burst
    vra_data: str = "ok"  # ok | drop | refuse | prohibited | missing   (4008 between paired VRAs)
    stale_vra: bool = False  # the first protected VRA sends 4008 to STALE_VRA_IP instead
    zvm_peer: str = "ok"  # ok | missing | drop   (9081 between the ZVMs)
    vcenter_reversed: bool = False  # the protected site's vCenter opens 443 to its ZVM
    rdp_unknown: bool = False  # RDP to the protected ZVM from UNKNOWN_RDP_IP
    vba_silent_site: str | None = None  # that site's ZVM never talks to its VBA on 4006
    capture_site: str | None = None  # capture taken at this site only
    vra_install: bool = False  # a VRA being installed at the second site, logs collected
    stream_cut_s: int | None = None  # from then on 4008 of the last VRA pair is dropped


class Ports:
    """Ephemeral ports a stack hands out: sequential from a random start,
    per host (Windows 49152-65535, Linux 32768-60999)."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.next: dict[str, int] = {}

    def __call__(self, host: str, windows: bool) -> int:
        lo, hi = (49152, 65535) if windows else (32768, 60999)
        if host not in self.next:
            self.next[host] = self.rng.randrange(lo, hi - 2000)
        self.next[host] += self.rng.randrange(1, 4)
        if self.next[host] > hi:
            self.next[host] = lo
        return self.next[host]


class Traffic:
    """Builds one capture: every flow of the deployment between `t0` and
    `t0 + plan.duration_s`, in the order the RNG is drawn (so a seed fixes
    every port, number and byte)."""

    def __init__(self, dep: Deployment, plan: Plan, rng: random.Random, start_ns: int):
        self.dep, self.plan, self.rng = dep, plan, rng
        self.t0 = start_ns
        self.end = start_ns + plan.duration_s * SEC
        gateways = {dep.prefix[s]: dep.gateway(s) for s in dep.sites}
        windows = frozenset(h.addr for h in dep.hosts if h.windows)
        vlans = {dep.prefix[s]: v for s, v in dep.vlans.items()} if dep.vlans else None
        self.wire = Wire(rng, gateways, windows, vlans)
        self.port = Ports(rng)

    # -- helpers ------------------------------------------------------------------
    def rtt(self, a: SimHost | str, b: SimHost | str) -> int:
        sa, sb = self._site_of(a), self._site_of(b)
        if sa is None or sb is None:
            return OUTSIDE_RTT
        return LOCAL_RTT if sa == sb else SITE_RTT

    def _site_of(self, h: SimHost | str) -> str | None:
        ip = h.addr if isinstance(h, SimHost) else h
        for site, prefix in self.dep.prefix.items():
            if ip.startswith(prefix):
                return site
        return None

    def conn(self, client: SimHost | str, server: SimHost | str, dport: int) -> TcpConn:
        c_ip = client.addr if isinstance(client, SimHost) else client
        s_ip = server.addr if isinstance(server, SimHost) else server
        windows = client.windows if isinstance(client, SimHost) else True
        return TcpConn(
            self.wire, c_ip, s_ip, self.port(c_ip, windows), dport, self.rtt(client, server)
        )

    def jitter(self, ns: int) -> int:
        return self.rng.randrange(0, max(1, ns))

    def every(self, period_s: float, offset_ns: int | None = None):
        """Times from the start (plus a random phase) to the end, one a period."""
        t = self.t0 + (offset_ns if offset_ns is not None else self.jitter(int(period_s * SEC)))
        while t < self.end - 2 * SEC:
            yield t
            t += int(period_s * SEC) + self.jitter(200 * MS)

    # -- the whole capture ----------------------------------------------------------
    def build(self) -> Wire:
        dep, plan = self.dep, self.plan
        self.background()
        for site in dep.sites:
            zvm = dep.one("zvm", site)
            if zvm is None:
                continue
            vras = dep.of("vra") if dep.single_vcenter else dep.of("vra", site)
            vc = dep.one("vcenter", site)
            if vc is not None:
                self.zvm_vcenter(zvm, vc)
            for vra in vras:
                self.zvm_vra(zvm, vra)
                self.zvm_vra_checkpoints(zvm, vra)
            vba = dep.one("vba", site)
            if vba is not None and plan.vba_silent_site != site:
                self.zvm_vba(zvm, vba)
            if vba is not None:
                self.vba_service(vba, zvm)
            admins = dep.one("client", site)
            if admins is not None:
                self.gui_session(admins, zvm)
        for protected, recovery in self.vra_pairs():
            self.vra_control(protected, recovery)
        pairs = self.vra_pairs()
        for i, (protected, recovery) in enumerate(pairs):
            if plan.stale_vra and i == 0:
                self.vra_data_unanswered(protected, STALE_VRA_IP)
            else:
                cut = plan.stream_cut_s if i == len(pairs) - 1 else None
                self.vra_data(protected, recovery, cut)
        if not dep.single_vcenter and plan.zvm_peer != "missing":
            zvms = dep.of("zvm")
            for a, b in ((zvms[0], zvms[1]), (zvms[1], zvms[0])):
                self.zvm_peer(a, b)
        if plan.vcenter_reversed:
            site = dep.sites[0]
            self.vcenter_reversed(dep.the("vcenter", site), dep.the("zvm", site))
        if plan.rdp_unknown:
            self.rdp(UNKNOWN_RDP_IP, dep.the("zvm", dep.sites[0]))
        if plan.vra_install:
            prod, dr = dep.sites
            self.install_vra(dep.the("zvm", dr), dep.of("esxi", dr)[-1])
            self.collect_logs(dep.the("zvm", prod), dep.of("vra", prod)[0])
        if plan.capture_site is not None:
            prefix = dep.prefix[plan.capture_site]
            self.wire.frames = [
                f for f in self.wire.frames if f.src.startswith(prefix) or f.dst.startswith(prefix)
            ]
        return self.wire

    def vra_pairs(self) -> list[tuple[SimHost, SimHost]]:
        """(protected VRA, recovery VRA): first site's VRAs replicate to the
        second's, host by host; in a single-vCenter deployment also one pair
        inside the main location (local replication)."""
        a, b = self.dep.sites
        pairs = list(zip(self.dep.of("vra", a), self.dep.of("vra", b)))
        if self.dep.single_vcenter:
            pairs = [(p, r) for r, p in pairs]  # the branch replicates to main
            main = self.dep.of("vra", a)
            pairs.append((main[0], main[1]))
        return pairs

    # -- background ---------------------------------------------------------------
    def background(self) -> None:
        dep, w = self.dep, self.wire
        for h in dep.hosts:
            if h.role == "client":
                continue
            dns, ntp = dep.dns_server(h.site), dep.ntp_server(h.site)
            # look up the names the host talks to, at start and when TTLs expire
            names = self.peers_of(h)
            for t in self.every(45):
                target = names[self.rng.randrange(len(names))]
                w.dns_lookup(t, h.addr, dns, f"{target.name}.{dep.domain}", target.addr)
            # ESXi runs ntpd (source port 123, 64 s polls); the others poll
            # from an ephemeral port (w32time, chrony)
            period = 64 if h.role == "esxi" else 128
            for t in self.every(period):
                w.ntp_poll(t, h.addr, ntp, sport=123 if h.role == "esxi" else None)
            w.arp(self.t0 + self.jitter(20 * SEC), h.addr, dep.gateway(h.site))
        admins = dep.one("client")
        if admins is not None:
            w.dns_lookup(
                self.t0 + self.jitter(5 * SEC),
                admins.addr,
                dep.dns_server(admins.site),
                f"zvm-{admins.site}.{dep.domain}",
                dep.the("zvm", admins.site).addr,
            )

    def peers_of(self, h: SimHost) -> list[SimHost]:
        same = [
            x
            for x in self.dep.hosts
            if x.site == h.site and x is not h and x.role in ("zvm", "vcenter", "vra", "vba")
        ]
        return same or [h]

    # -- the zvr-legacy flows (SPEC section 4) ------------------------------------------
    def zvm_vcenter(self, zvm: SimHost, vc: SimHost) -> None:
        """443 zvm → vcenter: a vSphere API session every ~45 s (TLS, SOAP
        property-collector calls), closed by the ZVM."""
        for t in self.every(45):
            c = self.conn(zvm, vc, 443)
            t = c.open(t)
            t = c.tls_open(t)
            for _ in range(self.rng.randrange(1, 4)):
                t = c.request(
                    t + self.jitter(50 * MS),
                    self.rng.randrange(700, 2200),
                    self.rng.randrange(600, 4000),
                )
            c.close(t + 20 * MS, by_client=True)

    def zvm_vra(self, zvm: SimHost, vra: SimHost) -> None:
        """4006 zvm → vra: a long-lived control connection opened before the
        capture began (seen mid-stream), a status call every ~10 s."""
        c = self.conn(zvm, vra, 4006)
        c.established_before_capture()
        for t in self.every(10):
            c.request(t, self.rng.randrange(120, 420), self.rng.randrange(64, 300))

    def zvm_vra_checkpoints(self, zvm: SimHost, vra: SimHost) -> None:
        """4009 zvm → vra: a checkpoint notification every ~20 s, one
        short connection each."""
        for t in self.every(20):
            c = self.conn(zvm, vra, 4009)
            t = c.open(t)
            t = c.request(t, self.rng.randrange(200, 600), self.rng.randrange(40, 120))
            c.close(t + 5 * MS, by_client=True)

    def zvm_vba(self, zvm: SimHost, vba: SimHost) -> None:
        for t in self.every(30):
            c = self.conn(zvm, vba, 4006)
            t = c.open(t)
            t = c.request(t, self.rng.randrange(150, 500), self.rng.randrange(80, 900))
            c.close(t + 5 * MS, by_client=True)

    def vba_service(self, vba: SimHost, zvm: SimHost) -> None:
        """9180 vba → zvm (optional rule): a service call once a minute."""
        for t in self.every(90):
            c = self.conn(vba, zvm, 9180)
            t = c.open(t)
            t = c.tls_open(t)
            t = c.request(t, self.rng.randrange(300, 900), self.rng.randrange(200, 1200))
            c.close(t + 5 * MS, by_client=True)

    def gui_session(self, admins: SimHost, zvm: SimHost) -> None:
        """9669 client → zvm (optional): an administrator's GUI, polling."""
        c = self.conn(admins, zvm, 9669)
        t = c.open(self.t0 + self.jitter(10 * SEC))
        t = c.tls_open(t)
        while (poll := t + 10 * SEC + self.jitter(SEC)) < self.end - 3 * SEC:
            t = c.request(poll, self.rng.randrange(300, 800), self.rng.randrange(300, 2500))
        c.close(t + 100 * MS, by_client=True)

    def vra_control(self, protected: SimHost, recovery: SimHost) -> None:
        """4007 vra → vra: long-lived control channel (seen mid-stream),
        a heartbeat every ~5 s."""
        c = self.conn(protected, recovery, 4007)
        c.established_before_capture()
        for t in self.every(5):
            c.request(t, 64, 64, think_ns=200 * US)

    def vra_data(self, protected: SimHost, recovery: SimHost, cut_s: int | None = None) -> None:
        """4008 vra → vra: the replication stream, (re)opened early in the
        capture, then a burst of full segments every ~10 s; still open when
        the capture ends. With `cut_s`, a firewall starts dropping 4008 then:
        the next burst is never acknowledged, the VRA retransmits, gives up,
        resets the connection and tries to reconnect, unanswered."""
        plan = self.plan
        if plan.vra_data == "missing":
            return  # replication not configured: the VRAs never open 4008
        if plan.vra_data == "drop":
            return self.vra_data_unanswered(protected, recovery.addr)
        if plan.vra_data in ("refuse", "prohibited"):
            for t in self.every(10, offset_ns=SEC + self.jitter(SEC)):
                c = self.conn(protected, recovery, 4008)
                if plan.vra_data == "refuse":
                    c.open_refused(t)
                else:
                    c.open_prohibited(t, self.dep.gateway(self.dep.sites[0]))
            return
        c = self.conn(protected, recovery, 4008)
        opened = c.open(self.t0 + SEC + self.jitter(SEC))
        hello_done = c.request(opened, 96, 96)  # session hello
        for t in self.every(10, offset_ns=hello_done - self.t0 + SEC):
            nbytes = plan.bulk_segments * 1448 + self.rng.randrange(0, 1448)
            if cut_s is not None and t >= self.t0 + cut_s * SEC:
                gave_up = c.send_unacknowledged(t, True, nbytes)
                c.reset(gave_up, by_client=True)
                self.vra_data_unanswered(protected, recovery.addr, start=gave_up + SEC)
                return
            c.send(t, True, nbytes)

    def vra_data_unanswered(
        self, protected: SimHost, server_ip: str, start: int | None = None
    ) -> None:
        """4008 attempts nobody answers: SYN, retransmitted after 1, 2, 4 s;
        the VRA gives up and tries again from a new port."""
        t = start if start is not None else self.t0 + SEC + self.jitter(SEC)
        while t < self.end - 8 * SEC:
            c = self.conn(protected, server_ip, 4008)
            t = c.open_unanswered(t, attempts=4) + 5 * SEC

    def zvm_peer(self, a: SimHost, b: SimHost) -> None:
        """9081 zvm ↔ zvm: site-to-site API calls every ~20 s (TLS)."""
        for t in self.every(20):
            c = self.conn(a, b, 9081)
            if self.plan.zvm_peer == "drop":
                c.open_unanswered(t, attempts=3)
                continue
            t = c.open(t)
            t = c.tls_open(t)
            t = c.request(t, self.rng.randrange(400, 1400), self.rng.randrange(300, 5000))
            c.close(t + 10 * MS, by_client=True)

    # -- faults that add flows ------------------------------------------------------------
    def vcenter_reversed(self, vc: SimHost, zvm: SimHost) -> None:
        """443 vcenter → zvm: the vCenter opening a connection to the ZVM
        (a misconfigured plug-in callback); the ZVM answers."""
        for t in self.every(40):
            c = self.conn(vc, zvm, 443)
            t = c.open(t)
            t = c.tls_open(t)
            t = c.request(t, self.rng.randrange(300, 900), self.rng.randrange(100, 400))
            c.close(t + 5 * MS, by_client=True)

    def rdp(self, client_ip: str, zvm: SimHost) -> None:
        """3389 from an address outside the inventory to the ZVM: an RDP
        session (X.224 connection request, TLS, screen updates), ended by
        the client."""
        c = self.conn(client_ip, zvm, 3389)
        t = c.open(self.t0 + 15 * SEC + self.jitter(5 * SEC))
        t = c.request(t, 43, 19)  # X.224 connection request / confirm
        t = c.tls_open(t)
        stop = min(self.end - 5 * SEC, t + 45 * SEC)
        while (update := t + 2 * SEC + self.jitter(SEC)) < stop:
            t = c.request(update, self.rng.randrange(40, 200), self.rng.randrange(800, 3000))
        c.close(t + 50 * MS, by_client=True)

    # -- install-phase and on-demand flows (optional rules: never findings) ----------
    def install_vra(self, zvm: SimHost, esxi: SimHost) -> None:
        """22 and 443 zvm → esxi while installing a VRA: an SSH session
        (the server's banner first, key exchange, a few commands) and HTTPS
        uploads of the appliance's files."""
        ssh = self.conn(zvm, esxi, 22)
        t = ssh.open(self.t0 + 10 * SEC + self.jitter(5 * SEC))
        t = ssh.send(t + 2 * MS, False, 22)  # "SSH-2.0-OpenSSH_9.1\r\n"
        t = ssh.request(t, 1512, 1080)  # banner + KEXINIT both ways
        t = ssh.request(t, 48, 564)  # ECDH init / reply with host key
        for _ in range(6):
            t = ssh.request(t + 300 * MS, self.rng.randrange(60, 200), self.rng.randrange(40, 900))
        ssh.close(t + 20 * MS, by_client=True)
        https = self.conn(zvm, esxi, 443)
        t = https.open(t + SEC)
        t = https.tls_open(t)
        for _ in range(3):
            t = https.send(t + 50 * MS, True, self.rng.randrange(20_000, 40_000))
            t = https.send(t + 5 * MS, False, self.rng.randrange(200, 400))
        https.close(t + 20 * MS, by_client=True)

    def collect_logs(self, zvm: SimHost, vra: SimHost) -> None:
        """4005 zvm → vra on demand: the VRA's logs for a support bundle."""
        c = self.conn(zvm, vra, 4005)
        t = c.open(self.t0 + 30 * SEC + self.jitter(5 * SEC))
        t = c.request(t, 180, 96)
        t = c.send(t + 10 * MS, False, self.rng.randrange(30_000, 50_000))
        c.close(t + 10 * MS, by_client=True)
