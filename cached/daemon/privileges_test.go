package daemon

import (
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
)

// TestUnknownUser: -u naming a user the static binary cannot find says
// where it looked and how to fix it, as a usage error (exit 2).
func TestUnknownUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("-u is only acted on as root")
	}
	err := dropPrivileges("cachectl-no-such-user", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !IsUsage(err) {
		t.Fatalf("dropPrivileges(unknown user) = %v, want a usage error", err)
	}
	for _, want := range []string{"cachectl-no-such-user", "/etc/passwd", "useradd"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
