// Package protocol reads memcached 1.6.18's three wire formats — the
// classic text commands, the meta commands (mg ms md ma mn me) and the
// binary protocol — into request values, and defines every reply line and
// binary status text the daemon sends.
//
// It works on byte slices only: it never touches a socket, never logs and
// knows nothing of the server or of storage. Request values point into the
// caller's input buffer, so parsing never allocates on the hit paths.
// Errors are typed: an *Error is a request the server answers with its
// Reply and then reads on, a *BinaryError carries the binary status and
// whether the connection ends, and ErrClose ends a connection without a
// word. The replies and quirks follow memcached 1.6.18's proto_text.c and
// proto_bin.c rather than the protocol documents, because clients were
// written against that server.
package protocol
