// Package broker ships the production configuration of the fleet's mosquitto broker: the
// mosquitto.conf (per-device passwords on a loopback listener, TLS with client certificates
// as the production listener) and the ACL (pattern readwrite mirror/%u/#). The files are
// embedded so that tests run the real broker with exactly the shipped ACL.
package broker

import _ "embed"

// ACL is the shipped acl file.
//
//go:embed acl
var ACL string

// Config is the shipped mosquitto.conf.
//
//go:embed mosquitto.conf
var Config string

// Service accounts of the shipped ACL.
const (
	HubUser = "_hub"           // mirror-cloud
	OpsUser = "_ops"           // mirrorctl
	HAUser  = "_homeassistant" // Home Assistant (optional)
)
