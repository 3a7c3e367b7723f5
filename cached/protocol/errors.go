package protocol

import "errors"

// ErrClose ends a connection without a reply: a line too long to be a
// command, a stray HTTP request, a binary packet without the request magic.
// memcached hangs up on these rather than guess where the next request
// starts.
var ErrClose = errors.New("connection closed by protocol")

// Error is a text or meta request the server refuses: Reply is the line
// it answers with, and the connection reads on.
type Error struct{ Reply string }

func (e *Error) Error() string { return e.Reply }

// The text protocol's client errors. They are values, so returning one
// costs no allocation.
var (
	ErrUnknownCommand = &Error{ReplyError}
	ErrBadFormat      = &Error{ReplyBadFormat}
	ErrBadCommandLine = &Error{ReplyBadCommandLine}
	ErrBadExptime     = &Error{ReplyBadExptime}
	ErrDeleteUsage    = &Error{ReplyDeleteUsage}
	ErrBadDelta       = &Error{ReplyBadDelta}
	ErrBadShutdown    = &Error{ReplyBadShutdownMode}
	ErrBadSlabID      = &Error{ReplyBadSlabID}
	ErrMemlimitSmall  = &Error{ReplyMemlimitTooSmall}
	ErrMemlimitBytes  = &Error{ReplyMemlimitNotBytes}
	ErrBadDataChunk   = &Error{ReplyBadDataChunk}
	ErrNonNumeric     = &Error{ReplyNonNumeric}

	ErrCrawlerSleep    = &Error{ReplyCrawlerSleepTooBig}
	ErrCrawlerBadClass = &Error{ReplyCrawlerBadClass}

	// Server errors are answered the same way: the request failed, the
	// connection is fine.
	ErrTooLarge       = &Error{ReplyTooLarge}
	ErrNoMemoryStore  = &Error{ReplyNoMemoryStore}
	ErrNoMemory       = &Error{ReplyNoMemory}
	ErrNoMemoryCreate = &Error{ReplyNoMemoryCreate}

	ErrMetaBadToken      = &Error{ReplyMetaBadToken}
	ErrMetaFlagsLong     = &Error{ReplyMetaFlagsLong}
	ErrMetaGetFlagsLong  = &Error{ReplyMetaGetFlagsLong}
	ErrMetaOpaqueLong    = &Error{ReplyMetaOpaqueLong}
	ErrMetaInvalidFlag   = &Error{ReplyMetaInvalidFlag}
	ErrMetaDuplicateFlag = &Error{ReplyMetaDuplicateFlag}
	ErrMetaUnknownFlag   = &Error{ReplyMetaUnknownFlag}
	ErrMetaBadKey        = &Error{ReplyMetaBadKey}
	ErrMetaModeLength    = &Error{ReplyMetaModeLength}
	ErrMetaBadInitial    = &Error{ReplyMetaBadInitial}
	ErrMetaBadDelta      = &Error{ReplyMetaBadDelta}
	ErrMetaSetMode       = &Error{ReplyMetaSetMode}
	ErrMetaArithMode     = &Error{ReplyMetaArithMode}
)

// BinaryError is a binary request the server refuses with Status (and
// its standard text). Close ends the connection after the reply, which
// memcached does for a malformed packet: its framing can no longer be
// trusted.
type BinaryError struct {
	Status uint16
	Close  bool
}

func (e *BinaryError) Error() string { return StatusText(e.Status) }

// The binary protocol's framing errors.
var (
	// ErrBinaryBody is a header whose key and extras overrun its body.
	ErrBinaryBody = &BinaryError{Status: StatusUnknownCmd, Close: true}
	// ErrBinaryInvalid is a header with lengths the command does not take.
	ErrBinaryInvalid = &BinaryError{Status: StatusInvalid, Close: true}
	// ErrBadMagic is a packet that does not start with the request magic.
	ErrBadMagic = &closeError{"bad binary request magic"}
)

// closeError is an ErrClose with a reason.
type closeError struct{ reason string }

func (e *closeError) Error() string { return ErrClose.Error() + ": " + e.reason }
func (e *closeError) Unwrap() error { return ErrClose }
