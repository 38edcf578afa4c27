package config

import (
	"fmt"
	"net"
	"strconv"
)

// CheckListen checks a TCP listen address as net.Listen takes it: host:port, where the host
// may be empty (every interface) and the port is a number from 0 to 65535 or a service name
// from /etc/services. The error names key, so that a typo is a configuration error when the
// configuration is loaded, not a failed listener at start.
func CheckListen(key, addr string) error {
	if addr == "" {
		return fmt.Errorf("%s: must not be empty", key)
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		if _, nerr := strconv.Atoi(addr); nerr == nil {
			return fmt.Errorf("%s: %q is a port without a host: write host:port, e.g. 127.0.0.1:%s or :%s", key, addr, addr, addr)
		}
		return fmt.Errorf("%s: %q is not host:port (e.g. 127.0.0.1:8080 or :8080)", key, addr)
	}
	if n, nerr := strconv.Atoi(port); nerr == nil {
		if n < 0 || n > 65535 {
			return fmt.Errorf("%s: port %d in %q is out of range (0 to 65535)", key, n, addr)
		}
		return nil
	}
	if _, err := net.LookupPort("tcp", port); err != nil || port == "" {
		return fmt.Errorf("%s: %q has no port (want a number from 0 to 65535)", key, addr)
	}
	return nil
}
