/* channel.c — the document every channel delivers (see channel.h). */
#include "channel.h"

#include <jansson.h>
#include <stdlib.h>

char *ntf_document(const ntf_notification *n)
{
    /* jansson keeps insertion order: the document reads top-down */
    json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s}",
                            "notificationId", n->id, "eventType", n->event_type,
                            "template", n->template_name, "type", n->medium,
                            "recipient", n->recipient, "subject", n->subject,
                            "body", n->body);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return text;
}
