/* reload_v1.c — version 1 of the "reloadable" test plugin (reload_common.h). */
#define RELOAD_VERSION "1.0.0"
#include "reload_common.h"
