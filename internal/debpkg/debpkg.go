// Package debpkg reads what a Debian binary package (.deb) says about itself — its control
// fields — without unpacking it or holding it in memory, and compares Debian versions.
//
// A .deb is an ar archive of debian-binary ("2.0\n"), control.tar[.gz|.xz|.zst] and
// data.tar[…] (deb(5)). Only the control member is read.
package debpkg

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// maxControl bounds the control archive a package may carry (dpkg's own are a few KB).
const maxControl = 4 << 20

// Control is the fields of a package's control file that matter here.
type Control struct {
	Package      string
	Version      string
	Architecture string
}

// ReadControl reads the control fields of the .deb r. Errors name what is wrong: not an ar
// archive, not a Debian package, no control member, a control file without the fields.
func ReadControl(r io.Reader) (Control, error) {
	br := bufio.NewReader(r)
	magic := make([]byte, 8)
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != "!<arch>\n" {
		return Control{}, errors.New("not a Debian package (no ar archive header)")
	}
	for i := 0; ; i++ {
		name, size, err := arHeader(br)
		if err != nil {
			return Control{}, err
		}
		body := io.LimitReader(br, size)
		switch {
		case i == 0:
			b, _ := io.ReadAll(io.LimitReader(body, 16))
			if name != "debian-binary" || !strings.HasPrefix(string(b), "2.") {
				return Control{}, fmt.Errorf("not a Debian package (first member %q, want debian-binary 2.x)", name)
			}
		case strings.HasPrefix(name, "control.tar"):
			if size > maxControl {
				return Control{}, fmt.Errorf("%s is %d bytes, more than %d", name, size, maxControl)
			}
			return controlFrom(name, body)
		case strings.HasPrefix(name, "data.tar"):
			return Control{}, errors.New("no control.tar member before data.tar")
		}
		if _, err := io.Copy(io.Discard, body); err != nil {
			return Control{}, fmt.Errorf("truncated member %s: %w", name, err)
		}
		if size%2 == 1 { // members are padded to an even size
			br.ReadByte()
		}
	}
}

// arHeader reads one 60-byte ar member header.
func arHeader(r io.Reader) (string, int64, error) {
	h := make([]byte, 60)
	if _, err := io.ReadFull(r, h); err != nil {
		if errors.Is(err, io.EOF) {
			return "", 0, errors.New("no control.tar member")
		}
		return "", 0, fmt.Errorf("truncated ar header: %w", err)
	}
	if string(h[58:60]) != "`\n" {
		return "", 0, errors.New("corrupt ar member header")
	}
	name := strings.TrimSuffix(strings.TrimSpace(string(h[0:16])), "/")
	size, err := strconv.ParseInt(strings.TrimSpace(string(h[48:58])), 10, 64)
	if err != nil || size < 0 {
		return "", 0, fmt.Errorf("ar member %q: bad size %q", name, strings.TrimSpace(string(h[48:58])))
	}
	return name, size, nil
}

// controlFrom finds ./control in the control archive name and parses it.
func controlFrom(name string, body io.Reader) (Control, error) {
	var zr io.Reader
	switch name {
	case "control.tar":
		zr = body
	case "control.tar.gz":
		g, err := gzip.NewReader(body)
		if err != nil {
			return Control{}, fmt.Errorf("%s: %w", name, err)
		}
		zr = g
	case "control.tar.xz":
		x, err := xz.NewReader(body)
		if err != nil {
			return Control{}, fmt.Errorf("%s: %w", name, err)
		}
		zr = x
	case "control.tar.zst":
		z, err := zstd.NewReader(body, zstd.WithDecoderMaxMemory(64<<20))
		if err != nil {
			return Control{}, fmt.Errorf("%s: %w", name, err)
		}
		defer z.Close()
		zr = z
	default:
		return Control{}, fmt.Errorf("unknown control member %q", name)
	}
	tr := tar.NewReader(io.LimitReader(zr, maxControl))
	for {
		h, err := tr.Next()
		if err != nil {
			return Control{}, fmt.Errorf("%s: no control file (%v)", name, err)
		}
		if strings.TrimPrefix(h.Name, "./") != "control" {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(tr, 1<<20))
		if err != nil {
			return Control{}, fmt.Errorf("%s: control: %w", name, err)
		}
		return parseControl(b)
	}
}

// parseControl reads the fields of a control file (deb822: "Field: value" lines, continuation
// lines start with a space).
func parseControl(b []byte) (Control, error) {
	var c Control
	for _, line := range bytes.Split(b, []byte("\n")) {
		k, v, ok := strings.Cut(string(line), ":")
		if !ok || strings.HasPrefix(k, " ") || strings.HasPrefix(k, "\t") {
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.ToLower(k) {
		case "package":
			c.Package = v
		case "version":
			c.Version = v
		case "architecture":
			c.Architecture = v
		}
	}
	switch {
	case c.Package == "":
		return c, errors.New("control file has no Package field")
	case c.Version == "":
		return c, errors.New("control file has no Version field")
	case c.Architecture == "":
		return c, errors.New("control file has no Architecture field")
	}
	if err := ValidVersion(c.Version); err != nil {
		return c, err
	}
	return c, nil
}
