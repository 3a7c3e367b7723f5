package protocol

// Every reply text the daemon sends, in one place. Lines are written
// without their CRLF; the writer adds it.

// Text protocol replies.
const (
	ReplyError            = "ERROR"
	ReplyStored           = "STORED"
	ReplyNotStored        = "NOT_STORED"
	ReplyExists           = "EXISTS"
	ReplyNotFound         = "NOT_FOUND"
	ReplyDeleted          = "DELETED"
	ReplyTouched          = "TOUCHED"
	ReplyOK               = "OK"
	ReplyReset            = "RESET"
	ReplyEnd              = "END"
	ReplyVersion          = "VERSION " // followed by the version
	ReplyValue            = "VALUE "   // followed by key, flags, length [cas]
	ReplyStat             = "STAT "    // followed by name and value
	ReplyPrefix           = "PREFIX "  // followed by a prefix and its counts (stats detail dump)
	ReplyTooManyConns     = "ERROR Too many open connections"
	ReplyShutdownDisabled = "ERROR: shutdown not enabled"
	ReplyWatchPipelined   = "ERROR cannot pipeline other commands before watch"
	ReplyWatchTooMany     = "WATCHER_TOO_MANY log watcher limit reached"
	ReplyWatchFailed      = "WATCHER_FAILED failed to add log watcher"

	ReplyMemlimitTooSmall = "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m"
	ReplyMemlimitNotBytes = "MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes"
	ReplyMemlimitFailed   = "MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust"
)

// Replies of lru_crawler, slabs and lru (memcached's reassign_result_type
// and crawler_result_type, worded as proto_text.c words them).
const (
	ReplyReassignBusy        = "BUSY currently processing reassign request"
	ReplyReassignBadClass    = "BADCLASS invalid src or dst class id"
	ReplyReassignNoSpare     = "NOSPARE source class has no spare pages"
	ReplyReassignSame        = "SAME src and dst class are identical"
	ReplyReassignDisabled    = "CLIENT_ERROR slab reassignment disabled"
	ReplyCrawlerBusy         = "BUSY currently processing crawler request"
	ReplyCrawlerBadClass     = "BADCLASS invalid class id"
	ReplyCrawlerNotStarted   = "NOTSTARTED no items to crawl"
	ReplyCrawlerError        = "ERROR an unknown error happened"
	ReplyCrawlerDisabled     = "CLIENT_ERROR lru crawler disabled"
	ReplyCrawlerSleepTooBig  = "CLIENT_ERROR sleep must be one second or less"
	ReplyCrawlerNoStart      = "ERROR failed to start lru crawler thread"
	ReplyMetadumpPipelined   = "ERROR cannot pipeline other commands before metadump"
	ReplyMetadumpNotAllowed  = "ERROR metadump not allowed"
	ReplyCachedumpNotAllowed = "CLIENT_ERROR stats cachedump not allowed"
	ReplyLRUPcts             = "ERROR hot and warm pcts must not exceed 80"
	ReplyLRUFactors          = "ERROR hot/warm age factors must be greater than 0"
)

// Client errors: the request is refused and the connection reads on.
const (
	ReplyBadFormat       = "CLIENT_ERROR bad command line format"
	ReplyBadCommandLine  = "CLIENT_ERROR bad command line"
	ReplyBadExptime      = "CLIENT_ERROR invalid exptime argument"
	ReplyBadDataChunk    = "CLIENT_ERROR bad data chunk"
	ReplyDeleteUsage     = "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]"
	ReplyBadDelta        = "CLIENT_ERROR invalid numeric delta argument"
	ReplyNonNumeric      = "CLIENT_ERROR cannot increment or decrement non-numeric value"
	ReplyFlushDisabled   = "CLIENT_ERROR flush_all not allowed"
	ReplyBadShutdownMode = "CLIENT_ERROR invalid shutdown mode"
	ReplyDetailUsage     = "CLIENT_ERROR usage: stats detail on|off|dump"
	ReplyBadSlabID       = "CLIENT_ERROR Illegal slab id"
	ReplyWatchDisabled   = "CLIENT_ERROR watch commands not allowed"

	ReplyMetaBadToken      = "CLIENT_ERROR bad token in command line format"
	ReplyMetaFlagsLong     = "CLIENT_ERROR options flags too long"
	ReplyMetaGetFlagsLong  = "CLIENT_ERROR options flags are too long"
	ReplyMetaOpaqueLong    = "CLIENT_ERROR opaque token too long"
	ReplyMetaInvalidFlag   = "CLIENT_ERROR invalid or duplicate flag"
	ReplyMetaDuplicateFlag = "CLIENT_ERROR duplicate flag"
	ReplyMetaUnknownFlag   = "CLIENT_ERROR invalid flag"
	ReplyMetaBadKey        = "CLIENT_ERROR error decoding key"
	ReplyMetaModeLength    = "CLIENT_ERROR incorrect length for M token"
	ReplyMetaBadInitial    = "CLIENT_ERROR invalid numeric initial value"
	ReplyMetaBadDelta      = "CLIENT_ERROR invalid numeric delta value"
	ReplyMetaSetMode       = "CLIENT_ERROR invalid mode for ms M token"
	ReplyMetaArithMode     = "CLIENT_ERROR invalid mode for ma M token"
)

// Server errors: the request was understood but could not be carried out.
const (
	ReplyTooLarge       = "SERVER_ERROR object too large for cache"
	ReplyNoMemoryStore  = "SERVER_ERROR out of memory storing object"
	ReplyNoMemory       = "SERVER_ERROR out of memory"
	ReplyNoMemoryCreate = "SERVER_ERROR Out of memory allocating new item"
	// ReplyNoMemoryGet is a multi-get with more keys than response
	// objects fit in read_buf_mem_limit.
	ReplyNoMemoryGet = "SERVER_ERROR out of memory writing get response"
)

// Meta protocol status codes.
const (
	MetaHit       = "HD"
	MetaValue     = "VA "
	MetaMiss      = "EN"
	MetaNotStored = "NS"
	MetaExists    = "EX"
	MetaNotFound  = "NF"
	MetaNoop      = "MN"
	MetaDebug     = "ME "
)

// Binary status messages that replace the status's standard text.
const (
	BinaryNoMemoryItem   = "Out of memory allocating item"
	BinaryNoMemoryIncr   = "Out of memory incrementing value"
	BinaryNoMemoryCreate = "Out of memory allocating new item"
)

// binaryStatusText is write_bin_error's default message for each status.
var binaryStatusText = map[uint16]string{
	StatusNoMemory:   "Out of memory",
	StatusUnknownCmd: "Unknown command",
	StatusNotFound:   "Not found",
	StatusInvalid:    "Invalid arguments",
	StatusExists:     "Data exists for key.",
	StatusTooLarge:   "Too large.",
	StatusBadDelta:   "Non-numeric server-side value for incr or decr",
	StatusNotStored:  "Not stored.",
	StatusAuthError:  "Auth failure.",
}

// StatusText is the message a binary error reply with status carries.
func StatusText(status uint16) string { return binaryStatusText[status] }

// TLS replies: refresh_certs answers OK or the reason it failed.
const ReplyRefreshNoTLS = "Error TLS not enabled"
