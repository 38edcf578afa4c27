package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/postgres/pgtest"
	"github.com/fitmirror/fitmirror/cloud/wechat/wechattest"
	"github.com/fitmirror/fitmirror/internal/testexec"
)

func runCloud(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := testexec.Command(binary(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String() + errb.String(), err
}

// A SQLite hub in use moves into PostgreSQL with `mirror-cloud migrate`, and a replica on the
// database serves what the old hub knew: the device's token, its photo, the shopper's retry
// (answered with the first reply, no second binding), the shopper's photo page, the binding
// the mirror has not acknowledged, the console's operator (who logs in with the same
// password). `export` and `import` move it back out, line for line, and the operator logs in
// there too, the audit log carrying the logins.
func TestMigrateSQLiteToPostgres(t *testing.T) {
	state := t.TempDir()
	sets := []string{"wechat.appid=" + replicaAppID, "wechat.secret=" + replicaSecret, "wechat.token=" + replicaToken, "wechat.aes_key=" + replicaAESKey}
	with := func(extra ...string) []string {
		var args []string
		for _, s := range append(append([]string{}, sets...), extra...) {
			args = append(args, "--set", s)
		}
		return args
	}
	creds := addDevice(t, state, "m1")
	add := testexec.Command(binary(t), append([]string{"operator", "add", "ada", "--role", "admin", "--password-stdin"}, with("state_dir="+state)...)...)
	add.Stdin = strings.NewReader("ada-password-1234\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("operator add: %v %s", err, out)
	}
	old := startServe(t, state, sets...)
	d := &deployment{t: t, creds: creds}
	jpg, _ := os.ReadFile("../../testdata/face.jpg")
	photoID := ulid.Make().String()
	if code, body := d.api(old, "PUT", "/v1/photos/"+photoID, "image/jpeg", jpg); code != 201 {
		t.Fatalf("PUT photo = %d %s", code, body)
	}
	scene, ticket := d.qr(old, photoID)
	fake := wechattest.New(replicaAppID, replicaSecret)
	fake.Token, fake.AESKey = replicaToken, replicaAESKey
	ev := fake.ScanEvent(scene, ticket, "o_migrant", false)
	first, err := fake.Push(t.Context(), old.http+"/wechat/callback", ev, wechattest.Safe)
	if err != nil || first.Status != 200 {
		t.Fatalf("scan = %+v, %v", first, err)
	}
	old.cmd.Process.Signal(syscall.SIGTERM) // stop the hub before moving it
	old.cmd.Wait()

	pg := pgtest.Start(t, pgtest.Options{NoFsync: true})
	url := pg.NewDatabase(t)
	out, err := runCloud(t, append([]string{"migrate", "--to", url}, with("state_dir="+state)...)...)
	if err != nil || !strings.Contains(out, "migrated 1 devices, 1 photos (0 without bytes), 1 scenes, 1 events, 1 viewers, 2 secrets, 1 operators") {
		t.Fatalf("migrate = %v\n%s", err, out)
	}
	if out, err := runCloud(t, append([]string{"migrate", "--to", url}, with("state_dir="+state)...)...); err != nil || !strings.Contains(out, "8 already there") {
		t.Errorf("migrate again = %v\n%s, want everything already there", err, out)
	}
	if out, err := runCloud(t, append([]string{"migrate", "--to", url}, with("state_dir="+t.TempDir())...)...); err == nil || !strings.Contains(out, "no SQLite hub at") {
		t.Errorf("migrate of an empty state_dir = %v\n%s, want an error naming it", err, out)
	}
	if out, err := runCloud(t, append([]string{"migrate", "--to", "mysql://x"}, with("state_dir="+state)...)...); err == nil || !strings.Contains(out, "database.url: want postgres://") {
		t.Errorf("migrate --to mysql:// = %v\n%s", err, out)
	}

	// A replica on PostgreSQL, with nothing in its own state_dir.
	replica := startServe(t, t.TempDir(), append(sets, "database.url="+url)...)
	if code, body := d.api(replica, "PUT", "/v1/photos/"+photoID, "image/jpeg", jpg); code != 200 {
		t.Errorf("PUT the photo again on the replica = %d %s, want 200 (known, same bytes)", code, body)
	}
	retry, err := fake.Push(t.Context(), replica.http+"/wechat/callback", ev, wechattest.Safe)
	if err != nil || !bytes.Equal(retry.Reply, first.Reply) {
		t.Errorf("WeChat's retry after the move = %q, %v; want the first reply %q", retry.Reply, err, first.Reply)
	}
	code, body := d.api(replica, "GET", "/v1/bindings", "", nil)
	var pending struct{ Bindings []json.RawMessage }
	if json.Unmarshal(body, &pending); code != 200 || len(pending.Bindings) != 1 {
		t.Errorf("GET /v1/bindings on the replica = %d %s, want the one unacknowledged binding", code, body)
	}
	jar, _ := cookiejar.New(nil)
	phone := &http.Client{Jar: jar}
	get(t, phone, replica.http+"/p/"+photoID+"?openid=o_migrant")
	if raw := get(t, phone, replica.http+"/p/"+photoID+"?raw=1"); raw.status != 200 || raw.body != string(jpg) {
		t.Errorf("the shopper's photo on the replica = %d, %d bytes; want the photo", raw.status, len(raw.body))
	}
	if code := consoleLogin(t, replica, "ada", "ada-password-1234"); code != 200 {
		t.Errorf("ada's login on the replica = %d, want 200 (her password hash moved)", code)
	}
	replica.cmd.Process.Signal(syscall.SIGTERM)
	replica.cmd.Wait()

	// Out again: export PostgreSQL, import into a new SQLite hub, export that: the same lines.
	dump := filepath.Join(t.TempDir(), "hub.jsonl")
	if out, err := runCloud(t, append([]string{"export", "--out", dump}, with("database.url="+url)...)...); err != nil || !strings.Contains(out, "exported 1 devices") {
		t.Fatalf("export = %v\n%s", err, out)
	}
	if fi, err := os.Stat(dump); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("export file mode = %v, %v; want 0600 (it holds secrets)", fi.Mode(), err)
	}
	state2 := t.TempDir()
	if out, err := runCloud(t, append([]string{"import", dump}, with("state_dir="+state2)...)...); err != nil ||
		!strings.Contains(out, "imported 1 devices") || !strings.Contains(out, "1 operators, 1 audit entries") {
		t.Fatalf("import = %v\n%s, want the operator and the audit log's login", err, out)
	}
	cmd := testexec.Command(binary(t), append([]string{"export"}, with("state_dir="+state2)...)...)
	again, err := cmd.Output()
	want, _ := os.ReadFile(dump)
	if err != nil || !bytes.Equal(again, want) {
		t.Errorf("export of the imported SQLite hub differs from the PostgreSQL export (%v)", err)
	}
	imported := startServe(t, state2, sets...)
	if code := consoleLogin(t, imported, "ada", "wrong-password-1234"); code != 401 {
		t.Errorf("a wrong password on the imported hub = %d, want 401", code)
	}
	if code := consoleLogin(t, imported, "ada", "ada-password-1234"); code != 200 {
		t.Errorf("ada's login on the imported hub = %d, want 200", code)
	}
	if out, err := runCloud(t, append([]string{"import", filepath.Join(t.TempDir(), "nope.jsonl")}, with("state_dir="+state2)...)...); err == nil || !strings.Contains(out, "no such file") {
		t.Errorf("import of a missing file = %v\n%s", err, out)
	}
}

// consoleLogin logs in to a hub's console and returns the status.
func consoleLogin(t *testing.T, s *server, name, password string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", s.console+"/login", strings.NewReader(neturl.Values{"name": {name}, "password": {password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
