/*
 * fcgi_writer: record encoding (see fcgi_writer.h).
 */
#include "config.h"

#include <assert.h>
#include <fastcgi.h>
#include <string.h>

#include "fcgi_writer.h"

static_assert(sizeof(FCGI_Header) == FCGI_HEADER_LEN, "FCGI_Header size");
static_assert(sizeof(FCGI_EndRequestBody) == 8, "FCGI_EndRequestBody size");

static const uint8_t zeros[8];

void
evf_fcgi_header(uint8_t out[8], uint8_t type, uint16_t request_id,
                uint16_t content_length, uint8_t padding)
{
    out[0] = FCGI_VERSION_1;
    out[1] = type;
    out[2] = (uint8_t)(request_id >> 8);
    out[3] = (uint8_t)request_id;
    out[4] = (uint8_t)(content_length >> 8);
    out[5] = (uint8_t)content_length;
    out[6] = padding;
    out[7] = 0;
}

static uint8_t
padding_for(size_t n)
{
    return (uint8_t)((8 - (n & 7)) & 7);
}

int
evf_fcgi_write_stream2(evf_buf_t *b, uint8_t type, uint16_t request_id,
                       const void *head, size_t hlen,
                       const void *body, size_t blen)
{
    const uint8_t *h = head, *d = body;
    size_t total = hlen + blen;

    if (total == 0) {
        uint8_t hdr[8];
        evf_fcgi_header(hdr, type, request_id, 0, 0);
        return evf_buf_append(b, hdr, 8);
    }
    /* Room for every record at once, so a failure leaves nothing half
     * written. */
    size_t nrec = (total + FCGI_MAX_LENGTH - 1) / FCGI_MAX_LENGTH;
    int rc = evf_buf_reserve(b, total + nrec * 16);
    if (rc < 0)
        return rc;
    while (total) {
        size_t n = total < FCGI_MAX_LENGTH ? total : FCGI_MAX_LENGTH;
        uint8_t pad = padding_for(n);
        uint8_t *out = b->data + b->len;
        evf_fcgi_header(out, type, request_id, (uint16_t)n, pad);
        out += 8;
        size_t left = n;
        size_t take = hlen < left ? hlen : left;
        if (take) {
            memcpy(out, h, take);
            h += take, hlen -= take, out += take, left -= take;
        }
        if (left) {
            memcpy(out, d, left);
            d += left, blen -= left, out += left;
        }
        memcpy(out, zeros, pad);
        b->len += 8 + n + pad;
        total -= n;
    }
    return 0;
}

int
evf_fcgi_write_stream(evf_buf_t *b, uint8_t type, uint16_t request_id,
                      const void *data, size_t len)
{
    return evf_fcgi_write_stream2(b, type, request_id, NULL, 0, data, len);
}

int
evf_fcgi_write_end_request(evf_buf_t *b, uint16_t request_id,
                           uint32_t app_status, uint8_t protocol_status)
{
    uint8_t rec[16];
    evf_fcgi_header(rec, FCGI_END_REQUEST, request_id, 8, 0);
    rec[8] = (uint8_t)(app_status >> 24);
    rec[9] = (uint8_t)(app_status >> 16);
    rec[10] = (uint8_t)(app_status >> 8);
    rec[11] = (uint8_t)app_status;
    rec[12] = protocol_status;
    memset(rec + 13, 0, 3);
    return evf_buf_append(b, rec, sizeof(rec));
}

int
evf_fcgi_write_unknown_type(evf_buf_t *b, uint8_t type)
{
    uint8_t rec[16];
    evf_fcgi_header(rec, FCGI_UNKNOWN_TYPE, FCGI_NULL_REQUEST_ID, 8, 0);
    rec[8] = type;
    memset(rec + 9, 0, 7);
    return evf_buf_append(b, rec, sizeof(rec));
}

int
evf_fcgi_write_values_result(evf_buf_t *b, const uint8_t *pairs, size_t len)
{
    if (len > FCGI_MAX_LENGTH)
        len = 0;    /* cannot happen for the three variables we answer */
    uint8_t hdr[8];
    uint8_t pad = padding_for(len);
    evf_fcgi_header(hdr, FCGI_GET_VALUES_RESULT, FCGI_NULL_REQUEST_ID,
                    (uint16_t)len, pad);
    int rc = evf_buf_reserve(b, 8 + len + pad);
    if (rc < 0)
        return rc;
    evf_buf_append(b, hdr, 8);
    evf_buf_append(b, pairs, len);
    evf_buf_append(b, zeros, pad);
    return 0;
}
