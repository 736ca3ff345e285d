/*
 * channel.h — how a rendered notification leaves the plugin.
 *
 * A channel is a small table of functions behind one struct; each
 * implementation embeds it as its first member.  deliver() is called from
 * handler threads, several at once: a channel's state is read-only after
 * its constructor returns.
 *
 * Delivery happens inside the host's transaction for the event (see
 * notifications.c): it may be repeated for the same notification, so a
 * channel must make a repeat harmless — the file channel overwrites the
 * same file, the webhook sends the notification id as Idempotency-Key.
 */
#ifndef NTF_CHANNEL_H
#define NTF_CHANNEL_H

#include <stddef.h>

/* One rendered notification.  All strings are borrowed from the caller for
 * the duration of deliver(). */
typedef struct ntf_notification {
    const char *id;         /* the consumed event's id: one notification per event */
    const char *event_type; /* the consumed event's type */
    const char *template_name;
    const char *medium;     /* email, sms or push */
    const char *recipient;
    const char *subject;    /* or NULL */
    const char *body;
} ntf_notification;

typedef enum ntf_outcome {
    NTF_DELIVERED = 0,
    NTF_TRANSIENT = 1, /* may work later: the event is retried */
    NTF_PERMANENT = 2, /* will not work: notification.failed */
} ntf_outcome;

typedef struct ntf_channel ntf_channel;
struct ntf_channel {
    const char *name; /* "file", "webhook": notification.sent's provider */
    /* Deliver n; on a failure, a message in err (NUL-terminated). */
    ntf_outcome (*deliver)(const ntf_channel *ch, const ntf_notification *n,
                           char *err, size_t errlen);
    void (*destroy)(ntf_channel *ch); /* frees ch */
};

/*
 * The document both channels deliver: one JSON object with notificationId,
 * eventType, template, type, recipient, subject (or null) and body.
 * malloc'd, caller frees; NULL when out of memory.
 */
char *ntf_document(const ntf_notification *n);

/*
 * The file channel: one file per notification in spool_dir, named after
 * the notification id (bytes outside [A-Za-z0-9_-], and a leading ".",
 * written as %XX), holding ntf_document() and a newline.  Creates
 * spool_dir (one level, mode 0750) if it does not exist.  NULL with a
 * message in err on failure.  Destroy with ch->destroy(ch).
 */
ntf_channel *ntf_file_channel_new(const char *spool_dir, char *err,
                                  size_t errlen);

/*
 * The webhook channel: POST ntf_document() to url with Content-Type
 * application/json and Idempotency-Key: the notification id.  2xx is
 * delivered; a connection error, a timeout (timeout_ms for the whole
 * request), 408, 429 and 5xx are transient; any other status is permanent.
 * Call ntf_webhook_global_init() once before the first channel is made.
 * NULL with a message in err on failure.  Destroy with ch->destroy(ch).
 */
int ntf_webhook_global_init(char *err, size_t errlen);
void ntf_webhook_global_cleanup(void);
ntf_channel *ntf_webhook_channel_new(const char *url, long timeout_ms,
                                     char *err, size_t errlen);

#endif
