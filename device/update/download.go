package update

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"aead.dev/minisign"

	"github.com/fitmirror/fitmirror/internal/debpkg"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// download fetches url into part with the device token, resuming what an earlier attempt
// left (a Range request), and renames it to dst once size bytes are there. A connection cut
// short is resumed up to attempts times; what it got stays for the next command with the
// same release. On a write error (a full disk) or a release that cannot be right the partial
// file is removed.
func (u *Updater) download(ctx context.Context, url, part, dst string, size int64) error {
	var last error
	for attempt := 0; attempt < u.opts.Attempts; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(u.opts.RetryAfter):
			}
		}
		done, err := u.fetch(ctx, url, part, size)
		if err == nil && done {
			if err := os.Rename(part, dst); err != nil {
				return err
			}
			return syncDir(u.st.dir)
		}
		var final *wire.Error
		if errors.As(err, &final) || errors.Is(err, errDiskFull) || ctx.Err() != nil {
			if final != nil || errors.Is(err, errDiskFull) {
				os.Remove(part)
			}
			return err
		}
		last = err
		u.log.Info("update download cut short: resuming", "url", url, "attempt", attempt+1, "err", err)
	}
	return fmt.Errorf("download %s: %w (after %d attempts; the next update command for this release resumes it)", url, last, u.opts.Attempts)
}

var errDiskFull = errors.New("disk full")

// fetch makes one request, from what part already holds; done when part has size bytes.
func (u *Updater) fetch(ctx context.Context, url, part string, size int64) (done bool, err error) {
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return false, fmt.Errorf("%w: %w", errDiskFull, err)
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return false, err
	}
	if have > size {
		have = 0
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer "+u.opts.Token)
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	resp, err := u.opts.HTTPClient.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusPartialContent:
		if !strings.HasPrefix(resp.Header.Get("Content-Range"), "bytes "+strconv.FormatInt(have, 10)+"-") {
			f.Truncate(0) // not the range asked for: start again
			return false, fmt.Errorf("the hub answered the range %q for bytes=%d-", resp.Header.Get("Content-Range"), have)
		}
	case http.StatusOK:
		have = 0
	case http.StatusRequestedRangeNotSatisfiable:
		f.Truncate(0)
		return false, fmt.Errorf("the hub has no bytes from %d (416): starting again", have)
	case http.StatusNotFound:
		return false, wire.BadArgs("url: the hub has no such release (404)")
	case http.StatusUnauthorized, http.StatusForbidden:
		return false, &wire.Error{Code: wire.CodeFailed, Message: fmt.Sprintf("the hub refused the device token (%s)", resp.Status)}
	default:
		return false, fmt.Errorf("the hub answered %s", resp.Status)
	}
	if err := f.Truncate(have); err != nil {
		return false, err
	}
	if _, err := f.Seek(have, io.SeekStart); err != nil {
		return false, err
	}
	n, err := copyLimited(f, resp.Body, size-have+1)
	if werr := (*writeError)(nil); errors.As(err, &werr) {
		return false, fmt.Errorf("%w: writing %s: %w", errDiskFull, part, werr.err)
	}
	if have+n > size {
		return false, &wire.Error{Code: wire.CodeBadChecksum, Message: fmt.Sprintf("size: the release is larger than %d bytes", size)}
	}
	if err := f.Sync(); err != nil {
		return false, fmt.Errorf("%w: writing %s: %w", errDiskFull, part, err)
	}
	if have+n < size {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return false, fmt.Errorf("got %d of %d bytes: %w", have+n, size, err)
	}
	return true, nil
}

type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }

// copyLimited copies at most limit bytes; a write error comes back as a *writeError.
func copyLimited(w io.Writer, r io.Reader, limit int64) (int64, error) {
	buf := make([]byte, 64<<10)
	var n int64
	r = io.LimitReader(r, limit)
	for {
		k, rerr := r.Read(buf)
		if k > 0 {
			if _, err := w.Write(buf[:k]); err != nil {
				return n, &writeError{err}
			}
			n += int64(k)
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// diskFullMessage says what a write error was, naming the directory.
func diskFullMessage(dir string, err error) string {
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Sprintf("disk full in %s: the partial download was removed and nothing was installed", dir)
	}
	return fmt.Sprintf("%v; the partial download was removed and nothing was installed", err)
}

// verify checks the file's size, sha256 and minisign signature against the keys, all before
// anything reads the file as a package.
func verify(path string, size int64, sum string, sig []byte, keys []minisign.PublicKey) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	v, err := debpkg.Verify(f, string(sig), keys)
	switch {
	case v.Size == 0 && err != nil && !errors.Is(err, debpkg.ErrBadSignature):
		return err
	case v.Size != size:
		return &wire.Error{Code: wire.CodeBadChecksum, Message: fmt.Sprintf("size: the release has %d bytes, not %d", v.Size, size)}
	case v.SHA256 != strings.ToLower(sum):
		return &wire.Error{Code: wire.CodeBadChecksum, Message: fmt.Sprintf("sha256: the release's is %s, not %s", v.SHA256, strings.ToLower(sum))}
	case err != nil:
		return &wire.Error{Code: wire.CodeBadSignature, Message: "signature: " + strings.TrimPrefix(err.Error(), debpkg.ErrBadSignature.Error()+": ")}
	}
	return nil
}
