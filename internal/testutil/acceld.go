package testutil

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

var acceldBuild struct {
	once sync.Once
	path string
	err  error
}

// AcceldBinary builds cmd/acceld once per test binary and returns its path.
func AcceldBinary(t testing.TB) string {
	t.Helper()
	acceldBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "accelq-acceld")
		if err != nil {
			acceldBuild.err = err
			return
		}
		acceldBuild.path = filepath.Join(dir, "acceld")
		out, err := exec.Command("go", "build", "-o", acceldBuild.path, "github.com/accelq/accelq/cmd/acceld").CombinedOutput()
		if err != nil {
			acceldBuild.err = fmt.Errorf("go build acceld: %v\n%s", err, out)
		}
	})
	if acceldBuild.err != nil {
		t.Fatal(acceldBuild.err)
	}
	return acceldBuild.path
}

// Daemon is a running acceld.
type Daemon struct {
	Socket string // the path it serves
	Cmd    *exec.Cmd
	done   chan error
}

// StartAcceld starts acceld with args on a temporary socket and waits until
// it accepts connections. At the end of the test it is stopped with SIGTERM
// and must exit cleanly.
func StartAcceld(t testing.TB, args ...string) *Daemon {
	t.Helper()
	bin := AcceldBinary(t)
	dir, err := os.MkdirTemp("", "accelq-sock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	d := &Daemon{Socket: filepath.Join(dir, "acceld.sock"), done: make(chan error, 1)}
	d.Cmd = exec.Command(bin, append([]string{"--socket", d.Socket}, args...)...)
	d.Cmd.Stderr = os.Stderr
	// If the test binary dies (a timeout, a crash), the daemon goes with it.
	d.Cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.Cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.Dial("unixpacket", d.Socket); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			d.Cmd.Process.Kill()
			t.Fatal("acceld did not start listening")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Cleanup(func() { d.Stop(t) })
	return d
}

// Stop sends SIGTERM and checks that acceld exited cleanly.
func (d *Daemon) Stop(t testing.TB) {
	if d.Cmd.ProcessState != nil {
		return
	}
	d.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("acceld exited with %v", err)
		}
	case <-time.After(30 * time.Second):
		d.Cmd.Process.Kill()
		t.Error("acceld did not exit on SIGTERM")
	}
}

// Kill kills acceld without letting it clean up.
func (d *Daemon) Kill() {
	d.Cmd.Process.Kill()
	<-d.done
}
