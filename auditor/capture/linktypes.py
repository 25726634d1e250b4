"""libpcap names of LINKTYPE values (https://www.tcpdump.org/linktypes.html),
as the report's ``link_types`` lists them."""

from __future__ import annotations

NAMES: dict[int, str] = {
    0: "NULL", 1: "EN10MB", 3: "AX25", 6: "IEEE802", 7: "ARCNET_BSD", 8: "SLIP", 9: "PPP", 10: "FDDI",
    12: "RAW", 14: "RAW",  # DLT_RAW's platform values, found in old files
    50: "PPP_HDLC", 51: "PPP_ETHER", 100: "ATM_RFC1483", 101: "RAW", 104: "C_HDLC", 105: "IEEE802_11",
    107: "FRELAY", 108: "LOOP", 113: "LINUX_SLL", 114: "LTALK", 119: "PRISM_HEADER", 127: "IEEE802_11_RADIOTAP",
    138: "APPLE_IP_OVER_IEEE1394", 139: "MTP2_WITH_PHDR", 143: "DOCSIS", 163: "IEEE802_11_AVS",
    187: "BLUETOOTH_HCI_H4", 189: "USB_LINUX", 192: "PPI", 195: "IEEE802_15_4_WITHFCS", 197: "ERF",
    201: "BLUETOOTH_HCI_H4_WITH_PHDR", 220: "USB_LINUX_MMAPPED", 228: "IPV4", 229: "IPV6",
    235: "DVB_CI", 239: "NFLOG", 240: "NETANALYZER", 249: "USBPCAP", 252: "WIRESHARK_UPPER_PDU",
    253: "NETLINK", 263: "ISO_14443", 274: "ETHERNET_MPACKET", 276: "LINUX_SLL2", 281: "ETW",
}
NAMES.update({147 + i: f"USER{i}" for i in range(16)})


def linktype_name(value: int) -> str:
    return NAMES.get(value, f"LINKTYPE_{value}")
