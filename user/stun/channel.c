// SPDX-License-Identifier: MIT
/*
 * ChannelData (RFC 8656 §12.4): 2-byte channel number, 2-byte data length,
 * data. Over TCP/TLS the frame is padded to a multiple of 4 bytes; over UDP
 * padding is optional.
 */
#include <errno.h>
#include <string.h>

#include "stun_int.h"

int stun_channel__parse(const uint8_t *buf, size_t len, bool stream, uint16_t *channel,
			const uint8_t **data, size_t *data_len)
{
	size_t dlen;

	if (!buf || len < STUN_CHANNEL_HDR_LEN || !stun_channel_any(get16(buf)))
		return -EBADMSG;
	dlen = get16(buf + 2);
	if (stream ? len != STUN_CHANNEL_HDR_LEN + pad4(dlen)
		   : len < STUN_CHANNEL_HDR_LEN + dlen || len - STUN_CHANNEL_HDR_LEN - dlen > 3)
		return -EBADMSG;
	*channel = get16(buf);
	*data = buf + STUN_CHANNEL_HDR_LEN;
	*data_len = dlen;
	return 0;
}

ssize_t stun_channel__build(uint8_t *buf, size_t cap, uint16_t channel, const void *data,
			    size_t data_len, bool stream)
{
	size_t total;

	if (!stun_channel_any(channel) || data_len > 0xFFFF || (data_len && !data))
		return -EINVAL;
	total = STUN_CHANNEL_HDR_LEN + (stream ? pad4(data_len) : data_len);
	if (!buf || cap < total)
		return -ENOSPC;
	put16(buf, channel);
	put16(buf + 2, (uint16_t)data_len);
	if (data_len)
		memmove(buf + STUN_CHANNEL_HDR_LEN, data, data_len);
	memset(buf + STUN_CHANNEL_HDR_LEN + data_len, 0, total - STUN_CHANNEL_HDR_LEN - data_len);
	return (ssize_t)total;
}
