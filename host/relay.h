/*
 * relay.h — publishes the outbox: reads rows in id order, produces them
 * with the idempotent producer (acks=all), removes them once the broker
 * has acknowledged them.  Woken by NOTIFY yard_outbox at every commit that
 * wrote rows; one relay at a time owns the outbox, across hosts, through a
 * session advisory lock.
 */
#ifndef YARD_RELAY_H
#define YARD_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef struct yard_relay yard_relay;

/* Create the producer and start the relay thread.  *out owned by the
 * caller: yard_relay_stop(). */
int yard_relay_start(const yard_config *cfg, yard_relay **out, char *err,
                     size_t errlen);

/* Publish what is left (for at most timeout_ms), stop the thread, close the
 * producer and the connection, free.  NULL ok. */
void yard_relay_stop(yard_relay *r, uint32_t timeout_ms);

/* Rows published and acknowledged since start. */
uint64_t yard_relay_published(const yard_relay *r);

#endif
