/*
 * peer.c: a V.42 LAPM peer built on spandsp (Debian libspandsp-dev 0.0.6),
 * for dialgate's interoperability test (lapm/interop_test.go).
 *
 * Usage: peer caller|answerer HOST PORT NBYTES
 *
 * It connects to HOST:PORT; the TCP stream carries the synchronous HDLC bit
 * stream packed 8 bits per octet, least significant bit first, paced at
 * 3,600 octets/s (spandsp's timers count bits at 28,800 bit/s). Detection is
 * off. Once the link is up it sends NBYTES octets of the stream
 * gen(0x5EED0001) and checks that the octets it receives are the stream
 * gen(0x5EED0002). It prints "RX n OK|BAD" and "TX n" and exits 0 when it
 * has received NBYTES correct octets and sent all of its own, and the peer
 * has hung up (or 60 s have passed after that), 1 on a mismatch, 2 on a
 * timeout or error.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <spandsp.h>
#include <spandsp/private/logging.h>
#include <spandsp/private/hdlc.h>
#include <spandsp/private/v42.h>

/* xorshift32: the same generator as the Go test's genStream. */
struct gen {
    uint32_t x;
};

static uint8_t gen_next(struct gen *g)
{
    g->x ^= g->x << 13;
    g->x ^= g->x >> 17;
    g->x ^= g->x << 5;
    return (uint8_t) g->x;
}

static struct gen txg = {0x5EED0001};
static struct gen rxg = {0x5EED0002};
static long nbytes;
static long sent;
static long received;
static int bad;
static int connected;

static int iframe_get(void *user_data, uint8_t *msg, int max_len)
{
    int n = 0;

    (void) user_data;
    while (n < max_len && sent < nbytes) {
        msg[n++] = gen_next(&txg);
        sent++;
    }
    return n;
}

static void iframe_put(void *user_data, const uint8_t *msg, int len)
{
    (void) user_data;
    if (len < 0)
        return; /* status report */
    for (int i = 0; i < len; i++) {
        if (received < nbytes && msg[i] != gen_next(&rxg)) {
            if (!bad)
                fprintf(stderr, "peer: mismatch at octet %ld\n", received);
            bad = 1;
        }
        received++;
    }
}

static void status(void *user_data, int st)
{
    (void) user_data;
    fprintf(stderr, "peer: status %d\n", st);
    if (st == SIG_STATUS_LINK_CONNECTED) {
        /* A SABME in the data phase (ours repeated after its UA was lost)
           resets spandsp's link: it drops the frames it has queued, whose
           octets iframe_get has already counted as sent. */
        if (connected)
            fprintf(stderr, "peer: link reset while connected: spandsp discarded its queued I frames\n");
        connected = 1;
    }
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: peer caller|answerer HOST PORT NBYTES\n");
        return 2;
    }
    int caller = strcmp(argv[1], "caller") == 0;
    signal(SIGPIPE, SIG_IGN); /* a hung-up socket shows as EPIPE */
    nbytes = atol(argv[4]);

    struct addrinfo hints = {0}, *ai;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(argv[2], argv[3], &hints, &ai) != 0) {
        fprintf(stderr, "peer: getaddrinfo failed\n");
        return 2;
    }
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        perror("peer: connect");
        return 2;
    }
    freeaddrinfo(ai);
    fcntl(fd, F_SETFL, O_NONBLOCK);

    v42_state_t *v42 = v42_init(NULL, caller, 0, iframe_get, iframe_put, NULL);
    if (v42 == NULL) {
        fprintf(stderr, "peer: v42_init failed\n");
        return 2;
    }
    v42_set_status_callback(v42, status, NULL);
    /* PEER_PARAMS="N401,k" changes spandsp's LAPM configuration (at most
       128 and 15, the sizes of its buffers). */
    const char *pp = getenv("PEER_PARAMS");
    if (pp != NULL) {
        int n401, k;
        if (sscanf(pp, "%d,%d", &n401, &k) != 2 || n401 < 1 || n401 > V42_MAX_N_401 || k < 1 || k > V42_MAX_WINDOW_SIZE_K) {
            fprintf(stderr, "peer: bad PEER_PARAMS %s\n", pp);
            return 2;
        }
        v42->config.v42_tx_n401 = v42->config.v42_rx_n401 = n401;
        v42->config.v42_tx_window_size_k = v42->config.v42_rx_window_size_k = k;
        v42->lapm.tx_n401 = v42->lapm.rx_n401 = n401;
        v42->lapm.tx_window_size_k = v42->lapm.rx_window_size_k = k;
    }
    v42_restart(v42);

    const double tick = 0.010;   /* 10 ms */
    const int per_tick = 36;     /* 3,600 octets/s */
    double start = now_s(), next = start, done_at = 0;
    uint8_t out[per_tick], in[4096];
    int peer_gone = 0;

    for (;;) {
        double t = now_s();
        if (t - start > 120) {
            fprintf(stderr, "peer: timeout (rx %ld tx %ld)\n", received, sent);
            return 2;
        }
        if (received >= nbytes && sent >= nbytes && done_at == 0)
            done_at = t;
        /* Our data may still be unacknowledged: wait for the Go side to
           release the link and hang up once it has read everything. */
        if (done_at != 0 && (peer_gone || t - done_at > 60))
            break;
        if (peer_gone) {
            fprintf(stderr, "peer: hung up early (rx %ld tx %ld)\n", received, sent);
            return 2;
        }
        /* Receive whatever has arrived. */
        for (;;) {
            ssize_t n = read(fd, in, sizeof in);
            if (n > 0) {
                for (ssize_t i = 0; i < n; i++)
                    for (int b = 0; b < 8; b++)
                        v42_rx_bit(v42, (in[i] >> b) & 1);
                continue;
            }
            if (n == 0)
                peer_gone = 1;
            else if (errno != EAGAIN && errno != EWOULDBLOCK) {
                if (errno != ECONNRESET) {
                    perror("peer: read");
                    return 2;
                }
                peer_gone = 1;
            }
            break;
        }
        /* Send one tick's worth of line octets. */
        if (t >= next) {
            for (int i = 0; i < per_tick; i++) {
                uint8_t o = 0;
                for (int b = 0; b < 8; b++)
                    o |= (uint8_t) ((v42_tx_bit(v42) & 1) << b);
                out[i] = o;
            }
            size_t off = 0;
            while (off < sizeof out) {
                ssize_t n = write(fd, out + off, sizeof out - off);
                if (n > 0) {
                    off += (size_t) n;
                } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                    usleep(1000);
                } else {
                    peer_gone = 1;
                    break;
                }
            }
            next += tick;
        } else {
            usleep(1000);
        }
    }
    printf("RX %ld %s\nTX %ld\nCONNECTED %d\n", received, bad ? "BAD" : "OK", sent, connected);
    close(fd);
    return bad ? 1 : 0;
}
