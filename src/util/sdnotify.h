/*
 * sdnotify.h - tell systemd how the runner is doing (Type=notify),
 * without libsystemd: the sd_notify protocol is one datagram of
 * "VAR=value" lines to the AF_UNIX socket named in $NOTIFY_SOCKET (a
 * leading '@' meaning the abstract namespace), which systemd documents
 * as a stable interface.
 */
#ifndef PB_SDNOTIFY_H
#define PB_SDNOTIFY_H

/* sd_notify_send - send state (e.g. "READY=1") if $NOTIFY_SOCKET is set.
 * Returns 1 if sent, 0 if not running under a notify-aware manager, -1
 * if the socket is unusable (errno set); callers log and go on, since a
 * manager that never hears READY=1 times out and says so itself. */
int sd_notify_send(const char *state);

#endif
