package cached

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A reader for Berkeley DB hash files, the format Debian's saslpasswd2
// writes a sasldb in. It reads every key/data pair off the bucket pages
// in one pass over the file, as a sasldb holds a handful of users. What
// it does not know (encryption, checksums, sorted duplicates) it refuses
// rather than misread; nothing is ever written.

const (
	bdbHashMagic   = 0x061561
	bdbMetaHash    = 8  // P_HASHMETA: the first page's type
	bdbPageHashU   = 2  // P_HASH_UNSORTED
	bdbPageOver    = 7  // P_OVERFLOW
	bdbPageHash    = 13 // P_HASH
	bdbPageHeader  = 26 // lsn, pgno, prev, next, entries, hf_offset, level, type
	bdbItemKeyData = 1  // H_KEYDATA: the bytes follow the type byte
	bdbItemOffPage = 3  // H_OFFPAGE: the bytes are on a chain of overflow pages
	bdbMetaChksum  = 0x01
)

// errNotBDBHash is a file that is not a Berkeley DB hash database.
var errNotBDBHash = errors.New("not a Berkeley DB hash database")

// readBDBHash returns every pair in a Berkeley DB hash file. A key with
// several data items (duplicates) keeps the first.
func readBDBHash(data []byte) (map[string][]byte, error) {
	if len(data) < 512 {
		return nil, errNotBDBHash
	}
	var bo binary.ByteOrder = binary.LittleEndian
	switch {
	case binary.LittleEndian.Uint32(data[12:]) == bdbHashMagic:
	case binary.BigEndian.Uint32(data[12:]) == bdbHashMagic:
		bo = binary.BigEndian
	default:
		return nil, errNotBDBHash
	}
	if data[25] != bdbMetaHash {
		return nil, errNotBDBHash
	}
	if v := bo.Uint32(data[16:]); v < 8 || v > 10 {
		return nil, fmt.Errorf("Berkeley DB hash version %d; versions 8 to 10 (Berkeley DB 4.6 and later) are read", v)
	}
	if data[24] != 0 {
		return nil, errors.New("the database is encrypted")
	}
	if data[26]&bdbMetaChksum != 0 {
		return nil, errors.New("the database has page checksums, which are not read")
	}
	pageSize := int(bo.Uint32(data[20:]))
	if pageSize < 512 || pageSize > 64<<10 || pageSize&(pageSize-1) != 0 {
		return nil, fmt.Errorf("page size %d is not a power of two from 512 to 65536", pageSize)
	}
	last := int(bo.Uint32(data[32:]))
	if (last+1)*pageSize > len(data) {
		return nil, fmt.Errorf("the header says %d pages of %d bytes, the file is %d bytes long", last+1, pageSize, len(data))
	}
	r := bdbReader{data: data, bo: bo, pageSize: pageSize, last: last}
	out := make(map[string][]byte)
	for p := 1; p <= last; p++ {
		page := r.page(p)
		// A bucket never written is a hole of zeros in the file.
		if t := page[25]; int(bo.Uint32(page[8:])) != p || (t != bdbPageHash && t != bdbPageHashU) {
			continue
		}
		n := int(bo.Uint16(page[20:]))
		if bdbPageHeader+2*n > pageSize {
			return nil, fmt.Errorf("page %d: %d entries do not fit", p, n)
		}
		for i := 0; i+1 < n; i += 2 {
			key, err := r.item(page, p, n, i)
			if err != nil {
				return nil, err
			}
			val, err := r.item(page, p, n, i+1)
			if err != nil {
				return nil, err
			}
			if key == nil || val == nil {
				continue // a duplicate set, which a sasldb never holds
			}
			if _, seen := out[string(key)]; !seen {
				out[string(key)] = val
			}
		}
	}
	return out, nil
}

type bdbReader struct {
	data           []byte
	bo             binary.ByteOrder
	pageSize, last int
}

func (r *bdbReader) page(p int) []byte { return r.data[p*r.pageSize : (p+1)*r.pageSize] }

// item returns entry i of a hash page with n entries; nil (no error) for
// an item kind that holds no plain bytes.
func (r *bdbReader) item(page []byte, p, n, i int) ([]byte, error) {
	start := int(r.bo.Uint16(page[bdbPageHeader+2*i:]))
	end := r.pageSize
	if i > 0 {
		end = int(r.bo.Uint16(page[bdbPageHeader+2*(i-1):]))
	}
	if start < bdbPageHeader+2*n || start >= end || end > r.pageSize {
		return nil, fmt.Errorf("page %d: entry %d lies outside the page", p, i)
	}
	it := page[start:end]
	switch it[0] {
	case bdbItemKeyData:
		return it[1:], nil
	case bdbItemOffPage:
		if len(it) < 12 {
			return nil, fmt.Errorf("page %d: entry %d is a short overflow reference", p, i)
		}
		return r.overflow(int(r.bo.Uint32(it[4:])), int(r.bo.Uint32(it[8:])))
	}
	return nil, nil
}

// overflow reads an item of length total kept on a chain of overflow
// pages starting at page p.
func (r *bdbReader) overflow(p, total int) ([]byte, error) {
	out := make([]byte, 0, min(total, len(r.data)))
	for hops := 0; len(out) < total; hops++ {
		if p < 1 || p > r.last || hops > r.last {
			return nil, fmt.Errorf("overflow chain leads to page %d, outside the file", p)
		}
		page := r.page(p)
		used := int(r.bo.Uint16(page[22:]))
		if page[25] != bdbPageOver || bdbPageHeader+used > r.pageSize {
			return nil, fmt.Errorf("page %d is not a valid overflow page", p)
		}
		out = append(out, page[bdbPageHeader:bdbPageHeader+used]...)
		p = int(r.bo.Uint32(page[16:]))
	}
	if len(out) != total {
		return nil, fmt.Errorf("overflow chain holds %d bytes, its reference says %d", len(out), total)
	}
	return out, nil
}
