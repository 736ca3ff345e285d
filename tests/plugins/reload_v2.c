/* reload_v2.c — version 2 of the "reloadable" test plugin (reload_common.h). */
#define RELOAD_VERSION "2.0.0"
#include "reload_common.h"
