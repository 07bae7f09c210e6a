/* SPDX-License-Identifier: MIT */
/*
 * Per-allocation permissions (RFC 8656 §9) and channel bindings (§12).
 *
 * Pure state: time is passed in as now_ms (any monotonic millisecond clock),
 * nothing here sleeps, logs or touches sockets. An entry with deadline D is
 * valid for now_ms < D; at now_ms == D it has expired.
 *
 * Permissions are keyed by family + IP address (port ignored; an IPv4-mapped
 * IPv6 address is a different key from the IPv4 one). Channels are keyed
 * by number and by peer family + IP + port.
 *
 * Returns are 0 or a negative errno:
 *   -EINVAL       bad argument / channel number outside 0x4000-0x7FFF (→ 400;
 *                 the caller applies RFC 8656's narrower 0x4000-0x4FFF itself)
 *   -EAFNOSUPPORT peer is neither AF_INET nor AF_INET6
 *   -EEXIST       channel or peer already bound to something else (→ 400)
 *   -EBUSY        channel or peer in its 5 min post-expiry cooldown (→ 400)
 *   -ENOSPC       per-allocation cap reached (→ 508)
 *   -ENOENT       lookup found nothing valid
 */
#ifndef KTURN_TURN_PERMS_H
#define KTURN_TURN_PERMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define TURN_PERM_LIFETIME_S	     300 /* RFC 8656 §9 */
#define TURN_CHANNEL_LIFETIME_S	     600 /* RFC 8656 §12 */
#define TURN_CHANNEL_COOLDOWN_MS     (300u * 1000u)
#define TURN_PERMS_DEFAULT_MAX_PERMS 256
#define TURN_PERMS_DEFAULT_MAX_CHANS 64

struct turn_perms;

/* Caps must be >= 1. Returns NULL on bad caps or out of memory. */
struct turn_perms *turn_perms__create(size_t max_perms, size_t max_channels);
void turn_perms__free(struct turn_perms *p); /* NULL is a no-op */

/* Install or refresh the permission for peer's IP until now + lifetime_s. */
int turn_perms__permit(struct turn_perms *p, const struct sockaddr *peer, uint64_t now_ms,
		       uint32_t lifetime_s);
bool turn_perms__allowed(const struct turn_perms *p, const struct sockaddr *peer, uint64_t now_ms);

/*
 * ChannelBind: bind (or refresh) ch <-> peer for chan_lifetime_s and
 * install/refresh the permission for peer's IP for perm_lifetime_s.
 * Atomic: on error nothing changed.
 */
int turn_perms__bind_channel(struct turn_perms *p, uint16_t ch, const struct sockaddr *peer,
			     uint64_t now_ms, uint32_t chan_lifetime_s, uint32_t perm_lifetime_s);

/* Live bindings only. 0 or -ENOENT. */
int turn_perms__channel_peer(const struct turn_perms *p, uint16_t ch, uint64_t now_ms,
			     struct sockaddr_storage *out);
int turn_perms__peer_channel(const struct turn_perms *p, const struct sockaddr *peer,
			     uint64_t now_ms, uint16_t *ch);

/*
 * Drop expired permissions and channels whose cooldown has ended. Returns
 * the earliest deadline > now_ms (a permission/binding expiry or cooldown
 * end), or UINT64_MAX if none.
 */
uint64_t turn_perms__expire(struct turn_perms *p, uint64_t now_ms);

/* Live counts (for stats/tests). Channels in cooldown are not counted. */
size_t turn_perms__perm_count(const struct turn_perms *p, uint64_t now_ms);
/* The first max live permissions' IP addresses (port 0) into out; how many written. */
size_t turn_perms__list(const struct turn_perms *p, uint64_t now_ms, struct sockaddr_storage *out,
			size_t max);
size_t turn_perms__channel_count(const struct turn_perms *p, uint64_t now_ms);

#endif /* KTURN_TURN_PERMS_H */
