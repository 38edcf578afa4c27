package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"

	"github.com/fitmirror/fitmirror/cloud/fleet/broker/natsauth"
	"github.com/fitmirror/fitmirror/cmd/internal/cli"
	"github.com/fitmirror/fitmirror/cmd/internal/config"
)

// NATSAuthConfig is the configuration of `mirror-cloud nats-auth`, the NATS cluster's auth
// callout service (its own file, nats-auth.yaml, which `mirror-cloud nats-auth init` writes).
type NATSAuthConfig struct {
	Servers     []string  `yaml:"servers" help:"NATS client URLs of the node this service runs beside (nats.conf listen: loopback), and optionally of the others"`
	User        string    `yaml:"user" help:"the service's NATS user (auth_users in fitmirror-auth.conf)"`
	Password    string    `yaml:"password" help:"its NATS password (fitmirror-auth.conf holds its bcrypt hash)"`
	IssuerSeed  string    `yaml:"issuer_seed" help:"account nkey seed (SA…) that signs the users' JWTs; its public key is auth_callout.issuer"`
	XKeySeed    string    `yaml:"xkey_seed" help:"curve key seed (SX…) that decrypts requests and encrypts answers; its public key is auth_callout.xkey; empty = no encryption"`
	UsersFile   string    `yaml:"users_file" help:"fitmirror-users.conf (broker.NATSUsers format: every device's ID and bcrypt hash, and the service accounts); read again when it changes"`
	TopicPrefix string    `yaml:"topic_prefix" help:"the fleet's mqtt.topic_prefix: a device may use <prefix>/<its ID>/#"`
	Log         LogConfig `yaml:"log"`
}

func defaultNATSAuthConfig() NATSAuthConfig {
	return NATSAuthConfig{Servers: []string{"nats://127.0.0.1:4222"}, User: natsauth.AuthUser,
		UsersFile: "/etc/nats/fitmirror-users.conf", TopicPrefix: "mirror", Log: LogConfig{Level: "info", Format: "auto"}}
}

// Validate checks what the tags cannot.
func (c *NATSAuthConfig) Validate() error {
	switch {
	case len(c.Servers) == 0:
		return errors.New("servers: at least one NATS URL (nats://127.0.0.1:4222)")
	case c.User == "" || c.Password == "":
		return errors.New("user, password: the service's NATS login (mirror-cloud nats-auth init writes them)")
	case c.IssuerSeed == "":
		return errors.New("issuer_seed: required (mirror-cloud nats-auth init writes it)")
	case c.UsersFile == "":
		return errors.New("users_file: required")
	}
	return nil
}

// natsAuth runs "nats-auth" (the callout service) and "nats-auth init" (keys and files).
func natsAuth(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "init" {
		return natsAuthInit(args[1:], stdout, stderr)
	}
	fs := cli.NewFlagSet("mirror-cloud nats-auth", helps["nats-auth"], stderr)
	file := fs.String("config", "", "YAML configuration `file` (nats-auth.yaml)")
	var sets cli.SetFlags
	fs.Var(&sets, "set", "override one key, e.g. --set users_file=/etc/nats/fitmirror-users.conf (repeatable)")
	if err := parse(fs, args, 0, stdout); err != nil {
		return err
	}
	cfg := defaultNATSAuthConfig()
	if err := config.Load(&cfg, *file, sets); err != nil {
		return err
	}
	return runNATSAuth(ctx, &cfg, stderr)
}

// runNATSAuth serves authorization requests until ctx ends.
func runNATSAuth(ctx context.Context, cfg *NATSAuthConfig, stderr io.Writer) error {
	log := newLogger(cfg.Log, stderr)
	svc, err := natsauth.New(natsauth.Options{IssuerSeed: cfg.IssuerSeed, XKeySeed: cfg.XKeySeed,
		UsersFile: cfg.UsersFile, TopicPrefix: cfg.TopicPrefix, Log: log})
	if err != nil {
		return err
	}
	nc, err := natsauth.Connect(cfg.Servers, cfg.User, cfg.Password, log)
	if err != nil {
		return fmt.Errorf("nats-auth: %w", err)
	}
	defer nc.Close()
	stop, err := svc.Start(nc)
	if err != nil {
		return err
	}
	log.Info("nats-auth: serving", "issuer", svc.IssuerPublicKey(), "users_file", cfg.UsersFile, "servers", strings.Join(cfg.Servers, ","))
	<-ctx.Done()
	stop()
	log.Info("nats-auth: stopped")
	return nil
}

// natsAuthInit makes new keys and a password for the service and writes fitmirror-auth.conf
// (for nats.conf, every node) and nats-auth.yaml (the service's configuration, secret).
func natsAuthInit(args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("mirror-cloud nats-auth init", helps["nats-auth init"], stderr)
	dir := fs.String("dir", "", "`directory` to write fitmirror-auth.conf and nats-auth.yaml into (e.g. /etc/nats)")
	users := fs.String("users-file", "", "the users `file` the service reads (default: DIR/fitmirror-users.conf)")
	if err := parse(fs, args, 0, stdout); err != nil {
		return err
	}
	if *dir == "" {
		fmt.Fprintf(stderr, "mirror-cloud nats-auth init: --dir is required\n%s", usage())
		return errUsage
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	if *users == "" {
		*users = filepath.Join(abs, "fitmirror-users.conf")
	}
	serverConf, serviceConf, err := natsAuthFiles(*users)
	if err != nil {
		return err
	}
	confPath, yamlPath := filepath.Join(abs, "fitmirror-auth.conf"), filepath.Join(abs, "nats-auth.yaml")
	if err := writeNew(confPath, serverConf, 0o644); err != nil {
		return err
	}
	if err := writeNew(yamlPath, serviceConf, 0o600); err != nil {
		os.Remove(confPath)
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (include it in nats.conf; the same file on every node)\n", confPath)
	fmt.Fprintf(stdout, "wrote %s (secret: the same file beside every node; run mirror-cloud nats-auth --config %s)\n", yamlPath, yamlPath)
	return nil
}

// natsAuthFiles returns fitmirror-auth.conf and nats-auth.yaml for new keys and a new
// service password.
func natsAuthFiles(usersFile string) (serverConf, serviceConf []byte, err error) {
	keys, err := natsauth.NewKeys()
	if err != nil {
		return nil, nil, err
	}
	pw := make([]byte, 24)
	if _, err := rand.Read(pw); err != nil {
		return nil, nil, err
	}
	cfg := defaultNATSAuthConfig()
	cfg.Password = base64.RawURLEncoding.EncodeToString(pw)
	cfg.IssuerSeed, cfg.XKeySeed, cfg.UsersFile = keys.IssuerSeed, keys.XKeySeed, usersFile
	// The password is 192 random bits: no cost factor adds to that, and a low one keeps each
	// node's check of the service's login short (at cost 11 a busy node took seconds, long
	// enough for the service's connection to time out and start again).
	hash, err := bcrypt.GenerateFromPassword([]byte(cfg.Password), bcrypt.MinCost)
	if err != nil {
		return nil, nil, err
	}
	conf, err := natsauth.ServerConfig(keys.IssuerPublic, keys.XKeyPublic, string(hash))
	if err != nil {
		return nil, nil, err
	}
	y, err := yaml.Marshal(&cfg)
	if err != nil {
		return nil, nil, err
	}
	head := "# mirror-cloud nats-auth: the NATS cluster's auth callout service (written by\n" +
		"# mirror-cloud nats-auth init). Secret: the seeds sign every fleet login.\n"
	return []byte(conf), append([]byte(head), y...), nil
}

// writeNew writes a file that must not exist yet (keys are never overwritten by accident).
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("nats-auth init: %s exists; remove it to make new keys (then restart every node and service)", path)
		}
		return fmt.Errorf("nats-auth init: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("nats-auth init: %w", err)
	}
	return f.Close()
}
