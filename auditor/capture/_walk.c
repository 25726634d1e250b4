/* The one sequential loop of the capture reader, compiled.
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

/* walk_pcapng(buf, pos, end, max_records, big_endian, max_packet_block, out_pos, out_kind)
 *   Walks a run of whole, well-formed packet blocks (Enhanced 6, Simple 3,
 *   obsolete Packet 2): length a multiple of 4, at least 12, at most
 *   max_packet_block, inside the buffer, the same at both ends. It stops at
 *   the first other block, incomplete block or damage and leaves that block
 *   to auditor.capture.pcapng.walk_pcapng_blocks, which applies exactly the
 *   same checks (and handles sections, interfaces and every other block).
 *   out_pos / out_kind: writable int64 buffers receiving block offsets/types.
 * returns (count, next_pos)
 */
static PyObject *walk_pcapng(PyObject *self, PyObject *args)
{
    Py_buffer buf, out_pos, out_kind;
    Py_ssize_t pos, end, max_records;
    int big;
    unsigned long max_block;
    if (!PyArg_ParseTuple(args, "y*nnnpkw*w*", &buf, &pos, &end, &max_records, &big, &max_block,
                          &out_pos, &out_kind))
        return NULL;
    if (end > buf.len) end = buf.len;
    if ((Py_ssize_t)(out_pos.len / 8) < max_records) max_records = out_pos.len / 8;
    if ((Py_ssize_t)(out_kind.len / 8) < max_records) max_records = out_kind.len / 8;
    const unsigned char *b = (const unsigned char *)buf.buf;
    int64_t *op = (int64_t *)out_pos.buf;
    int64_t *ok = (int64_t *)out_kind.buf;
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
        n++;
        pos += len;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    PyBuffer_Release(&out_pos);
    PyBuffer_Release(&out_kind);
    return Py_BuildValue("nn", n, pos);
}

static PyMethodDef methods[] = {
    {"walk_pcap", walk_pcap, METH_VARARGS, "Offsets of the complete pcap records in a buffer."},
    {"walk_pcapng", walk_pcapng, METH_VARARGS, "Offsets and types of a run of whole pcapng packet blocks."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_walk", NULL, -1, methods};

PyMODINIT_FUNC PyInit__walk(void) { return PyModule_Create(&module); }
