package archive_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/versity/versitygw/backend/meta"
	"github.com/versity/versitygw/backend/posix"
	"github.com/versity/versitygw/embedgw"

	"github.com/baybus/baybus/ledger/archive"
)

// gateway is a real S3-compatible server (versitygw's posix backend)
// embedded in this test binary on 127.0.0.1. versitygw allows one per
// process, and its posix backend works in its root as the process's
// working directory, so one serves every test, started on first use.
var gateway struct {
	once     sync.Once
	err      error
	endpoint string
	root     string
	stop     func()
}

const (
	s3Access = "baybus-test"
	s3Secret = "baybus-test-secret-0123456789"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if gateway.stop != nil {
		gateway.stop()
	}
	os.Exit(code)
}

// startGateway starts the shared server.
func startGateway(t *testing.T) (endpoint, root string) {
	t.Helper()
	gateway.once.Do(func() {
		root, err := os.MkdirTemp("", "baybus-s3-")
		if err != nil {
			gateway.err = err
			return
		}
		data, side := filepath.Join(root, "data"), filepath.Join(root, "meta")
		for _, d := range []string{data, side} {
			if err := os.Mkdir(d, 0o755); err != nil {
				gateway.err = err
				return
			}
		}
		sc, err := meta.NewSideCar(side)
		if err != nil {
			gateway.err = err
			return
		}
		be, err := posix.New(data, sc, posix.PosixOpts{SideCarDir: side})
		if err != nil {
			gateway.err = err
			return
		}
		// posix.New moved the process into data: its paths are relative
		// to it. The tests use absolute paths only.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			gateway.err = err
			return
		}
		addr := l.Addr().String()
		l.Close()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- embedgw.RunVersityGW(ctx, be, &embedgw.Config{
				RootUserAccess: s3Access, RootUserSecret: s3Secret,
				Ports: []string{addr}, MaxConnections: 64, MaxRequests: 64, MultipartMaxParts: 10000,
				Quiet: true, DisableACLs: true,
			})
		}()
		gateway.stop = func() {
			cancel()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
			}
			os.RemoveAll(root)
		}
		gateway.endpoint, gateway.root = addr, data
		// Ready once it answers a request.
		c, err := minio.New(addr, &minio.Options{Creds: credentials.NewStaticV4(s3Access, s3Secret, ""), Region: "us-east-1"})
		if err != nil {
			gateway.err = err
			return
		}
		for i := 0; ; i++ {
			select {
			case err := <-done:
				gateway.err = fmt.Errorf("versitygw stopped: %v", err)
				return
			default:
			}
			rctx, rcancel := context.WithTimeout(context.Background(), time.Second)
			_, err := c.ListBuckets(rctx)
			rcancel()
			if err == nil {
				break
			}
			if i == 200 {
				gateway.err = fmt.Errorf("versitygw on %s does not answer: %v", addr, err)
				return
			}
			time.Sleep(25 * time.Millisecond)
		}
	})
	if gateway.err != nil {
		t.Fatal(gateway.err)
	}
	return gateway.endpoint, gateway.root
}

// newBucket makes a fresh bucket on the shared server and returns an
// archive.S3 for it and the directory the posix backend keeps it in.
func newBucket(t *testing.T) (*archive.S3, string) {
	t.Helper()
	endpoint, root := startGateway(t)
	bucket := fmt.Sprintf("bb-%d", time.Now().UnixNano())
	c, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4(s3Access, s3Secret, ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.MakeBucket(context.Background(), bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	s, err := archive.NewS3(archive.S3Config{
		Endpoint: endpoint, Bucket: bucket, Prefix: "orderer-hk/", AccessKey: s3Access, SecretKey: s3Secret,
		Insecure: true, Transport: http.DefaultTransport,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, filepath.Join(root, bucket)
}
