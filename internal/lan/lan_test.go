package lan

import (
	"net"
	"testing"
)

func addr(s string) net.Addr {
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	n.IP = ip
	return n
}

func TestPick(t *testing.T) {
	up := net.FlagUp
	for _, tt := range []struct {
		name string
		ifs  []iface
		want string
	}{
		{"none", nil, ""},
		{"loopback only", []iface{{up | net.FlagLoopback, []net.Addr{addr("127.0.0.1/8")}}}, ""},
		{"down", []iface{{0, []net.Addr{addr("192.168.1.5/24")}}}, ""},
		{"private after public", []iface{{up, []net.Addr{addr("203.0.113.7/24")}}, {up, []net.Addr{addr("10.0.0.9/8")}}}, "10.0.0.9"},
		{"public when alone", []iface{{up, []net.Addr{addr("203.0.113.7/24")}}}, "203.0.113.7"},
		{"no link-local, no IPv6", []iface{{up, []net.Addr{addr("169.254.3.4/16"), addr("fe80::1/64"), addr("2001:db8::1/64"), addr("172.16.4.2/12")}}}, "172.16.4.2"},
	} {
		if got := pick(tt.ifs); got != tt.want {
			t.Errorf("%s: pick = %q, want %q", tt.name, got, tt.want)
		}
	}
}
