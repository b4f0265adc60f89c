/*
 * The native anchor of the apply-cost benchmark (bench/cost.ts): what applying keepalive costs
 * a C program that already knows its descriptor. 4 setsockopt (SO_KEEPALIVE, TCP_KEEPIDLE,
 * TCP_KEEPINTVL, TCP_KEEPCNT) and 4 getsockopt reading them back, on a fresh connection, while
 * N other connections to the same peer are open. Built by the benchmark with gcc (never vendored).
 *
 * usage: apply_anchor time HOST PORTS NS MIN MAX BUDGET_MS
 *          PORTS and NS comma-separated; the other connections go round-robin over PORTS.
 *          Prints {"type":"result","n":N,"samples":[µs,...],"flushedSamples":[µs,...]} per N,
 *          then {"type":"done"}. A flushed sample is the same apply on another fresh
 *          connection after the core's L2 cache was filled with other data (twice its size
 *          written), alternating with the plain ones: the anchor as the apply runs in a runtime,
 *          whose event loop works between the connect and the apply (see cost.ts).
 *        apply_anchor strace HOST PORT K
 *          K connections opened and closed, then K opened, applied and closed, between marker
 *          system calls (access on /sockalive-bench-marker-1..3) that strace's output shows.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in peer(const char *host, int port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)port);
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
    fprintf(stderr, "bad address %s\n", host);
    exit(2);
  }
  return a;
}

static int open_one(struct sockaddr_in *a) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)a, sizeof *a) != 0) {
    perror("connect");
    exit(1);
  }
  return fd;
}

/* The work measured: set the four options, read them back, check them. */
static void apply(int fd) {
  int on = 1, idle = 1, intvl = 1, cnt = 3, got[4];
  socklen_t len;
  if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on) ||
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle) ||
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl) ||
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt)) {
    perror("setsockopt");
    exit(1);
  }
  len = sizeof(int);
  getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &got[0], &len);
  len = sizeof(int);
  getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &got[1], &len);
  len = sizeof(int);
  getsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &got[2], &len);
  len = sizeof(int);
  getsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &got[3], &len);
  if (!got[0] || got[1] != idle || got[2] != intvl || got[3] != cnt) {
    fprintf(stderr, "keepalive not applied\n");
    exit(1);
  }
}

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

/* Twice the L2 cache (sysconf; 4 MiB if it does not say), written a byte per cache line. */
static unsigned char *flush_buffer;
static size_t flush_size;

static void flush_l2(void) {
  if (!flush_buffer) {
    long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    flush_size = 2 * (size_t)(l2 > 0 ? l2 : 2 << 20);
    flush_buffer = calloc(flush_size, 1);
    if (!flush_buffer) {
      perror("calloc");
      exit(1);
    }
  }
  for (size_t i = 0; i < flush_size; i += 64) flush_buffer[i]++;
}

static int split(const char *list, int *out, int max) {
  int n = 0;
  char *copy = strdup(list), *save = NULL;
  for (char *p = strtok_r(copy, ",", &save); p && n < max; p = strtok_r(NULL, ",", &save)) {
    out[n++] = atoi(p);
  }
  free(copy);
  return n;
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "strace") == 0) {
    struct sockaddr_in a = peer(argv[2], atoi(argv[3]));
    int k = atoi(argv[4]);
    for (int i = 0; i < 20; i++) {
      int fd = open_one(&a);
      apply(fd);
      close(fd);
    }
    access("/sockalive-bench-marker-1", F_OK);
    for (int i = 0; i < k; i++) close(open_one(&a));
    access("/sockalive-bench-marker-2", F_OK);
    for (int i = 0; i < k; i++) {
      int fd = open_one(&a);
      apply(fd);
      close(fd);
    }
    access("/sockalive-bench-marker-3", F_OK);
    return 0;
  }
  if (argc != 8 || strcmp(argv[1], "time") != 0) {
    fprintf(stderr, "usage: apply_anchor time HOST PORTS NS MIN MAX BUDGET_MS\n"
                    "       apply_anchor strace HOST PORT K\n");
    return 2;
  }
  int ports[64], ns[64];
  int nports = split(argv[3], ports, 64), nns = split(argv[4], ns, 64);
  int min = atoi(argv[5]), max = atoi(argv[6]);
  double budget_us = atof(argv[7]) * 1000;
  struct sockaddr_in addrs[64];
  for (int i = 0; i < nports; i++) addrs[i] = peer(argv[2], ports[i]);
  double *samples = malloc(sizeof(double) * (size_t)max);
  double *flushed = malloc(sizeof(double) * (size_t)max);
  int open_count = 0;
  /* Warm-up, as the runtimes get: caches and the peer's accept path. */
  for (int i = 0; i < 3000; i++) {
    int fd = open_one(&addrs[0]);
    apply(fd);
    close(fd);
  }
  flush_l2(); /* the buffer allocated and its pages mapped before anything is timed */
  for (int j = 0; j < nns; j++) {
    while (open_count < ns[j]) {
      open_one(&addrs[open_count % nports]);
      open_count++;
    }
    int count = 0;
    double start = now_us();
    while (count < max && (count < min || now_us() - start < budget_us)) {
      int fd = open_one(&addrs[0]);
      double t0 = now_us();
      apply(fd);
      samples[count] = now_us() - t0;
      close(fd);
      fd = open_one(&addrs[0]);
      flush_l2();
      t0 = now_us();
      apply(fd);
      flushed[count++] = now_us() - t0;
      close(fd);
    }
    printf("{\"type\":\"result\",\"n\":%d,\"samples\":[", ns[j]);
    for (int i = 0; i < count; i++) printf("%s%.3f", i ? "," : "", samples[i]);
    printf("],\"flushedSamples\":[");
    for (int i = 0; i < count; i++) printf("%s%.3f", i ? "," : "", flushed[i]);
    printf("]}\n");
    fflush(stdout);
  }
  printf("{\"type\":\"done\"}\n");
  return 0;
}
