package cached

// ProtocolVersion is the memcached release whose behaviour the daemon
// matches reply for reply; `version` answers with it because clients parse it.
const ProtocolVersion = "1.6.18"

// Version is cachectl's own release.
const Version = "0.1.0"
