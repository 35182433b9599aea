/*
 * embedded: a program that links libevfcgi and is its own FastCGI daemon
 * (evf_main), as an app may be shipped instead of a module.  Used by the
 * integration tests, under spawn-fcgi.
 */
#include <stdio.h>

#include "evfcgi.h"

static int started;

static int
startup(evf_app_ctx *app)
{
    const char *greeting = evf_app_option(app, "greeting");
    (void)greeting;
    started++;
    return 0;
}

static void
whoami(evf_req *r)
{
    evf_json_printf(r, 200, "{\"app\":\"embedded\",\"started\":%d}", started);
}

static const evf_route routes[] = {
    EVF_GET("/whoami", whoami),
    EVF_END
};

static const evf_app app = {
    .abi = EVF_ABI_VERSION,
    .name = "embedded",
    .routes = routes,
    .startup = startup,
};

int
main(int argc, char **argv)
{
    return evf_main(argc, argv, &app);
}
