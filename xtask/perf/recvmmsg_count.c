/*
 * The independent receiver of `cargo xtask perf`: counts what arrives, whoever sent it.
 *
 *   recvmmsg_count GROUP PORT IFADDR WINDOW_S IDLE_MS RCVBUF
 *
 * Binds a UDP socket to GROUP:PORT, joins GROUP on the interface that holds IFADDR
 * (IP_ADD_MEMBERSHIP), asks for an RCVBUF-byte receive buffer (SO_RCVBUFFORCE as root, else
 * SO_RCVBUF) and prints "listening on GROUP:PORT via IFADDR" on stderr once joined. It then reads
 * with recvmmsg(2), 64 datagrams per call, until WINDOW_S seconds have passed since it started, or
 * IDLE_MS milliseconds after the last datagram once one has arrived, or SIGINT/SIGTERM. At the end
 * it prints one JSON line on stdout:
 *
 *   {"datagrams":N,"bytes":B,"first_to_last_s":F,"drops":D,"truncated":T,"rcvbuf":R}
 *
 * "drops" are the socket's own kernel drops (a full receive buffer): the larger of the last
 * SO_RXQ_OVFL count a datagram carried and the socket's drops column in /proc/net/udp, read at the
 * end. "truncated" counts messages longer than the 64 KiB buffers.
 *
 * The socket asks for UDP_GRO, as any fast receiver would: a GSO sender's run of datagrams then
 * arrives as one message whose UDP_GRO control message gives the segment size, and is counted as
 * the datagrams it holds. Senders without GSO are unaffected.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define BUF_SIZE 65536

#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "recvmmsg_count: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* The drops column of this socket's line in /proc/net/udp (our namespace's), matched by inode. */
static unsigned long long proc_drops(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return 0;
    FILE *f = fopen("/proc/net/udp", "r");
    if (!f)
        return 0;
    char line[512];
    unsigned long long drops = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long inode;
        unsigned long long d;
        /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops */
        if (sscanf(line, " %*s %*s %*s %*s %*s %*s %*s %*s %*s %lu %*s %*s %llu", &inode, &d) == 2 &&
            inode == (unsigned long)st.st_ino) {
            drops = d;
            break;
        }
    }
    fclose(f);
    return drops;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: recvmmsg_count GROUP PORT IFADDR WINDOW_S IDLE_MS RCVBUF\n");
        return 2;
    }
    struct sockaddr_in local = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    struct ip_mreq mreq;
    if (inet_pton(AF_INET, argv[1], &local.sin_addr) != 1 ||
        inet_pton(AF_INET, argv[1], &mreq.imr_multiaddr) != 1 ||
        inet_pton(AF_INET, argv[3], &mreq.imr_interface) != 1) {
        fprintf(stderr, "recvmmsg_count: GROUP and IFADDR must be IPv4 addresses\n");
        return 2;
    }
    double window = atof(argv[4]);
    double idle = atof(argv[5]) / 1e3;
    int rcvbuf = atoi(argv[6]);
    if (window <= 0 || idle <= 0 || rcvbuf <= 0) {
        fprintf(stderr, "recvmmsg_count: WINDOW_S, IDLE_MS and RCVBUF must be positive\n");
        return 2;
    }

    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0)
        die("socket");
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        die("SO_REUSEADDR");
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0 &&
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) < 0)
        die("SO_RCVBUF");
    if (setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one) < 0)
        die("SO_RXQ_OVFL");
    /* Optional: a kernel without UDP_GRO hands over datagrams one by one. */
    (void)setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0)
        die("bind");
    if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq) < 0)
        die("IP_ADD_MEMBERSHIP");
    int got_rcvbuf = 0;
    socklen_t len = sizeof got_rcvbuf;
    getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got_rcvbuf, &len);
    fprintf(stderr, "listening on %s:%s via %s (rcvbuf %d)\n", argv[1], argv[2], argv[3], got_rcvbuf);

    static unsigned char bufs[BATCH][BUF_SIZE];
    static unsigned char ctrl[BATCH][CMSG_SPACE(sizeof(uint32_t)) + CMSG_SPACE(sizeof(int))];
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];

    unsigned long long datagrams = 0, bytes = 0, truncated = 0, ovfl = 0;
    double start = now_s(), first = 0, last = 0;
    while (!stop) {
        double t = now_s();
        if (t - start >= window || (datagrams > 0 && t - last >= idle))
            break;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int ready = poll(&pfd, 1, 20);
        if (ready < 0 && errno != EINTR)
            die("poll");
        if (ready <= 0)
            continue;
        for (int i = 0; i < BATCH; i++) {
            iov[i] = (struct iovec){.iov_base = bufs[i], .iov_len = BUF_SIZE};
            msgs[i].msg_hdr = (struct msghdr){
                .msg_iov = &iov[i],
                .msg_iovlen = 1,
                .msg_control = ctrl[i],
                .msg_controllen = sizeof ctrl[i],
            };
            msgs[i].msg_len = 0;
        }
        int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            die("recvmmsg");
        }
        t = now_s();
        if (n > 0 && datagrams == 0)
            first = t;
        if (n > 0)
            last = t;
        for (int i = 0; i < n; i++) {
            unsigned long long segments = 1;
            bytes += msgs[i].msg_len;
            if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)
                truncated++;
            for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c;
                 c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
                    uint32_t d;
                    memcpy(&d, CMSG_DATA(c), sizeof d);
                    ovfl = d;
                } else if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
                    int seg;
                    memcpy(&seg, CMSG_DATA(c), sizeof seg);
                    if (seg > 0 && msgs[i].msg_len > (unsigned)seg)
                        segments = (msgs[i].msg_len + (unsigned)seg - 1) / (unsigned)seg;
                }
            }
            datagrams += segments;
        }
    }
    unsigned long long drops = proc_drops(fd);
    if (ovfl > drops)
        drops = ovfl;
    printf("{\"datagrams\":%llu,\"bytes\":%llu,\"first_to_last_s\":%.6f,\"drops\":%llu,"
           "\"truncated\":%llu,\"rcvbuf\":%d}\n",
           datagrams, bytes, datagrams ? last - first : 0.0, drops, truncated, got_rcvbuf);
    return 0;
}
