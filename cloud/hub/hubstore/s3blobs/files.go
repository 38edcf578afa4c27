package s3blobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/minio/minio-go/v7"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
)

// Files keeps large files (releases) in the same bucket, streamed both ways: an upload goes
// in parts, and a read asks the bucket for the range it needs.
func (b *Bucket) Files() hubstore.Files { return bucketFiles{b} }

type bucketFiles struct{ b *Bucket }

func (f bucketFiles) Create(ctx context.Context, key string, r io.Reader, size int64) (string, error) {
	h := sha256.New()
	info, err := f.b.c.PutObject(ctx, f.b.bucket, f.b.key(key), io.TeeReader(r, h), size,
		minio.PutObjectOptions{ContentType: "application/vnd.debian.binary-package", PartSize: 16 << 20})
	if err != nil {
		return "", fmt.Errorf("hub: store %s in %s: %w", key, f.b.where, err)
	}
	if info.Size != size {
		f.Delete(ctx, key)
		return "", fmt.Errorf("hub: %s: stored %d bytes, want %d", key, info.Size, size)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

type object struct {
	*minio.Object
	size int64
}

func (o object) Size() int64 { return o.size }

func (f bucketFiles) Open(ctx context.Context, key string) (hubstore.File, error) {
	obj, err := f.b.c.GetObject(ctx, f.b.bucket, f.b.key(key), minio.GetObjectOptions{})
	if err != nil {
		return nil, f.b.getErr(err)
	}
	st, err := obj.Stat()
	if err != nil {
		obj.Close()
		return nil, f.b.getErr(err)
	}
	return object{obj, st.Size}, nil
}

func (f bucketFiles) Delete(ctx context.Context, key string) error { return f.b.Delete(ctx, key) }
