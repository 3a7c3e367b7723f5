// Package daemon starts the cache daemon the way memcached starts: its
// flags, letter for letter and with memcached's long names, become a
// Config; Run binds, drops privileges (-u), writes the pid file (-P),
// serves until SIGINT or SIGTERM and shuts down gracefully. Main does all of
// that for an argument list, so tests can run the daemon as a process
// without building a command.
//
// The package also keeps a policy's allowlist in force while the daemon
// runs (Reloader: SIGHUP and a watch on the policy file). It does not decide
// which addresses to listen on or who may connect: its callers resolve the
// listen addresses and supply the peer filter.
package daemon
