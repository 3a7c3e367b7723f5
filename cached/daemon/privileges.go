package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// dropPrivileges switches to user after binding, as memcached's -u does.
// Go applies setuid and setgid to every thread of the process.
func dropPrivileges(name string, log *slog.Logger) error {
	if os.Geteuid() != 0 {
		if name != "" {
			log.Warn("-u ignored: not running as root", "user", name)
		}
		return nil
	}
	if name == "" {
		log.Warn("running as root; pass -u USER to drop privileges after binding")
		return nil
	}
	u, err := user.Lookup(name)
	if errors.As(err, new(user.UnknownUserError)) {
		// The binary is static: /etc/passwd is all it reads, not LDAP or sssd.
		return usageErrorf("-u %s: no such user in /etc/passwd; create it (useradd --system --no-create-home %s) or name another", name, name)
	}
	if err != nil {
		return usageErrorf("-u %s: %w", name, err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return fmt.Errorf("dropping privileges to %s: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return fmt.Errorf("dropping privileges to %s: gid %q: %w", name, u.Gid, err)
	}
	if err := syscall.Setgroups([]int{gid}); err != nil {
		return fmt.Errorf("dropping privileges to %s: setgroups: %w", name, err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("dropping privileges to %s: setgid: %w", name, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("dropping privileges to %s: setuid: %w", name, err)
	}
	log.Info("dropped privileges", "user", name, "uid", uid, "gid", gid)
	return nil
}
