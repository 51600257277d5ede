package spool

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/empirefederation/neuron/internal/testutil"
)

// crashHelperEnv tells the test binary, re-executed as a child, to act as
// the appending process of TestKill9LosesNothing in the named directory.
const crashHelperEnv = "NEURON_SPOOL_CRASH_DIR"

// crashRecord is the i-th record the child appends: a few KB whose every
// byte depends on i, so that a record mixed up with another is caught.
func crashRecord(i int) []byte {
	head := fmt.Sprintf("report %d|", i)
	return append([]byte(head), bytes.Repeat([]byte{byte(i), byte(i >> 8), '.'}, 1000)...)
}

// TestHelperProcess is the child of TestKill9LosesNothing: it appends
// numbered records forever and prints each number after Append returned,
// that is once the record is durable. It does nothing in a normal run.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(crashHelperEnv)
	if dir == "" {
		t.Skip("helper process of TestKill9LosesNothing")
	}
	s, err := Open(Options{Dir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	for i := 1; ; i++ {
		if err := s.Append(crashRecord(i)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		fmt.Println(i) // unbuffered: in the pipe before the next Append starts
	}
}

// TestKill9LosesNothing kills a process that is appending with SIGKILL at
// several points and checks, after each, that every record it reported as
// appended is in the spool, in order and intact. The directory is reused
// across rounds, so each round also recovers from the previous kill.
func TestKill9LosesNothing(t *testing.T) {
	dir := t.TempDir()
	for _, killAfter := range []int{1, 17, 200} {
		t.Run(fmt.Sprintf("kill after %d", killAfter), func(t *testing.T) {
			reported := runAndKill(t, dir, killAfter)
			s := openT(t, Options{Dir: dir})
			if leftovers, _ := filepath.Glob(filepath.Join(dir, "*"+tmpExt)); len(leftovers) > 0 {
				t.Errorf("temporary files survived Open: %v", leftovers)
			}
			got := drain(t, s)
			// The child may have finished one more Append than it could
			// report before it died; that one may or may not be there.
			if len(got) != reported && len(got) != reported+1 {
				t.Fatalf("child reported %d records appended, spool holds %d", reported, len(got))
			}
			for i, r := range got {
				if want := crashRecord(i + 1); r.data != string(want) {
					t.Fatalf("record %d (seq %d) is %.20q..., want %.20q...", i+1, r.seq, r.data, want)
				}
			}
			if st := s.Stats(); st.Corrupt != 0 || st.Dropped != 0 {
				t.Fatalf("Stats after recovery = %+v, want nothing corrupt or dropped", st)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// runAndKill runs the helper child on dir, sends it SIGKILL once it has
// reported killAfter records, and returns how many it reported in all.
func runAndKill(t *testing.T, dir string, killAfter int) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashHelperEnv+"="+dir)
	var stderr testutil.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper: %v", err)
	}
	reported := 0
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		n, err := strconv.Atoi(sc.Text())
		if err != nil || n != reported+1 {
			_ = cmd.Process.Kill()
			t.Fatalf("helper printed %q after %d records (stderr: %s)", sc.Text(), reported, stderr.String())
		}
		reported = n
		if reported == killAfter {
			if err := cmd.Process.Kill(); err != nil { // SIGKILL on Unix
				t.Fatalf("kill helper: %v", err)
			}
		}
	}
	err = cmd.Wait()
	// On Unix a process killed by a signal has no exit code (-1).
	killed := runtime.GOOS == "windows" || cmd.ProcessState.ExitCode() == -1
	if reported < killAfter || !killed {
		t.Fatalf("helper ended on its own after %d records (%v), stderr: %s", reported, err, stderr.String())
	}
	t.Logf("killed the helper after it reported %d records (asked at %d)", reported, killAfter)
	return reported
}
