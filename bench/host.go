package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Machine describes the host a report was measured on.
type Machine struct {
	CPU       string `json:"cpu"`        // model name, from /proc/cpuinfo
	Cores     int    `json:"cores"`      // logical CPUs the process may use
	GoVersion string `json:"go_version"` // runtime.Version
	Kernel    string `json:"kernel"`     // uname release
	Hostname  string `json:"hostname"`
	// Load is the CPU that other processes used over the whole run, in
	// cores (from /proc/stat, less this process and the daemon measured).
	Load float64 `json:"load_cores"`
}

// DescribeMachine reads the host's description. Fields it cannot read are left
// empty rather than failing the run.
func DescribeMachine() Machine {
	m := Machine{Cores: runtime.GOMAXPROCS(0), GoVersion: runtime.Version()}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	m.Hostname, _ = os.Hostname()
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if m.CPU == "" {
		m.CPU = runtime.GOARCH
	}
	return m
}

// String is the one line a terminal report starts with.
func (m Machine) String() string {
	return fmt.Sprintf("%s, %d cores, %s, Linux %s, others' load %.2f cores", m.CPU, m.Cores, m.GoVersion, m.Kernel, m.Load)
}

// processCPU is the CPU time this process has used, every thread: the
// submitting side's cost, and in an embedded run the simulated device's too.
func processCPU() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on every Linux
// architecture Go supports.
const clockTicks = 100

// pidCPU is the CPU time (user and system) that process pid has used, from
// /proc/pid/stat; 0 if it cannot be read.
func pidCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces and parentheses: the fields that
	// follow start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseUint(f[11], 10, 64) // utime, field 14
	st, _ := strconv.ParseUint(f[12], 10, 64) // stime, field 15
	return time.Duration(ut+st) * time.Second / clockTicks
}

// systemCPU is the CPU time every process has used, all CPUs together, from
// the first line of /proc/stat (user, nice, system, irq, softirq, steal).
func systemCPU() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0, false
	}
	var busy uint64
	for _, i := range []int{1, 2, 3, 6, 7, 8} { // idle (4) and iowait (5) are not busy
		v, _ := strconv.ParseUint(f[i], 10, 64)
		busy += v
	}
	return time.Duration(busy) * time.Second / clockTicks, true
}

// cpuMeter measures, over a window, the CPU this process used and the CPU
// every other process used except the daemon serving it, if any.
type cpuMeter struct {
	daemon             int // acceld's pid, or 0
	wall               time.Time
	self, peer, system time.Duration
	haveSystem         bool
}

func startCPU(daemon int) cpuMeter {
	m := cpuMeter{daemon: daemon, wall: time.Now(), self: processCPU(), peer: pidCPU(daemon)}
	m.system, m.haveSystem = systemCPU()
	return m
}

// cpuWindow is what a cpuMeter measured.
type cpuWindow struct {
	Wall   time.Duration
	Self   time.Duration // this process
	Daemon time.Duration // the acceld serving it
	Others float64       // other processes, in cores; -1 if /proc/stat is unreadable
}

func (m cpuMeter) stop() cpuWindow {
	w := cpuWindow{Wall: time.Since(m.wall), Self: processCPU() - m.self, Daemon: pidCPU(m.daemon) - m.peer, Others: -1}
	if sys, ok := systemCPU(); ok && m.haveSystem && w.Wall > 0 {
		// /proc/stat counts each CPU's time in ticks, so each CPU's figure
		// may be a tick short or long at either end: take the slack off, so
		// that a short window on a quiet host does not read as loaded.
		slack := time.Duration(runtime.NumCPU()) * time.Second / clockTicks
		others := sys - m.system - w.Self - w.Daemon - slack
		w.Others = max(0, others.Seconds()/w.Wall.Seconds())
	}
	return w
}
