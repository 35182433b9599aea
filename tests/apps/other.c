/*
 * other: a second app loaded beside the demo, with lifespan hooks and an
 * app option, for the tests of multi-app loading.
 */
#include <string.h>

#include "evfcgi.h"

static const char *greeting = "hi";
static int startups;

static int
startup(evf_app_ctx *app)
{
    const char *g = evf_app_option(app, "greeting");
    if (g)
        greeting = g;
    if (evf_app_option(app, "fail_startup"))
        return -1;
    startups++;
    return 0;
}

static void
greet(evf_req *r)
{
    const char *who = evf_header(r, "X-Who");
    evf_json_printf(r, 200, "{\"greeting\":\"%s\",\"who\":\"%s\","
                    "\"startups\":%d}", greeting, who ? who : "",
                    startups);
}

static const evf_route routes[] = {
    EVF_GET("/other/greet", greet),
    EVF_END
};

EVF_APP("other", routes, .startup = startup);
