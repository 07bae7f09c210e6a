// SPDX-License-Identifier: MIT
/*
 * udp: packets of -l bytes from the client through a UDP allocation
 * (ChannelData, or Send indications) to the peer, which sinks them or, with
 * --echo, sends them back (ChannelData or Data indications to the client).
 * Each packet is an 8-byte sequence number and pattern bytes derived from it;
 * the peer and the client check every byte. Loss is reported, not an error.
 * One thread: a burst of sends, then everything readable on both sockets.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_int.h"

#define BURST	 32
#define DRAIN_NS (300ull * 1000000ull)

struct udp_side {
	uint64_t rcvd, corrupt, reordered, max_seq;
};

struct udpb {
	const struct bench_opts *o;
	struct udp_path u;
	struct pattern pat;
	uint64_t sent, echoed, send_err;
	struct udp_side peer, client;
	uint8_t pkt[65536], rx[65536 + 64];
};

static void build(struct udpb *b, uint64_t seq)
{
	size_t len = b->o->msg_len;

	memcpy(b->pkt, &seq, 8);
	memcpy(b->pkt + 8, pattern__at(&b->pat, seq * len + 8), len - 8);
	if (b->o->corrupt && !seq) /* hidden test switch */
		b->pkt[8] ^= 0x5a;
}

static void check(struct udpb *b, struct udp_side *s, const uint8_t *d, size_t len)
{
	uint64_t seq;

	s->rcvd++;
	if (len != b->o->msg_len) {
		s->corrupt++;
		return;
	}
	memcpy(&seq, d, 8);
	if (seq >= b->sent || pattern__check(&b->pat, seq * len + 8, d + 8, len - 8))
		s->corrupt++;
	if (s->rcvd > 1 && seq < s->max_seq)
		s->reordered++;
	else
		s->max_seq = seq;
}

/* Returns true when the pacing (-b) says wait. */
static bool send_burst(struct udpb *b, uint64_t start, uint64_t now)
{
	const struct bench_opts *o = b->o;
	uint64_t allowed =
		o->pps ? (uint64_t)((double)(now - start) * (double)o->pps / 1e9) + 1 : UINT64_MAX;

	for (int k = 0; k < BURST && b->sent < allowed && (!o->count || b->sent < o->count); k++) {
		int err;

		build(b, b->sent);
		err = udp_path__client_send(&b->u, b->pkt, o->msg_len);
		if (err == -EAGAIN || err == -ENOBUFS)
			return false;
		if (err)
			b->send_err++;
		else
			b->sent++;
	}
	return b->sent >= allowed;
}

static void drain(struct udpb *b)
{
	const uint8_t *data;
	ssize_t n;

	for (int k = 0; k < 4 * BURST; k++) {
		n = recv(b->u.pfd, b->rx, sizeof(b->rx), MSG_DONTWAIT);
		if (n < 0)
			break;
		check(b, &b->peer, b->rx, (size_t)n);
		if (b->o->echo && !udp_path__peer_send(&b->u, b->rx, (size_t)n))
			b->echoed++;
	}
	for (int k = 0; k < 4 * BURST; k++) {
		n = udp_path__client_recv(&b->u, b->rx, sizeof(b->rx), &data);
		if (n < 0)
			break;
		if (n > 0)
			check(b, &b->client, data, (size_t)n);
	}
}

static bool sending(const struct udpb *b, uint64_t start, uint64_t now)
{
	if (b->o->count)
		return b->sent < b->o->count;
	return now - start < (uint64_t)(b->o->seconds * 1e9);
}

static double udp_loop(struct udpb *b)
{
	uint64_t start = bench_now_ns(), now = start, tick = start, end = 0, ls = 0, lr = 0;

	while (!end || now < end) {
		struct pollfd p[2] = {{.fd = b->u.pfd, .events = POLLIN},
				      {.fd = b->u.cfd, .events = POLLIN}};

		bool wait = true;

		if (!end && sending(b, start, now))
			wait = send_burst(b, start, now) && b->o->pps;
		else if (!end)
			end = now + DRAIN_NS;
		if (wait)
			poll(p, 2, 1);
		drain(b);
		now = bench_now_ns();
		if (b->o->progress && now - tick >= 1000000000ull) {
			fprintf(stderr, "[%6.1f s] sent %8llu pkt/s  peer received %8llu pkt/s\n",
				(double)(now - start) / 1e9, (unsigned long long)(b->sent - ls),
				(unsigned long long)(b->peer.rcvd - lr));
			ls = b->sent;
			lr = b->peer.rcvd;
			tick = now;
		}
	}
	return (double)(end - DRAIN_NS - start) / 1e9;
}

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0;
}

static void report(struct udpb *b, double secs)
{
	const struct bench_opts *o = b->o;
	uint64_t lost = b->sent > b->peer.rcvd ? b->sent - b->peer.rcvd : 0;
	uint64_t elost = b->echoed > b->client.rcvd ? b->echoed - b->client.rcvd : 0;
	uint64_t corrupt = b->peer.corrupt + b->client.corrupt;

	if (o->json) {
		printf("{");
		bench_json_head(stdout, o);
		printf(",\"encapsulation\":\"%s\",\"length\":%u,\"echo\":%s,\"seconds\":%.3f,"
		       "\"bytes\":%llu,\"sent\":%llu,\"peer_received\":%llu,\"lost\":%llu,\"loss_"
		       "pct\":%.3f,"
		       "\"echoed\":%llu,\"client_received\":%llu,\"echo_lost\":%llu,"
		       "\"sent_pps\":%.1f,\"received_pps\":%.1f,\"gbps\":%.3f,\"reordered\":%llu,"
		       "\"content_errors\":%llu,\"errors\":%llu}\n",
		       o->direct     ? "none"
		       : o->send_ind ? "indication"
				     : "channeldata",
		       o->msg_len, o->echo ? "true" : "false", secs,
		       (unsigned long long)(b->peer.rcvd * o->msg_len), (unsigned long long)b->sent,
		       (unsigned long long)b->peer.rcvd, (unsigned long long)lost,
		       pct(lost, b->sent), (unsigned long long)b->echoed,
		       (unsigned long long)b->client.rcvd, (unsigned long long)elost,
		       secs > 0 ? (double)b->sent / secs : 0,
		       secs > 0 ? (double)b->peer.rcvd / secs : 0,
		       secs > 0 ? (double)b->peer.rcvd * o->msg_len * 8 / secs / 1e9 : 0,
		       (unsigned long long)(b->peer.reordered + b->client.reordered),
		       (unsigned long long)corrupt, (unsigned long long)b->send_err);
		return;
	}
	printf("udp: %u-byte packets, %s, %.2f s\n", o->msg_len,
	       o->direct     ? "direct"
	       : o->send_ind ? "Send/Data indications"
			     : "ChannelData",
	       secs);
	printf("  sent %llu (%.0f pkt/s)  peer received %llu (%.0f pkt/s, %.3f Gb/s)  lost %llu "
	       "(%.2f %%)\n",
	       (unsigned long long)b->sent, secs > 0 ? (double)b->sent / secs : 0,
	       (unsigned long long)b->peer.rcvd, secs > 0 ? (double)b->peer.rcvd / secs : 0,
	       secs > 0 ? (double)b->peer.rcvd * o->msg_len * 8 / secs / 1e9 : 0,
	       (unsigned long long)lost, pct(lost, b->sent));
	if (o->echo)
		printf("  echoed %llu  client received %llu  lost %llu (%.2f %%)\n",
		       (unsigned long long)b->echoed, (unsigned long long)b->client.rcvd,
		       (unsigned long long)elost, pct(elost, b->echoed));
	printf("  content errors %llu  send errors %llu  reordered %llu  %s\n",
	       (unsigned long long)corrupt, (unsigned long long)b->send_err,
	       (unsigned long long)(b->peer.reordered + b->client.reordered),
	       corrupt || b->send_err || !b->peer.rcvd ? "FAILED" : "ok");
}

int bench_udp__run(const struct bench_opts *o)
{
	struct udpb *b = calloc(1, sizeof(*b));
	int err = b ? pattern__init(&b->pat, 0x756470ull) : -ENOMEM, status = 1;

	if (!err) {
		b->o = o;
		err = udp_path__open(o, &b->u);
	}
	if (!err) {
		report(b, udp_loop(b));
		status = b->peer.corrupt || b->client.corrupt || b->send_err || !b->peer.rcvd ||
			 (o->echo && !b->client.rcvd);
	}
	if (b) {
		udp_path__close(&b->u);
		pattern__free(&b->pat);
	}
	free(b);
	return err ? err : status;
}
