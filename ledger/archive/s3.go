package archive

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config names a bucket of an S3-compatible store.
type S3Config struct {
	// Endpoint is host:port of the store, without a scheme.
	Endpoint string
	// Bucket must exist.
	Bucket string
	// Prefix is prepended to every object name ("baybus/orderer-hk/").
	// Default none.
	Prefix string
	// AccessKey and SecretKey are the store's static credentials.
	AccessKey, SecretKey string
	// Region. Default "us-east-1".
	Region string
	// Insecure talks plain HTTP instead of HTTPS: only for a store on
	// loopback. Default false.
	Insecure bool
	// Transport, if set, carries the requests (a custom TLS root, say).
	Transport http.RoundTripper
}

// S3 keeps objects in a bucket of an S3-compatible store, through
// github.com/minio/minio-go/v7. A Put returns once the store acknowledged
// the whole object, whose MD5 the client sends and the store checks.
type S3 struct {
	c      *minio.Client
	bucket string
	prefix string
}

var _ Objects = (*S3)(nil)

// NewS3 returns the bucket's store. It does not touch the network.
func NewS3(cfg S3Config) (*S3, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return nil, fmt.Errorf("%w: S3 needs an endpoint and a bucket", ErrConfig)
	}
	if strings.Contains(cfg.Endpoint, "://") {
		return nil, fmt.Errorf("%w: S3 endpoint %q: give host:port, and Insecure for plain HTTP", ErrConfig, cfg.Endpoint)
	}
	region := cfg.Region
	if region == "" {
		region = "us-east-1"
	}
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:    !cfg.Insecure,
		Region:    region,
		Transport: cfg.Transport,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: S3: %w", ErrConfig, err)
	}
	return &S3{c: c, bucket: cfg.Bucket, prefix: cfg.Prefix}, nil
}

// Put implements Objects.
func (s *S3) Put(ctx context.Context, name string, data []byte) error {
	_, err := s.c.PutObject(ctx, s.bucket, s.prefix+name, bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{ContentType: "application/octet-stream", SendContentMd5: true})
	if err != nil {
		return fmt.Errorf("archive: S3 put %s/%s%s: %w", s.bucket, s.prefix, name, err)
	}
	return nil
}

// Get implements Objects.
func (s *S3) Get(ctx context.Context, name string) ([]byte, error) {
	o, err := s.c.GetObject(ctx, s.bucket, s.prefix+name, minio.GetObjectOptions{})
	if err == nil {
		defer o.Close()
		var b []byte
		if b, err = io.ReadAll(o); err == nil {
			return b, nil
		}
	}
	if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
		return nil, fmt.Errorf("%w: %s/%s%s", ErrNotFound, s.bucket, s.prefix, name)
	}
	return nil, fmt.Errorf("archive: S3 get %s/%s%s: %w", s.bucket, s.prefix, name, err)
}

// List implements Objects.
func (s *S3) List(ctx context.Context, prefix string) ([]string, error) {
	var names []string
	for o := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("archive: S3 list %s/%s%s: %w", s.bucket, s.prefix, prefix, o.Err)
		}
		names = append(names, strings.TrimPrefix(o.Key, s.prefix))
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("archive: S3 list %s/%s%s: %w", s.bucket, s.prefix, prefix, err) // the listing may be partial
	}
	sort.Strings(names)
	return names, nil
}
