/*
 * demo.h: handlers of the demo app defined outside demo.c, one block per
 * file (apps/demo_<part>.c), each listed in demo.c's route table.
 */
#ifndef EVF_APPS_DEMO_H
#define EVF_APPS_DEMO_H

#include "evfcgi.h"

/* ---- demo_toolkit.c (issue 13: parameters, cookies, security) ---- */
extern const evf_query demo_search_query[];
extern const evf_query demo_prefs_query[];
extern const evf_query demo_agent_query[];
extern const evf_dep demo_current_user;
void demo_search(evf_req *r);
void demo_prefs(evf_req *r);
void demo_whoami(evf_req *r);
void demo_agent(evf_req *r);

#endif
