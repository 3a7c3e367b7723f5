package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// fileV1 is the policy as written on disk. Pointers tell "absent" (take the
// default) from an explicit zero; strings are converted by hand so every
// mistake is reported with its line.
type fileV1 struct {
	Version  *int          `yaml:"version"`
	Bind     *fileBind     `yaml:"bind"`
	Peers    *filePeers    `yaml:"peers"`
	Firewall *fileFirewall `yaml:"firewall"`
	Daemon   *fileDaemon   `yaml:"daemon"`
}

type fileBind struct {
	Interfaces []string `yaml:"interfaces"`
	Addresses  []string `yaml:"addresses"`
	Port       *int     `yaml:"port"`
	UDPPort    *int     `yaml:"udp_port"`
}

type filePeers struct {
	AllowLoopback *bool      `yaml:"allow_loopback"`
	Allowed       []filePeer `yaml:"allowed"`
}

type filePeer struct {
	CIDR    string `yaml:"cidr"`
	Comment string `yaml:"comment,omitempty"`
	Added   string `yaml:"added,omitempty"`
}

type fileFirewall struct {
	Managed *bool   `yaml:"managed"`
	Verdict *string `yaml:"verdict"`
}

type fileDaemon struct {
	MemoryLimitMB  *int    `yaml:"memory_limit_mb"`
	MaxConnections *int    `yaml:"max_connections"`
	Threads        *int    `yaml:"threads"`
	MaxItemSize    *string `yaml:"max_item_size"`
}

// Load reads and validates the policy at path. A missing file is an error
// wrapping fs.ErrNotExist; bad YAML or an unknown field is a *ParseError;
// values that make no sense are a *ValidationError listing every one.
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading policy: %w", err)
	}
	return Parse(path, data)
}

// LoadOrDefault is Load, except that a missing file yields Default and
// existed=false. Any other problem is still an error.
func LoadOrDefault(path string) (p *Policy, existed bool, err error) {
	p, err = Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Default(), false, nil
	}
	if err != nil {
		return nil, true, err
	}
	return p, true, nil
}

// Parse reads a policy from data; path is used in error messages only.
func Parse(path string, data []byte) (*Policy, error) {
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, yamlError(path, nil, err)
	}
	if len(file.Docs) > 1 {
		line := 0
		if tk := file.Docs[1].GetToken(); tk != nil {
			line = tk.Position.Line
		}
		return nil, &ParseError{Path: path, Line: line, Msg: "more than one YAML document: a policy file holds exactly one"}
	}
	var f fileV1
	if err := yaml.UnmarshalWithOptions(data, &f, yaml.DisallowUnknownField()); err != nil {
		return nil, yamlError(path, file, err)
	}
	p, ps := f.policy()
	ps = append(ps, p.check()...)
	if len(ps) > 0 {
		ps = dedupeProblems(ps)
		for i := range ps {
			ps[i].Line = lineOf(file, ps[i].Field)
		}
		slices.SortStableFunc(ps, func(a, b Problem) int { return a.Line - b.Line })
		return nil, &ValidationError{Path: path, Problems: ps}
	}
	p.Reindex()
	return p, nil
}

// dedupeProblems drops the generic check of a field already reported while
// converting it (an unparsable CIDR is not also "missing").
func dedupeProblems(ps problems) problems {
	seen := map[string]bool{}
	out := ps[:0]
	for _, pr := range ps {
		if seen[pr.Field] {
			continue
		}
		seen[pr.Field] = true
		out = append(out, pr)
	}
	return out
}

// policy converts the file form to the effective policy, filling defaults.
func (f *fileV1) policy() (*Policy, problems) {
	p, ps := Default(), problems{}
	p.Version = 0
	if f.Version != nil {
		p.Version = *f.Version
	} else {
		ps.add("version", "missing: add 'version: %d' at the top", CurrentVersion)
	}
	if b := f.Bind; b != nil {
		p.Bind.Interfaces = b.Interfaces
		for i, s := range b.Addresses {
			a, err := netip.ParseAddr(strings.TrimSpace(s))
			if err != nil {
				ps.add(fmt.Sprintf("bind.addresses[%d]", i), "%q is not an IP address: write a local address such as 10.0.0.5 (names are not resolved)", s)
			}
			p.Bind.Addresses = append(p.Bind.Addresses, a)
		}
		p.Bind.Port = port(&ps, "bind.port", b.Port, DefaultPort)
		p.Bind.UDPPort = port(&ps, "bind.udp_port", b.UDPPort, 0)
	}
	if pe := f.Peers; pe != nil {
		if pe.AllowLoopback != nil {
			p.Peers.AllowLoopback = *pe.AllowLoopback
		}
		for i, e := range pe.Allowed {
			p.Peers.Allowed = append(p.Peers.Allowed, e.peer(&ps, i))
		}
	}
	if fw := f.Firewall; fw != nil {
		if fw.Managed != nil {
			p.Firewall.Managed = *fw.Managed
		}
		if fw.Verdict != nil {
			p.Firewall.Verdict = Verdict(strings.ToLower(strings.TrimSpace(*fw.Verdict)))
		}
	}
	if d := f.Daemon; d != nil {
		setInt(&p.Daemon.MemoryLimitMB, d.MemoryLimitMB)
		setInt(&p.Daemon.MaxConnections, d.MaxConnections)
		setInt(&p.Daemon.Threads, d.Threads)
		if d.MaxItemSize != nil {
			s, err := ParseSize(*d.MaxItemSize)
			if err != nil {
				ps.add("daemon.max_item_size", "%v", err)
			}
			p.Daemon.MaxItemSize = s
		}
	}
	return p, ps
}

func (e filePeer) peer(ps *problems, i int) Peer {
	out := Peer{Comment: e.Comment}
	if strings.TrimSpace(e.CIDR) == "" {
		ps.add(fmt.Sprintf("peers.allowed[%d].cidr", i), "missing: every entry needs 'cidr: ADDRESS[/BITS]'")
	} else if pf, err := ParsePeer(e.CIDR); err != nil {
		ps.add(fmt.Sprintf("peers.allowed[%d].cidr", i), "%v", err)
	} else {
		out.Prefix = pf
	}
	if e.Added != "" {
		t, err := time.Parse(time.RFC3339, e.Added)
		if err != nil {
			ps.add(fmt.Sprintf("peers.allowed[%d].added", i), "%q is not an RFC 3339 time such as 2026-11-22T03:00:00Z", e.Added)
		}
		out.Added = t
	}
	return out
}

func port(ps *problems, field string, v *int, def uint16) uint16 {
	if v == nil {
		return def
	}
	if *v < 0 || *v > 65535 {
		ps.add(field, "%d is not a port: use 1-65535", *v)
		return def
	}
	return uint16(*v)
}

func setInt(dst *int, v *int) {
	if v != nil {
		*dst = *v
	}
}

// yamlError turns a go-yaml error into a *ParseError with line and field.
func yamlError(path string, file *ast.File, err error) error {
	var ye yaml.Error
	if !errors.As(err, &ye) || ye.GetToken() == nil {
		return &ParseError{Path: path, Msg: err.Error()}
	}
	tk := ye.GetToken()
	pe := &ParseError{Path: path, Line: tk.Position.Line, Msg: ye.GetMessage()}
	if file != nil {
		pe.Field = fieldAt(file, tk.Position.Line, tk.Position.Column)
	}
	var unknown *yaml.UnknownFieldError
	var typ *yaml.TypeError
	switch {
	case errors.As(err, &typ) && pe.Field != "":
		pe.Msg = fmt.Sprintf("%s: expected %s, got %q", pe.Field, kindName(typ.DstType), tk.Value)
	case errors.As(err, &unknown):
		parent := "the top level"
		if i := strings.LastIndex(pe.Field, "."); i > 0 {
			parent = pe.Field[:i]
		}
		pe.Msg = fmt.Sprintf("%s in %s: check the spelling", ye.GetMessage(), parent)
	case pe.Field != "":
		pe.Msg = fmt.Sprintf("%s: %s", pe.Field, ye.GetMessage())
	}
	return pe
}

// kindName says in YAML terms what a Go destination type expects.
func kindName(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a single value"
	case reflect.Slice:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "a mapping of fields"
	}
	return t.String()
}

// fieldAt finds the dotted path of the node at line:col ("peers.allowed[0].cidr").
func fieldAt(file *ast.File, line, col int) string {
	f := &fieldFinder{line: line, col: col}
	for _, d := range file.Docs {
		ast.Walk(f, d)
	}
	return strings.TrimPrefix(strings.TrimPrefix(f.path, "$"), ".")
}

type fieldFinder struct {
	line, col int
	path      string
}

func (f *fieldFinder) Visit(n ast.Node) ast.Visitor {
	if tk := n.GetToken(); tk != nil && tk.Position.Line == f.line && tk.Position.Column == f.col {
		f.path = n.GetPath()
	}
	return f
}

// lineOf returns the line of field ("bind.port") in file. A field that is
// absent (an entry without cidr) gets the line of its nearest present
// parent; 0 means nowhere in the file.
func lineOf(file *ast.File, field string) int {
	for field != "" {
		if line := nodeLine(file, field); line > 0 {
			return line
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			break
		}
		field = field[:i]
	}
	return 0
}

func nodeLine(file *ast.File, field string) int {
	path, err := yaml.PathString("$." + field)
	if err != nil {
		return 0
	}
	n, err := path.FilterFile(file)
	if err != nil || n == nil || n.GetToken() == nil {
		return 0
	}
	return n.GetToken().Position.Line
}

// header is written above every policy cachectl writes. Comments an operator
// adds elsewhere are not kept when cachectl rewrites the file.
const header = `# cachectl policy: who may connect to the cache.
#
# bind is the LOCAL side: the interfaces/addresses and ports the daemon
# listens on (what memcached's -l, -p and -U choose). Listening on an address
# does not decide who may connect.
# peers is WHO MAY CONNECT: loopback (when allow_loopback is true) and the
# allowed CIDRs. Edit it with 'cachectl allow ADDR' and 'cachectl revoke ADDR';
# check hand edits with 'cachectl policy check'.
# cachectl rewrites this file on every edit; comments other than this header
# are not kept.
`

// Marshal writes p in the on-disk format, every field spelled out so the file
// documents itself.
func (p *Policy) Marshal() ([]byte, error) {
	out, err := yaml.MarshalWithOptions(p.file(), yaml.IndentSequence(true), yaml.WithComment(yaml.CommentMap{
		"$.bind.udp_port":        {yaml.LineComment(" 0 = UDP off")},
		"$.peers.allow_loopback": {yaml.LineComment(" 127.0.0.0/8 and ::1")},
		"$.firewall.managed":     {yaml.LineComment(" true: allow/revoke re-apply cachectl's firewall rules")},
		"$.firewall.verdict":     {yaml.LineComment(" reject (clients fail at once) or drop")},
		"$.daemon":               {yaml.HeadComment(" defaults for 'cachectl bind' when its flags are not given")},
	}))
	if err != nil {
		return nil, fmt.Errorf("encoding policy: %w", err)
	}
	return append([]byte(header), out...), nil
}

// MarshalYAML lets a Policy be embedded in other YAML in its file form.
func (p *Policy) MarshalYAML() (any, error) { return p.file(), nil }

type writeFile struct {
	Version  int         `yaml:"version"`
	Bind     writeBind   `yaml:"bind"`
	Peers    writePeers  `yaml:"peers"`
	Firewall writeFW     `yaml:"firewall"`
	Daemon   writeDaemon `yaml:"daemon"`
}

type writeBind struct {
	Interfaces []string `yaml:"interfaces"`
	Addresses  []string `yaml:"addresses"`
	Port       int      `yaml:"port"`
	UDPPort    int      `yaml:"udp_port"`
}

type writePeers struct {
	AllowLoopback bool       `yaml:"allow_loopback"`
	Allowed       []filePeer `yaml:"allowed"`
}

type writeFW struct {
	Managed bool   `yaml:"managed"`
	Verdict string `yaml:"verdict"`
}

type writeDaemon struct {
	MemoryLimitMB  int    `yaml:"memory_limit_mb"`
	MaxConnections int    `yaml:"max_connections"`
	Threads        int    `yaml:"threads"`
	MaxItemSize    string `yaml:"max_item_size"`
}

func (p *Policy) file() writeFile {
	w := writeFile{
		Version: p.Version,
		Bind: writeBind{
			Interfaces: append([]string{}, p.Bind.Interfaces...),
			Addresses:  []string{},
			Port:       int(p.Bind.Port),
			UDPPort:    int(p.Bind.UDPPort),
		},
		Peers:    writePeers{AllowLoopback: p.Peers.AllowLoopback, Allowed: []filePeer{}},
		Firewall: writeFW{Managed: p.Firewall.Managed, Verdict: string(p.Firewall.Verdict)},
		Daemon: writeDaemon{
			MemoryLimitMB:  p.Daemon.MemoryLimitMB,
			MaxConnections: p.Daemon.MaxConnections,
			Threads:        p.Daemon.Threads,
			MaxItemSize:    p.Daemon.MaxItemSize.String(),
		},
	}
	for _, a := range p.Bind.Addresses {
		w.Bind.Addresses = append(w.Bind.Addresses, a.String())
	}
	for _, e := range p.Peers.Allowed {
		fp := filePeer{CIDR: e.Prefix.String(), Comment: e.Comment}
		if !e.Added.IsZero() {
			fp.Added = e.Added.UTC().Format(time.RFC3339)
		}
		w.Peers.Allowed = append(w.Peers.Allowed, fp)
	}
	return w
}
