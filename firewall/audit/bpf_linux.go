package audit

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// The kernel's event filter. Every flow on the host produces events, and
// reading one costs the daemon a recvfrom (about 4 µs here) where deciding
// it is another flow's costs 62 ns: so the decision moves into the kernel,
// as a classic BPF socket filter that drops an event before it is queued.
//
// It decides as replySource does, on the reply tuple's protocol and source
// port, and finds them by walking the attributes by their lengths with the
// kernel's own netlink helpers (SKF_AD_NLATTR and SKF_AD_NLATTR_NEST, which
// read the host-order headers), so no offset depends on the address family
// or on the attributes before the reply tuple. Whenever the message is not
// what it expects (too short, not exactly one conntrack event, a
// multipart or error message, a reply tuple without a protocol number, an
// attribute of an unexpected length) it accepts the message and leaves
// the decision to userspace: it drops only what it has positively read as
// another flow.

// Scratch memory slots of the filter program.
const (
	slotTmp   = 0 // half of a host-order value being assembled
	slotBase  = 1 // X saved while a host-order value is assembled
	slotProto = 2 // the reply tuple's CTA_TUPLE_PROTO attribute
	slotNum   = 3 // the protocol number
)

// Where the filter goes on, by name; resolved when the program is built.
const (
	lblAccept = "accept"
	lblDrop   = "drop"
	lblEvent  = "event"
	lblProto  = "proto"
)

// acceptAll is the filter's verdict for a message it keeps: a snap length
// above any message, so the kernel never trims one.
const acceptAll = 0xffffffff

// hostLittleEndian says how netlink headers are laid out on this host.
var hostLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// eventFilter builds the program that keeps the events of ports and the
// messages it cannot read, and drops every other flow's event.
func eventFilter(ports []Port) ([]bpf.RawInstruction, error) {
	var p filterProgram
	p.messageChecks()
	p.label(lblEvent)
	p.replyProtocol(ports)
	p.label(lblProto)
	p.replyPort(ports)
	p.label(lblDrop)
	p.emit(bpf.RetConstant{Val: 0})
	p.label(lblAccept)
	p.emit(bpf.RetConstant{Val: acceptAll})
	return p.assemble()
}

// messageChecks accepts anything but a datagram holding exactly one
// conntrack event (CT_NEW or CT_DELETE, not multipart), then goes on at
// lblEvent.
func (p *filterProgram) messageChecks() {
	hdr := unix.NLMSG_HDRLEN + 4 // nlmsghdr and nfgenmsg
	p.emit(bpf.LoadExtension{Num: bpf.ExtLen})
	// A load past the end of the packet makes a classic filter return 0,
	// a drop: so the length is checked before any load.
	p.jump(bpf.JumpLessThan, uint32(hdr), lblAccept, "")
	// nlmsg_len must be the datagram's length: a second message after it
	// would be walked as attributes of the first. Events are far below
	// 64 KB, so its high half is zero in either byte order.
	hi, lo := uint32(2), uint32(0)
	if !hostLittleEndian {
		hi, lo = 0, 2
	}
	p.emit(bpf.LoadAbsolute{Off: hi, Size: 2})
	p.jump(bpf.JumpNotEqual, 0, lblAccept, "")
	p.loadHost16(lo, false)
	p.emit(bpf.StoreScratch{Src: bpf.RegA, N: slotTmp})
	p.emit(bpf.LoadExtension{Num: bpf.ExtLen})
	p.emit(bpf.LoadScratch{Dst: bpf.RegX, N: slotTmp})
	p.jumpX(bpf.JumpNotEqual, lblAccept, "")
	p.loadHost16(6, false) // nlmsg_flags
	p.jump(bpf.JumpBitsSet, unix.NLM_F_MULTI, lblAccept, "")
	p.loadHost16(4, false) // nlmsg_type
	p.jump(bpf.JumpEqual, ctNew, lblEvent, "")
	p.jump(bpf.JumpEqual, ctDelete, lblEvent, lblAccept)
}

// replyProtocol finds CTA_TUPLE_REPLY / CTA_TUPLE_PROTO / CTA_PROTO_NUM
// and drops the event when no tracked port has that protocol; else it
// goes on at lblProto with the number in slotNum.
func (p *filterProgram) replyProtocol(ports []Port) {
	p.emit(bpf.LoadConstant{Dst: bpf.RegA, Val: unix.NLMSG_HDRLEN + 4})
	p.findAttr(bpf.ExtNetlinkAttr, ctaTupleReply)
	p.findAttr(bpf.ExtNetlinkAttrNested, ctaTupleProto)
	p.emit(bpf.StoreScratch{Src: bpf.RegA, N: slotProto})
	p.findAttr(bpf.ExtNetlinkAttrNested, ctaProtoNum)
	p.emit(bpf.TAX{})
	p.loadHost16(0, true) // nla_len: a u8 payload, nothing else
	p.jump(bpf.JumpNotEqual, 4+1, lblAccept, "")
	p.emit(bpf.LoadIndirect{Off: 4, Size: 1})
	p.emit(bpf.StoreScratch{Src: bpf.RegA, N: slotNum})
	var protos []Proto
	for _, pt := range ports {
		if !containsProto(protos, pt.Proto) {
			protos = append(protos, pt.Proto)
		}
	}
	for _, proto := range protos {
		p.jump(bpf.JumpEqual, uint32(proto), lblProto, "")
	}
	p.goTo(lblDrop)
}

// replyPort reads CTA_PROTO_SRC_PORT beside the protocol number and keeps
// the event when (protocol, port) is tracked, else drops it.
func (p *filterProgram) replyPort(ports []Port) {
	p.emit(bpf.LoadScratch{Dst: bpf.RegA, N: slotProto})
	p.findAttr(bpf.ExtNetlinkAttrNested, ctaProtoSrcPort)
	p.emit(bpf.TAX{})
	p.loadHost16(0, true)
	p.jump(bpf.JumpNotEqual, 4+2, lblAccept, "")
	// Ports are in network order, which is how a classic load reads.
	p.emit(bpf.LoadIndirect{Off: 4, Size: 2})
	p.emit(bpf.TAX{})
	p.emit(bpf.LoadScratch{Dst: bpf.RegA, N: slotNum})
	p.emit(bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 16})
	p.emit(bpf.ALUOpX{Op: bpf.ALUOpOr})
	for _, pt := range ports {
		p.jump(bpf.JumpEqual, uint32(pt.Proto)<<16|uint32(pt.Port), lblAccept, "")
	}
}

// findAttr turns A, the offset of an attribute run (ExtNetlinkAttr) or
// of a nesting attribute (ExtNetlinkAttrNested), into the offset of its
// attribute typ; the kernel answers 0 when there is none, and the message
// is then accepted.
func (p *filterProgram) findAttr(ext bpf.Extension, typ uint16) {
	p.emit(bpf.LoadConstant{Dst: bpf.RegX, Val: uint32(typ)})
	p.emit(bpf.LoadExtension{Num: ext})
	p.jump(bpf.JumpEqual, 0, lblAccept, "")
}

// loadHost16 loads the host-order 16-bit value at off into A: absolute,
// or relative to X (which it keeps). Classic loads are big-endian, so on
// a little-endian host the two bytes are combined by hand.
func (p *filterProgram) loadHost16(off uint32, indirect bool) {
	load := func(off, size uint32) bpf.Instruction {
		if indirect {
			return bpf.LoadIndirect{Off: off, Size: int(size)}
		}
		return bpf.LoadAbsolute{Off: off, Size: int(size)}
	}
	if !hostLittleEndian {
		p.emit(load(off, 2))
		return
	}
	p.emit(load(off+1, 1))
	p.emit(bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 8})
	p.emit(bpf.StoreScratch{Src: bpf.RegA, N: slotTmp})
	p.emit(load(off, 1))
	p.emit(bpf.StoreScratch{Src: bpf.RegX, N: slotBase})
	p.emit(bpf.LoadScratch{Dst: bpf.RegX, N: slotTmp})
	p.emit(bpf.ALUOpX{Op: bpf.ALUOpOr})
	p.emit(bpf.LoadScratch{Dst: bpf.RegX, N: slotBase})
}

func containsProto(ps []Proto, p Proto) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// attachEventFilter installs the program for ports on the event socket fd.
func attachEventFilter(fd int, ports []Port) error {
	raw, err := eventFilter(ports)
	if err != nil {
		return fmt.Errorf("building the conntrack event filter: %w", err)
	}
	ins := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		ins[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	prog := unix.SockFprog{Len: uint16(len(ins)), Filter: &ins[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
		return fmt.Errorf("attaching the conntrack event filter: %w", err)
	}
	return nil
}

// filterProgram assembles a classic BPF program whose jumps name labels;
// classic jumps only go forward, by a count of instructions.
type filterProgram struct {
	ins    []bpf.Instruction
	labels map[string]int
	fixes  []fixup
}

// fixup is a jump whose targets are labels ("" is the next instruction).
type fixup struct {
	at              int
	onTrue, onFalse string
}

func (p *filterProgram) emit(i bpf.Instruction) { p.ins = append(p.ins, i) }

func (p *filterProgram) label(name string) {
	if p.labels == nil {
		p.labels = map[string]int{}
	}
	p.labels[name] = len(p.ins)
}

func (p *filterProgram) jump(cond bpf.JumpTest, val uint32, onTrue, onFalse string) {
	p.fixes = append(p.fixes, fixup{len(p.ins), onTrue, onFalse})
	p.emit(bpf.JumpIf{Cond: cond, Val: val})
}

func (p *filterProgram) jumpX(cond bpf.JumpTest, onTrue, onFalse string) {
	p.fixes = append(p.fixes, fixup{len(p.ins), onTrue, onFalse})
	p.emit(bpf.JumpIfX{Cond: cond})
}

func (p *filterProgram) goTo(name string) {
	p.fixes = append(p.fixes, fixup{len(p.ins), name, ""})
	p.emit(bpf.Jump{})
}

// skip is how many instructions a jump at at passes to reach name.
func (p *filterProgram) skip(at int, name string) (uint32, error) {
	if name == "" {
		return 0, nil
	}
	to, ok := p.labels[name]
	if !ok || to <= at {
		return 0, fmt.Errorf("jump at %d to %q: no such label ahead", at, name)
	}
	return uint32(to - at - 1), nil
}

func (p *filterProgram) assemble() ([]bpf.RawInstruction, error) {
	for _, f := range p.fixes {
		t, err := p.skip(f.at, f.onTrue)
		if err != nil {
			return nil, err
		}
		e, err := p.skip(f.at, f.onFalse)
		if err != nil {
			return nil, err
		}
		if _, ok := p.ins[f.at].(bpf.Jump); !ok && (t > 255 || e > 255) {
			return nil, fmt.Errorf("jump at %d: %d/%d instructions is beyond a conditional jump's reach", f.at, t, e)
		}
		switch j := p.ins[f.at].(type) {
		case bpf.Jump:
			j.Skip = t
			p.ins[f.at] = j
		case bpf.JumpIf:
			j.SkipTrue, j.SkipFalse = uint8(t), uint8(e)
			p.ins[f.at] = j
		case bpf.JumpIfX:
			j.SkipTrue, j.SkipFalse = uint8(t), uint8(e)
			p.ins[f.at] = j
		}
	}
	return bpf.Assemble(p.ins)
}
