package cached

import "github.com/cachectl/cachectl/cached/protocol"

// Short names for the binary protocol's constants, as the packet-level
// tests (and their shared harness) spell them.
const (
	binHeaderLen     = protocol.HeaderLen
	binMagicReq      = protocol.MagicRequest
	binMagicRes      = protocol.MagicResponse
	opAdd            = protocol.OpAdd
	opAddQ           = protocol.OpAddQ
	opAppend         = protocol.OpAppend
	opAppendQ        = protocol.OpAppendQ
	opDecrement      = protocol.OpDecrement
	opDecrementQ     = protocol.OpDecrementQ
	opDelete         = protocol.OpDelete
	opDeleteQ        = protocol.OpDeleteQ
	opFlush          = protocol.OpFlush
	opFlushQ         = protocol.OpFlushQ
	opGAT            = protocol.OpGAT
	opGATK           = protocol.OpGATK
	opGATKQ          = protocol.OpGATKQ
	opGATQ           = protocol.OpGATQ
	opGet            = protocol.OpGet
	opGetK           = protocol.OpGetK
	opGetKQ          = protocol.OpGetKQ
	opGetQ           = protocol.OpGetQ
	opIncrement      = protocol.OpIncrement
	opIncrementQ     = protocol.OpIncrementQ
	opNoop           = protocol.OpNoop
	opPrepend        = protocol.OpPrepend
	opPrependQ       = protocol.OpPrependQ
	opQuit           = protocol.OpQuit
	opQuitQ          = protocol.OpQuitQ
	opReplace        = protocol.OpReplace
	opReplaceQ       = protocol.OpReplaceQ
	opSASLAuth       = protocol.OpSASLAuth
	opSASLList       = protocol.OpSASLList
	opSASLStep       = protocol.OpSASLStep
	opSet            = protocol.OpSet
	opSetQ           = protocol.OpSetQ
	opStat           = protocol.OpStat
	opTouch          = protocol.OpTouch
	opVersion        = protocol.OpVersion
	statusBadDelta   = protocol.StatusBadDelta
	statusExists     = protocol.StatusExists
	statusInvalid    = protocol.StatusInvalid
	statusNoMemory   = protocol.StatusNoMemory
	statusNotFound   = protocol.StatusNotFound
	statusNotStored  = protocol.StatusNotStored
	statusOK         = protocol.StatusOK
	statusTooLarge   = protocol.StatusTooLarge
	statusUnknownCmd = protocol.StatusUnknownCmd
)
