/* A Modbus TCP server built on libmodbus, used as the real peer of the Modbus
 * integration tests and of bench/collect.sh. It serves many connections at
 * once from one select() loop and can be told to misbehave in the ways field
 * devices do: exceptions for some addresses, silence, garbage, dropped
 * connections, slow replies, units that never answer. It listens on 127.0.0.1
 * only and never outlives its parent (PR_SET_PDEATHSIG) or --lifetime.
 *
 *   ib_modbus_peer [--port N] [--registers N] [--illegal FROM-TO]... [--set ADDR=VALUE]...
 *                  [--silent-after N] [--garbage-after N] [--drop-after N]
 *                  [--unit U]... [--delay-ms N] [--lifetime S] [--verbose]
 *
 * Prints "LISTENING <port>" on stdout once it accepts connections, and a line
 * of counters on stderr when it stops (SIGTERM or SIGINT).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <modbus.h>

#define MAX_ILLEGAL 64
#define MAX_SET 4096
#define NO_LIMIT -1L

struct range {
    long from, to; /* wire addresses, inclusive */
};

struct options {
    int port;
    int registers;
    struct range illegal[MAX_ILLEGAL];
    int n_illegal;
    long silent_after;  /* replies (all connections) before going silent */
    long garbage_after; /* good replies (all connections) before answering garbage */
    long drop_after;    /* replies on one connection before closing it */
    int units_restricted;
    unsigned char units[256];
    long delay_ms;
    long lifetime_s;
    int verbose;
};

struct counters {
    long requests, replies, exceptions, garbage, ignored_unit, ignored_silent, accepted, dropped;
};

static volatile sig_atomic_t g_stop = 0;

static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static void usage(FILE* f) {
    fputs("usage: ib_modbus_peer [--port N] [--registers N] [--illegal FROM-TO]... [--set ADDR=VALUE]...\n"
          "                      [--silent-after N] [--garbage-after N] [--drop-after N]\n"
          "                      [--unit U]... [--delay-ms N] [--lifetime S] [--verbose]\n"
          "  --port N           TCP port on 127.0.0.1 (0: any free port; printed as LISTENING <port>)\n"
          "  --registers N      size of each area (coils, discrete inputs, input and holding\n"
          "                     registers), 1..65536 [1000]\n"
          "  --illegal FROM-TO  wire addresses answered with exception 2 in every area (repeatable)\n"
          "  --set ADDR=VALUE   preload a holding register (wire address, value 0..65535; repeatable)\n"
          "  --silent-after N   after N replies in all, read requests and never answer\n"
          "  --garbage-after N  after N replies in all, answer every request with garbage\n"
          "  --drop-after N     close each connection after it got N replies\n"
          "  --unit U           answer only unit U (repeatable; default: every unit)\n"
          "  --delay-ms N       wait N ms before each reply (the whole server waits)\n"
          "  --lifetime S       exit after S seconds whatever happens [3600]\n"
          "  --verbose          one line per request on stderr\n",
          f);
}

/* Strict decimal parse of [min, max]; exits with a usage error otherwise. */
static long parse_long(const char* opt, const char* text, long min, long max) {
    char* end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "ib_modbus_peer: %s: '%s' is not a number in %ld..%ld\n", opt, text, min, max);
        exit(2);
    }
    return v;
}

static void parse_pair(const char* opt, const char* text, char sep, long* a, long* b, long max_a,
                       long max_b) {
    const char* p = strchr(text, sep);
    if (p == NULL || p == text) {
        fprintf(stderr, "ib_modbus_peer: %s: '%s' is not of the form A%cB\n", opt, text, sep);
        exit(2);
    }
    char left[32];
    size_t n = (size_t)(p - text);
    if (n >= sizeof left) {
        fprintf(stderr, "ib_modbus_peer: %s: '%s' is too long\n", opt, text);
        exit(2);
    }
    memcpy(left, text, n);
    left[n] = '\0';
    *a = parse_long(opt, left, 0, max_a);
    *b = parse_long(opt, p + 1, 0, max_b);
}

/* The area of a request that --illegal applies to, as (address, count) spans:
 * read/write multiple (0x17) touches two. Returns how many spans were found. */
static int request_spans(const uint8_t* req, int len, int hl, long spans[2][2]) {
    if (len < hl + 5) return 0;
    int fc = req[hl];
    long addr = (req[hl + 1] << 8) | req[hl + 2];
    long n = (req[hl + 3] << 8) | req[hl + 4];
    switch (fc) {
    case MODBUS_FC_READ_COILS:
    case MODBUS_FC_READ_DISCRETE_INPUTS:
    case MODBUS_FC_READ_HOLDING_REGISTERS:
    case MODBUS_FC_READ_INPUT_REGISTERS:
    case MODBUS_FC_WRITE_MULTIPLE_COILS:
    case MODBUS_FC_WRITE_MULTIPLE_REGISTERS:
        spans[0][0] = addr;
        spans[0][1] = n;
        return 1;
    case MODBUS_FC_WRITE_SINGLE_COIL:
    case MODBUS_FC_WRITE_SINGLE_REGISTER:
    case MODBUS_FC_MASK_WRITE_REGISTER:
        spans[0][0] = addr;
        spans[0][1] = 1;
        return 1;
    case MODBUS_FC_WRITE_AND_READ_REGISTERS:
        if (len < hl + 9) return 0;
        spans[0][0] = addr;
        spans[0][1] = n;
        spans[1][0] = (req[hl + 5] << 8) | req[hl + 6];
        spans[1][1] = (req[hl + 7] << 8) | req[hl + 8];
        return 2;
    default:
        return 0;
    }
}

static int touches_illegal(const struct options* o, const uint8_t* req, int len, int hl) {
    long spans[2][2];
    int n = request_spans(req, len, hl, spans);
    for (int s = 0; s < n; s++) {
        long first = spans[s][0], last = spans[s][0] + (spans[s][1] > 0 ? spans[s][1] : 1) - 1;
        for (int i = 0; i < o->n_illegal; i++) {
            if (first <= o->illegal[i].to && last >= o->illegal[i].from) return 1;
        }
    }
    return 0;
}

/* xorshift32 with a fixed seed: the garbage is the same from run to run. */
static uint32_t g_rand = 0x9e3779b9u;
static uint32_t next_rand(void) {
    g_rand ^= g_rand << 13;
    g_rand ^= g_rand >> 17;
    g_rand ^= g_rand << 5;
    return g_rand;
}

static void send_all(int fd, const uint8_t* buf, size_t len) {
    /* Best effort: a client that went away is noticed on its next read. */
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        buf += n;
        len -= (size_t)n;
    }
}

/* Answers a (TCP) request with one of four kinds of wrong reply, in turn, so a
 * client meets each: random bytes shorter than an MBAP header; a well-formed
 * reply with the wrong transaction id; an MBAP header with a non-zero protocol
 * id; a reply whose function code does not match the request. */
static void send_garbage(int fd, const uint8_t* req, int len, long nth) {
    uint8_t out[64];
    size_t n = 0;
    int fc = len > 7 ? req[7] : 3;
    switch (nth % 4) {
    case 0: {
        size_t k = 3 + next_rand() % 4; /* 3..6 bytes: never a whole MBAP header */
        for (n = 0; n < k; n++) out[n] = (uint8_t)next_rand();
        break;
    }
    case 1:
    case 2:
    case 3: {
        uint16_t tid = (uint16_t)((req[0] << 8) | req[1]);
        uint16_t proto = 0;
        if (nth % 4 == 1) tid = (uint16_t)(tid + 0x1111);
        if (nth % 4 == 2) proto = 0x1234;
        if (nth % 4 == 3) fc = (fc == 0x2b) ? 0x01 : fc + 1;
        /* PDU: function, byte count 4, four bytes of noise */
        uint8_t pdu[6] = {(uint8_t)fc, 4, (uint8_t)next_rand(), (uint8_t)next_rand(), (uint8_t)next_rand(),
                          (uint8_t)next_rand()};
        out[0] = (uint8_t)(tid >> 8);
        out[1] = (uint8_t)tid;
        out[2] = (uint8_t)(proto >> 8);
        out[3] = (uint8_t)proto;
        out[4] = 0;
        out[5] = (uint8_t)(1 + sizeof pdu);
        out[6] = len > 6 ? req[6] : 1;
        memcpy(out + 7, pdu, sizeof pdu);
        n = 7 + sizeof pdu;
        break;
    }
    }
    send_all(fd, out, n);
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    /* A signal cuts the delay short, which is what a stopping server wants. */
    nanosleep(&ts, NULL);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
    struct options o;
    memset(&o, 0, sizeof o);
    o.port = 0;
    o.registers = 1000;
    o.silent_after = o.garbage_after = o.drop_after = NO_LIMIT;
    o.lifetime_s = 3600;
    static long set_addr[MAX_SET], set_val[MAX_SET];
    int n_set = 0;

    enum {
        O_PORT = 256, O_REGS, O_ILLEGAL, O_SET, O_SILENT, O_GARBAGE, O_DROP, O_UNIT, O_DELAY, O_LIFE, O_VERBOSE,
        O_HELP
    };
    static const struct option longopts[] = {
        {"port", required_argument, NULL, O_PORT},
        {"registers", required_argument, NULL, O_REGS},
        {"illegal", required_argument, NULL, O_ILLEGAL},
        {"set", required_argument, NULL, O_SET},
        {"silent-after", required_argument, NULL, O_SILENT},
        {"garbage-after", required_argument, NULL, O_GARBAGE},
        {"drop-after", required_argument, NULL, O_DROP},
        {"unit", required_argument, NULL, O_UNIT},
        {"delay-ms", required_argument, NULL, O_DELAY},
        {"lifetime", required_argument, NULL, O_LIFE},
        {"verbose", no_argument, NULL, O_VERBOSE},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case O_PORT: o.port = (int)parse_long("--port", optarg, 0, 65535); break;
        case O_REGS: o.registers = (int)parse_long("--registers", optarg, 1, 65536); break;
        case O_ILLEGAL: {
            if (o.n_illegal == MAX_ILLEGAL) {
                fprintf(stderr, "ib_modbus_peer: at most %d --illegal ranges\n", MAX_ILLEGAL);
                return 2;
            }
            long a, b;
            parse_pair("--illegal", optarg, '-', &a, &b, 65535, 65535);
            if (b < a) {
                fprintf(stderr, "ib_modbus_peer: --illegal %s: the range is empty\n", optarg);
                return 2;
            }
            o.illegal[o.n_illegal].from = a;
            o.illegal[o.n_illegal].to = b;
            o.n_illegal++;
            break;
        }
        case O_SET: {
            if (n_set == MAX_SET) {
                fprintf(stderr, "ib_modbus_peer: at most %d --set values\n", MAX_SET);
                return 2;
            }
            parse_pair("--set", optarg, '=', &set_addr[n_set], &set_val[n_set], 65535, 65535);
            n_set++;
            break;
        }
        case O_SILENT: o.silent_after = parse_long("--silent-after", optarg, 0, LONG_MAX); break;
        case O_GARBAGE: o.garbage_after = parse_long("--garbage-after", optarg, 0, LONG_MAX); break;
        case O_DROP: o.drop_after = parse_long("--drop-after", optarg, 1, LONG_MAX); break;
        case O_UNIT:
            o.units[parse_long("--unit", optarg, 0, 255)] = 1;
            o.units_restricted = 1;
            break;
        case O_DELAY: o.delay_ms = parse_long("--delay-ms", optarg, 0, 600000); break;
        case O_LIFE: o.lifetime_s = parse_long("--lifetime", optarg, 1, 86400 * 7); break;
        case O_VERBOSE: o.verbose = 1; break;
        case O_HELP: usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "ib_modbus_peer: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    for (int i = 0; i < n_set; i++) {
        if (set_addr[i] >= o.registers) {
            fprintf(stderr, "ib_modbus_peer: --set %ld=%ld: address beyond --registers %d\n", set_addr[i],
                    set_val[i], o.registers);
            return 2;
        }
    }

    /* A test that dies must not leave servers behind. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: select() returns EINTR at once */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    modbus_mapping_t* map = modbus_mapping_new(o.registers, o.registers, o.registers, o.registers);
    if (map == NULL) {
        fprintf(stderr, "ib_modbus_peer: modbus_mapping_new: %s\n", modbus_strerror(errno));
        return 1;
    }
    for (int i = 0; i < o.registers; i++) {
        map->tab_registers[i] = (uint16_t)i;
        map->tab_input_registers[i] = (uint16_t)(1000 + i);
        map->tab_bits[i] = (uint8_t)(i % 2);
        map->tab_input_bits[i] = (uint8_t)(i % 3 == 0);
    }
    for (int i = 0; i < n_set; i++) map->tab_registers[set_addr[i]] = (uint16_t)set_val[i];

    modbus_t* ctx = modbus_new_tcp("127.0.0.1", o.port);
    if (ctx == NULL) {
        fprintf(stderr, "ib_modbus_peer: modbus_new_tcp: %s\n", modbus_strerror(errno));
        return 1;
    }
    int listener = modbus_tcp_listen(ctx, 64);
    if (listener < 0) {
        fprintf(stderr, "ib_modbus_peer: listen on 127.0.0.1:%d: %s\n", o.port, modbus_strerror(errno));
        return 1;
    }
    struct sockaddr_in bound;
    socklen_t blen = sizeof bound;
    if (getsockname(listener, (struct sockaddr*)&bound, &blen) != 0) {
        perror("ib_modbus_peer: getsockname");
        return 1;
    }
    printf("LISTENING %d\n", ntohs(bound.sin_port));
    fflush(stdout);

    const int hl = modbus_get_header_length(ctx);
    static long conn_replies[FD_SETSIZE];
    fd_set all;
    FD_ZERO(&all);
    FD_SET(listener, &all);
    int max_fd = listener;
    struct counters k;
    memset(&k, 0, sizeof k);
    uint8_t req[MODBUS_TCP_MAX_ADU_LENGTH];
    const double deadline = now_s() + (double)o.lifetime_s;

    /* Ends on SIGTERM/SIGINT or at the end of --lifetime; each turn waits at
     * most 200 ms, so a signal that lands between the check and select() is
     * seen on the next turn. */
    while (!g_stop && now_s() < deadline) {
        fd_set ready = all;
        struct timeval tv = {0, 200000};
        int n = select(max_fd + 1, &ready, NULL, NULL, &tv);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("ib_modbus_peer: select");
            break;
        }
        for (int fd = 0; fd <= max_fd && n > 0; fd++) {
            if (!FD_ISSET(fd, &ready)) continue;
            n--;
            if (fd == listener) {
                int s = accept(listener, NULL, NULL);
                if (s < 0) continue;
                if (s >= FD_SETSIZE) { /* select() cannot watch it */
                    close(s);
                    continue;
                }
                int one = 1;
                setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                FD_SET(s, &all);
                if (s > max_fd) max_fd = s;
                conn_replies[s] = 0;
                k.accepted++;
                continue;
            }
            modbus_set_socket(ctx, fd);
            int len = modbus_receive(ctx, req);
            if (len == 0) continue; /* libmodbus ignored it (not for this server) */
            if (len < 0) {          /* closed by the client, or an unparseable request */
                close(fd);
                FD_CLR(fd, &all);
                continue;
            }
            k.requests++;
            int unit = req[hl - 1];
            if (o.verbose) {
                fprintf(stderr, "request fd=%d unit=%d fc=0x%02x len=%d\n", fd, unit, req[hl], len);
            }
            if (o.units_restricted && !o.units[unit]) {
                k.ignored_unit++;
                continue;
            }
            if (o.silent_after != NO_LIMIT && k.replies + k.garbage >= o.silent_after) {
                k.ignored_silent++;
                continue;
            }
            if (o.delay_ms > 0) sleep_ms(o.delay_ms);
            if (o.garbage_after != NO_LIMIT && k.replies >= o.garbage_after) {
                send_garbage(fd, req, len, k.garbage);
                k.garbage++;
            } else {
                int rc;
                if (touches_illegal(&o, req, len, hl)) {
                    rc = modbus_reply_exception(ctx, req, MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS);
                    k.exceptions++;
                } else {
                    rc = modbus_reply(ctx, req, len, map);
                }
                if (rc >= 0) k.replies++;
            }
            conn_replies[fd]++;
            if (o.drop_after != NO_LIMIT && conn_replies[fd] >= o.drop_after) {
                k.dropped++;
                close(fd);
                FD_CLR(fd, &all);
            }
        }
    }

    fprintf(stderr,
            "ib_modbus_peer: stopping: accepted=%ld requests=%ld replies=%ld exceptions=%ld garbage=%ld "
            "ignored_unit=%ld ignored_silent=%ld dropped=%ld\n",
            k.accepted, k.requests, k.replies, k.exceptions, k.garbage, k.ignored_unit, k.ignored_silent,
            k.dropped);
    for (int fd = 0; fd <= max_fd; fd++) {
        if (FD_ISSET(fd, &all)) close(fd);
    }
    modbus_free(ctx);
    modbus_mapping_free(map);
    return 0;
}
