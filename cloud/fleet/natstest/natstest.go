// Package natstest runs a real NATS cluster for tests: nats-server v2 (the Go module, in the
// test's process) with MQTT and JetStream, each node started from the fleet's shipped
// nats.conf with its names, ports and directories moved onto free loopback ports and a
// temporary directory, and beside each node the fleet's auth callout service (natsauth) as
// `mirror-cloud nats-auth` runs it: fitmirror-auth.conf written by natsauth.ServerConfig with
// fresh keys, the users read from the users file. Kill stops a node the way a crash looks to
// its clients: their connections drop.
package natstest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"golang.org/x/crypto/bcrypt"

	"github.com/fitmirror/fitmirror/cloud/fleet/broker"
	"github.com/fitmirror/fitmirror/cloud/fleet/broker/natsauth"
)

// Options configures a Cluster.
type Options struct {
	// Nodes is the cluster size; default 3.
	Nodes int
	// Users is fitmirror-users.conf (broker.NATSUsers writes it), which the auth services read.
	Users string
	// TopicPrefix is the fleet's mqtt.topic_prefix ("" = "mirror").
	TopicPrefix string
	// AuthNodes are the nodes that get an auth callout service beside them (connected to
	// that node only); nil = every node. The others' requests cross the cluster's routes.
	AuthNodes []int
	// AuthConfig, when set, is the fitmirror-auth.conf every node includes (as `mirror-cloud
	// nats-auth init` wrote it); natstest then starts no auth service: the test runs its own.
	AuthConfig string
	// Config is the node configuration; default broker.NATSConfig, the shipped one.
	Config string
}

// Node is one nats-server of the cluster.
type Node struct {
	Name     string
	MQTTPort int
	// NATSPort is the NATS client listener (loopback), where the auth service connects.
	NATSPort int
	dir      string
	conf     string

	mu   sync.Mutex
	srv  *server.Server
	logs *logBuffer

	auth     *authService // nil: no auth service beside this node
	authLogs *logBuffer
}

// authService is one auth callout service and its NATS connection.
type authService struct {
	nc   *nats.Conn
	stop func()
}

// URL is the node's MQTT URL (tcp://127.0.0.1:port).
func (n *Node) URL() string { return "tcp://127.0.0.1:" + strconv.Itoa(n.MQTTPort) }

// Running reports whether the node is up.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.srv != nil && n.srv.Running()
}

// NATSURL is the node's NATS client URL (nats://127.0.0.1:port).
func (n *Node) NATSURL() string { return "nats://127.0.0.1:" + strconv.Itoa(n.NATSPort) }

// Cluster is a running NATS cluster.
type Cluster struct {
	Nodes []*Node
	// Keys are the auth callout's keys (fitmirror-auth.conf names their public halves).
	Keys natsauth.Keys
	// AuthPassword is the auth service's NATS password (user natsauth.AuthUser).
	AuthPassword string
	// UsersFile is the fitmirror-users.conf the auth services read (again, when it changes).
	UsersFile string
}

// URLs are the nodes' MQTT URLs, in node order.
func (c *Cluster) URLs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.URL()
	}
	return out
}

// Start starts the cluster, waits until its JetStream has a leader, and registers Close
// with t.Cleanup.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	var c *Cluster
	var err error
	// The free ports are chosen before the nodes bind them: another test on the machine may
	// take one in between, so a cluster that does not come up is tried again on others.
	for attempt := 1; ; attempt++ {
		if c, err = New(opts, t.TempDir()); err == nil {
			break
		}
		if attempt == 3 {
			t.Fatalf("natstest: %v", err)
		}
		t.Logf("natstest: %v; again on other ports", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range c.Nodes {
				t.Logf("nats node %s log (last lines):\n%s", n.Name, n.logs.tail(60))
				t.Logf("auth service beside %s, log (last lines):\n%s", n.Name, n.authLogs.tail(30))
			}
		}
		c.Close()
	})
	return c
}

// New starts a cluster whose files live under dir; the caller must Close it.
func New(opts Options, dir string) (*Cluster, error) {
	if opts.Nodes <= 0 {
		opts.Nodes = 3
	}
	if opts.Config == "" {
		opts.Config = broker.NATSConfig
	}
	ports, err := freePorts(3 * opts.Nodes)
	if err != nil {
		return nil, err
	}
	var routes []string
	for i := range opts.Nodes {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[3*i+2]))
	}
	c, authConf, err := newAuth()
	if err != nil {
		return nil, err
	}
	if opts.AuthConfig != "" {
		authConf, opts.AuthNodes = opts.AuthConfig, []int{}
	}
	usersFile := filepath.Join(dir, "fitmirror-users.conf")
	c.UsersFile = usersFile
	if err := os.WriteFile(usersFile, []byte(opts.Users), 0o600); err != nil {
		return nil, err
	}
	for i := range opts.Nodes {
		name := fmt.Sprintf("nats%d", i+1)
		ndir := filepath.Join(dir, name)
		if err := os.MkdirAll(ndir, 0o700); err != nil {
			return nil, err
		}
		conf, err := nodeConfig(opts.Config, name, ndir, ports[3*i], ports[3*i+1], ports[3*i+2], routes)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(ndir, "nats.conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(ndir, "fitmirror-auth.conf"), []byte(authConf), 0o600); err != nil {
			return nil, err
		}
		c.Nodes = append(c.Nodes, &Node{Name: name, MQTTPort: ports[3*i+1], NATSPort: ports[3*i], dir: ndir,
			conf: path, logs: &logBuffer{}, authLogs: &logBuffer{}})
	}
	for _, n := range c.Nodes {
		if err := n.start(); err != nil {
			c.Close()
			return nil, err
		}
	}
	authNodes := opts.AuthNodes
	if authNodes == nil {
		authNodes = make([]int, len(c.Nodes))
		for i := range authNodes {
			authNodes[i] = i
		}
	}
	for _, i := range authNodes {
		if err := c.startAuth(c.Nodes[i], usersFile, opts.TopicPrefix); err != nil {
			c.Close()
			return nil, err
		}
	}
	if err := c.WaitReady(60 * time.Second); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// newAuth makes the auth callout's keys and the service's password, and writes
// fitmirror-auth.conf as `mirror-cloud nats-auth init` does.
func newAuth() (*Cluster, string, error) {
	keys, err := natsauth.NewKeys()
	if err != nil {
		return nil, "", err
	}
	pw := make([]byte, 16)
	rand.Read(pw)
	c := &Cluster{Keys: keys, AuthPassword: hex.EncodeToString(pw)}
	hash, err := bcrypt.GenerateFromPassword([]byte(c.AuthPassword), bcrypt.MinCost)
	if err != nil {
		return nil, "", err
	}
	conf, err := natsauth.ServerConfig(keys.IssuerPublic, keys.XKeyPublic, string(hash))
	return c, conf, err
}

// startAuth starts an auth service beside node n, connected to n only.
func (c *Cluster) startAuth(n *Node, usersFile, prefix string) error {
	log := slog.New(slog.NewTextHandler(n.authLogs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc, err := natsauth.New(natsauth.Options{IssuerSeed: c.Keys.IssuerSeed, XKeySeed: c.Keys.XKeySeed,
		UsersFile: usersFile, TopicPrefix: prefix, Log: log})
	if err != nil {
		return err
	}
	nc, err := natsauth.Connect([]string{n.NATSURL()}, natsauth.AuthUser, c.AuthPassword, log)
	if err != nil {
		return fmt.Errorf("%s: auth service: %w", n.Name, err)
	}
	stop, err := svc.Start(nc)
	if err != nil {
		nc.Close()
		return fmt.Errorf("%s: auth service: %w", n.Name, err)
	}
	if !nc.IsConnected() {
		nc.Close()
		return fmt.Errorf("%s: auth service not connected; its log:\n%s", n.Name, n.authLogs.tail(5))
	}
	n.auth = &authService{nc: nc, stop: stop}
	return nil
}

// AuthLogs returns the logs of the auth services, one after the other. A node's requests may
// be answered by the service beside any node (they form one queue group).
func (c *Cluster) AuthLogs() string {
	var b strings.Builder
	for _, n := range c.Nodes {
		b.WriteString(n.authLogs.String())
	}
	return b.String()
}

// AuthLogged reports whether one line of an auth service's log contains every part.
func (c *Cluster) AuthLogged(parts ...string) bool {
	for _, line := range strings.Split(c.AuthLogs(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}

// nodeConfig moves the shipped configuration onto loopback ports and dir.
func nodeConfig(conf, name, dir string, clientPort, mqttPort, routePort int, routes []string) (string, error) {
	rep := []struct{ old, new string }{
		{"server_name: nats1", "server_name: " + name},
		{"listen: 127.0.0.1:4222", fmt.Sprintf("listen: 127.0.0.1:%d", clientPort)},
		{"listen: 0.0.0.0:1883", fmt.Sprintf("listen: 127.0.0.1:%d", mqttPort)},
		{"store_dir: /var/lib/nats", "store_dir: " + strconv.Quote(filepath.Join(dir, "jetstream"))},
		{"listen: 0.0.0.0:6222", fmt.Sprintf("listen: 127.0.0.1:%d", routePort)},
	}
	for _, r := range rep {
		if !strings.Contains(conf, r.old) {
			return "", fmt.Errorf("nats.conf has no %q to replace", r.old)
		}
		conf = strings.Replace(conf, r.old, r.new, 1)
	}
	start := strings.Index(conf, "routes: [")
	if start < 0 {
		return "", fmt.Errorf("nats.conf has no routes")
	}
	end := strings.Index(conf[start:], "]")
	conf = conf[:start] + "routes: [\n    " + strings.Join(routes, "\n    ") + "\n  " + conf[start+end:]
	return conf, nil
}

func (n *Node) start() error {
	o, err := server.ProcessConfigFile(n.conf)
	if err != nil {
		return fmt.Errorf("%s: %w", n.Name, err)
	}
	o.NoSigs = true
	srv, err := server.NewServer(o)
	if err != nil {
		return fmt.Errorf("%s: %w", n.Name, err)
	}
	srv.SetLoggerV2(n.logs, false, false, false)
	go srv.Start()
	if !srv.ReadyForConnections(20 * time.Second) {
		srv.Shutdown()
		return fmt.Errorf("%s: not ready for connections within 20s; its log ends:\n%s", n.Name, n.logs.tail(5))
	}
	n.mu.Lock()
	n.srv = srv
	n.mu.Unlock()
	return nil
}

// Kill stops node i: its clients' connections drop, its routes go, and the other nodes
// carry on (JetStream keeps a quorum of two of three).
func (c *Cluster) Kill(i int) {
	n := c.Nodes[i]
	n.mu.Lock()
	srv := n.srv
	n.srv = nil
	n.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Restart starts a killed node again on the same ports and store.
func (c *Cluster) Restart(i int) error {
	return c.Nodes[i].start()
}

// WaitReady waits until the running nodes agree on a JetStream meta leader.
func (c *Cluster) WaitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		leaders, current, running := 0, 0, 0
		for _, n := range c.Nodes {
			n.mu.Lock()
			srv := n.srv
			n.mu.Unlock()
			if srv == nil {
				continue
			}
			running++
			if srv.JetStreamIsLeader() {
				leaders++
			}
			if srv.JetStreamIsCurrent() {
				current++
			}
		}
		if leaders == 1 && current == running {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("natstest: no JetStream leader within %s (%d leaders, %d of %d current)", timeout, leaders, current, running)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Close stops the auth services and every node.
func (c *Cluster) Close() {
	for _, n := range c.Nodes {
		if n.auth != nil {
			n.auth.stop()
			n.auth.nc.Close()
			n.auth = nil
		}
	}
	for i := range c.Nodes {
		c.Kill(i)
	}
}

// Log returns node i's log.
func (c *Cluster) Log(i int) string { return c.Nodes[i].logs.String() }

// freePorts returns n distinct free loopback ports (held open until all are chosen).
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// logBuffer is a server.Logger that keeps the log in memory.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) logf(level, format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(&l.buf, "%s [%s] %s\n", time.Now().Format("15:04:05.000"), level, fmt.Sprintf(format, v...))
}

// Write makes a logBuffer a log/slog output.
func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) Noticef(format string, v ...any) { l.logf("INF", format, v...) }
func (l *logBuffer) Warnf(format string, v ...any)   { l.logf("WRN", format, v...) }
func (l *logBuffer) Fatalf(format string, v ...any)  { l.logf("FTL", format, v...) }
func (l *logBuffer) Errorf(format string, v ...any)  { l.logf("ERR", format, v...) }
func (l *logBuffer) Debugf(format string, v ...any)  { l.logf("DBG", format, v...) }
func (l *logBuffer) Tracef(format string, v ...any)  { l.logf("TRC", format, v...) }

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) tail(lines int) string {
	s := strings.Split(strings.TrimRight(l.String(), "\n"), "\n")
	if len(s) > lines {
		s = s[len(s)-lines:]
	}
	return strings.Join(s, "\n")
}
