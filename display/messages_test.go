package display

import "testing"

func TestText(t *testing.T) {
	for _, tt := range []struct {
		s    Screen
		want string
	}{
		{Screen{Scene: SceneError, Code: MsgCaptureFailed}, messages[MsgCaptureFailed]},
		{Screen{Scene: SceneError, Code: MsgQRUnavailable}, messages[MsgQRUnavailable]},
		{Screen{Scene: SceneError, Code: MsgQRUnavailable, Message: "as is"}, "as is"},
		{Screen{Scene: SceneError, Code: "no_such_code"}, ""},
		{Screen{Scene: SceneIdle}, ""},
	} {
		if got := tt.s.Text(); got != tt.want {
			t.Errorf("%+v.Text() = %q, want %q", tt.s, got, tt.want)
		}
	}
	for _, code := range []string{MsgCaptureFailed, MsgQRUnavailable} {
		if messages[code] == "" {
			t.Errorf("code %s has no words", code)
		}
	}
}
