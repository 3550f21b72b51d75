#!/usr/bin/env python3
"""The lecture's multicast sender, plain Python (socket module only).

    python3 sender.py GROUP PORT MESSAGE IFACE_ADDR

Sends MESSAGE once to GROUP:PORT with TTL 1 (the local network only), out of the interface
that holds IFACE_ADDR. The interface is required: a program that leaves it to the kernel's
default multicast route may send where nobody meant it to. Prints the socket options it set,
in the words `mcast send --explain` uses, on stderr.

The mcast equivalent: mcast send GROUP PORT MESSAGE -i IFACE_ADDR --explain
"""
import socket
import sys

if len(sys.argv) != 5:
    sys.exit("usage: sender.py GROUP PORT MESSAGE IFACE_ADDR")
MCAST_GRP, MCAST_PORT, MESSAGE, IFACE = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
MULTICAST_TTL = 1


def note(text):
    print(text, file=sys.stderr, flush=True)


sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, MULTICAST_TTL)
note("socket option IPPROTO_IP IP_MULTICAST_TTL=%d" % MULTICAST_TTL)
sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(IFACE))
note('socket option IPPROTO_IP IP_MULTICAST_IF=%s (an in_addr: socket.inet_aton("%s"))'
     % (IFACE, IFACE))
sent = sock.sendto(MESSAGE.encode(), (MCAST_GRP, MCAST_PORT))
note("sent %d bytes to %s:%d" % (sent, MCAST_GRP, MCAST_PORT))
