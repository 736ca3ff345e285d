/*
 * config_doc.h — the configuration reference, written from the same key
 * tables the loader validates with, so the documentation cannot drift.
 */
#ifndef YARD_CONFIG_DOC_H
#define YARD_CONFIG_DOC_H

#include <stdio.h>

/* Write the reference as Markdown (README.md embeds it verbatim; a unit
 * test checks that it is current). */
void yard_config_reference(FILE *out);

#endif
