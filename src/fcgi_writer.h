/*
 * fcgi_writer: FastCGI records a responder sends, appended to a buffer.
 *
 * Pure: no I/O.  Streams (STDOUT, STDERR) are split into records of at most
 * 65535 content bytes, each padded to a multiple of 8 bytes as the spec
 * recommends.  Every function returns 0 or -ENOMEM.
 */
#ifndef EVF_FCGI_WRITER_H
#define EVF_FCGI_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Encode an 8-byte record header. */
void evf_fcgi_header(uint8_t out[8], uint8_t type, uint16_t request_id,
                     uint16_t content_length, uint8_t padding);

/* Stream data of type (FCGI_STDOUT/STDERR); len 0 writes the terminator. */
int evf_fcgi_write_stream(evf_buf_t *b, uint8_t type, uint16_t request_id,
                          const void *data, size_t len);

/*
 * Like evf_fcgi_write_stream for head followed by body, in as few records
 * as possible (a small response is one record).
 */
int evf_fcgi_write_stream2(evf_buf_t *b, uint8_t type, uint16_t request_id,
                           const void *head, size_t hlen,
                           const void *body, size_t blen);

int evf_fcgi_write_end_request(evf_buf_t *b, uint16_t request_id,
                               uint32_t app_status, uint8_t protocol_status);

int evf_fcgi_write_unknown_type(evf_buf_t *b, uint8_t type);

/* A GET_VALUES_RESULT record holding already-encoded pairs. */
int evf_fcgi_write_values_result(evf_buf_t *b, const uint8_t *pairs,
                                 size_t len);

#endif
