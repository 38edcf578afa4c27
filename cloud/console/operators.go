package console

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
)

// Roles are the operator roles, least allowed first.
var Roles = []string{hubstore.RoleViewer, hubstore.RoleOperator, hubstore.RoleAdmin}

// roleLevel orders the roles: each may do what the ones below it may.
var roleLevel = map[string]int{hubstore.RoleViewer: 1, hubstore.RoleOperator: 2, hubstore.RoleAdmin: 3}

// OperatorNameRule is what an operator name may be.
const OperatorNameRule = `^[a-z0-9][a-z0-9._-]{0,63}$`

var operatorNameRE = regexp.MustCompile(OperatorNameRule)

// MinPassword is the shortest password an operator may be given.
const MinPassword = 12

// bcryptCost is the work factor of the password hashes.
const bcryptCost = 11

// CheckOperator checks a new operator's name and role.
func CheckOperator(name, role string) error {
	if !operatorNameRE.MatchString(name) {
		return fmt.Errorf("operator name %q: want lower-case letters, digits, '.', '_' or '-', at most 64, starting with a letter or digit", name)
	}
	if roleLevel[role] == 0 {
		return fmt.Errorf("operator role %q: want viewer, operator or admin", role)
	}
	return nil
}

// GeneratePassword returns a random password (26 characters of base32, 130 bits).
func GeneratePassword() string { return rand.Text() }

// hashPassword checks the password's length and returns its bcrypt hash.
func hashPassword(pw string) (string, error) {
	if len(pw) < MinPassword {
		return "", fmt.Errorf("password: at least %d characters, got %d", MinPassword, len(pw))
	}
	if len(pw) > 72 {
		return "", errors.New("password: at most 72 bytes (bcrypt's limit)")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcryptCost)
	return string(h), err
}

// AddOperator stores a new operator with the password (GeneratePassword when empty) and
// returns the password.
func AddOperator(ctx context.Context, st hubstore.ConsoleStore, name, role, password string, now time.Time) (string, error) {
	if err := CheckOperator(name, role); err != nil {
		return "", err
	}
	if password == "" {
		password = GeneratePassword()
	}
	h, err := hashPassword(password)
	if err != nil {
		return "", err
	}
	if err := st.AddOperator(ctx, hubstore.Operator{Name: name, Role: role, Hash: h, CreatedAt: now}); err != nil {
		if errors.Is(err, hubstore.ErrExists) {
			return "", fmt.Errorf("operator %q exists already (operator passwd changes the password)", name)
		}
		return "", err
	}
	return password, nil
}

// SetPassword gives an operator a new password (GeneratePassword when empty), ends its
// sessions and returns the password.
func SetPassword(ctx context.Context, st hubstore.ConsoleStore, name, password string) (string, error) {
	if password == "" {
		password = GeneratePassword()
	}
	h, err := hashPassword(password)
	if err != nil {
		return "", err
	}
	if err := st.SetOperatorHash(ctx, name, h); err != nil {
		if errors.Is(err, hubstore.ErrNotFound) {
			return "", fmt.Errorf("no operator %q", name)
		}
		return "", err
	}
	return password, nil
}

// dummyHash is compared against when the name is unknown, so that a login takes as long
// for a name that does not exist as for a wrong password.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("not a password of anyone"), bcryptCost)

// checkPassword returns the operator if name and password match.
func checkPassword(ctx context.Context, st hubstore.ConsoleStore, name, password string) (hubstore.Operator, bool, error) {
	o, err := st.Operator(ctx, name)
	if errors.Is(err, hubstore.ErrNotFound) {
		bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return o, false, nil
	}
	if err != nil {
		return o, false, err
	}
	return o, bcrypt.CompareHashAndPassword([]byte(o.Hash), []byte(password)) == nil, nil
}
