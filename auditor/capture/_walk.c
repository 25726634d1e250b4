/* The sequential loops of the capture reader, compiled.
 *
 * A pcap record's length says where the next record starts, so the record
 * walk cannot be vectorised; in Python it costs about 0.3 us a record. This
 * extension does exactly what auditor.capture.pcap.walk_pcap_records does and
 * is optional: without a compiler the pure-Python walk is used.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t rd32(const unsigned char *p, int big)
{
    if (big)
        return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];
}

/* walk_pcap(buf, pos, end, max_records, big_endian, max_record_bytes, out[, headers])
 *   out: writable buffer of at least max_records int64 slots, receives the
 *        offsets of the complete records found.
 *   headers (optional): writable buffer of at least 16 * max_records bytes,
 *        receives each record's 16-byte header as it is walked (the cache
 *        line is loaded anyway; a numpy gather afterwards costs as much as
 *        the walk itself).
 * returns (count, next_pos, absurd)
 */
static PyObject *walk_pcap(PyObject *self, PyObject *args)
{
    Py_buffer buf, out, hdr = {0};
    Py_ssize_t pos, end, max_records;
    int big;
    unsigned long max_bytes;
    if (!PyArg_ParseTuple(args, "y*nnnpkw*|w*", &buf, &pos, &end, &max_records, &big, &max_bytes, &out, &hdr))
        return NULL;
    if (end > buf.len) end = buf.len;
    if ((Py_ssize_t)(out.len / 8) < max_records) max_records = out.len / 8;
    if (hdr.buf && (Py_ssize_t)(hdr.len / 16) < max_records) max_records = hdr.len / 16;
    const unsigned char *b = (const unsigned char *)buf.buf;
    int64_t *o = (int64_t *)out.buf;
    unsigned char *h = (unsigned char *)hdr.buf;
    Py_ssize_t n = 0;
    int absurd = 0;
    Py_BEGIN_ALLOW_THREADS
    while (n < max_records && pos + 16 <= end) {
        uint32_t caplen = rd32(b + pos + 8, big);
        if (caplen > max_bytes) { absurd = 1; break; }
        Py_ssize_t nxt = pos + 16 + (Py_ssize_t)caplen;
        if (nxt > end) break;
        if (h) memcpy(h + 16 * n, b + pos, 16);
        o[n++] = pos;
        pos = nxt;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    PyBuffer_Release(&out);
    if (hdr.buf) PyBuffer_Release(&hdr);
    return Py_BuildValue("nni", n, pos, absurd);
}

/* walk_pcapng(buf, pos, end, max_records, big_endian, max_packet_block, out_pos, out_kind[, headers])
 *   Walks a run of whole, well-formed packet blocks (Enhanced 6, Simple 3,
 *   obsolete Packet 2): length a multiple of 4, at least 12, at most
 *   max_packet_block, inside the buffer, the same at both ends. It stops at
 *   the first other block, incomplete block or damage and leaves that block
 *   to auditor.capture.pcapng.walk_pcapng_blocks, which applies exactly the
 *   same checks (and handles sections, interfaces and every other block).
 *   out_pos / out_kind: writable int64 buffers receiving block offsets/types.
 *   headers (optional): 28 bytes per block, each block's first 28 bytes (the
 *        Enhanced Packet Block header; zeros past the buffer's end), copied
 *        while the block is in cache.
 * returns (count, next_pos)
 */
static PyObject *walk_pcapng(PyObject *self, PyObject *args)
{
    Py_buffer buf, out_pos, out_kind, hdr = {0};
    Py_ssize_t pos, end, max_records;
    int big;
    unsigned long max_block;
    if (!PyArg_ParseTuple(args, "y*nnnpkw*w*|w*", &buf, &pos, &end, &max_records, &big, &max_block,
                          &out_pos, &out_kind, &hdr))
        return NULL;
    if (end > buf.len) end = buf.len;
    if ((Py_ssize_t)(out_pos.len / 8) < max_records) max_records = out_pos.len / 8;
    if ((Py_ssize_t)(out_kind.len / 8) < max_records) max_records = out_kind.len / 8;
    if (hdr.buf && (Py_ssize_t)(hdr.len / 28) < max_records) max_records = hdr.len / 28;
    const unsigned char *b = (const unsigned char *)buf.buf;
    int64_t *op = (int64_t *)out_pos.buf;
    int64_t *ok = (int64_t *)out_kind.buf;
    unsigned char *h = (unsigned char *)hdr.buf;
    Py_ssize_t n = 0;
    Py_BEGIN_ALLOW_THREADS
    while (n < max_records && pos >= 0 && pos + 12 <= end) {
        uint32_t type = rd32(b + pos, big);
        uint32_t len = rd32(b + pos + 4, big);
        if (type != 6 && type != 3 && type != 2) break;
        if ((len & 3) || len < 12 || len > max_block) break;
        if (pos + (Py_ssize_t)len > end) break;
        if (rd32(b + pos + len - 4, big) != len) break;
        op[n] = pos;
        ok[n] = type;
        if (h) {
            Py_ssize_t avail = buf.len - pos < 28 ? buf.len - pos : 28;
            memcpy(h + 28 * n, b + pos, (size_t)avail);
            if (avail < 28) memset(h + 28 * n + avail, 0, (size_t)(28 - avail));
        }
        n++;
        pos += len;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    PyBuffer_Release(&out_pos);
    PyBuffer_Release(&out_kind);
    if (hdr.buf) PyBuffer_Release(&hdr);
    return Py_BuildValue("nn", n, pos);
}

/* ---------------------------------------------------------------------------
 * decode_common(buf, data_off, caplen, link, bucket, ip_version, src_hi, src_lo,
 *               dst_hi, dst_lo, proto, sport, dport, tcp_flags, ip_id, frag, slow)
 *
 * The common case of auditor.capture.decode, in one pass over the records:
 * Ethernet (any 802.1Q/802.1ad tags) or raw IP, then IPv4 (not a later
 * fragment) or IPv6 without extension headers, then TCP or UDP (no tunnel
 * port). Every column is written exactly as the numpy decoder would write
 * it. Any other record -- another link type or ethertype, ICMP, a tunnel,
 * a header cut short or inconsistent, a later fragment -- gets slow[i] = 1
 * and is left to the numpy decoder, which then decodes only those rows.
 * All offsets are checked against the record's captured length and the IP
 * datagram's own length before a byte is read.
 * Column buffers: int64 data_off/caplen/link; uint8 bucket, ip_version,
 * proto, tcp_flags, frag, slow; uint64 addresses; uint16 ports; uint32 ip_id.
 * returns the number of slow rows
 */
#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch(p)
#else /* MSVC and others: no prefetch hint, same results */
#define PREFETCH(p) ((void)0)
#endif
#define B_TCP 0
#define B_UDP 1
#define V4_MAPPED 0x0000FFFF00000000ULL

static inline uint32_t be16(const unsigned char *p) { return ((uint32_t)p[0] << 8) | p[1]; }
static inline uint64_t be32u(const unsigned char *p)
{
    return ((uint64_t)p[0] << 24) | ((uint64_t)p[1] << 16) | ((uint64_t)p[2] << 8) | p[3];
}
static inline uint64_t be64u(const unsigned char *p) { return (be32u(p) << 32) | be32u(p + 4); }

static inline int tunnel_port(uint32_t port)
{
    /* VXLAN, Geneve, GRE-in-UDP, Teredo, GTP-U, AYIYA, L2TP (decode._UDP_TUNNEL_PORTS) */
    return port == 4789 || port == 6081 || port == 4754 || port == 3544 || port == 2152 || port == 5072 ||
           port == 1701;
}

static PyObject *decode_common(PyObject *self, PyObject *args)
{
    enum { NBUF = 17 };
    Py_buffer v[NBUF];
    memset(v, 0, sizeof v);
    if (!PyArg_ParseTuple(args, "y*y*y*y*w*w*w*w*w*w*w*w*w*w*w*w*w*", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                          &v[6], &v[7], &v[8], &v[9], &v[10], &v[11], &v[12], &v[13], &v[14], &v[15], &v[16]))
        return NULL;
    Py_ssize_t n = v[1].len / 8;
    /* every column must hold n rows */
    static const int width[NBUF] = {0, 8, 8, 8, 1, 1, 8, 8, 8, 8, 1, 2, 2, 1, 4, 1, 1};
    for (int k = 1; k < NBUF; k++) {
        if (v[k].len / width[k] < n) {
            for (int j = 0; j < NBUF; j++) PyBuffer_Release(&v[j]);
            PyErr_SetString(PyExc_ValueError, "decode_common: a column is shorter than data_off");
            return NULL;
        }
    }
    const unsigned char *buf = (const unsigned char *)v[0].buf;
    const Py_ssize_t buflen = v[0].len;
    const int64_t *data_off = (const int64_t *)v[1].buf, *caplen = (const int64_t *)v[2].buf,
                  *link = (const int64_t *)v[3].buf;
    uint8_t *bucket = (uint8_t *)v[4].buf, *ipver = (uint8_t *)v[5].buf;
    uint64_t *src_hi = (uint64_t *)v[6].buf, *src_lo = (uint64_t *)v[7].buf, *dst_hi = (uint64_t *)v[8].buf,
             *dst_lo = (uint64_t *)v[9].buf;
    uint8_t *proto_o = (uint8_t *)v[10].buf;
    uint16_t *sport = (uint16_t *)v[11].buf, *dport = (uint16_t *)v[12].buf;
    uint8_t *flags_o = (uint8_t *)v[13].buf;
    uint32_t *ip_id = (uint32_t *)v[14].buf;
    uint8_t *frag_o = (uint8_t *)v[15].buf, *slow = (uint8_t *)v[16].buf;
    Py_ssize_t n_slow = 0;

    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t off = data_off[i], end = caplen[i];
        if (i + 8 < n && data_off[i + 8] >= 0 && data_off[i + 8] < buflen) /* records are far apart: fetch ahead */
            PREFETCH(buf + data_off[i + 8] + 32);
        /* a record outside the buffer is never read here */
        if (off < 0 || end < 0 || off > buflen || end > buflen - off) goto slow_row;
        const unsigned char *p = buf + off;
        int64_t o, lt = link[i];
        int ver;
        if (lt == 1) { /* Ethernet, then any number of VLAN tags */
            if (end < 14) goto slow_row;
            uint32_t et = be16(p + 12);
            o = 14;
            for (int tags = 0; et == 0x8100 || et == 0x88A8 || et == 0x9100 || et == 0x9200; tags++) {
                if (tags == 8 || o + 4 > end) goto slow_row;
                et = be16(p + o + 2);
                o += 4;
            }
            if (et == 0x0800) ver = 4;
            else if (et == 0x86DD) ver = 6;
            else goto slow_row;
        } else if (lt == 228) { ver = 4; o = 0; }
        else if (lt == 229) { ver = 6; o = 0; }
        else if (lt == 101 || lt == 12 || lt == 14) {
            if (end < 1) goto slow_row;
            ver = p[0] >> 4;
            if (ver != 4 && ver != 6) goto slow_row;
            o = 0;
        } else goto slow_row;

        int64_t l4;
        uint32_t pr;
        if (ver == 4) {
            if (o + 20 > end) goto slow_row;
            const unsigned char *h = p + o;
            uint32_t ihl = h[0] & 15, total = be16(h + 2), fo = be16(h + 6);
            if ((h[0] >> 4) != 4 || ihl < 5 || (total != 0 && total < ihl * 4)) goto slow_row;
            if (fo & 0x1FFF) goto slow_row; /* a later fragment */
            if (total != 0 && o + total < end) end = o + total;
            l4 = o + ihl * 4;
            if (l4 > end) goto slow_row;
            pr = h[9];
            src_hi[i] = 0;
            dst_hi[i] = 0;
            src_lo[i] = be32u(h + 12) | V4_MAPPED;
            dst_lo[i] = be32u(h + 16) | V4_MAPPED;
            ip_id[i] = be16(h + 4);
            frag_o[i] = (fo & 0x2000) != 0;
        } else {
            if (o + 40 > end) goto slow_row;
            const unsigned char *h = p + o;
            if ((h[0] >> 4) != 6) goto slow_row;
            uint32_t plen = be16(h + 4);
            if (plen != 0 && o + 40 + plen < end) end = o + 40 + plen;
            pr = h[6]; /* only TCP/UDP pass below: extension headers go to the numpy decoder */
            l4 = o + 40;
            src_hi[i] = be64u(h + 8);
            src_lo[i] = be64u(h + 16);
            dst_hi[i] = be64u(h + 24);
            dst_lo[i] = be64u(h + 32);
            ip_id[i] = 0;
            frag_o[i] = 0;
        }
        if ((pr != 6 && pr != 17) || l4 + 4 > end) goto slow_row;
        uint32_t sp = be16(p + l4), dp = be16(p + l4 + 2);
        if (pr == 17) {
            uint32_t lo = sp < dp ? sp : dp, hi = sp < dp ? dp : sp;
            if (tunnel_port(lo) || (tunnel_port(hi) && lo >= 1024)) goto slow_row;
            flags_o[i] = 0;
            bucket[i] = B_UDP;
        } else {
            flags_o[i] = l4 + 14 <= end ? p[l4 + 13] : 0;
            bucket[i] = B_TCP;
        }
        ipver[i] = (uint8_t)ver;
        proto_o[i] = (uint8_t)pr;
        sport[i] = (uint16_t)sp;
        dport[i] = (uint16_t)dp;
        slow[i] = 0;
        continue;
    slow_row:
        slow[i] = 1;
        n_slow++;
    }
    Py_END_ALLOW_THREADS
    for (int j = 0; j < NBUF; j++) PyBuffer_Release(&v[j]);
    return PyLong_FromSsize_t(n_slow);
}

static PyMethodDef methods[] = {
    {"walk_pcap", walk_pcap, METH_VARARGS, "Offsets of the complete pcap records in a buffer."},
    {"walk_pcapng", walk_pcapng, METH_VARARGS, "Offsets and types of a run of whole pcapng packet blocks."},
    {"decode_common", decode_common, METH_VARARGS, "Packet columns of the common-case records; flags the rest."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_walk", NULL, -1, methods};

PyMODINIT_FUNC PyInit__walk(void) { return PyModule_Create(&module); }
