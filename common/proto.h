/*
 * What a client of securer-protocol(7) needs to know of the daemon:
 * versions and the sizes it holds a peer to.  Clients include this and
 * securer.h, never securerd.h (the daemon's own).
 */

#ifndef SECURER_PROTO_H
#define SECURER_PROTO_H

#define SECURER_VERSION		"0.1.0"
#define SECURER_PROTO_VERSION	1

#define SESSION_ID_LEN		32	/* hex digits, 128 random bits */
#define CLIENT_LINE_MAX		(8U * 1024 * 1024)	/* a request */
#define HELLO_LINE_MAX		4096U	/* a line before hello is answered */
#define FILE_NAME_MAX		128
#define SESSION_NAME_MAX	64	/* session.create's "name" */

#endif /* SECURER_PROTO_H */
