package config

import (
	"strings"
	"testing"
)

func TestCheckListen(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:8080", ":8081", "[::1]:0", "0.0.0.0:65535", "localhost:http"} {
		if err := CheckListen("display.listen", ok); err != nil {
			t.Errorf("CheckListen(%q) = %v, want nil", ok, err)
		}
	}
	for _, tt := range []struct{ addr, want string }{
		{"127.0.0.1:99999", "out of range"},
		{"8080", "without a host"},
		{"127.0.0.1", "not host:port"},
		{"127.0.0.1:", "no port"},
		{"127.0.0.1:-1", "out of range"},
		{"", "must not be empty"},
	} {
		err := CheckListen("display.listen", tt.addr)
		if err == nil || !strings.HasPrefix(err.Error(), "display.listen: ") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("CheckListen(%q) = %v, want display.listen: …%s…", tt.addr, err, tt.want)
		}
	}
}
