//go:build unix

package tools

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// drainWait bounds how long output is read after the command's process
// group is gone: a process that left the group may hold the pipe open.
const drainWait = 500 * time.Millisecond

func (s *Set) runShell(ctx context.Context, command string, timeout time.Duration) outcome {
	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.Dir = s.box.Root
	cmd.Env = s.box.Env
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	// Stdin stays nil, which exec connects to os.DevNull. A new session
	// (a new process group without a controlling terminal) lets the
	// whole group be killed, and keeps commands away from the chat's
	// terminal: one that opens /dev/tty fails instead of stopping on
	// SIGTTIN or drawing over the UI.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	pr, pw, err := os.Pipe()
	if err != nil {
		return failf("run_command: %v", err)
	}
	// One pipe for both keeps stdout and stderr in the order written.
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return failf("run_command: %v", err)
	}
	pw.Close()
	out := newCapture(s.box.MaxOutput)
	read := make(chan struct{})
	go func() {
		defer close(read)
		io.Copy(out, pr)
	}()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	pgid := cmd.Process.Pid
	timer := time.NewTimer(timeout)
	defer timer.Stop()

	var werr error
	stop := ""
	select {
	case werr = <-waited:
	case <-timer.C:
		stop = "timed out after " + seconds(timeout) + " (killed)"
		syscall.Kill(-pgid, syscall.SIGKILL)
		werr = <-waited
	case <-ctx.Done():
		stop = stoppedByUser
		syscall.Kill(-pgid, syscall.SIGKILL)
		werr = <-waited
	}
	// What the command left running in the background goes too.
	syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-read:
	case <-time.After(drainWait):
	}
	pr.Close()
	<-read

	if stop != "" {
		return finish(out, s.box.MaxOutput, stop, true)
	}
	return finish(out, s.box.MaxOutput, exitStatus(cmd, werr), false)
}

func exitStatus(cmd *exec.Cmd, err error) string {
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return "run_command: " + err.Error()
	}
	ps := cmd.ProcessState
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "killed by signal " + ws.Signal().String()
	}
	return "exit status " + itoa(ps.ExitCode())
}
