// Package pgtest runs a real PostgreSQL server for tests: initdb and pg_ctl from the Debian
// postgresql-15 package, run as the postgres user (runuser) when the test runs as root, in a
// temporary directory, listening on a free loopback port with its socket in that directory.
// Close (registered with t.Cleanup by Start) stops the server and removes its files.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is a running PostgreSQL.
type Server struct {
	Port int
	Dir  string // data in Dir/data, log in Dir/log

	bin  string
	as   string // run the tools as this user ("" = the current one)
	uid  int
	gid  int
	dbs  atomic.Int64
	done bool

	reaper *exec.Cmd
}

// Options configure a Server.
type Options struct {
	// NoFsync turns fsync off: faster, for tests that do not measure durability. Benchmarks
	// leave it on so that a commit costs what it costs in production.
	NoFsync bool
}

// BinDir finds the PostgreSQL server binaries: $PG_BINDIR, then Debian's
// /usr/lib/postgresql/<version>/bin (newest first), then PATH.
func BinDir() (string, error) {
	if d := os.Getenv("PG_BINDIR"); d != "" {
		return d, nil
	}
	for _, v := range []string{"17", "16", "15"} {
		d := "/usr/lib/postgresql/" + v + "/bin"
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("PostgreSQL server not installed (scripts/setup.sh installs postgresql-15)")
}

// Start starts a server and registers its Close with t.Cleanup.
func Start(t testing.TB, opts ...Options) *Server {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	s, err := New(o)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("postgres log:\n%s", s.Log())
		}
		s.Close()
	})
	return s
}

// New initialises and starts a server; the caller must Close it.
func New(o Options) (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, uid: -1, gid: -1}
	if os.Geteuid() == 0 { // initdb refuses to run as root
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root needs the postgres user (the postgresql package creates it): %w", err)
		}
		s.as = "postgres"
		s.uid, _ = strconv.Atoi(u.Uid)
		s.gid, _ = strconv.Atoi(u.Gid)
	}
	if s.Dir, err = os.MkdirTemp("", "pgtest-"); err != nil {
		return nil, err
	}
	if s.as != "" {
		if err := os.Chown(s.Dir, s.uid, s.gid); err != nil {
			os.RemoveAll(s.Dir)
			return nil, err
		}
	}
	if out, err := s.run("initdb", "-D", s.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		os.RemoveAll(s.Dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	conf := "listen_addresses = '127.0.0.1'\nunix_socket_directories = '" + s.Dir + "'\nmax_connections = 200\n"
	if o.NoFsync {
		conf += "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
	}
	if err := s.appendConf(conf); err != nil {
		os.RemoveAll(s.Dir)
		return nil, err
	}
	// The port is picked free, then taken by the server: another process may grab it in
	// between, so try a few.
	for try := 0; ; try++ {
		if s.Port, err = freePort(); err != nil {
			os.RemoveAll(s.Dir)
			return nil, err
		}
		out, err := s.run("pg_ctl", "-D", s.data(), "-l", s.logPath(), "-o", "-p "+strconv.Itoa(s.Port), "-w", "-t", "60", "start")
		if err == nil {
			break
		}
		if try == 4 {
			os.RemoveAll(s.Dir)
			return nil, fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, s.Log())
		}
	}
	s.startReaper()
	return s, nil
}

// startReaper watches this process: when it is gone without Close (a test binary killed by
// go test's timeout runs no cleanup), the reaper stops the server, which pg_ctl started as a
// daemon that would outlive the test, and removes its files. Close stops the reaper.
func (s *Server) startReaper() {
	stop := []string{filepath.Join(s.bin, "pg_ctl"), "-D", s.data(), "-m", "immediate", "-w", "stop"}
	if s.as != "" {
		stop = append([]string{"runuser", "-u", s.as, "--"}, stop...)
	}
	script := `pid=$1; dir=$2; shift 2
while kill -0 "$pid" 2>/dev/null; do sleep 1; done
"$@" >/dev/null 2>&1
rm -rf "$dir"`
	cmd := exec.Command("sh", append([]string{"-c", script, "pgtest-reaper", strconv.Itoa(os.Getpid()), s.Dir}, stop...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // not killed with the test's process group
	if cmd.Start() == nil {
		s.reaper = cmd
	}
}

func (s *Server) data() string    { return filepath.Join(s.Dir, "data") }
func (s *Server) logPath() string { return filepath.Join(s.Dir, "log") }

func (s *Server) appendConf(conf string) error {
	f, err := os.OpenFile(filepath.Join(s.data(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(conf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *Server) run(tool string, args ...string) ([]byte, error) {
	path := filepath.Join(s.bin, tool)
	var cmd *exec.Cmd
	if s.as != "" {
		cmd = exec.Command("runuser", append([]string{"-u", s.as, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = s.Dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// URL is the connection URL of database db (the server's "postgres" database when empty).
func (s *Server) URL(db string) string {
	if db == "" {
		db = "postgres"
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// NewDatabase creates an empty database and returns its URL.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d", s.dbs.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.URL(""))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	return s.URL(name)
}

// Stop stops the server fast (open connections are closed: an outage); Start restarts it on
// the same port with the same data.
func (s *Server) Stop() error {
	out, err := s.run("pg_ctl", "-D", s.data(), "-m", "fast", "-w", "stop")
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	return nil
}

// Start restarts a stopped server.
func (s *Server) Start() error {
	out, err := s.run("pg_ctl", "-D", s.data(), "-l", s.logPath(), "-o", "-p "+strconv.Itoa(s.Port), "-w", "-t", "60", "start")
	if err != nil {
		return fmt.Errorf("pg_ctl start: %v\n%s", err, out)
	}
	return nil
}

// Log returns the server log.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.logPath())
	return string(b)
}

// Close stops the server (immediate shutdown) and removes its files.
func (s *Server) Close() error {
	if s.done {
		return nil
	}
	s.done = true
	if s.reaper != nil {
		s.reaper.Process.Kill()
		s.reaper.Wait()
	}
	out, err := s.run("pg_ctl", "-D", s.data(), "-m", "immediate", "-w", "stop")
	if err != nil && !strings.Contains(string(out), "not running") && !strings.Contains(string(out), "Is server running?") {
		err = fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	} else {
		err = nil
	}
	os.RemoveAll(s.Dir)
	return err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
