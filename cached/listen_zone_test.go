package cached

import "testing"

func TestListenZone(t *testing.T) {
	tests := []struct{ in, want string }{
		{"[fe80::1%eth0]:11211", "eth0"},
		{"[fe80::1%2]:11211", "2"},
		{"[fd00::1]:11211", ""},
		{"10.0.0.1:11211", ""},
		{":11211", ""},
		{"garbage", ""},
	}
	for _, tt := range tests {
		if got := listenZone(tt.in); got != tt.want {
			t.Errorf("listenZone(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
