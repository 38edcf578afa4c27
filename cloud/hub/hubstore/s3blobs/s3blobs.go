// Package s3blobs keeps the hub's photo bytes in an S3-compatible bucket (minio-go), where
// every replica reads them. s3test runs a server for its tests.
package s3blobs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"path"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
)

// Bucket keeps the photos in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, OSS/COS in
// S3 mode), where every replica reads them: the database then holds only their metadata.
type Bucket struct {
	c      *minio.Client
	bucket string
	prefix string
	where  string
}

var _ hubstore.Blobs = (*Bucket)(nil)

// Open connects to the bucket that url names and checks that it exists:
//
//	s3://ACCESS_KEY:SECRET_KEY@host[:port]/bucket[/prefix][?tls=false&region=…]
//
// TLS unless tls=false (a MinIO on a private network); without keys in the URL, the
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY environment variables.
func Open(ctx context.Context, rawURL string) (*Bucket, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return nil, fmt.Errorf("photos.url: want s3://key:secret@host/bucket[/prefix], got %q", redactedURL(rawURL))
	}
	bucket, prefix, _ := strings.Cut(strings.Trim(u.Path, "/"), "/")
	if bucket == "" {
		return nil, fmt.Errorf("photos.url: %q names no bucket (s3://host/bucket)", redactedURL(rawURL))
	}
	creds := credentials.NewEnvAWS()
	if u.User != nil {
		secret, _ := u.User.Password()
		creds = credentials.NewStaticV4(u.User.Username(), secret, "")
	}
	q := u.Query()
	c, err := minio.New(u.Host, &minio.Options{Creds: creds, Secure: q.Get("tls") != "false", Region: q.Get("region")})
	if err != nil {
		return nil, fmt.Errorf("photos.url: %w", err)
	}
	b := &Bucket{c: c, bucket: bucket, prefix: prefix, where: u.Host + "/" + bucket}
	if err := b.Ping(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

func redactedURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable)"
	}
	return u.Redacted()
}

// Ping checks that the bucket answers and exists (for /healthz).
func (b *Bucket) Ping(ctx context.Context) error {
	ok, err := b.c.BucketExists(ctx, b.bucket)
	if err != nil {
		return fmt.Errorf("photos bucket %s: %w", b.where, err)
	}
	if !ok {
		return fmt.Errorf("photos bucket %s does not exist", b.where)
	}
	return nil
}

// String names the bucket (without credentials).
func (b *Bucket) String() string { return "s3://" + b.where }

func (b *Bucket) key(k string) string { return path.Join(b.prefix, k) }

func (b *Bucket) Put(ctx context.Context, key string, data []byte) error {
	_, err := b.c.PutObject(ctx, b.bucket, b.key(key), bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{ContentType: "image/jpeg"})
	if err != nil {
		return fmt.Errorf("hub: store photo bytes in %s: %w", b.where, err)
	}
	return nil
}

func (b *Bucket) Get(ctx context.Context, key string) ([]byte, error) {
	obj, err := b.c.GetObject(ctx, b.bucket, b.key(key), minio.GetObjectOptions{})
	if err != nil {
		return nil, b.getErr(err)
	}
	defer obj.Close()
	data, err := io.ReadAll(obj)
	if err != nil {
		return nil, b.getErr(err)
	}
	return data, nil
}

func (b *Bucket) getErr(err error) error {
	if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
		return hubstore.ErrNotFound
	}
	return fmt.Errorf("hub: read photo bytes from %s: %w", b.where, err)
}

func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := b.c.RemoveObject(ctx, b.bucket, b.key(key), minio.RemoveObjectOptions{}); err != nil &&
		minio.ToErrorResponse(err).Code != minio.NoSuchKey {
		return fmt.Errorf("hub: delete photo bytes from %s: %w", b.where, err)
	}
	return nil
}
