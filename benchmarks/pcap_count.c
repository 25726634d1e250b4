/* The floor of the benchmark: libpcap's own record walk (pcap_next_ex) over
 * the capture, counting packets and original-length bytes and nothing else.
 * Built at run time by `python3 -m benchmarks`:
 *     gcc -O2 -o benchmarks/data/pcap_count benchmarks/pcap_count.c -lpcap
 * Prints one JSON line: {"packets": N, "bytes": B, "libpcap": VERSION}. */
#include <pcap/pcap.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    struct pcap_pkthdr *hdr;
    const u_char *data;
    unsigned long long packets = 0, bytes = 0;
    pcap_t *p;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: %s CAPTURE\n", argv[0]);
        return 2;
    }
    p = pcap_open_offline(argv[1], errbuf);
    if (p == NULL) {
        fprintf(stderr, "%s: %s\n", argv[1], errbuf);
        return 2;
    }
    while ((rc = pcap_next_ex(p, &hdr, &data)) == 1) {
        packets++;
        bytes += hdr->len;
    }
    if (rc == PCAP_ERROR) {
        fprintf(stderr, "%s: %s\n", argv[1], pcap_geterr(p));
        pcap_close(p);
        return 2;
    }
    pcap_close(p);
    printf("{\"packets\": %llu, \"bytes\": %llu, \"libpcap\": \"%s\"}\n", packets, bytes,
           pcap_lib_version());
    return 0;
}
