/* Errors are values: a status and a message kept per thread. */
#include <stdarg.h>
#include <stdio.h>
#include "tg/tensor.h"

static _Thread_local tt_status last_status;
static _Thread_local char last_message[1024];

tt_status tt_last_status(void) { return last_status; }
const char *tt_last_error(void) { return last_status ? last_message : ""; }

tt_status tt_set_error(tt_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    last_status = status;
    return status;
}

void tt_clear_error(void)
{
    last_status = TT_OK;
    last_message[0] = '\0';
}
