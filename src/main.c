/*
 * main: evfcgid, the daemon that serves apps loaded with -a.
 *
 * Stays thin: everything is in evf_main() (daemon.c), which programs
 * embedding libevfcgi call too.
 */
#include "config.h"

#include "evfcgi.h"

int
main(int argc, char **argv)
{
    return evf_main(argc, argv, NULL);
}
