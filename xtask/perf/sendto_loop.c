/*
 * The baseline sender of `cargo xtask perf`: one sendto(2) per datagram, in a plain loop.
 *
 *   sendto_loop GROUP PORT IFADDR SIZE SECONDS MAX_COUNT
 *
 * Sends SIZE-byte UDP datagrams to GROUP:PORT out of the interface that holds IFADDR
 * (IP_MULTICAST_IF, TTL 1, no loopback) for SECONDS or MAX_COUNT datagrams, whichever ends first,
 * then prints one JSON line on stdout:
 *
 *   {"sent":N,"bytes":B,"errors":E,"elapsed_s":F}
 *
 * The first eight bytes of each payload hold its sequence number; the rest are zero. A failed
 * sendto (ENOBUFS, say) is counted in "errors" and the loop goes on.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "sendto_loop: %s: %s\n", what, strerror(errno));
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: sendto_loop GROUP PORT IFADDR SIZE SECONDS MAX_COUNT\n");
        return 2;
    }
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    struct in_addr ifaddr;
    if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1 || inet_pton(AF_INET, argv[3], &ifaddr) != 1) {
        fprintf(stderr, "sendto_loop: GROUP and IFADDR must be IPv4 addresses\n");
        return 2;
    }
    size_t size = (size_t)atol(argv[4]);
    double seconds = atof(argv[5]);
    unsigned long long max_count = strtoull(argv[6], NULL, 10);
    if (size < 8 || size > 65507 || seconds <= 0 || max_count == 0) {
        fprintf(stderr, "sendto_loop: SIZE must be 8..65507, SECONDS and MAX_COUNT positive\n");
        return 2;
    }

    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0)
        die("socket");
    int ttl = 1, loop = 0;
    if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &ifaddr, sizeof ifaddr) < 0)
        die("IP_MULTICAST_IF");
    if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl) < 0)
        die("IP_MULTICAST_TTL");
    if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop) < 0)
        die("IP_MULTICAST_LOOP");

    unsigned char *buf = calloc(1, size);
    if (!buf)
        die("calloc");
    unsigned long long sent = 0, errors = 0, bytes = 0;
    double start = now_s(), deadline = start + seconds, end = start;
    for (unsigned long long seq = 0; seq < max_count; seq++) {
        /* The clock is read every 64 datagrams: cheap, and at most 64 datagrams late. */
        if ((seq & 63) == 0 && (end = now_s()) >= deadline)
            break;
        memcpy(buf, &seq, sizeof seq);
        ssize_t n = sendto(fd, buf, size, 0, (struct sockaddr *)&dst, sizeof dst);
        if (n < 0) {
            errors++;
        } else {
            sent++;
            bytes += (unsigned long long)n;
        }
    }
    end = now_s();
    printf("{\"sent\":%llu,\"bytes\":%llu,\"errors\":%llu,\"elapsed_s\":%.6f}\n", sent, bytes, errors,
           end - start);
    return 0;
}
