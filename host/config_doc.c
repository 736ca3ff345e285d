/* config_doc.c — the configuration reference from the key tables. */
#include "config_doc.h"

#include "config.h"

static const char *type_name(const yard_conf_key *k)
{
    switch (k->type) {
    case YARD_CONF_STRING: return "string";
    case YARD_CONF_UINT: return "number";
    case YARD_CONF_BOOL: return "boolean";
    case YARD_CONF_DIR: return "directory";
    case YARD_CONF_ENUM: return k->choices;
    }
    return "?";
}

static void key_row(FILE *out, const yard_conf_section *sec,
                    const yard_conf_key *k)
{
    fprintf(out, "| `%s` | ", k->name);
    /* "a|b" would split the Markdown cell. */
    for (const char *c = type_name(k); *c; c++)
        fputs(*c == '|' ? " or " : (char[]){*c, 0}, out);
    if (k->type == YARD_CONF_UINT)
        fprintf(out, " (%u–%u)", k->min, k->max);
    if (k->flags & YARD_CONF_REQUIRED)
        fprintf(out, " | required");
    else if ((k->flags & YARD_CONF_DERIVED) && sec->kind == YARD_CONF_TOPIC)
        fprintf(out, " | the cluster's");
    else if (k->flags & YARD_CONF_DERIVED)
        fprintf(out, " | derived");
    else if (k->def && *k->def)
        fprintf(out, " | `%s`", k->def);
    else
        fprintf(out, " | empty");
    fprintf(out, " | %s |\n", k->help);
}

void yard_config_reference(FILE *out)
{
    size_t n = 0;
    const yard_conf_section *s = yard_config_sections(&n);
    for (size_t i = 0; i < n; i++) {
        /* [topic NAME] is the one section whose header carries a name. */
        fprintf(out, "#### `[%s%s]` — %s\n\n", s[i].name,
                s[i].kind == YARD_CONF_TOPIC ? " NAME" : "", s[i].help);
        if (!s[i].keys) {
            if (s[i].kind == YARD_CONF_KAFKA)
                fprintf(out, "Any librdkafka property (`bootstrap.servers`, "
                             "`security.protocol`, ...), checked by "
                             "librdkafka when the file is read; "
                             "`SWITCHYARD_KAFKA_BROKERS` overrides "
                             "`bootstrap.servers`.\n\n");
            continue;
        }
        fprintf(out, "| key | type | default | meaning |\n|---|---|---|---|\n");
        for (size_t k = 0; k < s[i].n_keys; k++)
            key_row(out, &s[i], &s[i].keys[k]);
        if (s[i].kind == YARD_CONF_TOPIC)
            fprintf(out, "\nAny number of these, in any file, each NAME once. "
                         "At start the host looks each one up on the "
                         "cluster: a missing topic is created with exactly "
                         "these settings; an existing one whose partitions, "
                         "replication factor or configs differ is logged "
                         "(topic, setting, configured and actual value) and "
                         "counted in `switchyard_topic_mismatch`, never "
                         "altered. A topic that is missing and cannot be "
                         "created keeps `/readyz` failing.\n");
        if (s[i].kind == YARD_CONF_HOST) {
            fprintf(out, "\nEach key can be overridden by `SWITCHYARD_");
            for (const char *c = s[i].name; *c; c++)
                fputc(*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c, out);
            fprintf(out, "_<KEY>` (key in upper case).\n");
        }
        fprintf(out, "\n");
    }
}
