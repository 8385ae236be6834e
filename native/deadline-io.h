/* File reads with a deadline (native/deadline-io.c): adds its functions to the addon's exports. */
#ifndef NETMON_DEADLINE_IO_H
#define NETMON_DEADLINE_IO_H
#include <node_api.h>
void deadline_io_init(napi_env env, napi_value exports);
#endif
