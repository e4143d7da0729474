package userdrv

// A real TLS 1.3 handshake over loopback with crypto/tls, the server's
// certificate key a userdrv Signer (ECDSA P-256, RSA-2048 with RSA-PSS), on an
// embedded device and against a real acceld.

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tlsCountingSigner counts the signatures its Signer makes and remembers the
// options of the last.
type tlsCountingSigner struct {
	crypto.Signer
	n    atomic.Int64
	mu   sync.Mutex
	opts crypto.SignerOpts
}

func (s *tlsCountingSigner) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	s.n.Add(1)
	s.mu.Lock()
	s.opts = opts
	s.mu.Unlock()
	return s.Signer.Sign(rand, digest, opts)
}

func (s *tlsCountingSigner) lastOpts() crypto.SignerOpts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts
}

func TestTLSHandshake(t *testing.T) {
	k := sgKeys(t)
	for _, tg := range sgTargets() {
		t.Run(tg.name, func(t *testing.T) {
			d := tg.open(t)
			for _, c := range []struct {
				name string
				priv crypto.Signer
			}{{"ecdsa-p256", k.p256}, {"rsa-2048", k.rsa}} {
				t.Run(c.name, func(t *testing.T) {
					// Device only, and no software copy of the key: every signature
					// is the device's.
					q := newQueue(t, d, WithFallback(DeviceOnly))
					signer := &tlsCountingSigner{Signer: sgSigner(t, d, q, c.priv, WithoutSoftwareCopy())}
					cert := sgSelfSigned(t, signer, 0)
					certSigs := signer.n.Load()
					before := q.Stats()
					devBefore, err := q.DeviceStats()
					if err != nil {
						t.Fatal(err)
					}
					tlsRun(t, cert, signer)
					if n := signer.n.Load() - certSigs; n != 1 {
						t.Fatalf("%d handshake signatures by the Signer, want 1", n)
					}
					if _, rsaKey := c.priv.(*rsa.PrivateKey); rsaKey {
						if pss, ok := signer.lastOpts().(*rsa.PSSOptions); !ok || pss.SaltLength != rsa.PSSSaltLengthEqualsHash {
							t.Fatalf("TLS 1.3 signed with %#v, want RSA-PSS", signer.lastOpts())
						}
					}
					after := q.Stats()
					devAfter, err := q.DeviceStats()
					if err != nil {
						t.Fatal(err)
					}
					if after.Submitted != before.Submitted+1 || after.Fallbacks != 0 || after.Failed != 0 {
						t.Fatalf("queue stats before %+v after %+v: want one device job", before, after)
					}
					if devAfter.Completed != devBefore.Completed+1 {
						t.Fatalf("device completions %d -> %d, want one more", devBefore.Completed, devAfter.Completed)
					}
				})
			}
		})
	}
}

// tlsRun runs a TLS 1.3 server with cert and key over loopback, connects a
// client that trusts exactly cert, and exchanges data both ways.
func tlsRun(t *testing.T, cert *x509.Certificate, key crypto.Signer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srvConf := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}},
		MinVersion:   tls.VersionTLS13,
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	cliConf := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}

	const rounds, size = 5, 20000
	srvErr := make(chan error, 1)
	go func() {
		srvErr <- func() error {
			c, err := ln.Accept()
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			sc := tls.Server(c, srvConf)
			if err := sc.Handshake(); err != nil {
				return fmt.Errorf("server handshake: %w", err)
			}
			// Echo each message back with its bytes inverted.
			buf := make([]byte, size)
			for i := 0; i < rounds; i++ {
				if _, err := io.ReadFull(sc, buf); err != nil {
					return fmt.Errorf("server read: %w", err)
				}
				for j := range buf {
					buf[j] = ^buf[j]
				}
				if _, err := sc.Write(buf); err != nil {
					return fmt.Errorf("server write: %w", err)
				}
			}
			return sc.Close()
		}()
	}()

	conn, err := tls.Dial("tcp", ln.Addr().String(), cliConf)
	if err != nil {
		t.Fatalf("client handshake: %v (server: %v)", err, <-srvErr)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	cs := conn.ConnectionState()
	if cs.Version != tls.VersionTLS13 || !cs.HandshakeComplete {
		t.Fatalf("connection state: version %#x, handshake complete %v; want TLS 1.3", cs.Version, cs.HandshakeComplete)
	}
	if len(cs.PeerCertificates) != 1 || !cs.PeerCertificates[0].Equal(cert) {
		t.Fatal("the server did not present the certificate")
	}
	msg, back := make([]byte, size), make([]byte, size)
	for i := 0; i < rounds; i++ {
		for j := range msg {
			msg[j] = byte(i*31 + j*7)
		}
		if _, err := conn.Write(msg); err != nil {
			t.Fatalf("client write: %v", err)
		}
		if _, err := io.ReadFull(conn, back); err != nil {
			t.Fatalf("client read: %v", err)
		}
		for j := range back {
			back[j] = ^back[j]
		}
		if !bytes.Equal(back, msg) {
			t.Fatalf("round %d: the server's reply is wrong", i)
		}
	}
	if err := <-srvErr; err != nil {
		t.Fatal(err)
	}
}
