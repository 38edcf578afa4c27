// Package lan is the one rule for "this machine's LAN address": the address the QR code's
// photo page URL uses and the one the status display shows, so that they always agree.
package lan

import "net"

// Address is the first IPv4 address of an up, non-loopback interface, private ranges
// (10/8, 172.16/12, 192.168/16) before public ones, link-local never; "" when there is none.
// It reads the interface table: nothing is sent anywhere to find it.
func Address() string {
	ifs, err := net.Interfaces()
	if err != nil {
		return ""
	}
	var cands []iface
	for _, ifc := range ifs {
		addrs, _ := ifc.Addrs()
		cands = append(cands, iface{flags: ifc.Flags, addrs: addrs})
	}
	return pick(cands)
}

type iface struct {
	flags net.Flags
	addrs []net.Addr
}

func pick(ifs []iface) string {
	var fallback string
	for _, ifc := range ifs {
		if ifc.flags&net.FlagUp == 0 || ifc.flags&net.FlagLoopback != 0 {
			continue
		}
		for _, a := range ifc.addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.To4() == nil || ipn.IP.IsLinkLocalUnicast() {
				continue
			}
			if ipn.IP.IsPrivate() {
				return ipn.IP.String()
			}
			if fallback == "" {
				fallback = ipn.IP.String()
			}
		}
	}
	return fallback
}
