package userdrv

// A real acceld process for cross-process tests and benchmarks, built once per
// test binary.

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

func acceldBinary(t testing.TB) string {
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

// daemon is a running acceld.
type daemon struct {
	cmd    *exec.Cmd
	socket string
	done   chan error
}

// startDaemon starts acceld with args and waits until it accepts connections.
func startDaemon(t testing.TB, args ...string) *daemon {
	t.Helper()
	bin := acceldBinary(t)
	dir, err := os.MkdirTemp("", "accelq-sock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	d := &daemon{socket: filepath.Join(dir, "acceld.sock"), done: make(chan error, 1)}
	d.cmd = exec.Command(bin, append([]string{"--socket", d.socket}, args...)...)
	d.cmd.Stderr = os.Stderr
	// If the test binary dies (a timeout, a crash), the daemon goes with it.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.Dial("unixpacket", d.socket); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			d.cmd.Process.Kill()
			t.Fatal("acceld did not start listening")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Cleanup(func() { d.stop(t) })
	return d
}

// stop sends SIGTERM and checks that acceld exited cleanly.
func (d *daemon) stop(t testing.TB) {
	if d.cmd.ProcessState != nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("acceld exited with %v", err)
		}
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		t.Error("acceld did not exit on SIGTERM")
	}
}

// kill kills acceld without letting it clean up.
func (d *daemon) kill() {
	d.cmd.Process.Kill()
	<-d.done
}
