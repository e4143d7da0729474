package driver

import (
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/accelq/accelq/device"
)

// stuckDaemon listens on a socket and answers the version handshake, then reads
// requests and never answers them: a daemon wedged in a control request. With
// answerHello false it does not answer the handshake either.
func stuckDaemon(t *testing.T, answerHello bool) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "stuck.sock")
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := l.AcceptUnix()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, MaxCtlMessage)
		for first := true; ; first = false {
			n, err := c.Read(buf)
			if err != nil {
				return // the client hung up
			}
			if !first || !answerHello {
				continue
			}
			h, _, err := parseHeader(buf[:n])
			if err != nil {
				t.Errorf("stuck daemon: %v", err)
				return
			}
			var b builder
			(&helloReply{Version: CtlVersion}).encode(&b)
			rep := make([]byte, ctlHeaderSize, ctlHeaderSize+len(b))
			putHeader(rep, ctlHeader{Type: h.Type | ctlReply, Seq: h.Seq, Length: uint16(len(b))})
			if _, err := c.Write(append(rep, b...)); err != nil {
				t.Errorf("stuck daemon: %v", err)
				return
			}
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return path
}

// TestConnTimeout: a daemon that stops answering costs the client an error
// naming the request, the Conn is closed so that a late reply cannot be taken
// for the next request's, and no goroutine is left waiting.
func TestConnTimeout(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	t.Run("hello", func(t *testing.T) {
		_, err := Dial(stuckDaemon(t, false), WithCallTimeout(50*time.Millisecond))
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("Dial to a daemon that does not answer: %v, want ErrTimeout", err)
		}
		t.Log(err)
	})
	t.Run("request", func(t *testing.T) {
		cn, err := Dial(stuckDaemon(t, true), WithCallTimeout(50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		defer cn.Close()
		if !cn.Alive() {
			t.Fatal("connection reported dead before the timeout")
		}
		start := time.Now()
		_, err = cn.ImportKey(device.KeyAES, make([]byte, 16))
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("request to a stuck daemon: %v, want ErrTimeout", err)
		}
		t.Logf("%v after %v", err, time.Since(start))
		if _, err := cn.Info(); !errors.Is(err, ErrTimeout) {
			t.Fatalf("request after a timeout: %v, want ErrTimeout", err)
		}
		if cn.Alive() {
			t.Fatal("connection reported alive after a timeout closed it")
		}
		if err := cn.Close(); err != nil {
			t.Fatalf("Close after a timeout closed the connection: %v", err)
		}
	})
}

// TestConnDeadlinePerRequest: the deadline is per request, so a connection
// idle for longer than the timeout still works.
func TestConnDeadlinePerRequest(t *testing.T) {
	path, _ := startServer(t, nil)
	cn, err := Dial(path, WithCallTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cn.Close()
	time.Sleep(300 * time.Millisecond)
	if _, err := cn.Info(); err != nil {
		t.Fatalf("request after an idle spell longer than the timeout: %v", err)
	}
}
