// Command acceld serves an accelq device to other processes over a Unix socket.
//
// Each connection becomes a driver context with the peer's kernel-reported
// credentials; policy (an allowlist of operations and quotas per uid and gid)
// comes from a JSON file. The device is the simulator with a named or loaded
// profile. acceld runs until SIGTERM or SIGINT, then disconnects every client
// and tears its contexts down.
//
//	acceld --socket /run/accelq.sock --profile qat-gen4 [--policy policy.json]
package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/accelq/accelq/driver"
	"github.com/accelq/accelq/sim"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "acceld:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("acceld", flag.ContinueOnError)
	socket := fs.String("socket", "", "path of the Unix socket to serve (required)")
	profile := fs.String("profile", "qat-gen4", "device profile: "+strings.Join(sim.Profiles(), ", "))
	profileFile := fs.String("profile-file", "", "load the device profile from this JSON file instead")
	policyFile := fs.String("policy", "", "policy JSON file (default: every operation, default limits)")
	mode := fs.String("mode", "0660", "file mode of the socket")
	timingOnly := fs.Bool("timing-only", false, "skip computation: completions follow the timing model alone")
	verbose := fs.Bool("v", false, "log every connection")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *socket == "" {
		return errors.New("--socket is required")
	}
	perm, err := strconv.ParseUint(*mode, 8, 32)
	if err != nil || perm > 0o777 {
		return fmt.Errorf("--mode %q is not an octal file mode", *mode)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	var p *sim.Profile
	if *profileFile != "" {
		p, err = sim.ReadProfileFile(*profileFile)
	} else {
		p, err = sim.LoadProfile(*profile)
	}
	if err != nil {
		return err
	}
	policy := driver.DefaultPolicy()
	if *policyFile != "" {
		if policy, err = driver.LoadPolicy(*policyFile); err != nil {
			return err
		}
	}
	var opts []sim.Option
	if *timingOnly {
		opts = append(opts, sim.WithTimingOnly())
	}
	dev, err := sim.New(p, opts...)
	if err != nil {
		return err
	}
	defer dev.Close()
	drv := driver.New(dev, policy)
	defer drv.Close()
	l, err := driver.Listen(*socket, os.FileMode(perm))
	if err != nil {
		return err
	}
	defer os.Remove(*socket)
	srv := driver.NewServer(drv, log)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		s := <-sigs
		log.Info("shutting down", "signal", s.String())
		srv.Close()
	}()
	log.Info("serving", "socket", *socket, "profile", p.Name, "timing_only", *timingOnly)
	return srv.Serve(l)
}
