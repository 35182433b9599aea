/*
 * test_http_status: suite "http_status".
 *
 * evf_http_reason: the phrase of every registered code from 100 to 511
 * (the table below is Python 3.11's http.HTTPStatus, which Starlette
 * uses), and the class name for any other code, including codes outside
 * 100-599.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "http_status.h"
#include "unit.h"

static const struct {
    int status;
    const char *reason;
} known[] = {
    { 100, "Continue" },
    { 101, "Switching Protocols" },
    { 102, "Processing" },
    { 103, "Early Hints" },
    { 200, "OK" },
    { 201, "Created" },
    { 202, "Accepted" },
    { 203, "Non-Authoritative Information" },
    { 204, "No Content" },
    { 205, "Reset Content" },
    { 206, "Partial Content" },
    { 207, "Multi-Status" },
    { 208, "Already Reported" },
    { 226, "IM Used" },
    { 300, "Multiple Choices" },
    { 301, "Moved Permanently" },
    { 302, "Found" },
    { 303, "See Other" },
    { 304, "Not Modified" },
    { 305, "Use Proxy" },
    { 307, "Temporary Redirect" },
    { 308, "Permanent Redirect" },
    { 400, "Bad Request" },
    { 401, "Unauthorized" },
    { 402, "Payment Required" },
    { 403, "Forbidden" },
    { 404, "Not Found" },
    { 405, "Method Not Allowed" },
    { 406, "Not Acceptable" },
    { 407, "Proxy Authentication Required" },
    { 408, "Request Timeout" },
    { 409, "Conflict" },
    { 410, "Gone" },
    { 411, "Length Required" },
    { 412, "Precondition Failed" },
    { 413, "Request Entity Too Large" },
    { 414, "Request-URI Too Long" },
    { 415, "Unsupported Media Type" },
    { 416, "Requested Range Not Satisfiable" },
    { 417, "Expectation Failed" },
    { 418, "I'm a Teapot" },
    { 421, "Misdirected Request" },
    { 422, "Unprocessable Entity" },
    { 423, "Locked" },
    { 424, "Failed Dependency" },
    { 425, "Too Early" },
    { 426, "Upgrade Required" },
    { 428, "Precondition Required" },
    { 429, "Too Many Requests" },
    { 431, "Request Header Fields Too Large" },
    { 451, "Unavailable For Legal Reasons" },
    { 500, "Internal Server Error" },
    { 501, "Not Implemented" },
    { 502, "Bad Gateway" },
    { 503, "Service Unavailable" },
    { 504, "Gateway Timeout" },
    { 505, "HTTP Version Not Supported" },
    { 506, "Variant Also Negotiates" },
    { 507, "Insufficient Storage" },
    { 508, "Loop Detected" },
    { 510, "Not Extended" },
    { 511, "Network Authentication Required" },
};

static void
test_known(void)
{
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        const char *r = evf_http_reason(known[i].status);
        CU_ASSERT_STRING_EQUAL(r, known[i].reason);
        if (strcmp(r, known[i].reason))
            fprintf(stderr, "\n    %d: '%s'\n", known[i].status, r);
    }
}

static bool
is_known(int status)
{
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (known[i].status == status)
            return true;
    return false;
}

/* Every other code from -1 to 700 gets its class name. */
static void
test_classes(void)
{
    for (int s = -1; s <= 700; s++) {
        if (is_known(s))
            continue;
        const char *want = s < 200 ? "Informational" :
                           s < 300 ? "Success" :
                           s < 400 ? "Redirection" :
                           s < 500 ? "Client Error" : "Server Error";
        const char *r = evf_http_reason(s);
        CU_ASSERT_PTR_NOT_NULL_FATAL(r);
        CU_ASSERT_STRING_EQUAL(r, want);
    }
    CU_ASSERT_STRING_EQUAL(evf_http_reason(306), "Redirection");
    CU_ASSERT_STRING_EQUAL(evf_http_reason(419), "Client Error");
    CU_ASSERT_STRING_EQUAL(evf_http_reason(599), "Server Error");
}

static CU_TestInfo tests[] = {
    { "registered codes", test_known },
    { "class names", test_classes },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    return unit_run_tests("http_status", tests);
}
