package settings

import "testing"

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		unit Size
		want Size
		bad  bool
	}{
		{"1048576", Byte, 1 << 20, false},
		{"512k", Byte, 512 << 10, false},
		{"1m", Byte, 1 << 20, false},
		{"1M", Byte, 1 << 20, false},
		{"1g", Byte, 1 << 30, false},
		{" 2m ", Byte, 2 << 20, false},
		{"64", Megabyte, 64 << 20, false},
		{"1g", Megabyte, 1 << 30, false},
		{"0", Megabyte, 0, false},
		{"", Byte, 0, true},
		{"lots", Byte, 0, true},
		{"-1", Byte, 0, true},
		{"1t", Byte, 0, true},
		{"m", Byte, 0, true},
		{"9223372036854775807k", Byte, 0, true},
	} {
		got, err := ParseSize(tc.in, tc.unit)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseSize(%q) = %d, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q, %d) = %d, %v; want %d", tc.in, tc.unit, got, err, tc.want)
		}
	}
}

func TestSizeRoundTrip(t *testing.T) {
	for _, s := range []Size{0, 1000, 1024, 1536, 1 << 20, 3 << 20, 1 << 30, 1<<30 + 1<<20} {
		b, _ := s.MarshalText()
		var back Size
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Errorf("%d wrote %q, read back %d, %v", s, b, back, err)
		}
	}
	if got := Size(1 << 30).String(); got != "1g" {
		t.Errorf("1 GiB writes as %q, want 1g", got)
	}
}
