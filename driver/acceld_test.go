package driver

// A real acceld process for the hostile-client suite (hostile_test.go). The test
// binary builds cmd/acceld once, starts one daemon per test on a temporary socket
// with a policy file the test writes, and stops it with SIGTERM at the end of the
// test, failing the test unless the daemon was alive until then and exited 0.
// Under -race the daemon is built with -race too, so a data race in it fails the
// test through its exit status.
//
// The test binary also re-executes itself as a client process that a test can
// SIGKILL with jobs in flight (see runChild).

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/accelq/accelq/internal/unix"
	"github.com/accelq/accelq/ring"
)

const (
	// childRoleEnv makes the test binary run as a child client instead of the tests.
	childRoleEnv = "ACCELQ_DRIVER_TEST_CHILD"
	// childSocketEnv is the daemon socket the child dials.
	childSocketEnv = "ACCELQ_DRIVER_TEST_SOCKET"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(childRoleEnv); role != "" {
		os.Exit(runChild(role, os.Getenv(childSocketEnv)))
	}
	code := m.Run()
	if acceldDir != "" {
		os.RemoveAll(acceldDir)
	}
	os.Exit(code)
}

var (
	acceldOnce sync.Once
	acceldDir  string
	acceldPath string
	acceldErr  error
)

// raceEnabled reports whether this test binary was built with -race.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}

// acceldBinary builds cmd/acceld once per test binary and returns its path.
func acceldBinary(t testing.TB) string {
	t.Helper()
	acceldOnce.Do(func() {
		if acceldDir, acceldErr = os.MkdirTemp("", "accelq-acceld-"); acceldErr != nil {
			return
		}
		acceldPath = filepath.Join(acceldDir, "acceld")
		args := []string{"build", "-o", acceldPath}
		if raceEnabled() {
			args = append(args, "-race")
		}
		args = append(args, "github.com/accelq/accelq/cmd/acceld")
		goTool, err := exec.LookPath("go") // go test puts its own GOROOT/bin first in PATH
		if err != nil {
			acceldErr = err
			return
		}
		start := time.Now()
		out, err := exec.Command(goTool, args...).CombinedOutput()
		if err != nil {
			acceldErr = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
			return
		}
		if testing.Verbose() {
			fmt.Fprintf(os.Stderr, "built acceld in %v (race %v)\n", time.Since(start).Round(time.Millisecond), raceEnabled())
		}
	})
	if acceldErr != nil {
		t.Fatalf("building acceld: %v", acceldErr)
	}
	return acceldPath
}

// logBuffer collects a daemon's stderr.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// daemon is a running acceld.
type daemon struct {
	sock    string
	cmd     *exec.Cmd
	pid     int
	log     *logBuffer
	exited  chan struct{}
	err     error // Wait's result, valid once exited is closed
	stopped bool
}

// startDaemon starts acceld with the ideal profile and, unless policy is empty,
// the given policy file contents. It returns once the daemon listens. The
// daemon is stopped (and its exit status checked) when the test ends.
func startDaemon(t testing.TB, policy string) *daemon {
	t.Helper()
	bin := acceldBinary(t)
	// The socket path must fit in sun_path (108 bytes): keep it short.
	dir, err := os.MkdirTemp("", "aq")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	d := &daemon{sock: filepath.Join(dir, "acceld.sock"), log: &logBuffer{}, exited: make(chan struct{})}
	args := []string{"--socket", d.sock, "--profile", "ideal", "--mode", "0600"}
	if policy != "" {
		pf := filepath.Join(dir, "policy.json")
		if err := os.WriteFile(pf, []byte(policy), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--policy", pf)
	}
	d.cmd = exec.Command(bin, args...)
	// A -race daemon otherwise sleeps a second at exit.
	d.cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0 "+os.Getenv("GORACE"))
	// The daemon dies with the test binary, whatever happens to it.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start acceld: %v", err)
	}
	d.pid = d.cmd.Process.Pid
	ready := make(chan struct{})
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			d.log.Write([]byte(line + "\n"))
			if strings.Contains(line, "msg=serving") {
				once.Do(func() { close(ready) })
			}
		}
		io.Copy(d.log, stderr)
	}()
	go func() {
		<-logDone // Wait closes the pipe: read everything first
		d.err = d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() { d.stop(t) })
	select {
	case <-ready:
	case <-d.exited:
		d.stopped = true
		t.Fatalf("acceld exited at start: %v\n%s", d.err, d.log)
	case <-time.After(60 * time.Second):
		t.Fatalf("acceld did not start serving within a minute\n%s", d.log)
	}
	return d
}

// alive fails the test if the daemon has exited.
func (d *daemon) alive(t testing.TB) {
	t.Helper()
	select {
	case <-d.exited:
		t.Fatalf("acceld died: %v\n%s", d.err, d.log)
	default:
	}
}

// stop sends SIGTERM and checks that the daemon was alive until now, exits
// promptly with status 0 and logged neither a panic nor a data race.
func (d *daemon) stop(t testing.TB) {
	t.Helper()
	if d.stopped {
		return
	}
	d.stopped = true
	select {
	case <-d.exited:
		t.Errorf("acceld died before the end of the test: %v\n%s", d.err, d.log)
		return
	default:
	}
	start := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM: %v", err)
	}
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
		t.Errorf("acceld did not exit within 30 s of SIGTERM; killed\n%s", d.log)
		return
	}
	log := d.log.String()
	if d.err != nil {
		t.Errorf("acceld exited with %v after SIGTERM\n%s", d.err, log)
	}
	for _, bad := range []string{"panic:", "DATA RACE", "fatal error:"} {
		if strings.Contains(log, bad) {
			t.Errorf("acceld logged %q:\n%s", bad, log)
		}
	}
	if _, err := os.Lstat(d.sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("acceld left its socket behind: %v", err)
	}
	t.Logf("acceld stopped in %v, exit status 0", time.Since(start).Round(time.Millisecond))
}

// fds returns the number of descriptors the daemon has open.
func (d *daemon) fds(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(d.pid) + "/fd")
	if err != nil {
		d.alive(t)
		t.Fatal(err)
	}
	return len(ents)
}

// memfdMaps returns the number of the daemon's mappings backed by a memfd: the
// registered regions and rings of its clients.
func (d *daemon) memfdMaps(t testing.TB) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(d.pid) + "/maps")
	if err != nil {
		d.alive(t)
		t.Fatal(err)
	}
	return strings.Count(string(b), "memfd:")
}

// resources is what a daemon holds for its clients.
type resources struct{ fds, memfdMaps int }

func (d *daemon) resources(t testing.TB) resources {
	return resources{fds: d.fds(t), memfdMaps: d.memfdMaps(t)}
}

// settle waits until the daemon's descriptors and memfd mappings stop changing
// (connections being torn down) and returns them.
func (d *daemon) settle(t testing.TB) resources {
	t.Helper()
	prev := d.resources(t)
	stable := 0
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && stable < 5; {
		time.Sleep(20 * time.Millisecond)
		cur := d.resources(t)
		if cur == prev {
			stable++
		} else {
			stable = 0
		}
		prev = cur
	}
	return prev
}

// backToBaseline waits until the daemon holds no more than base (plus fdSlack
// descriptors) and fails the test if it does not within the timeout: whatever
// hostile clients made it open must be closed once they are gone.
func (d *daemon) backToBaseline(t testing.TB, base resources, fdSlack int, timeout time.Duration) resources {
	t.Helper()
	var cur resources
	for deadline := time.Now().Add(timeout); ; {
		cur = d.resources(t)
		if cur.fds <= base.fds+fdSlack && cur.memfdMaps <= base.memfdMaps {
			return cur
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("acceld holds %d descriptors and %d memfd mappings, baseline %d (+%d slack) and %d: leaked",
		cur.fds, cur.memfdMaps, base.fds, fdSlack, base.memfdMaps)
	return cur
}

// child is a re-executed test binary acting as a client.
type child struct {
	cmd    *exec.Cmd
	stdout *bufio.Reader
	stderr logBuffer
	done   chan struct{}
	err    error
}

// startChild starts the test binary in the given child role against sock.
func startChild(t testing.TB, role, sock string) *child {
	t.Helper()
	c := &child{done: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0], "-test.run=^$")
	c.cmd.Env = append(os.Environ(), childRoleEnv+"="+role, childSocketEnv+"="+sock)
	c.cmd.Stderr = &c.stderr
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.stdout = bufio.NewReader(out)
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start child %s: %v", role, err)
	}
	t.Cleanup(func() { c.cmd.Process.Kill(); c.wait() })
	return c
}

// wait waits for the child to exit (once).
func (c *child) wait() error {
	select {
	case <-c.done:
	default:
		c.err = c.cmd.Wait()
		close(c.done)
	}
	return c.err
}

// waitLine reads the child's next line of output.
func (c *child) waitLine(t testing.TB, timeout time.Duration) string {
	t.Helper()
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() { s, err := c.stdout.ReadString('\n'); ch <- res{s, err} }()
	select {
	case r := <-ch:
		if r.err != nil {
			c.cmd.Process.Kill()
			c.wait()
			t.Fatalf("child: %v (exit %v)\n%s", r.err, c.err, c.stderr.String())
		}
		return strings.TrimSpace(r.s)
	case <-time.After(timeout):
		c.cmd.Process.Kill()
		c.wait()
		t.Fatalf("child said nothing for %v\n%s", timeout, c.stderr.String())
	}
	return ""
}

// Child roles.
const (
	// roleInFlight: connect, register, create a queue of depth 1024, submit
	// 1,000 SHA-512 jobs over 1 MiB each, print "ready" once the device has
	// accepted some, then wait to be killed.
	roleInFlight = "inflight"
	inFlightJobs = 1000
	// roleHeavy: connect, fill three queues of depth 1024 with SHA-512 jobs
	// over 1 MiB, print "ready", the jobs accepted and those submitted once
	// the device has accepted some, then keep them full until killed
	// (teardown_test.go).
	roleHeavy = "heavy"
)

func runChild(role, sock string) int {
	var err error
	switch role {
	case roleInFlight:
		err = childInFlight(sock)
	case roleHeavy:
		err = childHeavy(sock)
	default:
		err = fmt.Errorf("unknown child role %q", role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

func childInFlight(sock string) error {
	cn, err := Dial(sock)
	if err != nil {
		return err
	}
	const src = 1 << 20
	fd, err := unix.Memfd("child-region", src+inFlightJobs*64)
	if err != nil {
		return err
	}
	if err := unix.AddSeals(fd, unix.SealShrink); err != nil {
		return err
	}
	h, _, err := cn.RegisterMemory(fd, true)
	if err != nil {
		return err
	}
	q, err := cn.CreateQueue(QueueOptions{Depth: 1024}, nil)
	if err != nil {
		return err
	}
	sq, err := ring.NewProducer(q.SQ)
	if err != nil {
		return err
	}
	sq.SetNotifier(q.Doorbell)
	if n, err := sq.Reserve(inFlightJobs); n != inFlightJobs || err != nil {
		return fmt.Errorf("reserved %d of %d: %v", n, inFlightJobs, err)
	}
	for i := range inFlightJobs {
		s := ring.SQE{Opcode: ring.OpSHA512, UserData: uint64(i),
			Src: ring.BufRef{Region: h, Len: src}, Dst: ring.BufRef{Region: h, Off: src + uint64(i)*64, Len: 64}}
		if err := s.Encode(sq.Entry(i)); err != nil {
			return err
		}
	}
	sq.Commit(inFlightJobs)
	if _, err := sq.Wake(); err != nil {
		return err
	}
	// Wait until the device has fetched some: its head moved.
	for deadline := time.Now().Add(30 * time.Second); ; {
		free, err := sq.Free()
		if err != nil {
			return err
		}
		if free > 1024-inFlightJobs {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("the device fetched nothing")
		}
		time.Sleep(100 * time.Microsecond)
	}
	fmt.Println("ready")
	time.Sleep(time.Minute) // the parent kills us long before
	return errors.New("not killed")
}
