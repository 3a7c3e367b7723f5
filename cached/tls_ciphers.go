package cached

import (
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
)

// ssl_ciphers takes OpenSSL cipher names, as memcached hands them to
// SSL_CTX_set_cipher_list. That list governs TLS 1.2 and older only, and
// so does Go's CipherSuites: TLS 1.3 suites are not configurable in
// either. OpenSSL's keywords and operators (HIGH, !aNULL, @STRENGTH) have
// no Go counterpart, and OpenSSL silently skips names it does not know;
// here every name must be one of the suites below, or the daemon does not
// start, so a typo never leaves an operator with a cipher list they did
// not ask for.

// opensslCiphers maps OpenSSL's names to Go's suites.
var opensslCiphers = map[string]uint16{
	"ECDHE-ECDSA-AES128-GCM-SHA256": tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-RSA-AES128-GCM-SHA256":   tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-ECDSA-AES256-GCM-SHA384": tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-RSA-AES256-GCM-SHA384":   tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-ECDSA-CHACHA20-POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-RSA-CHACHA20-POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-ECDSA-AES128-SHA256":     tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
	"ECDHE-RSA-AES128-SHA256":       tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
	"ECDHE-ECDSA-AES128-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	"ECDHE-RSA-AES128-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	"ECDHE-ECDSA-AES256-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	"ECDHE-RSA-AES256-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	"ECDHE-RSA-DES-CBC3-SHA":        tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA,
	"AES128-GCM-SHA256":             tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	"AES256-GCM-SHA384":             tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	"AES128-SHA256":                 tls.TLS_RSA_WITH_AES_128_CBC_SHA256,
	"AES128-SHA":                    tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	"AES256-SHA":                    tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	"DES-CBC3-SHA":                  tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA,
}

// parseCiphers turns an ssl_ciphers value into Go suites; "" keeps Go's
// defaults. Names are separated by colons (OpenSSL also takes spaces).
func parseCiphers(list string) ([]uint16, error) {
	if list == "" {
		return nil, nil
	}
	var out []uint16
	for _, name := range strings.FieldsFunc(list, func(r rune) bool { return r == ':' || r == ' ' }) {
		id, ok := opensslCiphers[name]
		switch {
		case ok:
			out = append(out, id)
		case strings.HasPrefix(name, "TLS_"):
			return nil, fmt.Errorf("ssl_ciphers %q: %s is a TLS 1.3 suite; ssl_ciphers sets TLS 1.2 and older only, and TLS 1.3 suites are not configurable", list, name)
		default:
			return nil, fmt.Errorf("ssl_ciphers %q: unknown cipher %q; give OpenSSL names separated by ':', from: %s", list, name, strings.Join(knownCiphers(), " "))
		}
	}
	return out, nil
}

func knownCiphers() []string {
	names := make([]string, 0, len(opensslCiphers))
	for n := range opensslCiphers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
