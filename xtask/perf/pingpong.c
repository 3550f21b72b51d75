/*
 * The plain-socket ping-pong of `cargo xtask perf`: a closed loop over multicast, both ways.
 *
 *   pingpong server GROUP PORT IFADDR SECONDS
 *   pingpong client GROUP PORT IFADDR COUNT INTERVAL_US
 *
 * Both join GROUP on the interface that holds IFADDR, send with IP_MULTICAST_IF = IFADDR, TTL 1
 * and IP_MULTICAST_LOOP off, and block in recv(2) between datagrams. The server echoes every
 * datagram it receives back to GROUP:PORT until SECONDS pass; the client sends COUNT numbered
 * probes, one every INTERVAL_US (after the previous answer), waits up to a second for each
 * answer, and prints one JSON line: {"sent":N,"received":N,"rtt_us":{"min":..,"p50":..,"p90":..,"p99":..,"max":..}}
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int open_socket(const char *group, int port, const char *ifaddr, struct sockaddr_in *dst)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("socket");
        exit(1);
    }
    int one = 1, zero = 0, ttl = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in local = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, group, &local.sin_addr);
    if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) {
        perror("bind");
        exit(1);
    }
    struct ip_mreq mreq;
    inet_pton(AF_INET, group, &mreq.imr_multiaddr);
    inet_pton(AF_INET, ifaddr, &mreq.imr_interface);
    if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq) < 0) {
        perror("IP_ADD_MEMBERSHIP");
        exit(1);
    }
    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mreq.imr_interface, sizeof mreq.imr_interface);
    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl);
    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &zero, sizeof zero);
    *dst = local;
    return fd;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: pingpong server GROUP PORT IFADDR SECONDS | client GROUP PORT IFADDR COUNT INTERVAL_US\n");
        return 2;
    }
    struct sockaddr_in dst;
    int fd = open_socket(argv[2], atoi(argv[3]), argv[4], &dst);
    unsigned char buf[2048];
    if (strcmp(argv[1], "server") == 0) {
        fprintf(stderr, "listening on %s:%s\n", argv[2], argv[3]);
        uint64_t end = now_ns() + (uint64_t)(atof(argv[5]) * 1e9);
        while (now_ns() < end) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            if (poll(&p, 1, 100) <= 0)
                continue;
            ssize_t n = recv(fd, buf, sizeof buf, 0);
            if (n > 0)
                sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&dst, sizeof dst);
        }
        return 0;
    }
    if (argc != 7)
        return 2;
    long count = atol(argv[5]);
    long interval_us = atol(argv[6]);
    uint64_t *rtts = calloc((size_t)count, sizeof *rtts);
    long received = 0;
    for (long i = 0; i < count; i++) {
        uint64_t t0 = now_ns();
        memcpy(buf, &i, sizeof i);
        memset(buf + sizeof i, 0x70, 64 - sizeof i);
        sendto(fd, buf, 64, 0, (struct sockaddr *)&dst, sizeof dst);
        for (;;) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            int left = (int)(1000 - (now_ns() - t0) / 1000000);
            if (left <= 0 || poll(&p, 1, left) <= 0)
                break;
            ssize_t n = recv(fd, buf, sizeof buf, 0);
            long seq;
            memcpy(&seq, buf, sizeof seq);
            if (n >= (ssize_t)sizeof seq && seq == i) {
                rtts[received++] = now_ns() - t0;
                break;
            }
        }
        uint64_t next = t0 + (uint64_t)interval_us * 1000;
        while (now_ns() < next)
            usleep(10);
    }
    qsort(rtts, (size_t)received, sizeof *rtts, cmp);
    double us = 1e3;
#define Q(q) (received ? rtts[(size_t)((received - 1) * (q))] / us : 0.0)
    printf("{\"sent\":%ld,\"received\":%ld,\"rtt_us\":{\"min\":%.3f,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f}}\n",
           count, received, Q(0.0), Q(0.5), Q(0.9), Q(0.99), Q(1.0));
    return 0;
}
